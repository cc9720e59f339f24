package amplitudetestgen_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sebdah/goldie/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/export"
	"amplitude-testgen/helpers/oracle"
	"amplitude-testgen/helpers/scenario"
	"amplitude-testgen/helpers/source"
)

// exportAt is a time on 2024-01-15 UTC.
func exportAt(hour, min, sec, ms int) int64 {
	return time.Date(2024, 1, 15, hour, min, sec, ms*int(time.Millisecond), time.UTC).UnixMilli()
}

// exportEvents is a small fixed set that shows every rule of the export
// rows: hours 9, 10 and 9 again (entry numbering and natural order), an
// anonymous event (user_id null), a user without a device (device_id filled
// from the user id), an event without an insert id, empty and non-empty
// properties, and text that must not be HTML-escaped.
func exportEvents() []event.Event {
	return []event.Event{
		{
			EventType: event.Str("page_view"), DeviceID: event.Str("device-anon-1"),
			Time: exportAt(9, 0, 0, 0), InsertID: "insert-1",
			EventProperties: map[string]any{"page": "/pricing?a=1&b=<2>"},
		},
		{
			EventType: event.Str("login"), UserID: event.Str("user-1"), DeviceID: event.Str("device-anon-1"),
			Time: exportAt(9, 15, 30, 250), InsertID: "insert-2",
			UserProperties: map[string]any{"plan": "pro", "seats": 3},
		},
		{
			EventType: event.Str("purchase"), UserID: event.Str("user-2"),
			Time: exportAt(10, 0, 0, 1), InsertID: "insert-3",
			EventProperties: map[string]any{"amount": 9.99, "currency": "EUR", "name": "café"},
		},
		{
			EventType: event.Str("logout"), UserID: event.Str("user-1"), DeviceID: event.Str("device-anon-1"),
			Time: exportAt(9, 59, 59, 999),
		},
	}
}

// exportRowsText is every entry of the zip in reading order: the entry name,
// then its rows, one a line.
func exportRowsText(tb testing.TB, zipData []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	last := ""
	err := export.ReadZip(bytes.NewReader(zipData), int64(len(zipData)), func(entry string, _ int, raw []byte) error {
		if entry != last {
			out.WriteString(entry + "\n")
			last = entry
		}
		out.Write(raw)
		out.WriteByte('\n')
		return nil
	})
	require.NoError(tb, err)
	return out.Bytes()
}

func exportWrite(tb testing.TB, events []event.Event) []byte {
	tb.Helper()
	var buf bytes.Buffer
	require.NoError(tb, export.WriteZip(&buf, events, export.Options{}))
	return buf.Bytes()
}

func TestExportFormatGolden(t *testing.T) {
	zipData := exportWrite(t, exportEvents())
	got := exportRowsText(t, zipData)

	g := goldie.New(t, goldie.WithFixtureDir("golden"), goldie.WithNameSuffix(".golden"))
	g.Assert(t, "export_rows", got)

	// Byte-stable, in the spirit of gofmt's idempotence check.
	assert.Equal(t, zipData, exportWrite(t, exportEvents()), "a second WriteZip gave other bytes")

	// Every row reads back as the event it came from.
	var rows int
	err := export.ReadZip(bytes.NewReader(zipData), int64(len(zipData)), func(entry string, line int, raw []byte) error {
		var e event.Event
		require.NoError(t, json.Unmarshal(raw, &e), "%s:%d", entry, line)
		assert.True(t, e.HasTime, "%s:%d: no parsable time", entry, line)
		rows++
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, len(exportEvents()), rows)
}

// TestExportFormatStandardDataset writes the standard dataset as generate
// --export does, keeps its rows in a golden file, and reads the zip back
// through the same reader expect uses: the oracle must find the dataset's
// 30 identifies, with the same pairs, event indexes and times.
func TestExportFormatStandardDataset(t *testing.T) {
	d, err := scenario.Generate(scenario.FixedOptions())
	require.NoError(t, err)
	zipData := exportWrite(t, d.Events)

	g := goldie.New(t, goldie.WithFixtureDir("golden"), goldie.WithNameSuffix(".golden"))
	g.Assert(t, "export_rows_standard", exportRowsText(t, zipData))

	path := filepath.Join(t.TempDir(), "amplitude-export.zip")
	require.NoError(t, os.WriteFile(path, zipData, 0o644))
	located, bad, err := source.ReadAll([]string{path})
	require.NoError(t, err)
	require.Empty(t, bad)
	require.Len(t, located, 45)

	o := oracle.New(oracle.Options{})
	for _, l := range located {
		o.Add(l.Event)
	}
	res := o.Result()
	type pair struct {
		Index        int
		User, Device string
		Time         int64
	}
	var want, got []pair
	for _, x := range d.ExpectedIdentifies {
		want = append(want, pair{x.EventIndex, x.DistinctID, x.AnonDistinctID, x.Time})
	}
	for _, id := range res.Identifies {
		got = append(got, pair{id.EventIndex, id.DistinctID, id.Properties.AnonDistinctID, id.Timestamp.UnixMilli()})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("oracle over the export zip mismatch (-want +got):\n%s", diff)
	}
}
