// Package dataset reads and writes the dataset file amplitude-test-data.json
// (SPEC.md §4): the generated events, the metadata that says how they were
// made, and the $identify events the scenarios promise.
//
// Read also accepts the file the original Node generator wrote, so a tester
// can check an old dataset with the new oracle. That file has no seed, no
// insert ids and no expected identify list, and its metadata carried the
// Amplitude API key; the key is dropped on reading and never written.
package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"amplitude-testgen/helpers/atomicfile"
	"amplitude-testgen/helpers/event"
)

// GeneratorName is the generator recorded in the metadata of files we write.
const GeneratorName = "amplitude-testgen"

// Dataset is the whole file.
type Dataset struct {
	Metadata           Metadata           `json:"metadata"`
	Events             []event.Event      `json:"events"`
	ExpectedIdentifies []ExpectedIdentify `json:"expected_identifies"`
}

// Metadata describes how the dataset was made. There is deliberately no
// field for an API key: the Node generator wrote one here, we never do.
type Metadata struct {
	GeneratedAt            string            `json:"generated_at"` // RFC 3339, UTC
	Generator              Generator         `json:"generator"`
	Seed                   int64             `json:"seed"`
	Cluster                string            `json:"cluster"` // "us" or "eu"
	TimeRange              TimeRange         `json:"time_range"`
	TotalEvents            int               `json:"total_events"`
	ExpectedIdentifyEvents int               `json:"expected_identify_events"`
	Scenarios              []ScenarioSummary `json:"scenarios"`
}

// Generator names the program (and its version) that wrote the file. Files
// from the Node generator leave it empty.
type Generator struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// TimeRange is the window the events were laid into, in RFC 3339.
type TimeRange struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// ScenarioSummary counts one scenario's events and promised identifies.
// Files from the Node generator list scenario names only; their counts are 0.
type ScenarioSummary struct {
	Name       string `json:"name"`
	Events     int    `json:"events"`
	Identifies int    `json:"identifies"`
}

// ExpectedIdentify is one $identify the generator's scenarios promise,
// derived from the scenario definitions (never from the oracle).
type ExpectedIdentify struct {
	Scenario       string `json:"scenario"`
	EventIndex     int    `json:"event_index"` // index into Dataset.Events
	InsertID       string `json:"insert_id"`
	DistinctID     string `json:"distinct_id"`      // trimmed user_id, as PostHog trims
	AnonDistinctID string `json:"anon_distinct_id"` // trimmed device_id
	Time           int64  `json:"time"`             // ms since the epoch, the triggering event's
}

// UnmarshalJSON reads our metadata and the Node generator's. Unknown keys
// (api_key among them) are ignored; scenarios may be summaries (ours) or
// bare names (Node's).
func (m *Metadata) UnmarshalJSON(b []byte) error {
	type plain Metadata // no methods: avoids recursing into this one
	var w struct {
		plain
		Scenarios json.RawMessage `json:"scenarios"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = Metadata(w.plain)
	m.Scenarios = nil
	raw := bytes.TrimSpace(w.Scenarios)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var summaries []ScenarioSummary
	if err := json.Unmarshal(raw, &summaries); err == nil {
		m.Scenarios = summaries
		return nil
	}
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil {
		return fmt.Errorf("scenarios %.40s: want a list of scenario summaries or of scenario names", raw)
	}
	m.Scenarios = make([]ScenarioSummary, len(names))
	for i, n := range names {
		m.Scenarios[i] = ScenarioSummary{Name: n}
	}
	return nil
}

// Write writes d as JSON indented by two spaces, with a trailing newline.
// HTML escaping is off so that ids such as "user@test.com" or "a<b" read
// as they are sent; non-ASCII text is written as is.
func Write(w io.Writer, d *Dataset) error {
	if d == nil {
		return errors.New("write dataset: nil dataset")
	}
	out := *d
	// Empty lists are written as [] rather than null: readers of the file
	// (jq, people) should not have to tell the two apart.
	if out.Events == nil {
		out.Events = []event.Event{}
	}
	if out.ExpectedIdentifies == nil {
		out.ExpectedIdentifies = []ExpectedIdentify{}
	}
	if out.Metadata.Scenarios == nil {
		out.Metadata.Scenarios = []ScenarioSummary{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("write dataset: %w", err)
	}
	return nil
}

// WriteFile writes d to path atomically (see atomicfile): on error no file
// is left behind and an existing file at path is untouched.
func WriteFile(path string, d *Dataset) error {
	err := atomicfile.Write(path, func(w io.Writer) error { return Write(w, d) })
	if err != nil {
		return fmt.Errorf("write dataset file %s: %w", path, err)
	}
	return nil
}

// errShape is what Read says when the input is not a dataset at all.
const errShape = `want a JSON object with an "events" array`

// Read reads a dataset file: ours, or one written by the original Node
// generator ({"metadata", "events"}, user_id null, no insert_id, no
// expected_identifies). Metadata keys we do not know are ignored.
func Read(r io.Reader) (*Dataset, error) {
	d, err := read(r)
	if err != nil {
		return nil, fmt.Errorf("read dataset: %w", err)
	}
	return d, nil
}

// read is Read without the context prefix, which its callers add.
func read(r io.Reader) (*Dataset, error) {
	var w struct {
		Metadata           json.RawMessage    `json:"metadata"`
		Events             json.RawMessage    `json:"events"`
		ExpectedIdentifies []ExpectedIdentify `json:"expected_identifies"`
	}
	dec := json.NewDecoder(r)
	if err := dec.Decode(&w); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case err == io.EOF:
			return nil, fmt.Errorf("empty input: %s", errShape)
		case errors.As(err, &typeErr) && typeErr.Field == "":
			// The top level is an array, a string, a number.
			return nil, fmt.Errorf("top level is a JSON %s: %s", typeErr.Value, errShape)
		case errors.As(err, &typeErr):
			return nil, fmt.Errorf("%s is a JSON %s, want %s", typeErr.Field, typeErr.Value, typeErr.Type)
		}
		return nil, fmt.Errorf("%w: %s", err, errShape)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("unexpected data after the JSON object: %s", errShape)
	}
	raw := bytes.TrimSpace(w.Events)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, fmt.Errorf("no events array: %s", errShape)
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	d := &Dataset{
		Events:             make([]event.Event, len(rows)),
		ExpectedIdentifies: w.ExpectedIdentifies,
	}
	if m := bytes.TrimSpace(w.Metadata); len(m) > 0 && !bytes.Equal(m, []byte("null")) {
		if m[0] != '{' {
			return nil, fmt.Errorf("metadata is %.20s: want a JSON object", m)
		}
		if err := json.Unmarshal(m, &d.Metadata); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				// Field is "plain.seed": the path inside UnmarshalJSON.
				field := strings.TrimPrefix(typeErr.Field, "plain.")
				return nil, fmt.Errorf("metadata: %s is a JSON %s, want %s", field, typeErr.Value, typeErr.Type)
			}
			return nil, fmt.Errorf("metadata: %w", err)
		}
	}
	for i, row := range rows {
		if row[0] != '{' {
			return nil, fmt.Errorf("event %d is %.20s: want a JSON object", i, row)
		}
		if err := json.Unmarshal(row, &d.Events[i]); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
	}
	return d, nil
}

// ReadFile reads the dataset file at path; errors name the file.
func ReadFile(path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset file %s: %w", path, err)
	}
	defer f.Close()
	d, err := read(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("dataset file %s: %w", path, err)
	}
	return d, nil
}
