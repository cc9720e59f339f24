package export

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// MaxLineBytes is the longest line the readers accept, newline excluded.
// Amplitude rows are a few kilobytes; a longer line is damage, not data.
const MaxLineBytes = 10 << 20

// ErrLineTooLong is passed to ScanLines' callback for a line longer than
// MaxLineBytes.
var ErrLineTooLong = fmt.Errorf("line longer than %d bytes", MaxLineBytes)

// ScanLines streams the lines of r to fn, numbered from 1, without the
// newline (or a trailing \r). raw is valid only during the call. A line
// longer than MaxLineBytes is skipped and reported as fn(line, nil,
// ErrLineTooLong); reading goes on after it if fn returns nil. Blank lines are passed on too,
// so a caller can skip them and still count lines. ScanLines returns the
// first error from r or from fn.
func ScanLines(r io.Reader, fn func(line int, raw []byte, err error) error) error {
	lr := lineReader{br: bufio.NewReaderSize(r, 64<<10)}
	for n := 1; ; n++ {
		raw, tooLong, ok, err := lr.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if tooLong {
			err = ErrLineTooLong
		}
		if err := fn(n, raw, err); err != nil {
			return err
		}
	}
}

// lineReader reads lines of any length up to MaxLineBytes, copying only
// those that do not fit its buffer.
type lineReader struct {
	br   *bufio.Reader
	long []byte
}

// next returns the next line; ok is false at the end of the input. For a
// line over MaxLineBytes it reads on to the line's end and returns tooLong.
func (l *lineReader) next() (raw []byte, tooLong, ok bool, err error) {
	l.long = l.long[:0]
	for {
		chunk, err := l.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			ok = true
			if !tooLong && len(l.long)+len(chunk) > MaxLineBytes {
				tooLong, l.long = true, l.long[:0]
			}
			if !tooLong {
				l.long = append(l.long, chunk...)
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, false, false, err
		}
		if len(chunk) == 0 && !ok {
			return nil, false, false, nil // the end, after a final newline
		}
		if tooLong {
			return nil, true, true, nil
		}
		raw = chunk
		if len(l.long) > 0 {
			l.long = append(l.long, chunk...)
			raw = l.long
		}
		raw = bytes.TrimSuffix(bytes.TrimSuffix(raw, []byte("\n")), []byte("\r"))
		if len(raw) > MaxLineBytes {
			return nil, true, true, nil
		}
		return raw, false, true, nil
	}
}

// NaturalLess orders entry names as PostHog does (Rust's natord): runs of
// digits compare by their value, so _9#0 comes before _10#0; everything
// else compares byte by byte. Names equal under that rule fall back to plain
// order, so the sort is total.
func NaturalLess(a, b string) bool {
	if c := naturalCompare(a, b); c != 0 {
		return c < 0
	}
	return a < b
}

func naturalCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if isDigit(ca) && isDigit(cb) {
			si, sj := i, j
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			na := strings.TrimLeft(a[si:i], "0")
			nb := strings.TrimLeft(b[sj:j], "0")
			if len(na) != len(nb) {
				return cmpInt(len(na), len(nb))
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			continue
		}
		if ca != cb {
			return cmpInt(int(ca), int(cb))
		}
		i++
		j++
	}
	return cmpInt(len(a)-i, len(b)-j)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ReadZipEntries opens an export zip and passes each entry ending .json.gz,
// in natural order, to fn as the decompressed first gzip member, the only
// part PostHog reads. A corrupt zip, a corrupt gzip stream or a zip checksum
// mismatch is an error that names the entry. body is valid only during the
// call.
func ReadZipEntries(r io.ReaderAt, size int64, fn func(entry string, body io.Reader) error) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return fmt.Errorf("read export zip: %w", err)
	}
	var files []*zip.File
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, ".json.gz") {
			files = append(files, f)
		}
	}
	sort.SliceStable(files, func(i, j int) bool { return NaturalLess(files[i].Name, files[j].Name) })
	for _, f := range files {
		if err := readEntry(f, fn); err != nil {
			return fmt.Errorf("export entry %s: %w", f.Name, err)
		}
	}
	return nil
}

func readEntry(f *zip.File, fn func(entry string, body io.Reader) error) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	gz, err := gzip.NewReader(rc)
	if err != nil {
		return fmt.Errorf("want a gzip stream: %w", err)
	}
	gz.Multistream(false)
	if err := fn(f.Name, gz); err != nil {
		return err
	}
	// Read what fn left, so the gzip checksum is checked, then the rest of
	// the zip entry (ignored, as PostHog ignores it) so the zip's is too.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return fmt.Errorf("gzip stream: %w", err)
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return err
	}
	return nil
}

// ReadZip streams the rows of an export zip to fn: entries ending .json.gz
// in natural order, the first gzip member of each, one call per non-blank
// line with its 1-based line number. raw is valid only during the call. A
// line longer than MaxLineBytes ends reading with an error naming the entry
// and the line.
func ReadZip(r io.ReaderAt, size int64, fn func(entry string, line int, raw []byte) error) error {
	return ReadZipEntries(r, size, func(entry string, body io.Reader) error {
		return ScanLines(body, func(line int, raw []byte, err error) error {
			if err != nil {
				return fmt.Errorf("line %d: %w", line, err)
			}
			if len(bytes.TrimSpace(raw)) == 0 {
				return nil
			}
			return fn(entry, line, raw)
		})
	})
}
