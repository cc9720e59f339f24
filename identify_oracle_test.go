package amplitudetestgen_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sebdah/goldie/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/dataset"
	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/oracle"
	"amplitude-testgen/helpers/scenario"
	"amplitude-testgen/helpers/timerange"
)

// oracleFixtureDir holds the oracle's input streams: newline-delimited
// Amplitude events, in the dataset form ("time" in ms) or the Export API
// form ("event_time" strings). A line may carry "posthog_team" (default 1),
// a key of these fixtures only: the team the import runs for.
const oracleFixtureDir = "fixtures/oracle"

// oracleTeamLine reads the fixture-only team key of a line.
type oracleTeamLine struct {
	Team int `json:"posthog_team"`
}

// oracleReadFixture decodes a fixture file line by line into events and
// their teams.
func oracleReadFixture(tb testing.TB, name string) ([]event.Event, []int) {
	tb.Helper()
	path := filepath.Join(oracleFixtureDir, name)
	f, err := os.Open(path)
	require.NoError(tb, err)
	defer f.Close()

	var events []event.Event
	var teams []int
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024) // long-id lines exceed the default
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var e event.Event
		require.NoError(tb, json.Unmarshal(line, &e), "%s:%d", path, n)
		var tl oracleTeamLine
		require.NoError(tb, json.Unmarshal(line, &tl), "%s:%d", path, n)
		if tl.Team == 0 {
			tl.Team = 1
		}
		events = append(events, e)
		teams = append(teams, tl.Team)
	}
	require.NoError(tb, sc.Err(), "read %s", path)
	require.NotEmpty(tb, events, "%s has no events", path)
	return events, teams
}

// oracleRun feeds a fixture to a fresh oracle, each event for its team.
func oracleRun(tb testing.TB, name string) oracle.Result {
	tb.Helper()
	events, teams := oracleReadFixture(tb, name)
	o := oracle.New(oracle.Options{KeepOutcomes: true})
	for i, e := range events {
		o.AddTeam(teams[i], e)
	}
	return o.Result()
}

// oracleGoldenJSON is v as indented JSON with a trailing newline: the
// byte-stable form of the golden files.
func oracleGoldenJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(tb, err)
	return append(b, '\n')
}

const (
	oracleIdentify  = oracle.OutcomeIdentify
	oracleDuplicate = oracle.OutcomeDuplicate
	oracleAnonymous = oracle.OutcomeAnonymous
	oracleNoDevice  = oracle.OutcomeNoDevice
	oracleSession   = oracle.OutcomeDroppedSessionStart
	oracleNoType    = oracle.OutcomeDroppedNoEventType
	oracleImportErr = oracle.OutcomeImportError
)

