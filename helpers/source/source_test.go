package source_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/export"
	"amplitude-testgen/helpers/source"
)

func write(tb testing.TB, dir, name, content string) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	require.NoError(tb, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(tb, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func gzipped(tb testing.TB, s string) string {
	tb.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write([]byte(s))
	require.NoError(tb, err)
	require.NoError(tb, w.Close())
	return buf.String()
}

// where is a compact view of a Located: type@file:entry:line/record.
type where struct {
	Type   string
	File   string
	Entry  string
	Line   int
	Record int
}

func wheres(ls []source.Located) []where {
	var out []where
	for _, l := range ls {
		typ := "<none>"
		if l.Event.EventType != nil {
			typ = *l.Event.EventType
		}
		out = append(out, where{typ, filepath.Base(l.File), l.Entry, l.Line, l.Record})
	}
	return out
}

// nodeDataset is a file as the Node generator wrote it: metadata first (with
// an API key field), user_id null, no insert ids, expected identifies after.
const nodeDataset = `{
  "metadata": {
    "generated_at": "2024-01-15T10:00:00.000Z",
    "api_key": "not-a-real-key",
    "scenarios": ["anonymous_then_identified", {"nested": [1, 2, {"events": "not this"}]}]
  },
  "events": [
    {"event_type": "page_view", "user_id": null, "device_id": "d1", "time": 1705312800000, "event_properties": {"page": "/"}},
    {"event_type": "login", "user_id": "user-1", "device_id": "d1", "time": 1705312801000}
  ],
  "expected_identifies": [{"distinct_id": "user-1"}]
}
`

func TestReadFormats(t *testing.T) {
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "export.zip")
	require.NoError(t, export.WriteZipFile(zipPath, []event.Event{
		{EventType: event.Str("z10"), UserID: event.Str("u"), Time: time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC).UnixMilli(), InsertID: "a"},
		{EventType: event.Str("z9"), UserID: event.Str("u"), Time: time.Date(2024, 1, 15, 9, 0, 0, 0, time.UTC).UnixMilli(), InsertID: "b"},
	}, export.Options{}))
	exportDir := filepath.Join(dir, "exportdir")
	require.NoError(t, export.WriteDir(exportDir, []event.Event{
		{EventType: event.Str("d10"), Time: time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC).UnixMilli()},
		{EventType: event.Str("d9"), Time: time.Date(2024, 1, 15, 9, 0, 0, 0, time.UTC).UnixMilli()},
	}, export.Options{}))

	tests := []struct {
		name string
		path string
		want []where
	}{
		{
			name: "newline-delimited JSON, blank lines skipped but counted",
			path: write(t, dir, "events.ndjson", "{\"event_type\":\"a\",\"time\":1}\n\n  \n{\"event_type\":\"b\",\"time\":2}\n"),
			want: []where{{"a", "events.ndjson", "", 1, 0}, {"b", "events.ndjson", "", 4, 0}},
		},
		{
			name: "jsonl whose first line has no events key",
			path: write(t, dir, "events.jsonl", "{\"event_type\":\"a\",\"nested\":{\"events\":[1]}}\r\n{\"event_type\":\"b\"}"),
			want: []where{{"a", "events.jsonl", "", 1, 0}, {"b", "events.jsonl", "", 2, 0}},
		},
		{
			name: "gzip NDJSON",
			path: write(t, dir, "events.ndjson.gz", gzipped(t, "{\"event_type\":\"g1\"}\n{\"event_type\":\"g2\"}\n")),
			want: []where{{"g1", "events.ndjson.gz", "", 1, 0}, {"g2", "events.ndjson.gz", "", 2, 0}},
		},
		{
			name: "Node dataset file",
			path: write(t, dir, "amplitude-test-data.json", nodeDataset),
			want: []where{{"page_view", "amplitude-test-data.json", "", 0, 0}, {"login", "amplitude-test-data.json", "", 0, 1}},
		},
		{
			name: "gzipped dataset file",
			path: write(t, dir, "data.json.gz", gzipped(t, nodeDataset)),
			want: []where{{"page_view", "data.json.gz", "", 0, 0}, {"login", "data.json.gz", "", 0, 1}},
		},
		{
			name: "dataset with events null",
			path: write(t, dir, "empty.json", `{"metadata":{},"events":null}`),
			want: nil,
		},
		{
			name: "export zip in natural entry order",
			path: zipPath,
			want: []where{{"z9", "export.zip", "187520/187520_2024-01-15_9#0.json.gz", 1, 0}, {"z10", "export.zip", "187520/187520_2024-01-15_10#0.json.gz", 1, 0}},
		},
		{
			name: "export directory in natural order",
			path: exportDir,
			want: []where{{"d9", "187520_2024-01-15_9#0.json", "", 1, 0}, {"d10", "187520_2024-01-15_10#0.json", "", 1, 0}},
		},
		{
			name: "event without event_type is still an event",
			path: write(t, dir, "untyped.ndjson", "{\"user_id\":\"u1\"}\n"),
			want: []where{{"<none>", "untyped.ndjson", "", 1, 0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, bad, err := source.ReadAll([]string{tt.path})
			require.NoError(t, err)
			assert.Empty(t, bad)
			assert.Equal(t, tt.want, wheres(got))
		})
	}
}

