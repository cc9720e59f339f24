package oracle_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/oracle"
)

// base is 2024-01-15T10:00:00Z in milliseconds.
const base = int64(1705312800000)

// ev builds a timed event; nil ids are absent.
func ev(eventType, user, device *string) event.Event {
	return event.Event{EventType: eventType, UserID: user, DeviceID: device}
}

// s is event.Str, short for the tables.
func s(v string) *string { return event.Str(v) }

// timed gives events strictly increasing times, as a decoded stream has.
func timed(events ...event.Event) []event.Event {
	for i := range events {
		if events[i].Time == 0 && !events[i].HasTime {
			events[i].Time, events[i].HasTime = base+int64(i)*1000, true
		}
	}
	return events
}

func outcomes(r oracle.Result) []oracle.Outcome {
	out := make([]oracle.Outcome, len(r.Outcomes))
	for i, o := range r.Outcomes {
		out[i] = o.Outcome
	}
	return out
}

func kinds(r oracle.Result) []string {
	out := []string{}
	for _, f := range r.Findings {
		out = append(out, f.Kind)
	}
	return out
}

func pairs(r oracle.Result) [][2]string {
	out := [][2]string{}
	for _, id := range r.Identifies {
		out = append(out, [2]string{id.DistinctID, id.Properties.AnonDistinctID})
	}
	return out
}

const (
	identify  = oracle.OutcomeIdentify
	duplicate = oracle.OutcomeDuplicate
	anonymous = oracle.OutcomeAnonymous
	noDevice  = oracle.OutcomeNoDevice
	session   = oracle.OutcomeDroppedSessionStart
	noType    = oracle.OutcomeDroppedNoEventType
	importErr = oracle.OutcomeImportError
)

