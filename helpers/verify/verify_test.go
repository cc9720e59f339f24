package verify_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sebdah/goldie/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/oracle"
	"amplitude-testgen/helpers/posthog"
	"amplitude-testgen/helpers/verify"
)

var base = time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)

// at is the time of hand-made event i: i minutes and 123 ms after base,
// so that millisecond handling shows.
func at(i int) time.Time { return base.Add(time.Duration(i)*time.Minute + 123*time.Millisecond) }

// amplitudeEvents is a small stream covering every rule of SPEC.md §3.
func amplitudeEvents() []event.Event {
	s := event.Str
	rows := []struct {
		typ, user, device *string
	}{
		{s("login"), s("alice"), s("dev_a")},            // 0 identify
		{s("purchase"), s("alice"), s("dev_a")},         // 1 duplicate pair
		{s("page_view"), s("bob"), s("dev_b")},          // 2 identify
		{s("app_open"), nil, s("dev_c")},                // 3 anonymous
		{s("signup"), s("carol"), s("dev_c")},           // 4 identify
		{s("session_start"), s("dave"), s("dev_d")},     // 5 dropped
		{s("search"), s("dave"), s("dev_d")},            // 6 identify
		{s("login"), s("  erin  "), s("dev_e")},         // 7 identify, trimmed
		{s("video_play"), s("erin"), s("dev_e")},        // 8 identify: identical to 7
		{nil, s("frank"), s("dev_f")},                   // 9 dropped: no event_type
		{s("logout"), s("frank"), nil},                  // 10 no device
		{s("button_click"), s("gina"), s("dev_g")},      // 11 identify
		{s("button_click"), s("gina"), s("dev_g")},      // 12 duplicate pair
		{s("[Amplitude] Page Viewed"), nil, s("dev_h")}, // 13 anonymous, renamed $pageview
	}
	out := make([]event.Event, len(rows))
	for i, r := range rows {
		out[i] = event.Event{
			EventType: r.typ, UserID: r.user, DeviceID: r.device,
			Time: at(i).UnixMilli(), HasTime: true, InsertID: fmt.Sprintf("insert-%02d", i),
			EventProperties: map[string]any{"step": i},
		}
	}
	return out
}

// applySpec is this test's own reading of SPEC.md §3, independent of the
// oracle: what the worker sends to PostHog for events, in order.
func applySpec(events []event.Event) []posthog.Event {
	var out []posthog.Event
	seen := map[[2]string]bool{}
	for i, e := range events {
		if e.EventType == nil || *e.EventType == "session_start" {
			continue
		}
		ts := time.UnixMilli(e.Time).UTC()
		if e.UserID != nil && e.DeviceID != nil && !seen[[2]string{*e.UserID, *e.DeviceID}] {
			u, d := strings.TrimSpace(*e.UserID), strings.TrimSpace(*e.DeviceID)
			if u == "" || d == "" {
				continue // import error
			}
			seen[[2]string{*e.UserID, *e.DeviceID}] = true
			out = append(out, identify(u, d, ts, fmt.Sprintf("id-%02d", i)))
		}
		props := map[string]any{"historical_migration": true, "analytics_source": "amplitude"}
		for k, v := range e.EventProperties {
			props[k] = v
		}
		distinct := fmt.Sprintf("random-%02d", i)
		if e.DeviceID != nil {
			props["$amplitude_device_id"], props["$device_id"] = *e.DeviceID, *e.DeviceID
			if *e.DeviceID != "" {
				distinct = *e.DeviceID
			}
		}
		if e.UserID != nil {
			props["$amplitude_user_id"] = *e.UserID
			if *e.UserID != "" {
				distinct = *e.UserID
			}
		}
		name := *e.EventType
		if name == "[Amplitude] Page Viewed" {
			name = "$pageview"
		}
		out = append(out, posthog.Event{UUID: fmt.Sprintf("ev-%02d", i), Event: name, DistinctID: distinct, Properties: props, Timestamp: ts})
	}
	return out
}