func TestReadNodeDatasetValues(t *testing.T) {
	p := write(t, t.TempDir(), "node.json", nodeDataset)
	got, bad, err := source.ReadAll([]string{p})
	require.NoError(t, err)
	require.Empty(t, bad)
	require.Len(t, got, 2)
	first := got[0].Event
	assert.Nil(t, first.UserID, "user_id null is absent")
	assert.Equal(t, event.Str("d1"), first.DeviceID)
	assert.Empty(t, first.InsertID)
	assert.Equal(t, int64(1705312800000), first.Time)
	assert.True(t, first.HasTime)
	assert.Equal(t, map[string]any{"page": "/"}, first.EventProperties)
}

func TestReadExportRowsBackToEvents(t *testing.T) {
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "export.zip")
	want := event.Event{
		EventType: event.Str("login"), UserID: event.Str("user-1"), DeviceID: event.Str("d1"),
		Time: time.Date(2024, 1, 15, 9, 30, 0, 123e6, time.UTC).UnixMilli(), HasTime: true, InsertID: "ins-1",
		EventProperties: map[string]any{"k": "v"}, UserProperties: map[string]any{"plan": "pro"},
	}
	require.NoError(t, export.WriteZipFile(zipPath, []event.Event{want}, export.Options{}))
	got, bad, err := source.ReadAll([]string{zipPath})
	require.NoError(t, err)
	require.Empty(t, bad)
	require.Len(t, got, 1)
	assert.Equal(t, want, got[0].Event)
}

func TestReadPathsInOrder(t *testing.T) {
	dir := t.TempDir()
	b := write(t, dir, "b.ndjson", "{\"event_type\":\"b1\"}\n")
	a := write(t, dir, "a.ndjson", "{\"event_type\":\"a1\"}\n{\"event_type\":\"a2\"}\n")
	d := write(t, dir, "d.json", nodeDataset)
	got, bad, err := source.ReadAll([]string{b, d, a})
	require.NoError(t, err)
	require.Empty(t, bad)
	var types []string
	for _, l := range wheres(got) {
		types = append(types, l.Type)
	}
	assert.Equal(t, []string{"b1", "page_view", "login", "a1", "a2"}, types)
}

func TestReadDirectoryPicksEventFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "x_10.ndjson", "{\"event_type\":\"ten\"}\n")
	write(t, dir, "x_9.jsonl", "{\"event_type\":\"nine\"}\n")
	write(t, dir, "x_2.json.gz", gzipped(t, "{\"event_type\":\"two\"}\n"))
	write(t, dir, "notes.txt", "not events\n")
	write(t, dir, "sub/x_1.ndjson", "{\"event_type\":\"in a subdirectory\"}\n")
	got, bad, err := source.ReadAll([]string{dir})
	require.NoError(t, err)
	require.Empty(t, bad)
	var types []string
	for _, l := range wheres(got) {
		types = append(types, l.Type)
	}
	assert.Equal(t, []string{"two", "nine", "ten"}, types)
}

func TestBadLinesReportedAndReadingGoesOn(t *testing.T) {
	dir := t.TempDir()
	lines := strings.Join([]string{
		`{"event_type":"ok1"}`,
		`{"event_type":`,
		`[1,2]`,
		`{"event_type":"ok2","user_id":5}`,
		`{"event_type":"ok3","time":"soon"}`,
		`not json`,
		strings.Repeat("x", export.MaxLineBytes+1),
		`{"event_type":"ok4"}`,
	}, "\n") + "\n"
	p := write(t, dir, "events.ndjson", lines)
	got, bad, err := source.ReadAll([]string{p})
	require.NoError(t, err)

	var types []string
	for _, l := range wheres(got) {
		types = append(types, l.Type)
	}
	assert.Equal(t, []string{"ok1", "ok4"}, types)
	assert.Equal(t, 8, got[1].Line)

	want := []string{
		p + ":2: invalid JSON: ",
		p + ":3: want a JSON object, got \"[1,2]\"",
		p + ":4: invalid event: ",
		p + ":5: invalid event: ",
		p + ":6: invalid JSON: ",
		p + ":7: line longer than",
	}
	require.Len(t, bad, len(want))
	for i, w := range want {
		assert.True(t, strings.HasPrefix(bad[i].Error(), w), "bad[%d] = %q, want prefix %q", i, bad[i].Error(), w)
		assert.Equal(t, p, bad[i].File)
	}
	assert.ErrorIs(t, bad[5], export.ErrLineTooLong)
}