func TestRules(t *testing.T) {
	long := strings.Repeat("x", 1000)
	longDev := strings.Repeat("设", 1000)
	tests := []struct {
		name     string
		events   []event.Event
		outcomes []oracle.Outcome
		pairs    [][2]string // identifies (distinct_id, anon_distinct_id) in order
		kinds    []string
	}{
		{"first pair identifies", timed(ev(s("login"), s("u1"), s("d1"))),
			[]oracle.Outcome{identify}, [][2]string{{"u1", "d1"}}, []string{}},
		{"no event_type is dropped", timed(ev(nil, s("u1"), s("d1")), ev(s("login"), s("u1"), s("d1"))),
			[]oracle.Outcome{noType, identify}, [][2]string{{"u1", "d1"}}, []string{}},
		{"empty event_type is present and identifies", timed(ev(s(""), s("u1"), s("d1"))),
			[]oracle.Outcome{identify}, [][2]string{{"u1", "d1"}}, []string{}},
		{"session_start first is dropped and the pair identifies later",
			timed(ev(s("session_start"), s("u1"), s("d1")), ev(s("login"), s("u1"), s("d1"))),
			[]oracle.Outcome{session, identify}, [][2]string{{"u1", "d1"}}, []string{}},
		{"only session_start never identifies", timed(ev(s("session_start"), s("u1"), s("d1"))),
			[]oracle.Outcome{session}, [][2]string{}, []string{}},
		{"session_start match is exact", timed(ev(s("Session_Start"), s("u1"), s("d1")), ev(s("session_start "), s("u2"), s("d2"))),
			[]oracle.Outcome{identify, identify}, [][2]string{{"u1", "d1"}, {"u2", "d2"}}, []string{}},
		{"no event_type wins over session rules", timed(ev(nil, nil, nil)),
			[]oracle.Outcome{noType}, [][2]string{}, []string{}},
		{"user_id absent is anonymous", timed(ev(s("login"), nil, s("d1"))),
			[]oracle.Outcome{anonymous}, [][2]string{}, []string{}},
		{"both ids absent is anonymous", timed(ev(s("login"), nil, nil)),
			[]oracle.Outcome{anonymous}, [][2]string{}, []string{}},
		{"device_id absent is no_device", timed(ev(s("login"), s("u1"), nil)),
			[]oracle.Outcome{noDevice}, [][2]string{}, []string{}},
		{"repeated pair yields one identify", timed(ev(s("a"), s("u1"), s("d1")), ev(s("b"), s("u1"), s("d1")), ev(s("c"), s("u1"), s("d1"))),
			[]oracle.Outcome{identify, duplicate, duplicate}, [][2]string{{"u1", "d1"}}, []string{}},
		{"anonymous then identified", timed(ev(s("a"), nil, s("d1")), ev(s("user_login"), s("u1"), s("d1")), ev(s("b"), s("u1"), s("d1"))),
			[]oracle.Outcome{anonymous, identify, duplicate}, [][2]string{{"u1", "d1"}}, []string{}},
		{"one user on many devices", timed(ev(s("a"), s("u1"), s("d1")), ev(s("a"), s("u1"), s("d2")), ev(s("a"), s("u1"), s("d1"))),
			[]oracle.Outcome{identify, identify, duplicate}, [][2]string{{"u1", "d1"}, {"u1", "d2"}}, []string{}},
		{"many users on one device", timed(ev(s("a"), s("u1"), s("d1")), ev(s("a"), s("u2"), s("d1"))),
			[]oracle.Outcome{identify, identify}, [][2]string{{"u1", "d1"}, {"u2", "d1"}}, []string{}},
		{"empty user_id is an import error", timed(ev(s("a"), s(""), s("d1"))),
			[]oracle.Outcome{importErr}, [][2]string{}, []string{"import_error"}},
		{"empty device_id is an import error", timed(ev(s("a"), s("u1"), s(""))),
			[]oracle.Outcome{importErr}, [][2]string{}, []string{"import_error"}},
		{"whitespace-only user fails again and again; another key identifies",
			timed(ev(s("a"), s("   "), s("d1")), ev(s("b"), s("   "), s("d1")), ev(s("c"), s("u1"), s("d1"))),
			[]oracle.Outcome{importErr, importErr, identify}, [][2]string{{"u1", "d1"}}, []string{"import_error"}},
		{"whitespace-only device is an import error", timed(ev(s("a"), s("u1"), s("\t\n "))),
			[]oracle.Outcome{importErr}, [][2]string{}, []string{"import_error"}},
		{"padded ids identify trimmed and split the person", timed(ev(s("a"), s("  u1  "), s("  d1  ")), ev(s("b"), s("  u1  "), s("  d1  "))),
			[]oracle.Outcome{identify, duplicate}, [][2]string{{"u1", "d1"}}, []string{"split_person"}},
		{"padded and plain ids are two keys with identical identifies",
			timed(ev(s("a"), s("  u1  "), s("d1")), ev(s("b"), s("u1"), s("d1")), ev(s("c"), s("u1 "), s("d1"))),
			[]oracle.Outcome{identify, identify, identify}, [][2]string{{"u1", "d1"}, {"u1", "d1"}, {"u1", "d1"}},
			[]string{"identical_identifies", "split_person", "split_person"}},
		{"padded device alone splits the person", timed(ev(s("a"), s("u1"), s("d1 ")), ev(s("b"), s("u1"), s("d1"))),
			[]oracle.Outcome{identify, identify}, [][2]string{{"u1", "d1"}, {"u1", "d1"}},
			[]string{"identical_identifies", "split_person"}},
		{"unicode whitespace is trimmed like Rust's trim", timed(ev(s("a"), s("\u00a0u1\u3000"), s("\u2003d1\u0085"))),
			[]oracle.Outcome{identify}, [][2]string{{"u1", "d1"}}, []string{"split_person"}},
		{"zero-width space is not whitespace", timed(ev(s("a"), s("\u200b"), s("d1"))),
			[]oracle.Outcome{identify}, [][2]string{{"\u200b", "d1"}}, []string{}},
		{"unicode ids", timed(ev(s("a"), s("edge_unicode_用户"), s("edge_unicode_设备")), ev(s("a"), s("édouard"), s("😀📱"))),
			[]oracle.Outcome{identify, identify}, [][2]string{{"edge_unicode_用户", "edge_unicode_设备"}, {"édouard", "😀📱"}}, []string{}},
		{"1000 character ids", timed(ev(s("a"), s(long), s(longDev)), ev(s("b"), s(long), s(longDev)), ev(s("c"), s(long+"x"), s(longDev))),
			[]oracle.Outcome{identify, duplicate, identify}, [][2]string{{long, longDev}, {long + "x", longDev}}, []string{}},
		{"event without time identifies with unknown timestamp",
			[]event.Event{ev(s("a"), s("u1"), s("d1"))},
			[]oracle.Outcome{identify}, [][2]string{{"u1", "d1"}}, []string{"timestamp_unknown"}},
		{"empty stream", nil, []oracle.Outcome{}, [][2]string{}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := oracle.Expect(tt.events, oracle.Options{})
			if diff := cmp.Diff(tt.outcomes, outcomes(got)); diff != "" {
				t.Errorf("Expect outcomes mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.pairs, pairs(got)); diff != "" {
				t.Errorf("Expect identifies mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.kinds, kinds(got)); diff != "" {
				t.Errorf("Expect findings mismatch (-want +got):\n%s", diff)
			}
			assert.Equal(t, len(tt.pairs), got.IdentifyCount)
			assert.Equal(t, len(tt.events), got.Counts.Events)
			for _, o := range got.Outcomes {
				assert.NotEmpty(t, o.Reason, "event %d has no reason", o.Index)
			}
		})
	}
}

func TestEventResultFields(t *testing.T) {
	tests := []struct {
		name       string
		e          event.Event
		distinctID string
		dropped    bool
		reason     []string
	}{
		{"identify uses the untrimmed user", ev(s("a"), s(" u1 "), s("d1")), " u1 ", false,
			[]string{`first time user " u1 " is seen with device "d1"`, `trimmed ids "u1" and "d1"`}},
		{"anonymous goes to the device", ev(s("a"), nil, s(" d1 ")), " d1 ", false, []string{`device " d1 " stays anonymous`}},
		{"empty user falls back to device", ev(s("a"), s(""), nil), "", false, []string{"random uuid"}},
		{"no ids at all gets a random id", ev(s("a"), nil, nil), "", false, []string{"neither user_id nor device_id", "random uuid"}},
		{"no device goes to the user", ev(s("a"), s("u1"), nil), "u1", false, []string{`user "u1" has no device_id`}},
		{"session_start is dropped", ev(s("session_start"), s("u1"), s("d1")), "", true, []string{"session_start", "before identify logic"}},
		{"no event_type is dropped", ev(nil, s("u1"), s("d1")), "", true, []string{"no event_type"}},
		{"import error is dropped with its chunk", ev(s("a"), s(" "), s("d1")), "", true,
			[]string{`user_id " " is empty after trimming`, `"user_id cannot be empty"`, "chunk fails", "import pauses"}},
		{"device import error names the device message", ev(s("a"), s("u1"), s("")), "", true,
			[]string{`device_id "" is empty`, `"device_id cannot be empty"`}},
		{"no time says PostHog uses the import time", event.Event{EventType: s("a"), UserID: s("u1"), DeviceID: s("d1")}, "u1", false,
			[]string{"import time"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := oracle.New(oracle.Options{})
			got := o.Add(tt.e)
			assert.Equal(t, tt.distinctID, got.DistinctID)
			assert.Equal(t, tt.dropped, got.Dropped)
			assert.Equal(t, 1, got.Team)
			assert.Equal(t, 0, got.Index)
			for _, want := range tt.reason {
				assert.Contains(t, got.Reason, want)
			}
		})
	}
}

func TestDuplicateNamesTheIdentifyingEvent(t *testing.T) {
	o := oracle.New(oracle.Options{})
	o.Add(ev(s("a"), nil, s("d1")))
	o.Add(ev(s("a"), s(" "), s("d1"))) // import error: not remembered
	o.Add(ev(s("a"), s("u1"), s("d1")))
	got := o.Add(ev(s("a"), s("u1"), s("d1")))
	assert.Equal(t, oracle.OutcomeDuplicate, got.Outcome)
	assert.Equal(t, `user "u1" with device "d1" was already identified by event 2: no identify`, got.Reason)
	assert.Equal(t, 3, got.Index)
	assert.Equal(t, "u1", got.DistinctID)
}

func TestIdentifyFields(t *testing.T) {
	e := ev(s("login"), s("  alice  "), s("\tphone\n"))
	e.Time, e.HasTime, e.InsertID = base+123, true, "ins-1"
	got := oracle.Expect([]event.Event{ev(s("x"), nil, s("phone")), e}, oracle.Options{Team: 7})
	want := []oracle.Identify{{
		Team:       7,
		DistinctID: "alice",
		Properties: oracle.IdentifyProperties{
			AnonDistinctID:      "phone",
			AmplitudeUserID:     "alice",
			AmplitudeDeviceID:   "phone",
			HistoricalMigration: true,
			AnalyticsSource:     "amplitude",
		},
		EventIndex:     1,
		InsertID:       "ins-1",
		Timestamp:      time.Date(2024, 1, 15, 10, 0, 0, 123e6, time.UTC),
		TimestampKnown: true,
	}}
	if diff := cmp.Diff(want, got.Identifies); diff != "" {
		t.Errorf("Expect identifies mismatch (-want +got):\n%s", diff)
	}
}

func TestTimestampKnown(t *testing.T) {
	tests := []struct {
		name  string
		e     event.Event
		known bool
		want  time.Time
	}{
		{"decoded time", event.Event{Time: base, HasTime: true}, true, time.UnixMilli(base).UTC()},
		{"time set in Go without HasTime", event.Event{Time: base}, true, time.UnixMilli(base).UTC()},
		{"decoded epoch", event.Event{Time: 0, HasTime: true}, true, time.Unix(0, 0).UTC()},
		{"no time", event.Event{}, false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.e.EventType, tt.e.UserID, tt.e.DeviceID = s("a"), s("u"), s("d")
			got := oracle.Expect([]event.Event{tt.e}, oracle.Options{})
			require.Len(t, got.Identifies, 1)
			assert.Equal(t, tt.known, got.Identifies[0].TimestampKnown)
			assert.True(t, tt.want.Equal(got.Identifies[0].Timestamp), "timestamp %v, want %v", got.Identifies[0].Timestamp, tt.want)
			assert.Equal(t, !tt.known, len(got.Findings) == 1 && got.Findings[0].Kind == oracle.FindingTimestampUnknown)
		})
	}
}

