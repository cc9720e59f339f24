// Package export writes and reads Amplitude's Export API format (SPEC.md §4):
// a zip of hourly gzip files of newline-delimited event rows. STUB: replace.
package export

import (
	"errors"
	"io"
	"time"

	"amplitude-testgen/helpers/event"
)

// Options configure the writers.
type Options struct {
	ProjectID int64 // in entry names and rows; 0 means DefaultProjectID
}

// DefaultProjectID is the fixed test project id.
const DefaultProjectID = 187520

// ZipWriter streams rows into an export zip, one gzip entry per upload hour.
type ZipWriter struct{}

// NewZipWriter starts an export zip on w.
func NewZipWriter(w io.Writer, opts Options) *ZipWriter { return &ZipWriter{} }

// Write adds one event, uploaded at uploadTime.
func (z *ZipWriter) Write(e event.Event, uploadTime time.Time) error {
	return errors.New("export: not implemented")
}

// Close finishes the last entry and the zip.
func (z *ZipWriter) Close() error { return errors.New("export: not implemented") }

// WriteZip writes events as an export zip, each uploaded at its own time.
func WriteZip(w io.Writer, events []event.Event, opts Options) error {
	return errors.New("export: not implemented")
}

// WriteDir writes the same rows as plain newline-delimited JSON files in
// dir, the layout PostHog's folder source reads.
func WriteDir(dir string, events []event.Event, opts Options) error {
	return errors.New("export: not implemented")
}
