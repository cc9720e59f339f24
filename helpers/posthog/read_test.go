package posthog_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/posthog"
)

// seen is the part of a Located event the read tests compare.
type seen struct {
	Event, DistinctID, UUID, Anon string
	Line                          int
	Format                        posthog.Format
	Millis                        int64
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func readAll(t testing.TB, paths ...string) ([]seen, []string) {
	t.Helper()
	var got []seen
	bad, err := posthog.Read(paths, func(l posthog.Located) error {
		anon, _ := l.StringProp("$anon_distinct_id")
		got = append(got, seen{l.Event.Event, l.DistinctID, l.UUID, anon, l.Line, l.Format, l.Timestamp.UnixMilli()})
		return nil
	})
	require.NoError(t, err)
	var msgs []string
	for _, b := range bad {
		msgs = append(msgs, fmt.Sprintf("%s:%d: %v", filepath.Base(b.File), b.Line, b.Err))
	}
	return got, msgs
}

// ms is 2024-01-15T10:00:00.123Z in milliseconds.
var ms = time.Date(2024, 1, 15, 10, 0, 0, 123e6, time.UTC).UnixMilli()

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []seen
		wantBad []string
	}{
		{
			name: "pretty events API page with next",
			content: `{
  "next": "https://us.posthog.com/api/projects/1/events/?offset=2",
  "results": [
    {
      "id": "u-1",
      "event": "$identify",
      "distinct_id": "alice",
      "properties": {"$anon_distinct_id": "dev1"},
      "timestamp": "2024-01-15T10:00:00.123000+00:00"
    },
    {"id": "u-2", "event": "login", "distinct_id": "alice", "properties": {}, "timestamp": "2024-01-15T10:00:00.123Z"}
  ]
}
`,
			want: []seen{
				{"$identify", "alice", "u-1", "dev1", 4, posthog.FormatResults, ms},
				{"login", "alice", "u-2", "", 11, posthog.FormatResults, ms},
			},
		},
		{
			name: "query API rows with columns after results and properties as a string",
			content: `{"results": [["u-1", "$identify", "bob", "{\"$anon_distinct_id\": \"dev2\"}", "2024-01-15T10:00:00.123000Z"]],
 "columns": ["uuid", "event", "distinct_id", "properties", "timestamp"], "hasMore": false}`,
			want: []seen{{"$identify", "bob", "u-1", "dev2", 1, posthog.FormatResults, ms}},
		},
		{
			name: "query API rows with a properties.X column",
			content: `{"columns": ["event", "distinct_id", "properties.$anon_distinct_id", "timestamp"],
"results": [["$identify", "bob", "dev2", "2024-01-15 10:00:00.123000"]]}`,
			want: []seen{{"$identify", "bob", "", "dev2", 2, posthog.FormatResults, ms}},
		},
		{
			name:    "two saved pages one a line",
			content: `{"results": [{"event": "a", "distinct_id": "x", "timestamp": "2024-01-15T10:00:00.123Z"}], "next": "n"}` + "\n" + `{"results": [{"event": "b", "distinct_id": "y", "timestamp": "2024-01-15T10:00:00.123Z"}], "next": null}` + "\n",
			want: []seen{
				{"a", "x", "", "", 1, posthog.FormatResults, ms},
				{"b", "y", "", "", 2, posthog.FormatResults, ms},
			},
		},
		{
			name: "JSON array of events",
			content: `[
  {"event": "a", "distinct_id": "x", "uuid": "u-1", "timestamp": "2024-01-15T10:00:00.123Z"},
  {"event": "b", "distinct_id": "y", "uuid": "u-2", "timestamp": "2024-01-15T10:00:00.123Z"}
]`,
			want: []seen{
				{"a", "x", "u-1", "", 2, posthog.FormatArray, ms},
				{"b", "y", "u-2", "", 3, posthog.FormatArray, ms},
			},
		},
		{
			name: "JSON lines with a malformed line in the middle",
			content: `{"event": "a", "distinct_id": "x", "timestamp": "2024-01-15T10:00:00.123Z"}
{"event": "b", "distinct_id":
{"event": "c", "distinct_id": "z", "timestamp": "2024-01-15T10:00:00.123Z"}
`,
			want: []seen{
				{"a", "x", "", "", 1, posthog.FormatJSONLines, ms},
				{"c", "z", "", "", 3, posthog.FormatJSONLines, ms},
			},
			wantBad: []string{`in.json:2: not a JSON value: "{\"event\": \"b\", \"distinct_id\":"`},
		},
		{
			name: "JSON lines whose first line is malformed",
			content: `{"event": "a", "distinct_id"
{"event": "b", "distinct_id": "y", "timestamp": "2024-01-15T10:00:00.123Z"}
{"event": "c", "distinct_id": "z", "timestamp": "2024-01-15T10:00:00.123Z"}
`,
			want: []seen{
				{"b", "y", "", "", 2, posthog.FormatJSONLines, ms},
				{"c", "z", "", "", 3, posthog.FormatJSONLines, ms},
			},
			wantBad: []string{`in.json:1: not a JSON value: "{\"event\": \"a\", \"distinct_id\""`},
		},
		{
			name: "CapturedEvent lines with data as a JSON string",
			content: `{"uuid": "u-1", "distinct_id": "alice", "ip": "127.0.0.1", "data": "{\"token\":\"t\",\"distinct_id\":\"alice\",\"uuid\":\"u-1\",\"event\":\"$identify\",\"properties\":{\"$anon_distinct_id\":\"dev1\"},\"timestamp\":\"2024-01-15T10:00:00.123+00:00\"}", "now": "2024-02-01T00:00:00Z", "sent_at": null, "token": "t"}
{"uuid": "u-2", "distinct_id": "alice", "ip": "127.0.0.1", "data": "not json", "now": "2024-02-01T00:00:00Z", "token": "t"}
`,
			want:    []seen{{"$identify", "alice", "u-1", "dev1", 1, posthog.FormatCapturedLine, ms}},
			wantBad: []string{"in.json:2: CapturedEvent data is not a JSON event object: invalid character 'o' in literal null (expecting 'u')"},
		},
		{
			name: "records that are JSON but not events",
			content: `{"event": "a", "timestamp": "2024-01-15T10:00:00.123Z"}
{"distinct_id": "x"}
{"event": "b", "distinct_id": "x", "timestamp": "yesterday"}
{"results": [["a", "x"]]}
"just a string"
`,
			wantBad: []string{
				`in.json:1: event "a" has no distinct_id`,
				`in.json:2: event object has no "event" name`,
				`in.json:3: event "b": timestamp "yesterday": want RFC 3339 (2024-01-15T10:00:00.000Z) or 2024-01-15 10:00:00.000000`,
				`in.json:4: result row is an array but the response has no "columns" to name its values`,
				`in.json:5: want a JSON object or array, got "\"just a string\""`,
			},
		},
		{
			name: "pretty document broken halfway keeps what came before",
			content: `[
  {"event": "a", "distinct_id": "x", "timestamp": "2024-01-15T10:00:00.123Z"}
]
{
  "results": [
    {"event": "b", "distinct_id": 
`,
			want:    []seen{{"a", "x", "", "", 2, posthog.FormatArray, ms}},
			wantBad: []string{"in.json:4: not valid JSON, rest of file skipped: unexpected EOF"},
		},
		{
			name:    "empty file",
			content: "\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "in.json", tt.content)
			got, bad := readAll(t, p)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantBad, bad)
		})
	}
}