func identify(user, device string, ts time.Time, uuid string) posthog.Event {
	return posthog.Event{
		UUID: uuid, Event: "$identify", DistinctID: user, Timestamp: ts,
		Properties: map[string]any{
			"$anon_distinct_id": device, "$amplitude_user_id": user, "$amplitude_device_id": device,
			"historical_migration": true, "analytics_source": "amplitude",
		},
	}
}

// Mutations of the PostHog side.

func without(evs []posthog.Event, drop func(posthog.Event) bool) []posthog.Event {
	var out []posthog.Event
	for _, e := range evs {
		if !drop(e) {
			out = append(out, e)
		}
	}
	return out
}

func isIdentifyOf(user string) func(posthog.Event) bool {
	return func(e posthog.Event) bool { return e.Event == "$identify" && e.DistinctID == user }
}

func edit(evs []posthog.Event, match func(posthog.Event) bool, change func(*posthog.Event)) []posthog.Event {
	out := make([]posthog.Event, len(evs))
	for i, e := range evs {
		props := map[string]any{}
		for k, v := range e.Properties {
			props[k] = v
		}
		e.Properties = props
		if match(e) {
			change(&e)
		}
		out[i] = e
	}
	return out
}

func plus(evs []posthog.Event, more ...posthog.Event) []posthog.Event {
	return append(append([]posthog.Event(nil), evs...), more...)
}

func render(t testing.TB, r verify.Report) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, r.WriteText(&b))
	return b.Bytes()
}

func TestCompareGolden(t *testing.T) {
	events := amplitudeEvents()
	expected := oracle.Expect(events, oracle.Options{})
	require.Len(t, expected.Identifies, 7, "the hand-made stream must give 7 identifies")
	good := applySpec(events)

	tests := []struct {
		name        string
		actual      []posthog.Event
		events      []event.Event
		checkEvents bool
		wantOK      bool
		want        verify.IdentifySummary
	}{
		{
			name: "match", actual: good, events: events, checkEvents: true, wantOK: true,
			want: verify.IdentifySummary{Expected: 7, Found: 7, Duplicates: verify.Duplicates{Total: 1, Predicted: 1}},
		},
		{
			name: "missing_identify", actual: without(good, isIdentifyOf("bob")), events: events, wantOK: false,
			want: verify.IdentifySummary{Expected: 7, Found: 6, Missing: 1, Duplicates: verify.Duplicates{Total: 1, Predicted: 1}},
		},
		{
			name:   "missing_predicted_duplicate",
			actual: without(good, func(e posthog.Event) bool { return e.UUID == "id-08" }), events: events, wantOK: false,
			want: verify.IdentifySummary{Expected: 7, Found: 6, Missing: 1},
		},
		{
			name: "wrong_anon_distinct_id",
			actual: edit(good, isIdentifyOf("carol"), func(e *posthog.Event) {
				e.Properties["$anon_distinct_id"] = "dev_c_wrong"
			}),
			events: events, wantOK: false,
			want: verify.IdentifySummary{Expected: 7, Found: 6, Wrong: 1, Duplicates: verify.Duplicates{Total: 1, Predicted: 1}},
		},
		{
			name: "wrong_properties",
			actual: edit(good, isIdentifyOf("dave"), func(e *posthog.Event) {
				e.Properties["historical_migration"] = false
				delete(e.Properties, "analytics_source")
				e.Properties["$amplitude_device_id"] = "  dev_d"
				e.Timestamp = e.Timestamp.Add(time.Millisecond)
			}),
			events: events, wantOK: false,
			want: verify.IdentifySummary{Expected: 7, Found: 6, Wrong: 1, Duplicates: verify.Duplicates{Total: 1, Predicted: 1}},
		},
		{
			name: "duplicates_of_each_kind",
			actual: plus(good,
				identify("alice", "dev_a", at(1), "dup-alice"),            // repeat event 1: worker_dedup
				identify("bob", "dev_b", at(2).Add(time.Hour), "dup-bob"), // no event then: unexplained
				identify("zed", "dev_z", at(3), "zed-1"),                  // never expected: unexpected
				identify("zed", "dev_z", at(4), "zed-2"),                  // and duplicated: unexplained
			),
			events: events, wantOK: false,
			want: verify.IdentifySummary{Expected: 7, Found: 7, Unexpected: 1,
				Duplicates: verify.Duplicates{Total: 4, Predicted: 1, WorkerDedup: 1, Unexplained: 2}},
		},
		{
			name: "worker_dedup_only_fails",
			actual: plus(good,
				identify("gina", "dev_g", at(12), "dup-gina"),
			),
			events: events, wantOK: false,
			want: verify.IdentifySummary{Expected: 7, Found: 7, Duplicates: verify.Duplicates{Total: 2, Predicted: 1, WorkerDedup: 1}},
		},
		{
			name: "worker_dedup_unconfirmed_without_events",
			actual: plus(good,
				identify("gina", "dev_g", at(12), "dup-gina"),
			),
			events: nil, wantOK: false,
			want: verify.IdentifySummary{Expected: 7, Found: 7, Duplicates: verify.Duplicates{Total: 2, Predicted: 1, WorkerDedup: 1}},
		},
		{
			name: "events_mismatch",
			actual: plus(
				without(good, func(e posthog.Event) bool { return e.UUID == "ev-04" }),
				good[1], // login of alice imported twice
				posthog.Event{UUID: "ss", Event: "session_start", DistinctID: "dave", Timestamp: at(5),
					Properties: map[string]any{"$amplitude_device_id": "dev_d"}},
				posthog.Event{UUID: "other", Event: "$pageview", DistinctID: "someone", Timestamp: at(20),
					Properties: map[string]any{}},
			),
			events: events, checkEvents: true, wantOK: false,
			want: verify.IdentifySummary{Expected: 7, Found: 7, Duplicates: verify.Duplicates{Total: 1, Predicted: 1}},
		},
		{
			name: "events_check_without_events", actual: good, events: nil, checkEvents: true, wantOK: false,
			want: verify.IdentifySummary{Expected: 7, Found: 7, Duplicates: verify.Duplicates{Total: 1, Predicted: 1}},
		},
	}
	g := goldie.New(t, goldie.WithFixtureDir("testdata"), goldie.WithNameSuffix(".golden"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := verify.Compare(expected, tt.events, tt.actual, verify.Options{CheckEvents: tt.checkEvents})
			assert.Equal(t, tt.wantOK, r.OK(), "Compare(...).OK()")
			assert.Equal(t, tt.want, r.Identifies)
			text := render(t, r)
			g.Assert(t, tt.name, text)
			// Byte-stable: the same comparison renders the same bytes,
			// whatever the order PostHog returned events in.
			reversed := make([]posthog.Event, len(tt.actual))
			for i, e := range tt.actual {
				reversed[len(reversed)-1-i] = e
			}
			again := verify.Compare(expected, tt.events, reversed, verify.Options{CheckEvents: tt.checkEvents})
			assert.Equal(t, string(text), string(render(t, again)))
		})
	}
}