func TestIdentifyOracleFixtures(t *testing.T) {
	tests := []struct {
		name       string // fixture file, without .ndjson
		identifies int
		outcomes   []oracle.Outcome
		findings   []string
	}{
		{"first_time", 3, []oracle.Outcome{oracleIdentify, oracleIdentify, oracleIdentify}, nil},
		{"duplicates", 1, []oracle.Outcome{oracleIdentify, oracleDuplicate, oracleDuplicate}, nil},
		{"no_event_type", 1, []oracle.Outcome{oracleNoType, oracleNoType, oracleIdentify}, nil},
		{"empty_event_type", 1, []oracle.Outcome{oracleIdentify, oracleDuplicate}, nil},
		{"session_start", 2, []oracle.Outcome{oracleSession, oracleIdentify, oracleSession, oracleSession, oracleIdentify}, nil},
		{"anonymous", 1, []oracle.Outcome{oracleAnonymous, oracleAnonymous, oracleAnonymous, oracleIdentify, oracleDuplicate}, nil},
		{"no_device", 1, []oracle.Outcome{oracleNoDevice, oracleNoDevice, oracleNoDevice, oracleIdentify}, nil},
		{"empty_ids", 1, []oracle.Outcome{oracleImportErr, oracleImportErr, oracleImportErr, oracleImportErr, oracleImportErr, oracleIdentify},
			[]string{oracle.FindingImportError}},
		{"padded", 3, []oracle.Outcome{oracleIdentify, oracleDuplicate, oracleIdentify, oracleAnonymous, oracleIdentify},
			[]string{oracle.FindingIdenticalIdentifies, oracle.FindingSplitPerson, oracle.FindingSplitPerson}},
		{"teams", 4, []oracle.Outcome{oracleIdentify, oracleIdentify, oracleDuplicate, oracleDuplicate, oracleIdentify, oracleIdentify},
			[]string{oracle.FindingIdenticalIdentifies, oracle.FindingSplitPerson, oracle.FindingSplitPerson}},
		{"unicode", 5, []oracle.Outcome{oracleIdentify, oracleIdentify, oracleIdentify, oracleIdentify, oracleIdentify, oracleDuplicate},
			[]string{oracle.FindingSplitPerson}},
		{"long_ids", 4, []oracle.Outcome{oracleIdentify, oracleDuplicate, oracleIdentify, oracleIdentify, oracleIdentify}, nil},
		{"export_rows", 4, []oracle.Outcome{oracleIdentify, oracleDuplicate, oracleIdentify, oracleIdentify, oracleIdentify, oracleSession},
			[]string{oracle.FindingTimestampUnknown}},
	}
	covered := map[oracle.Outcome]bool{}
	coveredKinds := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := oracleRun(t, tt.name+".ndjson")

			var outcomes []oracle.Outcome
			for _, o := range got.Outcomes {
				outcomes = append(outcomes, o.Outcome)
				covered[o.Outcome] = true
				assert.NotEmpty(t, o.Reason, "event %d has no reason", o.Index)
			}
			var kinds []string
			for _, f := range got.Findings {
				kinds = append(kinds, f.Kind)
				coveredKinds[f.Kind] = true
			}
			assert.Equal(t, tt.identifies, got.IdentifyCount, "identify count")
			assert.Len(t, got.Identifies, tt.identifies)
			if diff := cmp.Diff(tt.outcomes, outcomes); diff != "" {
				t.Errorf("oracle outcomes for %s mismatch (-want +got):\n%s", tt.name, diff)
			}
			if diff := cmp.Diff(tt.findings, kinds); diff != "" {
				t.Errorf("oracle findings for %s mismatch (-want +got):\n%s", tt.name, diff)
			}

			g := goldie.New(t, goldie.WithFixtureDir("golden"), goldie.WithNameSuffix(".golden"))
			g.Assert(t, "identifies_"+tt.name, oracleGoldenJSON(t, got))
		})
	}
	// The table must exercise every rule: a case removed or changed so that
	// an outcome or finding kind is no longer met fails here.
	for _, o := range oracle.AllOutcomes() {
		assert.True(t, covered[o], "no fixture produces outcome %s", o)
	}
	for _, k := range []string{oracle.FindingImportError, oracle.FindingIdenticalIdentifies, oracle.FindingSplitPerson, oracle.FindingTimestampUnknown} {
		assert.True(t, coveredKinds[k], "no fixture produces finding %s", k)
	}
}