func TestTeams(t *testing.T) {
	o := oracle.New(oracle.Options{Team: 2})
	results := []oracle.EventResult{
		o.Add(ev(s("a"), s("u1"), s("d1"))),
		o.AddTeam(3, ev(s("a"), s("u1"), s("d1"))),
		o.AddTeam(2, ev(s("a"), s("u1"), s("d1"))),
		o.AddTeam(3, ev(s("a"), s("u1"), s("d1"))),
		o.AddTeam(3, ev(s("a"), s(""), s("d1"))),
	}
	var got []oracle.Outcome
	var teams []int
	for _, r := range results {
		got = append(got, r.Outcome)
		teams = append(teams, r.Team)
	}
	assert.Equal(t, []oracle.Outcome{identify, identify, duplicate, duplicate, importErr}, got)
	assert.Equal(t, []int{2, 3, 2, 3, 3}, teams)
	r := o.Result()
	require.Len(t, r.Identifies, 2)
	assert.Equal(t, 2, r.Identifies[0].Team)
	assert.Equal(t, 3, r.Identifies[1].Team)
	assert.Contains(t, results[3].Reason, "event 1")
	// Padding in two teams: no identical identifies across teams.
	o2 := oracle.New(oracle.Options{})
	for i, e := range timed(ev(s("a"), s("u1"), s("d1")), ev(s("a"), s(" u1"), s("d1"))) {
		o2.AddTeam(i+1, e)
	}
	assert.Equal(t, []string{"split_person"}, kinds(o2.Result()))
}

