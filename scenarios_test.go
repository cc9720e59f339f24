package amplitudetestgen_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sebdah/goldie/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/dataset"
	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/scenario"
	"amplitude-testgen/helpers/timerange"
)

// Every top-level name here starts with "scenario": the root test package
// is shared with identify_oracle_test.go.

// scenarioWantEvent is one event of the standard dataset as SPEC.md §2
// describes it, written out by hand.
type scenarioWantEvent struct {
	user     *string // nil: user_id null
	device   string
	identify bool
}

func scenarioPair(user, device string, identify bool) scenarioWantEvent {
	return scenarioWantEvent{user: &user, device: device, identify: identify}
}

func scenarioAnon(device string) scenarioWantEvent {
	return scenarioWantEvent{device: device}
}

// scenarioWant is the standard dataset, scenario by scenario, in
// generation order, copied from SPEC.md §2 rather than computed from the
// generator's own tables.
var scenarioWant = []struct {
	name   string
	number int
	events []scenarioWantEvent
}{
	{"first_time_combinations", 1, []scenarioWantEvent{
		scenarioPair("first_time_user_alice", "first_time_device_mobile_1", true),
		scenarioPair("first_time_user_bob", "first_time_device_laptop_2", true),
		scenarioPair("first_time_user_charlie", "first_time_device_tablet_3", true),
		scenarioPair("first_time_user_diana", "first_time_device_desktop_4", true),
		scenarioPair("first_time_user_eve", "first_time_device_smartwatch_5", true),
	}},
	{"duplicate_combinations", 2, []scenarioWantEvent{
		scenarioPair("duplicate_user_frank", "duplicate_device_phone_1", true),
		scenarioPair("duplicate_user_frank", "duplicate_device_phone_1", false),
		scenarioPair("duplicate_user_frank", "duplicate_device_phone_1", false),
		scenarioPair("duplicate_user_grace", "duplicate_device_computer_2", true),
		scenarioPair("duplicate_user_grace", "duplicate_device_computer_2", false),
		scenarioPair("duplicate_user_grace", "duplicate_device_computer_2", false),
		scenarioPair("duplicate_user_henry", "duplicate_device_ipad_3", true),
		scenarioPair("duplicate_user_henry", "duplicate_device_ipad_3", false),
		scenarioPair("duplicate_user_henry", "duplicate_device_ipad_3", false),
	}},
	{"multi_device_users", 3, []scenarioWantEvent{
		scenarioPair("multi_device_user_sarah", "multi_dev_phone_morning", true),
		scenarioPair("multi_device_user_sarah", "multi_dev_laptop_work", true),
		scenarioPair("multi_device_user_sarah", "multi_dev_tablet_home", true),
		scenarioPair("multi_device_user_sarah", "multi_dev_smarttv_living", true),
	}},
	{"multi_user_devices", 4, []scenarioWantEvent{
		scenarioPair("shared_device_parent_mom", "shared_family_tablet_main", true),
		scenarioPair("shared_device_parent_dad", "shared_family_tablet_main", true),
		scenarioPair("shared_device_child_alice", "shared_family_tablet_main", true),
		scenarioPair("shared_device_child_bob", "shared_family_tablet_main", true),
	}},
	{"edge_cases", 5, []scenarioWantEvent{
		scenarioPair("edge_unicode_用户", "edge_unicode_设备", true),
		scenarioPair("edge_email_user@test.com", "edge_colon_device:123:abc", true),
		scenarioPair("edge_hash_user#123", "edge_dots_device.with.dots", true),
		scenarioPair("edge_long_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "edge_normal_device", true),
		scenarioPair("edge_normal_user", "edge_long_device_yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", true),
		scenarioPair("  edge_trimmed_user  ", "  edge_trimmed_device  ", true),
		scenarioPair("edge_numeric_12345", "edge_numeric_67890", true),
		scenarioPair("edge_camelCase_User", "edge_kebab-case-device", true),
	}},
	{"anonymous_to_identified", 6, []scenarioWantEvent{
		scenarioAnon("anon_device_phone_1"),
		scenarioPair("anon_to_id_user_1", "anon_device_phone_1", true),
		scenarioPair("anon_to_id_user_1", "anon_device_phone_1", false),
		scenarioAnon("anon_device_laptop_2"),
		scenarioPair("anon_to_id_user_2", "anon_device_laptop_2", true),
		scenarioPair("anon_to_id_user_2", "anon_device_laptop_2", false),
		scenarioAnon("anon_device_tablet_3"),
		scenarioPair("anon_to_id_user_3", "anon_device_tablet_3", true),
		scenarioPair("anon_to_id_user_3", "anon_device_tablet_3", false),
	}},
	{"cross_session_journeys", 7, []scenarioWantEvent{
		scenarioPair("journey_user_alex", "journey_phone_commute", true),
		scenarioPair("journey_user_alex", "journey_laptop_office", true),
		scenarioPair("journey_user_alex", "journey_phone_commute", false),
		scenarioPair("journey_user_alex", "journey_laptop_office", false),
		scenarioPair("journey_user_alex", "journey_tablet_home", true),
		scenarioPair("journey_user_alex", "journey_phone_commute", false),
	}},
}

// scenarioDrawnTypes are the event types the generator may draw.
var scenarioDrawnTypes = map[string]bool{
	"login": true, "purchase": true, "page_view": true, "button_click": true, "app_open": true,
	"video_play": true, "search": true, "signup": true, "logout": true,
}

// scenarioGenerate builds the dataset from opts, failing the test on error.
func scenarioGenerate(tb testing.TB, opts scenario.Options) *dataset.Dataset {
	tb.Helper()
	d, err := scenario.Generate(opts)
	require.NoError(tb, err)
	require.NotNil(tb, d)
	return d
}

// scenarioEvents returns the events of the named scenario, in order.
func scenarioEvents(d *dataset.Dataset, name string) []event.Event {
	var out []event.Event
	for _, e := range d.Events {
		if e.EventProperties["scenario"] == name {
			out = append(out, e)
		}
	}
	return out
}

// scenarioJSON encodes v as the dataset file does: two-space indent, no
// HTML escaping, trailing newline.
func scenarioJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	require.NoError(tb, enc.Encode(v))
	return buf.Bytes()
}

