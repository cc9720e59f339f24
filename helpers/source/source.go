// Package source reads Amplitude events from any input the project accepts,
// detecting the format of each path:
//
//   - a directory: its *.json, *.json.gz, *.ndjson and *.jsonl files, in
//     natural order (the layout export.WriteDir writes);
//   - *.zip: an Amplitude Export API zip, read as PostHog reads it;
//   - *.gz: gzip-compressed; inside, a dataset file or lines, as below;
//   - anything else: a dataset file (ours or the Node generator's, a JSON
//     object with an "events" array) when its first JSON object has an
//     "events" key, else newline-delimited JSON, one event per line.
//
// Everything streams: a file of any size costs the memory of one event. A
// malformed line or record is reported as a LineError and reading goes on; a
// file that cannot be read at all stops reading with an error.
package source

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/export"
)

// Located is an event and where it was read.
type Located struct {
	Event  event.Event
	File   string // the path given, or the file's path inside a directory given
	Entry  string // zip entry name, when inside a zip
	Line   int    // 1-based line in the file or entry; 0 for a dataset file's array
	Record int    // 0-based index in a dataset file's events array, when Line is 0
}

// LineError is a bad line or record: reported, and reading goes on.
type LineError struct {
	File   string
	Entry  string
	Line   int // 0 for a dataset record
	Record int // 0-based index in a dataset file's events array, when Line is 0
	Err    error
}

// Error reads like "events.ndjson:3: invalid JSON: ...",
// "export.zip:187520/187520_2024-01-15_9#0.json.gz:12: ..." or, for a dataset
// file, "data.json: events[4]: ...".
func (e *LineError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Entry != "" {
		b.WriteString(":")
		b.WriteString(e.Entry)
	}
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	} else {
		fmt.Fprintf(&b, ": events[%d]", e.Record)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the reason the line was rejected.
func (e *LineError) Unwrap() error { return e.Err }

// Read streams the events of each path, in the order given, to fn.
// Bad lines are returned as LineErrors and skipped; err is non-nil when a
// file cannot be read at all (missing, a corrupt zip or gzip stream, a
// dataset file broken mid-array) or fn fails, and reading stops there.
func Read(paths []string, fn func(Located) error) (bad []*LineError, err error) {
	r := reader{fn: fn}
	for _, p := range paths {
		if err := r.path(p); err != nil {
			return r.bad, err
		}
	}
	return r.bad, nil
}

// ReadAll reads every path into memory: for small inputs and tests.
func ReadAll(paths []string) ([]Located, []*LineError, error) {
	var out []Located
	bad, err := Read(paths, func(l Located) error {
		out = append(out, l)
		return nil
	})
	return out, bad, err
}

type reader struct {
	fn  func(Located) error
	bad []*LineError
}

func (r *reader) path(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	if !st.IsDir() {
		return r.file(p)
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && hasSuffix(e.Name(), ".json", ".json.gz", ".ndjson", ".jsonl") {
			names = append(names, e.Name())
		}
	}
	sort.Slice(names, func(i, j int) bool { return export.NaturalLess(names[i], names[j]) })
	for _, name := range names {
		if err := r.file(filepath.Join(p, name)); err != nil {
			return err
		}
	}
	return nil
}

// hasSuffix reports whether name ends with one of suffixes, ignoring case.
func hasSuffix(name string, suffixes ...string) bool {
	lower := strings.ToLower(name)
	for _, s := range suffixes {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return false
}

func (r *reader) file(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	defer f.Close()
	switch {
	case hasSuffix(p, ".zip"):
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("read input: %w", err)
		}
		err = export.ReadZipEntries(f, st.Size(), func(entry string, body io.Reader) error {
			return r.lines(p, entry, body)
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		return nil
	case hasSuffix(p, ".gz"):
		// A standalone .gz is read whole, every member, as gunzip does; inside
		// it may be lines or a dataset file.
		gz, err := gzip.NewReader(bufio.NewReader(f))
		if err != nil {
			return fmt.Errorf("read %s: want a gzip stream: %w", p, err)
		}
		return r.sniff(p, gzipErrors{gz})
	default:
		return r.sniff(p, f)
	}
}

// sniff reads a file that is either a dataset (one JSON object with an
// "events" key) or newline-delimited events. It walks the first JSON
// object's keys, keeping a copy of the bytes read; at "events" it goes on
// reading the array from where it is, and otherwise it starts over on the
// copy plus the rest of the file, as lines. The copy is the first object up
// to its events key: small for a dataset, one line for NDJSON.
func (r *reader) sniff(p string, f io.Reader) error {
	br := bufio.NewReaderSize(f, 64<<10)
	var seen bytes.Buffer
	tee := &teeReader{r: br, copy: &seen}
	dec := json.NewDecoder(tee)
	if isDataset(dec) {
		tee.copy = nil
		if err := r.dataset(p, dec); err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		return nil
	}
	tee.copy = nil
	if err := r.lines(p, "", io.MultiReader(&seen, br)); err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	return nil
}

// gzipErrors says that a read error came from the gzip stream.
type gzipErrors struct{ r io.Reader }

func (g gzipErrors) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("gzip stream: %w", err)
	}
	return n, err
}

// teeReader copies what it reads while copy is set.
type teeReader struct {
	r    io.Reader
	copy *bytes.Buffer
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if t.copy != nil {
		t.copy.Write(p[:n])
	}
	return n, err
}

// isDataset reads the first JSON object's keys up to "events" and reports
// whether it found it; dec is then just before the events value.
func isDataset(dec *json.Decoder) bool {
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if tok == "events" {
			return true
		}
		if err := skipValue(dec); err != nil {
			return false
		}
	}
	return false
}

