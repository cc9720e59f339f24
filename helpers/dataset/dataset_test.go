package dataset_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/dataset"
	"amplitude-testgen/helpers/event"
)

// sample is a small dataset in our format with the ids that tempt an
// encoder to escape them. Property values are the types JSON decodes to
// (float64, not int) so a round trip compares equal.
func sample(tb testing.TB) *dataset.Dataset {
	tb.Helper()
	return &dataset.Dataset{
		Metadata: dataset.Metadata{
			GeneratedAt:            "2024-01-16T00:00:00Z",
			Generator:              dataset.Generator{Name: dataset.GeneratorName, Version: "test"},
			Seed:                   7,
			Cluster:                "eu",
			TimeRange:              dataset.TimeRange{Start: "2024-01-15T00:00:00Z", End: "2024-01-16T00:00:00Z"},
			TotalEvents:            2,
			ExpectedIdentifyEvents: 1,
			Scenarios:              []dataset.ScenarioSummary{{Name: "edge_cases", Events: 2, Identifies: 1}},
		},
		Events: []event.Event{
			{
				EventType: event.Str("login"), UserID: event.Str("edge_email_user@test.com"),
				DeviceID: event.Str("edge_unicode_设备<&>"), Time: 1705276800000, InsertID: "a1", HasTime: true,
				EventProperties: map[string]any{"scenario": "edge_cases", "expected_identify": true, "pair": float64(1)},
				UserProperties:  map[string]any{"test_scenario": true},
			},
			{
				EventType: event.Str("search"), DeviceID: event.Str("anon_device"), Time: 1705276800001,
				InsertID: "a2", HasTime: true,
			},
		},
		ExpectedIdentifies: []dataset.ExpectedIdentify{{
			Scenario: "edge_cases", EventIndex: 0, InsertID: "a1", DistinctID: "edge_email_user@test.com",
			AnonDistinctID: "edge_unicode_设备<&>", Time: 1705276800000,
		}},
	}
}

func write(tb testing.TB, d *dataset.Dataset) []byte {
	tb.Helper()
	var buf bytes.Buffer
	require.NoError(tb, dataset.Write(&buf, d))
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	want := sample(t)
	b := write(t, want)

	got, err := dataset.Read(bytes.NewReader(b))
	require.NoError(t, err)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Read(Write(d)) mismatch (-want +got):\n%s", diff)
	}
	assert.Equal(t, string(b), string(write(t, got)), "writing what was read gives the same bytes")
}

func TestWriteFormat(t *testing.T) {
	b := write(t, sample(t))
	s := string(b)

	assert.True(t, strings.HasSuffix(s, "}\n"), "trailing newline")
	assert.True(t, strings.HasPrefix(s, "{\n  \"metadata\": {\n    \"generated_at\""), "two-space indent, fixed field order:\n%s", s)
	assert.Contains(t, s, `"edge_email_user@test.com"`)
	assert.Contains(t, s, `"edge_unicode_设备<&>"`, "no HTML or unicode escaping")
	assert.NotContains(t, s, `\u00`)
	assert.Contains(t, s, `"user_id": null`, "an anonymous event says so")

	empty := string(write(t, &dataset.Dataset{}))
	assert.Contains(t, empty, `"events": []`)
	assert.Contains(t, empty, `"expected_identifies": []`)
	assert.Contains(t, empty, `"scenarios": []`)
	assert.NotContains(t, empty, "null")

	assert.Error(t, dataset.Write(&bytes.Buffer{}, nil))
}