func TestReadSeveralFilesInOrder(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "page1.json", `{"results": [{"event": "a", "distinct_id": "x"}], "next": "p2"}`)
	b := writeFile(t, dir, "page2.jsonl", `{"event": "b", "distinct_id": "y"}`)
	got, bad := readAll(t, a, b)
	assert.Empty(t, bad)
	require.Len(t, got, 2)
	assert.Equal(t, []string{"a", "b"}, []string{got[0].Event, got[1].Event})
	assert.Equal(t, int64(time.Time{}.UnixMilli()), got[0].Millis, "an event without timestamp keeps the zero time")
}

func TestReadStopsOnCallbackErrorAndMissingFile(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "in.jsonl", "{\"event\": \"a\", \"distinct_id\": \"x\"}\n{\"event\": \"b\", \"distinct_id\": \"y\"}\n")
	stop := errors.New("stop here")
	calls := 0
	_, err := posthog.Read([]string{p}, func(posthog.Located) error { calls++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)

	_, err = posthog.Read([]string{filepath.Join(dir, "absent.json")}, func(posthog.Located) error { return nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "absent.json")
}

func TestParseTimestamp(t *testing.T) {
	want := time.Date(2024, 1, 15, 10, 0, 0, 123e6, time.UTC)
	for _, s := range []string{
		"2024-01-15T10:00:00.123Z",
		"2024-01-15T10:00:00.123000+00:00",
		"2024-01-15T11:00:00.123+01:00",
		"2024-01-15T10:00:00.123",
		"2024-01-15 10:00:00.123000",
		"2024-01-15 10:00:00.123+00:00",
	} {
		t.Run(s, func(t *testing.T) {
			got, err := posthog.ParseTimestamp(s)
			require.NoError(t, err)
			assert.True(t, want.Equal(got), "ParseTimestamp(%q) = %s, want %s", s, got, want)
			assert.Equal(t, time.UTC, got.Location())
		})
	}
	_, err := posthog.ParseTimestamp("15/01/2024")
	assert.ErrorContains(t, err, `timestamp "15/01/2024"`)
}