// TestIdentifyOracleFixtureDetails checks what the outcome table cannot:
// ids, timestamps and the distinct_id each original event gets.
func TestIdentifyOracleFixtureDetails(t *testing.T) {
	t.Run("export rows take event_time, then client_event_time", func(t *testing.T) {
		got := oracleRun(t, "export_rows.ndjson")
		require.Len(t, got.Identifies, 4)
		want := []struct {
			insertID string
			at       string
			known    bool
		}{
			{"exp-0", "2024-01-15T10:00:00.123Z", true},
			{"exp-2", "2024-01-15T10:10:00.5Z", true}, // ISO event_time does not parse
			{"exp-3", "2024-01-15T10:15:00Z", true},
			{"exp-4", "", false},
		}
		for i, w := range want {
			id := got.Identifies[i]
			assert.Equal(t, w.insertID, id.InsertID)
			assert.Equal(t, w.known, id.TimestampKnown, w.insertID)
			if w.known {
				assert.Equal(t, w.at, id.Timestamp.Format(time.RFC3339Nano), w.insertID)
			}
		}
	})
	t.Run("padded ids identify trimmed while events keep the raw id", func(t *testing.T) {
		got := oracleRun(t, "padded.ndjson")
		assert.Equal(t, "edge_trimmed_user", got.Identifies[0].DistinctID)
		assert.Equal(t, "edge_trimmed_device", got.Identifies[0].Properties.AnonDistinctID)
		assert.Equal(t, "  edge_trimmed_user  ", got.Outcomes[0].DistinctID)
		assert.Equal(t, "  edge_trimmed_device  ", got.Outcomes[3].DistinctID)
		assert.Contains(t, got.Findings[1].Message, `"  edge_trimmed_user  "`)
	})
	t.Run("teams never share keys", func(t *testing.T) {
		got := oracleRun(t, "teams.ndjson")
		var teams []int
		for _, id := range got.Identifies {
			teams = append(teams, id.Team)
		}
		assert.Equal(t, []int{1, 2, 3, 1}, teams)
		assert.Equal(t, 1, got.Findings[0].Team)
	})
	t.Run("long ids survive untouched", func(t *testing.T) {
		got := oracleRun(t, "long_ids.ndjson")
		assert.Len(t, got.Identifies[0].DistinctID, 1000)
		assert.Len(t, got.Identifies[0].Properties.AnonDistinctID, 1000)
		assert.Equal(t, "edge_long_"+strings.Repeat("x", 50), got.Identifies[2].DistinctID)
	})
	t.Run("import errors name the worker's messages", func(t *testing.T) {
		got := oracleRun(t, "empty_ids.ndjson")
		require.Len(t, got.Findings, 1)
		assert.Contains(t, got.Findings[0].Message, `"user_id cannot be empty"`)
		assert.Contains(t, got.Findings[0].Message, `"device_id cannot be empty"`)
		assert.Equal(t, []int{0, 1, 2, 3, 4}, got.Findings[0].EventIndexes)
		assert.Equal(t, 5, got.ImportErrors)
	})
}

// oracleStandardPairs is the list of SPEC.md §2 and the original
// generator's README, written out by hand: the 30 (distinct_id,
// anon_distinct_id) pairs PostHog must identify, in generation order.
func oracleStandardPairs() [][2]string {
	return [][2]string{
		{"first_time_user_alice", "first_time_device_mobile_1"},
		{"first_time_user_bob", "first_time_device_laptop_2"},
		{"first_time_user_charlie", "first_time_device_tablet_3"},
		{"first_time_user_diana", "first_time_device_desktop_4"},
		{"first_time_user_eve", "first_time_device_smartwatch_5"},
		{"duplicate_user_frank", "duplicate_device_phone_1"},
		{"duplicate_user_grace", "duplicate_device_computer_2"},
		{"duplicate_user_henry", "duplicate_device_ipad_3"},
		{"multi_device_user_sarah", "multi_dev_phone_morning"},
		{"multi_device_user_sarah", "multi_dev_laptop_work"},
		{"multi_device_user_sarah", "multi_dev_tablet_home"},
		{"multi_device_user_sarah", "multi_dev_smarttv_living"},
		{"shared_device_parent_mom", "shared_family_tablet_main"},
		{"shared_device_parent_dad", "shared_family_tablet_main"},
		{"shared_device_child_alice", "shared_family_tablet_main"},
		{"shared_device_child_bob", "shared_family_tablet_main"},
		{"edge_unicode_用户", "edge_unicode_设备"},
		{"edge_email_user@test.com", "edge_colon_device:123:abc"},
		{"edge_hash_user#123", "edge_dots_device.with.dots"},
		{"edge_long_" + strings.Repeat("x", 50), "edge_normal_device"},
		{"edge_normal_user", "edge_long_device_" + strings.Repeat("y", 50)},
		{"edge_trimmed_user", "edge_trimmed_device"}, // sent as "  edge_trimmed_user  ", identified trimmed
		{"edge_numeric_12345", "edge_numeric_67890"},
		{"edge_camelCase_User", "edge_kebab-case-device"},
		{"anon_to_id_user_1", "anon_device_phone_1"},
		{"anon_to_id_user_2", "anon_device_laptop_2"},
		{"anon_to_id_user_3", "anon_device_tablet_3"},
		{"journey_user_alex", "journey_phone_commute"},
		{"journey_user_alex", "journey_laptop_office"},
		{"journey_user_alex", "journey_tablet_home"},
	}
}

