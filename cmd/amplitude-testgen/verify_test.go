package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/dataset"
	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/posthog"
	"amplitude-testgen/helpers/posthogtest"
	"amplitude-testgen/helpers/scenario"
)

// verifyTestKey is a made-up personal API key; no output may contain it.
const verifyTestKey = "phx_verify_test_key_0123456789abcdef"

// standardDataset generates the standard dataset at the fixed options and
// writes it as a dataset file.
func standardDataset(t testing.TB) (*dataset.Dataset, string) {
	t.Helper()
	d, err := scenario.Generate(scenario.FixedOptions())
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "data.json")
	require.NoError(t, dataset.WriteFile(path, d))
	return d, path
}

// applySpec plays PostHog's batch import by SPEC.md §3, written here on
// its own rather than through the oracle, so the CLI test does not check
// the oracle against itself. It returns the $identify events and the
// original events the worker emits.
func applySpec(t testing.TB, events []event.Event) (identifies, originals []posthog.Event) {
	t.Helper()
	seen := map[[2]string]bool{}
	for i, e := range events {
		if e.EventType == nil || *e.EventType == "session_start" {
			continue // rules 1 and 2
		}
		ts := time.UnixMilli(e.Time).UTC()
		if e.UserID != nil && e.DeviceID != nil && !seen[[2]string{*e.UserID, *e.DeviceID}] {
			user, device := strings.TrimSpace(*e.UserID), strings.TrimSpace(*e.DeviceID)
			require.NotEmpty(t, user, "event %d: the standard dataset has no import errors", i)
			require.NotEmpty(t, device, "event %d: the standard dataset has no import errors", i)
			seen[[2]string{*e.UserID, *e.DeviceID}] = true
			identifies = append(identifies, posthog.Event{
				UUID: fmt.Sprintf("identify-%02d", i), Event: "$identify", DistinctID: user, Timestamp: ts,
				Properties: map[string]any{
					"$anon_distinct_id": device, "$amplitude_user_id": user, "$amplitude_device_id": device,
					"historical_migration": true, "analytics_source": "amplitude",
				},
			})
		}
		props := map[string]any{"historical_migration": true, "analytics_source": "amplitude"}
		distinct := fmt.Sprintf("random-%02d", i)
		if e.DeviceID != nil {
			props["$amplitude_device_id"] = *e.DeviceID
			if *e.DeviceID != "" {
				distinct = *e.DeviceID
			}
		}
		if e.UserID != nil {
			props["$amplitude_user_id"] = *e.UserID
			if *e.UserID != "" {
				distinct = *e.UserID // rule 7: untrimmed
			}
		}
		originals = append(originals, posthog.Event{
			UUID: fmt.Sprintf("event-%02d", i), Event: *e.EventType, DistinctID: distinct, Properties: props, Timestamp: ts,
		})
	}
	return identifies, originals
}

// writeJSONLines writes PostHog events as JSON lines, the way an export of
// PostHog's events table looks.
func writeJSONLines(t testing.TB, events []posthog.Event) string {
	t.Helper()
	var b bytes.Buffer
	for _, ev := range events {
		line, err := json.Marshal(map[string]any{
			"uuid": ev.UUID, "event": ev.Event, "distinct_id": ev.DistinctID, "properties": ev.Properties,
			"timestamp": ev.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z"),
		})
		require.NoError(t, err)
		b.Write(append(line, '\n'))
	}
	path := filepath.Join(t.TempDir(), "posthog.jsonl")
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	return path
}

// runVerifyCLI runs one command line in-process, with the clock fixed and
// getenv as the only environment.
func runVerifyCLI(t testing.TB, getenv func(string) string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	now, err := time.Parse(time.RFC3339, testNow)
	require.NoError(t, err)
	var out, errOut bytes.Buffer
	e := &env{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		getenv: getenv, now: func() time.Time { return now },
	}
	code = run(args, e)
	return code, out.String(), errOut.String()
}

func noEnv(string) string { return "" }

func keyEnv(key string) func(string) string {
	return func(name string) string {
		if name == personalKeyEnv {
			return key
		}
		return ""
	}
}

