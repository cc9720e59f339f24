package posthog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Located is an event with where it was read.
type Located struct {
	Event
	File   string
	Line   int // 1-based line where the event (or its row) starts
	Format Format
}

// LineError is one input record Read could not use. Reading goes on after
// it: one bad line must not hide the rest of an export.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Read parses PostHog output from each path in order and calls fn for every
// event. The layout of each file is detected:
//
//   - a JSON object with "results" (the Events API and query API response),
//     whose results are event objects, or rows (arrays) named by "columns";
//     several such objects may follow each other, one a line or
//     pretty-printed, as saved pages;
//   - a JSON array of event objects;
//   - JSON lines of event objects;
//   - JSON lines of the worker's CapturedEvent objects, whose "data" field is
//     a JSON string of {event, distinct_id, properties, timestamp, uuid}.
//
// A record that cannot be used becomes a LineError naming its file and line
// and reading goes on. A file that is not JSON at all, in a layout where
// lines cannot be told apart, stops at its first syntax error. err is an I/O
// error or fn's error; either stops Read.
func Read(paths []string, fn func(Located) error) (bad []*LineError, err error) {
	for _, p := range paths {
		fileBad, err := readFile(p, fn)
		bad = append(bad, fileBad...)
		if err != nil {
			return bad, err
		}
	}
	return bad, nil
}

// errStop carries fn's error out of the parsing helpers unchanged.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }

func readFile(path string, fn func(Located) error) ([]*LineError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read PostHog output: %w", err)
	}
	defer f.Close()
	r := &fileReader{path: path, fn: fn}
	err = r.read(bufio.NewReaderSize(f, 1<<16))
	var stop errStop
	if errors.As(err, &stop) {
		return r.bad, stop.err
	}
	if err != nil {
		return r.bad, fmt.Errorf("read PostHog output %s: %w", path, err)
	}
	return r.bad, nil
}

type fileReader struct {
	path string
	fn   func(Located) error
	bad  []*LineError
}

func (r *fileReader) fail(line int, err error) {
	r.bad = append(r.bad, &LineError{File: r.path, Line: line, Err: err})
}

// read decides between line mode and document mode on the first non-blank
// line: if it is a whole JSON value, the file is JSON lines (and a bad line
// spoils only itself); otherwise it is one or more pretty-printed values,
// read whole, because a line of those means nothing alone.
func (r *fileReader) read(br *bufio.Reader) error {
	lineNo := 0
	var consumed []byte
	for {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		lineNo++
		trimmed := bytes.TrimSpace(trimBOM(line, lineNo))
		if len(trimmed) == 0 {
			consumed = append(consumed, line...)
			if err == io.EOF {
				return nil
			}
			continue
		}
		if json.Valid(trimmed) {
			if err := r.lines(br, trimmed, lineNo); err != nil {
				return err
			}
			return nil
		}
		rest, rerr := io.ReadAll(br)
		if rerr != nil {
			return rerr
		}
		data := append(append(consumed, line...), rest...)
		return r.document(trimBOM(data, 1))
	}
}

func trimBOM(b []byte, lineNo int) []byte {
	if lineNo == 1 {
		return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	}
	return b
}

// lines reads JSON lines, starting with the already read first line.
func (r *fileReader) lines(br *bufio.Reader, first []byte, firstNo int) error {
	if first != nil {
		if err := r.value(first, func(int) int { return firstNo }); err != nil {
			return err
		}
	}
	lineNo := firstNo
	for {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		lineNo++
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) > 0 {
			if !json.Valid(trimmed) {
				r.fail(lineNo, fmt.Errorf("not a JSON value: %s", preview(trimmed)))
			} else {
				n := lineNo
				if err := r.value(trimmed, func(int) int { return n }); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// document reads a stream of pretty-printed JSON values. It checks the
// whole stream before handing out any event: when it breaks and most lines
// are JSON values on their own, the file is JSON lines whose first line is
// bad, and it is read again line by line so the other lines still count.
func (r *fileReader) document(data []byte) error {
	type value struct {
		raw   json.RawMessage
		start int
	}
	var (
		values []value
		synErr error
		synOff int
	)
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			break
		}
		if err != nil {
			// A syntax error names its byte; a value cut short is named
			// by the line where it starts.
			synErr, synOff = err, skipSeparators(data, int(dec.InputOffset()))
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				synOff = int(syn.Offset)
			}
			break
		}
		end := int(dec.InputOffset())
		values = append(values, value{raw, end - len(raw)})
	}
	if synErr != nil && mostlyJSONLines(data) {
		return r.lines(bufio.NewReader(bytes.NewReader(data)), nil, 0)
	}
	lc := &lineCounter{data: data, line: 1}
	for _, v := range values {
		start := v.start
		if err := r.value(v.raw, func(off int) int { return lc.at(start + off) }); err != nil {
			return err
		}
	}
	if synErr != nil {
		r.fail(lc.at(synOff), fmt.Errorf("not valid JSON, rest of file skipped: %w", synErr))
	}
	return nil
}

// mostlyJSONLines reports whether at least half of the non-blank lines are
// JSON values on their own.
func mostlyJSONLines(data []byte) bool {
	valid, total := 0, 0
	for _, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		total++
		if json.Valid(line) {
			valid++
		}
	}
	return total > 1 && valid*2 >= total
}

// lineCounter maps byte offsets, asked in increasing order, to line numbers.
type lineCounter struct {
	data []byte
	pos  int
	line int
}