func scenarioWrite(tb testing.TB, d *dataset.Dataset) []byte {
	tb.Helper()
	var buf bytes.Buffer
	require.NoError(tb, dataset.Write(&buf, d))
	return buf.Bytes()
}

func TestScenarioContents(t *testing.T) {
	opts := scenario.FixedOptions()
	d := scenarioGenerate(t, opts)

	// The scenarios come one after the other, never interleaved.
	var gotOrder, wantOrder []string
	for _, e := range d.Events {
		gotOrder = append(gotOrder, fmt.Sprint(e.EventProperties["scenario"]))
	}
	for _, sc := range scenarioWant {
		for range sc.events {
			wantOrder = append(wantOrder, sc.name)
		}
	}
	require.Equal(t, wantOrder, gotOrder, "scenario of each event, in generation order")

	all := scenario.All()
	require.Len(t, all, len(scenarioWant))
	require.Len(t, d.Metadata.Scenarios, len(scenarioWant))

	for i, sc := range scenarioWant {
		t.Run(sc.name, func(t *testing.T) {
			identifies := 0
			for _, w := range sc.events {
				if w.identify {
					identifies++
				}
			}
			assert.Equal(t, scenario.Scenario{
				Name: sc.name, Number: sc.number, Description: all[i].Description,
				Events: len(sc.events), Identifies: identifies,
			}, all[i], "scenario.All()[%d]", i)
			assert.NotEmpty(t, all[i].Description)
			assert.Equal(t, dataset.ScenarioSummary{Name: sc.name, Events: len(sc.events), Identifies: identifies},
				d.Metadata.Scenarios[i], "metadata.scenarios[%d]", i)

			events := scenarioEvents(d, sc.name)
			require.Len(t, events, len(sc.events))
			var wantIdentifies []dataset.ExpectedIdentify
			for j, w := range sc.events {
				e := events[j]
				assert.Equal(t, w.user, e.UserID, "event %d user_id", j+1)
				assert.Equal(t, event.Str(w.device), e.DeviceID, "event %d device_id", j+1)
				assert.Equal(t, w.identify, e.EventProperties["expected_identify"], "event %d expected_identify", j+1)
				require.NotNil(t, e.EventType)
				if sc.number == 6 && j%3 == 1 {
					assert.Equal(t, "user_login", *e.EventType, "event %d: the login identifies", j+1)
				} else {
					assert.True(t, scenarioDrawnTypes[*e.EventType], "event %d type %q is not one of the drawn types", j+1, *e.EventType)
				}
				assert.Equal(t, sc.number, e.EventProperties["scenario_number"])
				assert.Equal(t, j+1, e.EventProperties["step"], "event %d step", j+1)
				assert.NotZero(t, e.EventProperties["pair"], "event %d pair", j+1)
				assert.NotEmpty(t, e.EventProperties["context"], "event %d context", j+1)
				assert.Equal(t, "2024-01-15T00:00:00Z", e.EventProperties["time_range_start"])
				assert.Equal(t, "2024-01-16T00:00:00Z", e.EventProperties["time_range_end"])
				assert.Equal(t, map[string]any{"test_scenario": true, "generated_at": "2024-01-16T00:00:00Z"}, e.UserProperties)
				assert.Len(t, e.InsertID, 32, "event %d insert_id", j+1)
				if j > 0 {
					assert.Greater(t, e.Time, events[j-1].Time, "event %d after event %d", j+1, j)
				}
				if w.identify {
					index := -1
					for k := range d.Events {
						if d.Events[k].InsertID == e.InsertID {
							index = k
						}
					}
					wantIdentifies = append(wantIdentifies, dataset.ExpectedIdentify{
						Scenario: sc.name, EventIndex: index, InsertID: e.InsertID,
						DistinctID: *w.user, AnonDistinctID: w.device, Time: e.Time,
					})
				}
			}
			var gotIdentifies []dataset.ExpectedIdentify
			for _, x := range d.ExpectedIdentifies {
				if x.Scenario == sc.name {
					gotIdentifies = append(gotIdentifies, x)
				}
			}
			if sc.name == "edge_cases" {
				// PostHog trims the ids it puts into the identify.
				wantIdentifies[5].DistinctID = "edge_trimmed_user"
				wantIdentifies[5].AnonDistinctID = "edge_trimmed_device"
			}
			if diff := cmp.Diff(wantIdentifies, gotIdentifies); diff != "" {
				t.Errorf("expected identifies of %s mismatch (-want +got):\n%s", sc.name, diff)
			}
		})
	}

	assert.Len(t, d.Events, 45)
	assert.Len(t, d.ExpectedIdentifies, 30)
	assert.Equal(t, dataset.Metadata{
		GeneratedAt:            "2024-01-16T00:00:00Z",
		Generator:              dataset.Generator{Name: "amplitude-testgen", Version: scenario.Version},
		Seed:                   1,
		Cluster:                "us",
		TimeRange:              dataset.TimeRange{Start: "2024-01-15T00:00:00Z", End: "2024-01-16T00:00:00Z"},
		TotalEvents:            45,
		ExpectedIdentifyEvents: 30,
		Scenarios:              d.Metadata.Scenarios, // checked per scenario above
	}, d.Metadata)
}