func TestDefaultTeamIsOne(t *testing.T) {
	r := oracle.New(oracle.Options{}).Add(ev(s("a"), s("u"), s("d")))
	assert.Equal(t, 1, r.Team)
}

func TestMissingAndNullAreAbsent(t *testing.T) {
	tests := []struct {
		name string
		line string
		want oracle.Outcome
	}{
		{"missing user_id", `{"event_type":"a","device_id":"d1","time":1}`, anonymous},
		{"null user_id", `{"event_type":"a","user_id":null,"device_id":"d1","time":1}`, anonymous},
		{"empty user_id", `{"event_type":"a","user_id":"","device_id":"d1","time":1}`, importErr},
		{"missing device_id", `{"event_type":"a","user_id":"u1","time":1}`, noDevice},
		{"null device_id", `{"event_type":"a","user_id":"u1","device_id":null,"time":1}`, noDevice},
		{"missing event_type", `{"user_id":"u1","device_id":"d1","time":1}`, noType},
		{"null event_type", `{"event_type":null,"user_id":"u1","device_id":"d1","time":1}`, noType},
		{"empty event_type", `{"event_type":"","user_id":"u1","device_id":"d1","time":1}`, identify},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e event.Event
			require.NoError(t, json.Unmarshal([]byte(tt.line), &e))
			assert.Equal(t, tt.want, oracle.New(oracle.Options{}).Add(e).Outcome)
		})
	}
}

