// Package source reads Amplitude events from any input the project accepts,
// detecting the format. STUB: replace.
package source

import (
	"errors"

	"amplitude-testgen/helpers/event"
)

// Located is an event and where it was read.
type Located struct {
	Event event.Event
	File  string // the path given
	Entry string // zip entry name, when inside a zip
	Line  int    // 1-based line in the file or entry; 0 for a dataset file's array
}

// LineError is a bad line or record: reported, and reading goes on.
type LineError struct {
	File  string
	Entry string
	Line  int
	Err   error
}

func (e *LineError) Error() string { return "stub" }

// Read streams the events of each path, in the order given, to fn.
// Bad lines are returned as LineErrors and skipped; err is non-nil when a
// file cannot be read at all or fn fails.
func Read(paths []string, fn func(Located) error) (bad []*LineError, err error) {
	return nil, errors.New("source: not implemented")
}