func TestReadNodeFormat(t *testing.T) {
	d, err := dataset.ReadFile(filepath.Join("testdata", "node-generator.json"))
	require.NoError(t, err)

	assert.Equal(t, "2024-01-16T09:30:00.000Z", d.Metadata.GeneratedAt)
	assert.Equal(t, 3, d.Metadata.TotalEvents)
	assert.Empty(t, d.Metadata.Generator.Name, "the Node generator did not name itself")
	assert.Equal(t, []dataset.ScenarioSummary{{Name: "anonymous_to_identified"}, {Name: "edge_cases"}}, d.Metadata.Scenarios)
	assert.Nil(t, d.ExpectedIdentifies, "the Node file promises no identify list")

	require.Len(t, d.Events, 3)
	tests := []struct {
		user   *string
		device string
		typ    string
		time   int64
	}{
		{nil, "anon_device_phone_1", "page_view", 1705276800000},
		{event.Str("anon_to_id_user_1"), "anon_device_phone_1", "user_login", 1705276801000},
		{event.Str("  edge_trimmed_user  "), "  edge_trimmed_device  ", "search", 1705276802000},
	}
	for i, tt := range tests {
		e := d.Events[i]
		assert.Equal(t, tt.user, e.UserID, "event %d user_id", i)
		assert.Equal(t, event.Str(tt.device), e.DeviceID, "event %d device_id", i)
		assert.Equal(t, event.Str(tt.typ), e.EventType, "event %d event_type", i)
		assert.Equal(t, tt.time, e.Time, "event %d time", i)
		assert.True(t, e.HasTime)
		assert.Empty(t, e.InsertID, "event %d: the Node generator set no insert_id", i)
	}
	assert.Equal(t, false, d.Events[0].EventProperties["expected_identify"])

	// The Node file carried the API key in its metadata; it must not
	// survive a read and write.
	out := string(write(t, d))
	assert.NotContains(t, out, "api_key")
	assert.NotContains(t, out, "test_amplitude_key")
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"top level array", `[{"event_type":"x"}]`, `top level is a JSON array: want a JSON object with an "events" array`},
		{"no events", `{"metadata":{}}`, `want a JSON object with an "events" array`},
		{"events not an array", `{"events":{"a":1}}`, `want a JSON object with an "events" array`},
		{"events null", `{"events":null}`, `want a JSON object with an "events" array`},
		{"not JSON", `hello`, `want a JSON object with an "events" array`},
		{"empty input", ``, `want a JSON object with an "events" array`},
		{"trailing data", `{"events":[]} {"events":[]}`, `unexpected data after the JSON object`},
		{"bad event time", `{"events":[{"event_type":"x","time":1},{"event_type":"x","time":"soon"}]}`, `event 1: time "soon"`},
		{"metadata scenarios of numbers", `{"metadata":{"scenarios":[1,2]},"events":[]}`, `want a list of scenario summaries or of scenario names`},
		{"metadata seed a string", `{"metadata":{"seed":"one"},"events":[]}`, `metadata: seed is a JSON string, want int64`},
		{"metadata not an object", `{"metadata":[],"events":[]}`, `metadata is []: want a JSON object`},
		{"event not an object", `{"events":[{"event_type":"x"},"e"]}`, `event 1 is "e": want a JSON object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dataset.Read(strings.NewReader(tt.in))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "read dataset: "), err.Error())
		})
	}
}

func TestReadFileNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "x.json")
	require.NoError(t, os.WriteFile(bad, []byte(`[1,2]`), 0o644))

	_, err := dataset.ReadFile(bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dataset file "+bad+": ")
	assert.Contains(t, err.Error(), `want a JSON object with an "events" array`)

	missing := filepath.Join(dir, "missing.json")
	_, err = dataset.ReadFile(missing)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dataset file "+missing)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "amplitude-test-data.json")
	d := sample(t)

	require.NoError(t, dataset.WriteFile(path, d))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(write(t, d)), string(got), "WriteFile writes what Write writes")
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm())
	assertOnlyFiles(t, dir, "amplitude-test-data.json")

	back, err := dataset.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, d, back)
}

func TestWriteFileLeavesNothingOnError(t *testing.T) {
	t.Run("directory does not exist", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "no-such-dir", "out.json")
		err := dataset.WriteFile(path, sample(t))
		require.Error(t, err)
		assert.Contains(t, err.Error(), path)
		_, statErr := os.Stat(path)
		assert.ErrorIs(t, statErr, os.ErrNotExist)
		assertOnlyFiles(t, dir)
	})
	t.Run("failed write keeps the old file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "out.json")
		require.NoError(t, os.WriteFile(path, []byte("old\n"), 0o644))

		require.Error(t, dataset.WriteFile(path, nil))
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, "old\n", string(got))
		assertOnlyFiles(t, dir, "out.json")
	})
}

// assertOnlyFiles checks that dir holds exactly the named entries: no
// temporary file was left behind.
func assertOnlyFiles(tb testing.TB, dir string, names ...string) {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(tb, err)
	got := []string{}
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if names == nil {
		names = []string{}
	}
	assert.Equal(tb, names, got)
}
