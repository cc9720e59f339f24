package export

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"amplitude-testgen/helpers/atomicfile"
	"amplitude-testgen/helpers/event"
)

// WriteZipFile writes events as an export zip at path, atomically (see
// atomicfile), so a failure leaves no partial zip behind.
func WriteZipFile(path string, events []event.Event, opts Options) error {
	err := atomicfile.Write(path, func(w io.Writer) error { return WriteZip(w, events, opts) })
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteDir writes the same rows as WriteZip as plain newline-delimited JSON
// files in dir, one per upload hour, named <project_id>_<YYYY-MM-DD>_<H>#<n>.json:
// the layout PostHog's folder source reads. dir is created if missing.
//
// The files are written into a temporary directory inside dir and renamed
// into place only when all are complete, so a failure while writing leaves
// dir as it was. Files of the same names are replaced; others are left.
func WriteDir(dir string, events []event.Event, opts Options) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write export dir %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(dir, ".export-tmp-*")
	if err != nil {
		return fmt.Errorf("write export dir %s: %w", dir, err)
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = fmt.Errorf("write export dir %s: clean up: %w", dir, rerr)
		}
	}()

	ds := &dirSink{dir: tmp}
	st := newStream(opts, ds)
	for i, e := range events {
		if err := st.write(e, e.Timestamp()); err != nil {
			ds.abort()
			return fmt.Errorf("write export dir %s: event %d: %w", dir, i, err)
		}
	}
	if err := st.finish(); err != nil {
		ds.abort()
		return fmt.Errorf("write export dir %s: %w", dir, err)
	}
	for _, name := range ds.names {
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("write export dir %s: %w", dir, err)
		}
	}
	return nil
}

// dirSink writes each entry as a plain file.
type dirSink struct {
	dir   string
	names []string // complete files, in the order written
	f     *os.File
	bw    *bufio.Writer
}

func (d *dirSink) open(base string, _ time.Time) (io.Writer, error) {
	name := base + ".json"
	f, err := os.Create(filepath.Join(d.dir, name))
	if err != nil {
		return nil, err
	}
	d.f = f
	if d.bw == nil {
		d.bw = bufio.NewWriterSize(f, 256<<10)
	} else {
		d.bw.Reset(f)
	}
	d.names = append(d.names, name)
	return d.bw, nil
}

func (d *dirSink) close() error {
	f := d.f
	d.f = nil
	if err := errors.Join(d.bw.Flush(), f.Close()); err != nil {
		return fmt.Errorf("finish %s: %w", filepath.Base(f.Name()), err)
	}
	return nil
}

// abort closes an open file after a failure; the caller removes the files.
func (d *dirSink) abort() {
	if d.f != nil {
		_ = d.f.Close()
		d.f = nil
	}
}