// TestScenarioSpacing checks that a window larger than the schedule keeps
// the narrative spacing of SPEC.md §2.
func TestScenarioSpacing(t *testing.T) {
	d := scenarioGenerate(t, scenario.FixedOptions())
	offsets := func(name string, unit time.Duration) []int64 {
		events := scenarioEvents(d, name)
		out := make([]int64, len(events))
		for i, e := range events {
			out[i] = (e.Time - events[0].Time) / unit.Milliseconds()
		}
		return out
	}
	assert.Equal(t, []int64{0, 5, 10, 20, 25, 30, 40, 45, 50}, offsets("duplicate_combinations", time.Minute), "duplicates 5 minutes apart")
	assert.Equal(t, []int64{0, 2, 4, 5, 10, 12}, offsets("cross_session_journeys", time.Hour), "journey steps in hours")
	assert.Equal(t, []int64{0, 2, 5, 15, 17, 20, 30, 32, 35}, offsets("anonymous_to_identified", time.Minute), "browse, log in, act")
	assert.Equal(t, time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC), d.Events[0].Timestamp(), "the schedule starts at the window's start")
}

func TestScenarioGolden(t *testing.T) {
	d := scenarioGenerate(t, scenario.FixedOptions())
	for _, sc := range scenarioWant {
		t.Run(sc.name, func(t *testing.T) {
			events := scenarioEvents(d, sc.name)
			require.NotEmpty(t, events)
			g := goldie.New(t, goldie.WithFixtureDir("golden"), goldie.WithNameSuffix(".golden"))
			g.Assert(t, "scenario_"+sc.name, scenarioJSON(t, events))
		})
	}
}

func TestScenarioDatasetGolden(t *testing.T) {
	b := scenarioWrite(t, scenarioGenerate(t, scenario.FixedOptions()))
	g := goldie.New(t, goldie.WithFixtureDir("golden"), goldie.WithNameSuffix(".golden"))
	g.Assert(t, "dataset", b)

	// The golden file reads back into the same dataset.
	back, err := dataset.Read(bytes.NewReader(b))
	require.NoError(t, err)
	assert.Equal(t, string(b), string(scenarioWrite(t, back)))
}