func TestFindingMessages(t *testing.T) {
	tests := []struct {
		name    string
		events  []event.Event
		kind    string
		indexes []int
		message []string
	}{
		{"identical identifies name both raw pairs",
			timed(ev(s("a"), s("  u1  "), s("d1")), ev(s("a"), s("x"), s("y")), ev(s("b"), s("u1"), s("d1"))),
			oracle.FindingIdenticalIdentifies, []int{0, 2},
			[]string{`events 0 and 2`, `"  u1  "/"d1", "u1"/"d1"`, `2 identical $identify events for distinct_id "u1" and $anon_distinct_id "d1"`}},
		{"split person names both distinct ids",
			timed(ev(s("a"), s(" u1 "), s("d1"))),
			oracle.FindingSplitPerson, []int{0},
			[]string{`goes to distinct_id "u1"`, `the events of user_id " u1 " go to distinct_id " u1 "`, "two different persons"}},
		{"split person by padded device",
			timed(ev(s("a"), s("u1"), s(" d1"))),
			oracle.FindingSplitPerson, []int{0},
			[]string{`merges $anon_distinct_id "d1"`, `device-only events of device_id " d1", if any, go to distinct_id " d1"`, "a separate person"}},
		{"import errors list the worker messages",
			timed(ev(s("a"), s(""), s("d1")), ev(s("a"), s("u"), s("d")), ev(s("a"), s("u2"), s("  "))),
			oracle.FindingImportError, []int{0, 2},
			[]string{"2 events fail the import", `event 0 (user_id "", device_id "d1"): "user_id cannot be empty"`,
				`event 2 (user_id "u2", device_id "  "): "device_id cannot be empty"`, "import pauses"}},
		{"unknown timestamps",
			[]event.Event{ev(s("a"), s("u1"), s("d1")), ev(s("a"), s("u2"), s("d1"))},
			oracle.FindingTimestampUnknown, []int{0, 1},
			[]string{"2 identifies come from events 0 and 1", "time of the import"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := oracle.Expect(tt.events, oracle.Options{})
			var f *oracle.Finding
			for i := range got.Findings {
				if got.Findings[i].Kind == tt.kind {
					f = &got.Findings[i]
					break
				}
			}
			require.NotNil(t, f, "no %s finding in %v", tt.kind, kinds(got))
			assert.Equal(t, tt.indexes, f.EventIndexes)
			for _, want := range tt.message {
				assert.Contains(t, f.Message, want)
			}
		})
	}
}

