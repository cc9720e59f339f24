// Package dataset reads and writes the dataset file amplitude-test-data.json
// (SPEC.md §4). STUB: replace.
package dataset

import (
	"errors"
	"io"

	"amplitude-testgen/helpers/event"
)

// Dataset is the whole file.
type Dataset struct {
	Metadata           Metadata           `json:"metadata"`
	Events             []event.Event      `json:"events"`
	ExpectedIdentifies []ExpectedIdentify `json:"expected_identifies"`
}

// Metadata describes how the dataset was made. STUB: fields to be completed.
type Metadata struct {
	GeneratedAt string `json:"generated_at"`
}

// ExpectedIdentify is one $identify the generator's scenarios promise,
// derived from the scenario definitions (never from the oracle).
type ExpectedIdentify struct {
	Scenario       string `json:"scenario"`
	EventIndex     int    `json:"event_index"`
	InsertID       string `json:"insert_id"`
	DistinctID     string `json:"distinct_id"`
	AnonDistinctID string `json:"anon_distinct_id"`
	Time           int64  `json:"time"`
}

// Write writes d as indented JSON with a trailing newline.
func Write(w io.Writer, d *Dataset) error { return errors.New("dataset: not implemented") }

// WriteFile writes d to path atomically (temporary file, then rename).
func WriteFile(path string, d *Dataset) error { return errors.New("dataset: not implemented") }

// Read reads a dataset file: ours, or one written by the original Node
// generator ({"metadata", "events"}, user_id null, no insert_id).
func Read(r io.Reader) (*Dataset, error) { return nil, errors.New("dataset: not implemented") }

// ReadFile reads the dataset file at path.
func ReadFile(path string) (*Dataset, error) { return nil, errors.New("dataset: not implemented") }