// skipValue reads past one value token by token, so a large value is not
// held in memory.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// dataset reads the events array element by element. A record that is valid
// JSON but not an event is a LineError; broken JSON is an error, since the
// decoder cannot find the next record after it.
func (r *reader) dataset(p string, dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	if tok == nil {
		return nil // "events": null, no events
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("events: want an array, got %v", tok)
	}
	for i := 0; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("events[%d]: invalid JSON, cannot read on: %w", i, err)
			}
			return fmt.Errorf("events[%d]: %w", i, err)
		}
		e, err := parseEvent(raw)
		if err != nil {
			r.bad = append(r.bad, &LineError{File: p, Record: i, Err: err})
			continue
		}
		if err := r.fn(Located{Event: e, File: p, Record: i}); err != nil {
			return err
		}
	}
	return nil
}

// lines reads newline-delimited events; blank lines are skipped.
func (r *reader) lines(p, entry string, body io.Reader) error {
	return export.ScanLines(body, func(line int, raw []byte, err error) error {
		if err != nil {
			r.bad = append(r.bad, &LineError{File: p, Entry: entry, Line: line, Err: err})
			return nil
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			return nil
		}
		e, err := parseEvent(raw)
		if err != nil {
			r.bad = append(r.bad, &LineError{File: p, Entry: entry, Line: line, Err: err})
			return nil
		}
		return r.fn(Located{Event: e, File: p, Entry: entry, Line: line})
	})
}

// parseEvent reads one event object. An object without event_type is an
// event all the same: what PostHog does with it is the oracle's question.
func parseEvent(raw []byte) (event.Event, error) {
	raw = bytes.TrimSpace(raw)
	var e event.Event
	if len(raw) == 0 || raw[0] != '{' {
		if !json.Valid(raw) {
			var v any
			return e, fmt.Errorf("invalid JSON: %w", json.Unmarshal(raw, &v))
		}
		return e, fmt.Errorf("want a JSON object, got %s", snippet(raw))
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return e, fmt.Errorf("invalid JSON: %w", err)
		}
		return e, fmt.Errorf("invalid event: %w", err)
	}
	return e, nil
}

// snippet is the start of raw, for an error message.
func snippet(raw []byte) string {
	const max = 40
	if len(raw) > max {
		return strconv.Quote(string(raw[:max])) + "..."
	}
	return strconv.Quote(string(raw))
}