func TestCompareJSONGolden(t *testing.T) {
	events := amplitudeEvents()
	expected := oracle.Expect(events, oracle.Options{})
	actual := without(applySpec(events), isIdentifyOf("bob"))
	r := verify.Compare(expected, events, actual, verify.Options{CheckEvents: true})
	var b bytes.Buffer
	require.NoError(t, r.WriteJSON(&b))
	g := goldie.New(t, goldie.WithFixtureDir("testdata"), goldie.WithNameSuffix(".golden"))
	g.Assert(t, "missing_identify_json", b.Bytes())

	var back verify.Report
	require.NoError(t, json.Unmarshal(b.Bytes(), &back))
	assert.Equal(t, r, back, "the JSON report reads back to the same Report")
}

// The standard case of the SPEC: every identify found once, nothing else.
func TestCompareHeaderForAPerfectImport(t *testing.T) {
	s := event.Str
	var events []event.Event
	for i := range 3 {
		events = append(events, event.Event{EventType: s("login"), UserID: s(fmt.Sprintf("u%d", i)),
			DeviceID: s(fmt.Sprintf("d%d", i)), Time: at(i).UnixMilli(), HasTime: true})
	}
	r := verify.Compare(oracle.Expect(events, oracle.Options{}), events, applySpec(events), verify.Options{})
	require.True(t, r.OK())
	assert.Equal(t, "verdict: PASS\nidentifies: 3 of 3 found, 0 missing, 0 wrong, 0 unexpected, 0 duplicates\n\nno issues\n", string(render(t, r)))
}