// pairRow matches a report row naming the exact pair.
func pairRow(kind, distinct, anon string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^\S+ +` + regexp.QuoteMeta(kind) + ` +` +
		regexp.QuoteMeta(fmt.Sprintf("distinct_id %q / $anon_distinct_id %q", distinct, anon)))
}

// isPair selects the identify of one pair.
func isPair(distinct, anon string) func(posthog.Event) bool {
	return func(ev posthog.Event) bool {
		a, _ := ev.StringProp("$anon_distinct_id")
		return ev.DistinctID == distinct && a == anon
	}
}

// edited returns a deep enough copy of events with fn applied to those
// match selects; fn returning false drops the event.
func edited(events []posthog.Event, match func(posthog.Event) bool, fn func(*posthog.Event) bool) []posthog.Event {
	var out []posthog.Event
	for _, ev := range events {
		ev.Properties = cloneProps(ev.Properties)
		if match(ev) && !fn(&ev) {
			continue
		}
		out = append(out, ev)
	}
	return out
}

func cloneProps(p map[string]any) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

// withCopy appends a copy of the event match selects, changed by fn.
func withCopy(events []posthog.Event, match func(posthog.Event) bool, fn func(*posthog.Event)) []posthog.Event {
	out := append([]posthog.Event(nil), events...)
	for _, ev := range events {
		if match(ev) {
			ev.Properties = cloneProps(ev.Properties)
			fn(&ev)
			return append(out, ev)
		}
	}
	return out
}

func TestApplySpecAgreesWithGenerator(t *testing.T) {
	d, _ := standardDataset(t)
	identifies, originals := applySpec(t, d.Events)
	require.Len(t, identifies, 30)
	assert.Len(t, originals, 45)
	require.Len(t, d.ExpectedIdentifies, 30)
	for i, want := range d.ExpectedIdentifies {
		got := identifies[i]
		anon, _ := got.StringProp("$anon_distinct_id")
		assert.Equal(t, want.DistinctID, got.DistinctID, "identify %d", i)
		assert.Equal(t, want.AnonDistinctID, anon, "identify %d", i)
		assert.Equal(t, want.Time, got.Timestamp.UnixMilli(), "identify %d", i)
	}
}

func TestVerifyStandardDataset(t *testing.T) {
	d, dataPath := standardDataset(t)
	identifies, originals := applySpec(t, d.Events)
	require.Len(t, identifies, 30)

	bob := isPair("first_time_user_bob", "first_time_device_laptop_2")
	sarahTablet := isPair("multi_device_user_sarah", "multi_dev_tablet_home")
	trimmed := isPair("edge_trimmed_user", "edge_trimmed_device")

	tests := []struct {
		name     string
		actual   []posthog.Event
		extra    []string // more flags
		wantCode int
		want     []string         // substrings of stdout
		wantRows []*regexp.Regexp // rows of the issue table
	}{
		{
			name:     "every identify there passes",
			actual:   identifies,
			wantCode: exitOK,
			want: []string{
				"expected: 45 Amplitude events from 1 input, 30 $identify events predicted\n",
				"verdict: PASS\n",
				"identifies: 30 of 30 found, 0 missing, 0 wrong, 0 unexpected, 0 duplicates\n",
				"no issues\n",
			},
		},
		{
			name:     "every event there passes with --events",
			actual:   append(append([]posthog.Event(nil), identifies...), originals...),
			extra:    []string{"--events"},
			wantCode: exitOK,
			want: []string{
				"identifies: 30 of 30 found, 0 missing, 0 wrong, 0 unexpected, 0 duplicates\n",
				"events: 45 of 45 found, 0 missing, 0 unexpected, 0 duplicates, 0 session_start\n",
			},
		},
		{
			name:     "a removed identify is missing",
			actual:   edited(identifies, bob, func(*posthog.Event) bool { return false }),
			wantCode: exitFail,
			want:     []string{"verdict: FAIL\n", "identifies: 29 of 30 found, 1 missing, 0 wrong, 0 unexpected, 0 duplicates\n"},
			wantRows: []*regexp.Regexp{pairRow("missing identify", "first_time_user_bob", "first_time_device_laptop_2")},
		},
		{
			name: "a changed $anon_distinct_id is wrong",
			actual: edited(identifies, sarahTablet, func(ev *posthog.Event) bool {
				ev.Properties["$anon_distinct_id"] = "multi_dev_tablet_HOME"
				return true
			}),
			wantCode: exitFail,
			want: []string{
				"identifies: 29 of 30 found, 0 missing, 1 wrong, 0 unexpected, 0 duplicates\n",
				`$anon_distinct_id: want "multi_dev_tablet_home", got "multi_dev_tablet_HOME"`,
			},
			wantRows: []*regexp.Regexp{pairRow("wrong identify", "multi_device_user_sarah", "multi_dev_tablet_home")},
		},
		{
			name:     "a duplicate at its event's time is the worker's dedup, named and failed",
			actual:   withCopy(identifies, trimmed, func(ev *posthog.Event) { ev.UUID = "again" }),
			wantCode: exitFail,
			want: []string{
				"verdict: FAIL\n",
				"1 duplicate (0 predicted, 1 worker_dedup, 0 unexplained)\n",
				"worker_dedup: a known limitation",
			},
			wantRows: []*regexp.Regexp{pairRow("duplicate identify (worker_dedup)", "edge_trimmed_user", "edge_trimmed_device")},
		},
		{
			name: "a duplicate at no event's time is unexplained",
			actual: withCopy(identifies, trimmed, func(ev *posthog.Event) {
				ev.UUID, ev.Timestamp = "again", ev.Timestamp.Add(time.Second)
			}),
			wantCode: exitFail,
			want:     []string{"verdict: FAIL\n", "1 duplicate (0 predicted, 0 worker_dedup, 1 unexplained)\n"},
			wantRows: []*regexp.Regexp{pairRow("duplicate identify (unexplained)", "edge_trimmed_user", "edge_trimmed_device")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"verify", "--expected", dataPath, "--actual", writeJSONLines(t, tt.actual)}, tt.extra...)
			code, stdout, stderr := runVerifyCLI(t, noEnv, args...)
			assert.Equal(t, tt.wantCode, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Empty(t, stderr)
			for _, s := range tt.want {
				assert.Contains(t, stdout, s)
			}
			for _, re := range tt.wantRows {
				assert.Regexp(t, re, stdout)
			}
			// Exactly the rows asked for: a mismatch names one pair only.
			assert.Equal(t, len(tt.wantRows) > 0, !strings.Contains(stdout, "no issues\n"))
			assert.Equal(t, len(tt.wantRows), strings.Count(stdout, "\nerror "), stdout)
		})
	}
}

func TestVerifyFetch(t *testing.T) {
	d, dataPath := standardDataset(t)
	identifies, originals := applySpec(t, d.Events)
	all := append(append([]posthog.Event(nil), identifies...), originals...)

	// The same events as newline-delimited JSON: not a dataset file, so
	// the window comes from the event times.
	var nd bytes.Buffer
	for _, ev := range d.Events {
		line, err := json.Marshal(ev)
		require.NoError(t, err)
		nd.Write(append(line, '\n'))
	}
	ndPath := filepath.Join(t.TempDir(), "events.ndjson")
	require.NoError(t, os.WriteFile(ndPath, nd.Bytes(), 0o644))
	first, last := d.Events[0].Timestamp(), d.Events[len(d.Events)-1].Timestamp()
	hogql := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

	tests := []struct {
		name         string
		server       []posthogtest.Option
		expected     string
		extra        []string
		key          string
		wantCode     int
		wantOut      []string // substrings of stdout
		wantErr      []string // substrings of stderr
		wantRequests int
		wantBody     []string // substrings of the first request's body
		notBody      []string
	}{
		{
			name: "identifies in the dataset's window", server: []posthogtest.Option{posthogtest.WithEvents(all...)},
			wantCode: exitOK, wantRequests: 1,
			wantOut: []string{
				"30 PostHog events fetched from http://127.0.0.1:",
				"window 2024-01-15T00:00:00Z/2024-01-16T00:00:00Z (the dataset's time_range)",
				"identifies: 30 of 30 found, 0 missing, 0 wrong, 0 unexpected, 0 duplicates\n",
			},
			wantBody: []string{`event IN ('$identify')`, `toDateTime('2024-01-15T00:00:00.000Z')`},
		},
		{
			name:     "pages until the last",
			server:   []posthogtest.Option{posthogtest.WithEvents(identifies...), posthogtest.WithPageSize(7)},
			wantCode: exitOK, wantRequests: 5, // 7+7+7+7+2
			wantOut: []string{"identifies: 30 of 30 found"},
		},
		{
			name:     "--events fetches every event",
			server:   []posthogtest.Option{posthogtest.WithEvents(all...)},
			extra:    []string{"--events"},
			wantCode: exitOK, wantRequests: 1,
			wantOut: []string{"75 PostHog events fetched", "events: 45 of 45 found, 0 missing"},
			notBody: []string{"event IN"},
		},
		{
			name:     "--start and --end set the window",
			server:   []posthogtest.Option{posthogtest.WithEvents(identifies...)},
			extra:    []string{"--start", "2 days ago", "--end", "2024-01-16T06:00:00Z"},
			wantCode: exitOK, wantRequests: 1,
			wantOut:  []string{"window 2024-01-14T12:00:00Z/2024-01-16T06:00:00Z (--start/--end)", "30 of 30 found"},
			wantBody: []string{`toDateTime('2024-01-14T12:00:00.000Z')`},
		},
		{
			name:     "the events' times, widened, for other inputs",
			server:   []posthogtest.Option{posthogtest.WithEvents(identifies...)},
			expected: ndPath,
			wantCode: exitOK, wantRequests: 1,
			wantOut: []string{"(the expected events' times, widened by a minute)", "30 of 30 found"},
			wantBody: []string{
				"toDateTime('" + hogql(first.Add(-time.Minute).Truncate(time.Second)) + "')",
				"toDateTime('" + hogql(last.Add(time.Minute).Truncate(time.Second).Add(time.Second)) + "')",
			},
		},
		{
			name:     "a mismatch fetched is a mismatch",
			server:   []posthogtest.Option{posthogtest.WithEvents(identifies[1:]...)},
			wantCode: exitFail, wantRequests: 1,
			wantOut: []string{"identifies: 29 of 30 found, 1 missing", `distinct_id "first_time_user_alice" / $anon_distinct_id "first_time_device_mobile_1"`},
		},
		{
			name:     "429 twice then ok",
			server:   []posthogtest.Option{posthogtest.WithEvents(identifies...), posthogtest.WithTooManyRequests(2, "0")},
			wantCode: exitOK, wantRequests: 3,
			wantOut: []string{"30 of 30 found"},
		},
		{
			name:     "a refused key",
			server:   []posthogtest.Option{posthogtest.WithEvents(identifies...)},
			key:      "phx_wrong_key_also_secret_987654",
			wantCode: exitFail, wantRequests: 1,
			wantErr: []string{"HTTP 401", "invalid or expired", "(the key comes from POSTHOG_PERSONAL_API_KEY)"},
		},
		{
			name:     "a key without the scope",
			server:   []posthogtest.Option{posthogtest.WithEvents(identifies...), posthogtest.WithStatus(http.StatusForbidden)},
			wantCode: exitFail, wantRequests: 1,
			wantErr: []string{"HTTP 403", "query:read"},
		},
		{
			name:     "another project",
			server:   []posthogtest.Option{posthogtest.WithEvents(identifies...)},
			extra:    []string{"--project-id", "8"},
			wantCode: exitFail, wantRequests: 1,
			wantErr: []string{"HTTP 404"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := posthogtest.NewServer(append([]posthogtest.Option{posthogtest.WithProjectID(7),
				posthogtest.WithPersonalAPIKey(verifyTestKey)}, tt.server...)...)
			defer srv.Close()
			key := tt.key
			if key == "" {
				key = verifyTestKey
			}
			expected := tt.expected
			if expected == "" {
				expected = dataPath
			}
			// A later --project-id wins over this one.
			args := append([]string{"verify", "--expected", expected, "--posthog-host", srv.URL, "--project-id", "7"}, tt.extra...)
			code, stdout, stderr := runVerifyCLI(t, keyEnv(key), args...)

			assert.Equal(t, tt.wantCode, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			for _, s := range tt.wantOut {
				assert.Contains(t, stdout, s)
			}
			for _, s := range tt.wantErr {
				assert.Contains(t, stderr, s)
			}
			if len(tt.wantErr) > 0 {
				assert.Empty(t, stdout, "no report when the fetch failed")
			} else {
				assert.Empty(t, stderr)
			}
			for _, out := range []string{stdout, stderr} {
				assert.NotContains(t, out, verifyTestKey)
				assert.NotContains(t, out, key)
			}
			reqs := srv.Requests()
			require.Len(t, reqs, tt.wantRequests)
			for _, s := range tt.wantBody {
				assert.Contains(t, reqs[0].Body, s)
			}
			for _, s := range tt.notBody {
				assert.NotContains(t, reqs[0].Body, s)
			}
			for _, r := range reqs {
				assert.NotContains(t, r.Body, key)
				assert.NotContains(t, r.RawQuery, key)
			}
		})
	}
}