func TestScenarioDeterminism(t *testing.T) {
	opts := scenario.FixedOptions()
	first := scenarioWrite(t, scenarioGenerate(t, opts))
	second := scenarioWrite(t, scenarioGenerate(t, opts))
	assert.Equal(t, string(first), string(second), "same options, same bytes")

	// ids and types of the events of d, for comparing datasets.
	signature := func(d *dataset.Dataset) (types, ids []string) {
		for _, e := range d.Events {
			types = append(types, *e.EventType)
			ids = append(ids, e.InsertID)
		}
		return types, ids
	}
	baseTypes, baseIDs := signature(scenarioGenerate(t, opts))

	tests := []struct {
		name        string
		change      func(*scenario.Options)
		sameTypes   bool
		wantNoShare bool // no insert_id in common with the base dataset
	}{
		{"another seed", func(o *scenario.Options) { o.Seed = 2 }, false, true},
		{"another window", func(o *scenario.Options) { o.Range.End = o.Range.End.Add(time.Hour) }, true, true},
		{"another clock", func(o *scenario.Options) { o.Now = o.Now.Add(time.Hour) }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := scenario.FixedOptions()
			tt.change(&o)
			types, ids := signature(scenarioGenerate(t, o))
			if tt.sameTypes {
				assert.Equal(t, baseTypes, types, "the seed alone draws the event types")
			} else {
				assert.NotEqual(t, baseTypes, types)
			}
			if tt.wantNoShare {
				seen := map[string]bool{}
				for _, id := range baseIDs {
					seen[id] = true
				}
				for i, id := range ids {
					assert.False(t, seen[id], "event %d: insert_id %s shared with the base dataset", i, id)
				}
			} else {
				assert.Equal(t, baseIDs, ids, "the clock does not change insert ids: a re-sent dataset stays idempotent")
			}
		})
	}
}

// scenarioCheckPromise checks the promises every generated dataset keeps:
// 45 events, 30 flagged, all inside r, strictly increasing, never
// session_start, unique insert ids.
func scenarioCheckPromise(tb testing.TB, d *dataset.Dataset, r timerange.Range) {
	tb.Helper()
	if !assert.Len(tb, d.Events, 45) {
		return
	}
	flagged := 0
	ids := map[string]bool{}
	for i, e := range d.Events {
		ts := e.Timestamp()
		if ts.Before(r.Start) || ts.After(r.End) {
			tb.Errorf("event %d at %s is outside [%s, %s]", i, ts.Format(time.RFC3339Nano),
				r.Start.Format(time.RFC3339Nano), r.End.Format(time.RFC3339Nano))
		}
		if i > 0 && e.Time <= d.Events[i-1].Time {
			tb.Errorf("event %d at %d ms is not after event %d at %d ms", i, e.Time, i-1, d.Events[i-1].Time)
		}
		if *e.EventType == "session_start" {
			tb.Errorf("event %d is a session_start", i)
		}
		if e.EventProperties["expected_identify"] == true {
			flagged++
		}
		if ids[e.InsertID] {
			tb.Errorf("event %d repeats insert_id %s", i, e.InsertID)
		}
		ids[e.InsertID] = true
	}
	assert.Equal(tb, 30, flagged, "events flagged expected_identify")
	assert.Len(tb, d.ExpectedIdentifies, 30)
	for _, x := range d.ExpectedIdentifies {
		assert.Equal(tb, d.Events[x.EventIndex].Time, x.Time)
		assert.Equal(tb, true, d.Events[x.EventIndex].EventProperties["expected_identify"])
	}
}

func TestScenarioWindows(t *testing.T) {
	const seeds = 200
	base := time.Date(2023, 6, 1, 8, 30, 0, 0, time.UTC)
	windows := []struct {
		name  string
		width time.Duration
	}{
		{"45 ms", 44 * time.Millisecond},
		{"45 ms and a bit", 44*time.Millisecond + 999*time.Microsecond},
		{"1 s", time.Second},
		{"12345 ms", 12345 * time.Millisecond},
		{"1 m", time.Minute},
		{"61 s", 61 * time.Second},
		{"5 m", 5 * time.Minute},
		{"1 h", time.Hour},
		{"7h13m", 7*time.Hour + 13*time.Minute},
		{"1 d", 24 * time.Hour},
		{"1 w", 7 * 24 * time.Hour},
		{"30 d", 30 * 24 * time.Hour},
		{"365 d", 365 * 24 * time.Hour},
	}
	for _, w := range windows {
		t.Run(w.name, func(t *testing.T) {
			for seed := int64(0); seed < seeds; seed++ {
				// Shift the window so starts land on odd milliseconds; every
				// seventh starts between two milliseconds.
				start := base.Add(time.Duration(seed) * 7919 * time.Millisecond)
				if seed%7 == 3 && w.width > 45*time.Millisecond {
					start = start.Add(250 * time.Microsecond)
				}
				r := timerange.Range{Start: start, End: start.Add(w.width)}
				d, err := scenario.Generate(scenario.Options{Seed: seed, Range: r, Cluster: "eu", Now: base})
				require.NoError(t, err, "seed %d", seed)
				scenarioCheckPromise(t, d, r)
				if t.Failed() {
					t.Fatalf("seed %d, window %s to %s", seed, r.Start.Format(time.RFC3339Nano), r.End.Format(time.RFC3339Nano))
				}
			}
		})
	}
}