func (c *lineCounter) at(off int) int {
	if off > len(c.data) {
		off = len(c.data)
	}
	if off < c.pos { // out of order: count from the start
		c.pos, c.line = 0, 1
	}
	c.line += bytes.Count(c.data[c.pos:off], []byte("\n"))
	c.pos = off
	return c.line
}

// value handles one top-level JSON value: a results page, an array of
// events, or one event. lineAt maps an offset inside raw to a line.
func (r *fileReader) value(raw []byte, lineAt func(int) int) error {
	switch raw[0] {
	case '[':
		elems, err := arrayElements(raw, 0)
		if err != nil {
			r.fail(lineAt(0), err)
			return nil
		}
		for _, el := range elems {
			if err := r.element(el.raw, nil, lineAt(el.off), FormatArray); err != nil {
				return err
			}
		}
		return nil
	case '{':
		page, isPage, err := resultsPage(raw)
		if err != nil {
			r.fail(lineAt(0), err)
			return nil
		}
		if !isPage {
			return r.element(raw, nil, lineAt(0), "")
		}
		for _, el := range page.results {
			if err := r.element(el.raw, page.columns, lineAt(el.off), FormatResults); err != nil {
				return err
			}
		}
		return nil
	default:
		r.fail(lineAt(0), fmt.Errorf("want a JSON object or array, got %s", preview(raw)))
		return nil
	}
}

// element handles one event object or one query row.
func (r *fileReader) element(raw []byte, columns []string, line int, format Format) error {
	var (
		ev       Event
		captured bool
		err      error
	)
	if len(raw) > 0 && raw[0] == '[' {
		if columns == nil {
			r.fail(line, errors.New("result row is an array but the response has no \"columns\" to name its values"))
			return nil
		}
		ev, err = decodeRow(raw, columns)
	} else {
		ev, captured, err = decodeEvent(raw)
	}
	if err != nil {
		r.fail(line, err)
		return nil
	}
	if format == "" {
		format = FormatJSONLines
		if captured {
			format = FormatCapturedLine
		}
	}
	if err := r.fn(Located{Event: ev, File: r.path, Line: line, Format: format}); err != nil {
		return errStop{err}
	}
	return nil
}

type element struct {
	raw json.RawMessage
	off int // offset of the element's first byte in the enclosing value
}

type page struct {
	results []element
	columns []string
}

// resultsPage walks a JSON object's keys, keeping "results" and "columns"
// (in either order) with the offsets of the results for line numbers.
func resultsPage(raw []byte) (page, bool, error) {
	var p page
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return p, false, err
	}
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return p, false, err
		}
		key, _ := tok.(string)
		switch key {
		case "results":
			start := int(dec.InputOffset())
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return p, false, err
			}
			if string(v) == "null" {
				found = true
				continue
			}
			start = skipSeparators(raw, start)
			if v[0] != '[' {
				return p, false, fmt.Errorf("\"results\" is not an array: %s", preview(v))
			}
			elems, err := arrayElements(v, start)
			if err != nil {
				return p, false, err
			}
			p.results, found = elems, true
		case "columns":
			var cols []string
			if err := dec.Decode(&cols); err != nil {
				return p, false, fmt.Errorf("\"columns\": want a list of names: %w", err)
			}
			p.columns = cols
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return p, false, err
			}
		}
	}
	return p, found, nil
}

// arrayElements splits a JSON array into its elements with their offsets,
// shifted by base.
func arrayElements(raw []byte, base int) ([]element, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var out []element
	for dec.More() {
		off := skipSeparators(raw, int(dec.InputOffset()))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, element{raw: v, off: base + off})
	}
	return out, nil
}

// skipSeparators moves past whitespace, commas and colons to the start of
// the next value: the decoder's offset stops before them.
func skipSeparators(raw []byte, off int) int {
	for off < len(raw) {
		switch raw[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
		default:
			return off
		}
	}
	return off
}

// decodeRow turns one query API row into an Event using the column names.
// A column named "properties.X" (select properties.$anon_distinct_id)
// becomes property X.
func decodeRow(raw []byte, columns []string) (Event, error) {
	var row []json.RawMessage
	if err := json.Unmarshal(raw, &row); err != nil {
		return Event{}, fmt.Errorf("result row: %w", err)
	}
	if len(row) != len(columns) {
		return Event{}, fmt.Errorf("result row has %d values, want %d (one per column %s)", len(row), len(columns), strings.Join(columns, ", "))
	}
	var w wireEvent
	extra := map[string]any{}
	for i, col := range columns {
		v := row[i]
		switch col {
		case "uuid", "id":
			s := scalarString(v)
			w.UUID = &s
		case "event":
			if string(v) != "null" {
				s := scalarString(v)
				w.Event = &s
			}
		case "distinct_id":
			w.DistinctID = v
		case "properties":
			w.Properties = v
		case "timestamp":
			w.Timestamp = v
		default:
			if name, ok := strings.CutPrefix(col, "properties."); ok {
				var val any
				if err := json.Unmarshal(v, &val); err != nil {
					return Event{}, fmt.Errorf("column %s: %w", col, err)
				}
				extra[name] = val
			}
		}
	}
	ev, err := fromWire(w)
	if err != nil {
		return Event{}, err
	}
	for k, v := range extra {
		ev.Properties[k] = v
	}
	return ev, nil
}

// preview shortens a bad input for an error message.
func preview(b []byte) string {
	const max = 60
	s := string(b)
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Sprintf("%q", s)
}