// Timestamps the oracle cannot predict (no event time) are not compared.
func TestCompareUnknownTimestamp(t *testing.T) {
	s := event.Str
	events := []event.Event{{EventType: s("login"), UserID: s("u"), DeviceID: s("d")}}
	expected := oracle.Expect(events, oracle.Options{})
	require.Len(t, expected.Identifies, 1)
	require.False(t, expected.Identifies[0].TimestampKnown)
	actual := []posthog.Event{identify("u", "d", time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC), "x")}
	r := verify.Compare(expected, events, actual, verify.Options{})
	assert.True(t, r.OK())
	assert.Equal(t, 1, r.Identifies.Found)
	require.Len(t, r.Notes, 1)
	assert.Equal(t, oracle.FindingTimestampUnknown, r.Notes[0].Kind)
}

// writeFormat saves PostHog events in one of the layouts posthog.Read
// knows and returns the files.
func writeFormat(t testing.TB, dir, format string, evs []posthog.Event) []string {
	t.Helper()
	obj := func(e posthog.Event) map[string]any {
		return map[string]any{"uuid": e.UUID, "event": e.Event, "distinct_id": e.DistinctID,
			"properties": e.Properties, "timestamp": e.Timestamp.Format("2006-01-02T15:04:05.000000-07:00")}
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	switch format {
	case "results":
		// Two saved pages of the Events API, pretty-printed.
		var paths []string
		half := len(evs) / 2
		for i, page := range [][]posthog.Event{evs[:half], evs[half:]} {
			var results []map[string]any
			for _, e := range page {
				o := obj(e)
				o["id"] = o["uuid"]
				delete(o, "uuid")
				results = append(results, o)
			}
			next := any(nil)
			if i == 0 {
				next = "https://us.posthog.com/api/projects/1/events/?offset=1"
			}
			b, err := json.MarshalIndent(map[string]any{"next": next, "results": results}, "", "  ")
			require.NoError(t, err)
			paths = append(paths, write(fmt.Sprintf("page%d.json", i+1), b))
		}
		return paths
	case "json_lines":
		var b bytes.Buffer
		for _, e := range evs {
			line, err := json.Marshal(obj(e))
			require.NoError(t, err)
			b.Write(append(line, '\n'))
		}
		return []string{write("events.jsonl", b.Bytes())}
	case "captured_lines":
		var b bytes.Buffer
		for _, e := range evs {
			data, err := json.Marshal(obj(e))
			require.NoError(t, err)
			line, err := json.Marshal(map[string]any{"uuid": e.UUID, "distinct_id": e.DistinctID, "ip": "127.0.0.1",
				"data": string(data), "now": "2024-02-01T00:00:00+00:00", "sent_at": nil, "token": "phc_test",
				"is_cookieless_mode": false, "historical_migration": true})
			require.NoError(t, err)
			b.Write(append(line, '\n'))
		}
		return []string{write("captured.jsonl", b.Bytes())}
	}
	t.Fatalf("unknown format %q", format)
	return nil
}

func TestCompareEachInputFormat(t *testing.T) {
	events := amplitudeEvents()
	expected := oracle.Expect(events, oracle.Options{})
	// One identify missing, so the report has a row to show.
	actual := without(applySpec(events), isIdentifyOf("bob"))
	g := goldie.New(t, goldie.WithFixtureDir("testdata"), goldie.WithNameSuffix(".golden"))
	for _, format := range []string{"results", "json_lines", "captured_lines"} {
		t.Run(format, func(t *testing.T) {
			paths := writeFormat(t, t.TempDir(), format, actual)
			var read []posthog.Event
			bad, err := posthog.Read(paths, func(l posthog.Located) error {
				read = append(read, l.Event)
				return nil
			})
			require.NoError(t, err)
			require.Empty(t, bad)
			require.Len(t, read, len(actual))
			r := verify.Compare(expected, events, read, verify.Options{CheckEvents: true})
			// Every format gives the very same report.
			g.Assert(t, "formats", render(t, r))
		})
	}
}