// oracleIdentifyRow is what the oracle and the generator must agree on.
type oracleIdentifyRow struct {
	DistinctID     string
	AnonDistinctID string
	EventIndex     int
	Time           int64
}

// oracleCheckAgainstGenerator runs the oracle over a generated dataset and
// requires it to agree exactly with the generator's own promises.
func oracleCheckAgainstGenerator(tb testing.TB, d *dataset.Dataset) oracle.Result {
	tb.Helper()
	got := oracle.Expect(d.Events, oracle.Options{})

	var flagged, triggered []int
	for i, e := range d.Events {
		if v, _ := e.EventProperties["expected_identify"].(bool); v {
			flagged = append(flagged, i)
		}
	}
	var rows []oracleIdentifyRow
	var pairs [][2]string
	for _, id := range got.Identifies {
		triggered = append(triggered, id.EventIndex)
		assert.True(tb, id.TimestampKnown, "identify at event %d has no time", id.EventIndex)
		rows = append(rows, oracleIdentifyRow{id.DistinctID, id.Properties.AnonDistinctID, id.EventIndex, id.Timestamp.UnixMilli()})
		pairs = append(pairs, [2]string{id.DistinctID, id.Properties.AnonDistinctID})
	}
	var want []oracleIdentifyRow
	for _, x := range d.ExpectedIdentifies {
		want = append(want, oracleIdentifyRow{x.DistinctID, x.AnonDistinctID, x.EventIndex, x.Time})
	}

	if diff := cmp.Diff(flagged, triggered); diff != "" {
		tb.Errorf("oracle triggering events vs expected_identify flags mismatch (-flagged +oracle):\n%s", diff)
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		tb.Errorf("oracle identifies vs ExpectedIdentifies mismatch (-generator +oracle):\n%s", diff)
	}
	if diff := cmp.Diff(oracleStandardPairs(), pairs); diff != "" {
		tb.Errorf("oracle identifies vs the hand-written SPEC list mismatch (-spec +oracle):\n%s", diff)
	}
	assert.Equal(tb, 45, got.Counts.Events)
	assert.Equal(tb, 30, got.IdentifyCount)
	assert.Zero(tb, got.ImportErrors)
	assert.Zero(tb, got.Count(oracle.OutcomeDroppedSessionStart), "the standard dataset never uses session_start")
	// The padded edge case is the only consequence a tester must be told of.
	var kinds []string
	for _, f := range got.Findings {
		kinds = append(kinds, f.Kind)
	}
	assert.Equal(tb, []string{oracle.FindingSplitPerson}, kinds)
	return got
}

func TestIdentifyOracleAgreesWithGenerator(t *testing.T) {
	d, err := scenario.Generate(scenario.FixedOptions())
	require.NoError(t, err)
	got := oracleCheckAgainstGenerator(t, d)

	// The same verdict from the decoded file form, where times come from
	// JSON (HasTime) rather than from Go.
	b, err := json.Marshal(d.Events)
	require.NoError(t, err)
	var decoded []event.Event
	require.NoError(t, json.Unmarshal(b, &decoded))
	again := oracle.Expect(decoded, oracle.Options{})
	if diff := cmp.Diff(got.Identifies, again.Identifies); diff != "" {
		t.Errorf("oracle identifies of decoded events mismatch (-generated +decoded):\n%s", diff)
	}

	g := goldie.New(t, goldie.WithFixtureDir("golden"), goldie.WithNameSuffix(".golden"))
	g.Assert(t, "identifies_standard", oracleGoldenJSON(t, got.Identifies))
}