func TestBadDatasetRecords(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "data.json", `{"events":[{"event_type":"a"}, 7, null, {"event_type":"b","device_id":[]}, {"event_type":"c"}]}`)
	got, bad, err := source.ReadAll([]string{p})
	require.NoError(t, err)
	var types []string
	for _, l := range wheres(got) {
		types = append(types, l.Type)
	}
	assert.Equal(t, []string{"a", "c"}, types)
	assert.Equal(t, 4, got[1].Record)
	require.Len(t, bad, 3)
	assert.Equal(t, p+`: events[1]: want a JSON object, got "7"`, bad[0].Error())
	assert.Equal(t, p+`: events[2]: want a JSON object, got "null"`, bad[1].Error())
	assert.Equal(t, 3, bad[2].Record)
	assert.Zero(t, bad[2].Line)
}

func TestBadZipLineNamesTheEntry(t *testing.T) {
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "export.zip")
	require.NoError(t, export.WriteZipFile(zipPath, []event.Event{{EventType: event.Str("ok"), Time: time.Date(2024, 1, 15, 9, 0, 0, 0, time.UTC).UnixMilli()}}, export.Options{}))
	// Rebuild the same entry with a bad second line.
	var rows []byte
	f, err := os.Open(zipPath)
	require.NoError(t, err)
	st, err := f.Stat()
	require.NoError(t, err)
	require.NoError(t, export.ReadZip(f, st.Size(), func(_ string, _ int, raw []byte) error {
		rows = append(append(rows, raw...), '\n')
		return nil
	}))
	require.NoError(t, f.Close())
	bad := buildZip(t, "187520/187520_2024-01-15_9#0.json.gz", gzipped(t, string(rows)+"{oops\n"))
	badPath := write(t, dir, "bad.zip", string(bad))

	got, lineErrs, err := source.ReadAll([]string{badPath})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Len(t, lineErrs, 1)
	assert.True(t, strings.HasPrefix(lineErrs[0].Error(), badPath+":187520/187520_2024-01-15_9#0.json.gz:2: invalid JSON"), lineErrs[0].Error())
}

func TestUnreadableInputs(t *testing.T) {
	dir := t.TempDir()
	truncatedGz := gzipped(t, strings.Repeat("{\"event_type\":\"a\"}\n", 100))
	tests := []struct {
		name string
		path string
		want []string
	}{
		{"missing file names the path", filepath.Join(dir, "nope.ndjson"), []string{"nope.ndjson", "no such file"}},
		{"corrupt zip", write(t, dir, "bad.zip", "PK not really a zip"), []string{"bad.zip", "zip"}},
		{"not gzip", write(t, dir, "bad.gz", "plain text"), []string{"bad.gz", "gzip"}},
		{"truncated gzip", write(t, dir, "short.ndjson.gz", truncatedGz[:len(truncatedGz)/2]), []string{"short.ndjson.gz", "unexpected EOF"}},
		{"dataset broken mid-array", write(t, dir, "broken.json", `{"events":[{"event_type":"a"},{"event_type":`), []string{"broken.json", "events[1]", "cannot read on"}},
		{"events not an array", write(t, dir, "weird.json", `{"events":{"a":1}}`), []string{"weird.json", "want an array"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := source.ReadAll([]string{tt.path})
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestCallbackErrorStopsReading(t *testing.T) {
	p := write(t, t.TempDir(), "e.ndjson", "{\"event_type\":\"a\"}\n{\"event_type\":\"b\"}\n")
	stop := errors.New("stop")
	calls := 0
	_, err := source.Read([]string{p}, func(source.Located) error {
		calls++
		return stop
	})
	require.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)
}

func TestLineErrorText(t *testing.T) {
	cause := errors.New("invalid JSON: boom")
	tests := []struct {
		name string
		err  *source.LineError
		want string
	}{
		{"plain file", &source.LineError{File: "events.ndjson", Line: 3, Err: cause}, "events.ndjson:3: invalid JSON: boom"},
		{"zip entry", &source.LineError{File: "export.zip", Entry: "187520/187520_2024-01-15_9#0.json.gz", Line: 12, Err: cause}, "export.zip:187520/187520_2024-01-15_9#0.json.gz:12: invalid JSON: boom"},
		{"dataset record", &source.LineError{File: "data.json", Record: 4, Err: cause}, "data.json: events[4]: invalid JSON: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.err.Error())
			assert.ErrorIs(t, tt.err, cause)
		})
	}
}

// buildZip makes a zip holding one entry with the given raw body.
func buildZip(tb testing.TB, name, body string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	require.NoError(tb, err)
	_, err = w.Write([]byte(body))
	require.NoError(tb, err)
	require.NoError(tb, zw.Close())
	return buf.Bytes()
}