func TestScenarioRelativeWindows(t *testing.T) {
	now := time.Date(2024, 3, 31, 12, 34, 56, 789_000_000, time.UTC)
	tests := []struct{ start, end string }{
		{"1 week ago", "now"},
		{"1 minute ago", "now"},
		{"2 hours ago", "1 hour ago"},
		{"1 month ago", "now"},
		{"1 year ago", "now"},
		{"", ""},
		{"2024-01-15", "2024-01-15T23:59:59Z"},
		{"2024-01-01T00:00:00Z", "2024-01-07T23:59:59Z"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q to %q", tt.start, tt.end), func(t *testing.T) {
			r, err := timerange.Parse(tt.start, tt.end, now)
			require.NoError(t, err)
			for seed := int64(0); seed < 25; seed++ {
				d := scenarioGenerate(t, scenario.Options{Seed: seed, Range: r, Cluster: "us", Now: now})
				scenarioCheckPromise(t, d, r)
			}
		})
	}
}

func TestScenarioWindowTooSmall(t *testing.T) {
	start := time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)

	_, err := scenario.Generate(scenario.Options{
		Seed: 1, Cluster: "us", Now: start,
		Range: timerange.Range{Start: start, End: start.Add(43 * time.Millisecond)},
	})
	require.ErrorIs(t, err, scenario.ErrWindowTooSmall)
	assert.Contains(t, err.Error(), "2024-01-15T10:00:00Z to 2024-01-15T10:00:00.043Z")
	assert.Contains(t, err.Error(), "holds 44 distinct milliseconds, need at least 45")

	// 45 distinct milliseconds: one event on each.
	r := timerange.Range{Start: start, End: start.Add(44 * time.Millisecond)}
	d := scenarioGenerate(t, scenario.Options{Seed: 1, Cluster: "us", Now: start, Range: r})
	scenarioCheckPromise(t, d, r)
	for i, e := range d.Events {
		assert.Equal(t, start.UnixMilli()+int64(i), e.Time, "event %d", i)
	}
}

func TestScenarioBadOptions(t *testing.T) {
	tests := []struct {
		name   string
		change func(*scenario.Options)
		want   []string
	}{
		{"unknown cluster", func(o *scenario.Options) { o.Cluster = "uk" }, []string{`cluster "uk"`, "want us or eu"}},
		{"empty cluster", func(o *scenario.Options) { o.Cluster = "" }, []string{`cluster ""`, "want us or eu"}},
		{"negative seed", func(o *scenario.Options) { o.Seed = -3 }, []string{"seed -3", ">= 0"}},
		{"start equals end", func(o *scenario.Options) { o.Range.End = o.Range.Start }, []string{"2024-01-15T00:00:00Z to 2024-01-15T00:00:00Z", "start before the end"}},
		{"start after end", func(o *scenario.Options) { o.Range.Start, o.Range.End = o.Range.End, o.Range.Start }, []string{"2024-01-16T00:00:00Z to 2024-01-15T00:00:00Z", "start before the end"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := scenario.FixedOptions()
			tt.change(&o)
			d, err := scenario.Generate(o)
			require.Error(t, err)
			assert.Nil(t, d)
			assert.False(t, errors.Is(err, scenario.ErrWindowTooSmall))
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}

	t.Run("cluster in capitals is accepted and normalised", func(t *testing.T) {
		o := scenario.FixedOptions()
		o.Cluster = "EU"
		d := scenarioGenerate(t, o)
		assert.Equal(t, "eu", d.Metadata.Cluster)
	})
}

func BenchmarkGenerate(b *testing.B) {
	opts := scenario.FixedOptions()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := scenario.Generate(opts); err != nil {
			b.Fatal(err)
		}
	}
}