// TestIdentifyOracleAgreesAcrossSeedsAndWindows repeats the agreement for
// 50 other seeds and windows, from 45 ms (about the smallest window that
// holds every event on its own millisecond, whatever the sub-millisecond
// start) to ten years.
func TestIdentifyOracleAgreesAcrossSeedsAndWindows(t *testing.T) {
	spans := []time.Duration{
		45 * time.Millisecond, time.Second, 90 * time.Second, time.Hour, 6 * time.Hour,
		24 * time.Hour, 36*time.Hour + 7*time.Millisecond, 7 * 24 * time.Hour, 365 * 24 * time.Hour, 10 * 365 * 24 * time.Hour,
	}
	for i := range 50 {
		start := time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC).
			Add(time.Duration(i) * 53 * 24 * time.Hour).
			Add(time.Duration(i*7919) * time.Millisecond).
			Add(time.Duration(i%3) * 250 * time.Microsecond) // sub-millisecond starts too
		span := spans[i%len(spans)]
		opts := scenario.Options{
			Seed:    int64(i*7 + 2),
			Range:   timerange.Range{Start: start, End: start.Add(span)},
			Cluster: []string{"us", "eu"}[i%2],
			Now:     start.Add(span),
		}
		t.Run(fmt.Sprintf("seed %d span %s", opts.Seed, span), func(t *testing.T) {
			d, err := scenario.Generate(opts)
			require.NoError(t, err)
			oracleCheckAgainstGenerator(t, d)
		})
	}
}

// TestIdentifyOracleNodeGeneratorFile runs the oracle over a file in the
// original Node generator's format and with its flaws, laid out by that
// script's own timing logic over a 6-hour window: the journey's lunch,
// back-to-work and bedtime steps have their own device ids, session_start
// is among the drawn event types, and events that overflow the window are
// clamped onto its end. The rules give 31 identifies here, not the 30 the
// script promised; the counts below are worked out by hand from SPEC §3.
func TestIdentifyOracleNodeGeneratorFile(t *testing.T) {
	d, err := dataset.ReadFile("fixtures/node/amplitude-test-data.json")
	require.NoError(t, err)
	require.Len(t, d.Events, 48)

	got := oracle.Expect(d.Events, oracle.Options{})

	// Scenario 1 loses bob (his only event is a session_start), scenario 2
	// keeps frank but on his second event, scenario 7 identifies 5 of its
	// 6 distinct devices (the lunch phone's only event is a session_start).
	assert.Equal(t, 4+3+4+4+8+3+5, got.IdentifyCount)
	assert.Equal(t, 4, got.Count(oracle.OutcomeDroppedSessionStart))
	assert.Equal(t, 5, got.Count(oracle.OutcomeAnonymous))
	assert.Equal(t, 8, got.Count(oracle.OutcomeDuplicate))

	ids := make(map[[2]string]int)
	for _, id := range got.Identifies {
		ids[[2]string{id.DistinctID, id.Properties.AnonDistinctID}] = id.EventIndex
	}
	assert.NotContains(t, ids, [2]string{"first_time_user_bob", "first_time_device_laptop_2"})
	assert.NotContains(t, ids, [2]string{"journey_user_alex", "journey_phone_lunch"})
	assert.Equal(t, 6, ids[[2]string{"duplicate_user_frank", "duplicate_device_phone_1"}],
		"frank's identify moves to his second event")
	assert.Contains(t, ids, [2]string{"journey_user_alex", "journey_phone_bedtime"})

	// The script's own expected_identify flags promise 30 and disagree
	// with the rules; its clamping put several events on one instant.
	flagged := 0
	same := 0
	for i, e := range d.Events {
		if e.EventProperties["expected_identify"] == true {
			flagged++
		}
		if i > 0 && e.Time <= d.Events[i-1].Time {
			same++
		}
	}
	assert.Equal(t, 30, flagged)
	assert.Equal(t, 7, same, "events clamped onto the window's end")
}