func TestManyImportErrorsStayReadable(t *testing.T) {
	var events []event.Event
	for range 50 {
		events = append(events, ev(s("a"), s(""), s("d")))
	}
	got := oracle.Expect(timed(events...), oracle.Options{})
	require.Len(t, got.Findings, 1)
	assert.Len(t, got.Findings[0].EventIndexes, 50)
	assert.Contains(t, got.Findings[0].Message, "and 30 more")
	assert.Equal(t, 50, got.ImportErrors)
}

func TestKeepOutcomes(t *testing.T) {
	events := timed(ev(s("a"), s("u1"), s("d1")), ev(s("a"), s("u1"), s("d1")), ev(nil, nil, nil))

	summary := oracle.New(oracle.Options{})
	var steps []oracle.Outcome
	for _, e := range events {
		steps = append(steps, summary.Step(1, e))
	}
	kept := oracle.New(oracle.Options{KeepOutcomes: true})
	for _, e := range events {
		kept.Step(1, e)
	}

	assert.Equal(t, []oracle.Outcome{identify, duplicate, noType}, steps)
	rs, rk := summary.Result(), kept.Result()
	assert.Empty(t, rs.Outcomes)
	require.Len(t, rk.Outcomes, 3)
	assert.Contains(t, rk.Outcomes[1].Reason, "already identified by event 0")
	assert.Equal(t, rk.Identifies, rs.Identifies)
	assert.Equal(t, rk.Counts, rs.Counts)
	assert.Equal(t, oracle.Expect(events, oracle.Options{}).Outcomes, rk.Outcomes)
}

func TestCounts(t *testing.T) {
	events := timed(
		ev(s("a"), s("u1"), s("d1")), ev(s("a"), s("u1"), s("d1")), ev(s("a"), nil, s("d1")),
		ev(s("a"), s("u1"), nil), ev(s("session_start"), s("u2"), s("d2")), ev(nil, s("u3"), s("d3")),
		ev(s("a"), s(" "), s("d1")), ev(s("a"), s("u4"), s("d4")),
	)
	got := oracle.Expect(events, oracle.Options{})
	want := oracle.Counts{Events: 8, Identify: 2, Duplicate: 1, Anonymous: 1, NoDevice: 1, DroppedSessionStart: 1, DroppedNoEventType: 1, ImportError: 1}
	assert.Equal(t, want, got.Counts)
	assert.Equal(t, 2, got.IdentifyCount)
	assert.Equal(t, 1, got.ImportErrors)
	sum := 0
	for _, o := range oracle.AllOutcomes() {
		assert.Equal(t, 1+boolInt(o == identify), got.Count(o), "Count(%s)", o)
		sum += got.Count(o)
	}
	assert.Equal(t, got.Counts.Events, sum)
	assert.Zero(t, got.Count("bogus"))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestResultIsStableAndDeterministic(t *testing.T) {
	events := timed(ev(s("a"), s(" u1"), s("d1")), ev(s("a"), s("u1"), s("d1")), ev(s("a"), s(""), s("d1")), ev(s("a"), s("u1 "), s("d1")))
	o := oracle.New(oracle.Options{KeepOutcomes: true})
	for _, e := range events {
		o.Add(e)
	}
	first := o.Result()
	a, err := json.Marshal(first)
	require.NoError(t, err)
	b, err := json.Marshal(oracle.Expect(events, oracle.Options{}))
	require.NoError(t, err)
	assert.Equal(t, string(a), string(b))

	// Later events do not change a Result already returned.
	o.Add(ev(s("a"), s("u9"), s("d9")))
	again, err := json.Marshal(first)
	require.NoError(t, err)
	assert.Equal(t, string(a), string(again))
	assert.Len(t, o.Result().Identifies, 4)
}

func TestEmptyResultJSON(t *testing.T) {
	b, err := json.Marshal(oracle.Expect(nil, oracle.Options{}))
	require.NoError(t, err)
	assert.JSONEq(t, `{"outcomes":[],"identifies":[],"findings":[],"counts":{"events":0,"identify":0,"duplicate":0,"anonymous":0,"no_device":0,"dropped_session_start":0,"dropped_no_event_type":0,"import_error":0},"identify_count":0,"import_errors":0}`, string(b))
}
