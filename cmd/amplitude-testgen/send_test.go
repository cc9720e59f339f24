package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/amplitudetest"
	"amplitude-testgen/helpers/dataset"
	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/scenario"
)

// Keys of the fake project. They look like keys so that a leak is found by
// a plain substring search of every output and file.
const (
	sendTestAPIKey    = "k3y-0f-th3-f4k3-pr0j3ct-1234"
	sendTestSecretKey = "s3cr3t-0f-th3-f4k3-pr0j3ct-5678"
)

// sendTestNow is the clock of every in-process run: the fake's default
// upload time, so "now" and the upload hour agree.
var sendTestNow = amplitudetest.DefaultUploadTime()

// sendRun is one in-process command line and what it printed.
type sendRun struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

// sendRunCmd runs the command line in-process, as main does, with only the
// given variables set and the clock fixed.
func sendRunCmd(tb testing.TB, vars map[string]string, args ...string) sendRun {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{
		stdin:  strings.NewReader(""),
		stdout: &stdout,
		stderr: &stderr,
		getenv: func(k string) string { return vars[k] },
		now:    func() time.Time { return sendTestNow },
	}
	begin := time.Now()
	code := run(args, e)
	r := sendRun{code: code, stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(begin)}
	tb.Logf("amplitude-testgen %s: exit %d in %v\nstdout:\n%s\nstderr:\n%s",
		strings.Join(args, " "), r.code, r.elapsed.Round(time.Millisecond), r.stdout, r.stderr)
	return r
}

// sendFakeVars points the commands at the fake with the test keys.
func sendFakeVars(s *amplitudetest.Server) map[string]string {
	return map[string]string{
		apiKeyEnv:    sendTestAPIKey,
		secretKeyEnv: sendTestSecretKey,
		serverURLEnv: s.URL(),
	}
}

// sendNewFake starts a fake project with the test keys, closed with the test.
func sendNewFake(tb testing.TB, opts ...amplitudetest.Option) *amplitudetest.Server {
	tb.Helper()
	s := amplitudetest.NewServer(append([]amplitudetest.Option{
		amplitudetest.WithAPIKey(sendTestAPIKey),
		amplitudetest.WithSecretKey(sendTestSecretKey),
	}, opts...)...)
	tb.Cleanup(s.Close)
	return s
}

// sendWriteStandard writes the standard dataset (seed 1, 2024-01-15) into
// dir and returns its path and contents.
func sendWriteStandard(tb testing.TB, dir string) (string, *dataset.Dataset) {
	tb.Helper()
	d, err := scenario.Generate(scenario.FixedOptions())
	require.NoError(tb, err)
	path := filepath.Join(dir, "data.json")
	require.NoError(tb, dataset.WriteFile(path, d))
	return path, d
}

// sendAssertNoKeys fails if either key appears in any output or in any file
// under dir.
func sendAssertNoKeys(tb testing.TB, dir string, runs ...sendRun) {
	tb.Helper()
	for _, r := range runs {
		for _, k := range []string{sendTestAPIKey, sendTestSecretKey} {
			assert.NotContains(tb, r.stdout, k, "a key in stdout")
			assert.NotContains(tb, r.stderr, k, "a key in stderr")
		}
	}
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, k := range []string{sendTestAPIKey, sendTestSecretKey} {
			assert.False(tb, bytes.Contains(b, []byte(k)), "a key in %s", p)
		}
		return nil
	})
	require.NoError(tb, err)
	tb.Logf("scanned %d files under %s for keys", files, dir)
}

// sendInsertIDs returns the insert ids of events, sorted, failing on a
// duplicate.
func sendInsertIDs(tb testing.TB, events []event.Event) []string {
	tb.Helper()
	ids := make([]string, len(events))
	seen := map[string]bool{}
	for i, e := range events {
		assert.False(tb, seen[e.InsertID], "insert_id %q stored twice", e.InsertID)
		seen[e.InsertID] = true
		ids[i] = e.InsertID
	}
	sort.Strings(ids)
	return ids
}

// sendIdentifyKey is what an identify must match: who, which device, when.
type sendIdentifyKey struct {
	DistinctID, AnonDistinctID string
	TimeMillis                 int64
}

// TestSendWorkflow is the seed workflow a tester runs, end to end against
// the fake: generate and send, fetch the export, predict from it.
func TestSendWorkflow(t *testing.T) {
	s := sendNewFake(t)
	dir := t.TempDir()
	vars := sendFakeVars(s)
	data, zip := filepath.Join(dir, "data.json"), filepath.Join(dir, "export.zip")

	gen := sendRunCmd(t, vars, "generate", "--seed", "1", "--start", "2024-01-15", "--end", "2024-01-16", "--out", data)
	require.Equal(t, exitOK, gen.code, gen.stderr)
	assert.Contains(t, gen.stdout, "AMPLITUDE_API_KEY is set: sending 45 events")
	assert.Contains(t, gen.stdout, "\nsent 45/45\n")
	assert.Contains(t, gen.stdout, "\naccepted: 45 of 45\nrejected: 0\nundelivered: 0\n")
	assert.Contains(t, gen.stdout, "uploaded in hours 20240116T12..20240116T12 UTC")
	require.Len(t, s.Events(), 45)

	fetch := sendRunCmd(t, vars, "fetch-export", "--start", "2024-01-16T11:00:00Z", "--end", "2024-01-16T13:00:00Z", "--out", zip)
	require.Equal(t, exitOK, fetch.code, fetch.stderr)
	assert.Contains(t, fetch.stderr, "requesting hours 20240116T11..20240116T13 (UTC, both included)")
	assert.Contains(t, fetch.stdout, "events: 45 (from 1 input)\n")
	assert.Contains(t, fetch.stdout, "expected $identify events: 30\n")
	assert.FileExists(t, zip)

	expect := sendRunCmd(t, vars, "expect", "--json", zip)
	require.Equal(t, exitOK, expect.code, expect.stderr)
	var rep expectReport
	require.NoError(t, json.Unmarshal([]byte(expect.stdout), &rep))
	assert.Equal(t, 45, rep.Events)
	assert.Equal(t, 30, rep.IdentifyCount)
	assert.Zero(t, rep.ImportErrors)

	d, err := dataset.ReadFile(data)
	require.NoError(t, err)
	var want, got []sendIdentifyKey
	for _, id := range d.ExpectedIdentifies {
		want = append(want, sendIdentifyKey{id.DistinctID, id.AnonDistinctID, id.Time})
	}
	for _, id := range rep.Identifies {
		require.True(t, id.TimestampKnown, "identify of event %d has no timestamp", id.EventIndex)
		got = append(got, sendIdentifyKey{id.DistinctID, id.Properties.AnonDistinctID, id.Timestamp.UnixMilli()})
	}
	less := func(s []sendIdentifyKey) func(i, j int) bool {
		return func(i, j int) bool { return fmt.Sprint(s[i]) < fmt.Sprint(s[j]) }
	}
	sort.Slice(want, less(want))
	sort.Slice(got, less(got))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identifies predicted from the export mismatch the dataset's expected_identifies (-want +got):\n%s", diff)
	}

	// fetch-export --json prints exactly what expect --json prints.
	fetchJSON := sendRunCmd(t, vars, "fetch-export", "--json", "--start", "2024-01-16T11:00:00Z", "--end", "2024-01-16T13:00:00Z", "--out", zip)
	require.Equal(t, exitOK, fetchJSON.code, fetchJSON.stderr)
	assert.Equal(t, expect.stdout, fetchJSON.stdout)

	sendAssertNoKeys(t, dir, gen, fetch, expect, fetchJSON)
}

// TestSendFaults sends through faults that Amplitude clients meet; every
// event must arrive exactly once.
func TestSendFaults(t *testing.T) {
	tests := []struct {
		name         string
		fault        amplitudetest.Option
		args         []string
		wantStatuses []int  // the first answers the fake gave
		wantSaid     string // what the summary says happened, when Send saw it
	}{
		{
			name:         "throttled twice then accepted",
			fault:        amplitudetest.WithThrottleFirst(2),
			args:         []string{"--throttle-wait", "100ms"},
			wantStatuses: []int{429, 429},
		},
		{
			name:  "server errors twice then accepted",
			fault: amplitudetest.WithServerErrorFirst(2),
			// The SDK retries these itself, out of Send's sight: the
			// summary has nothing to say but that all arrived.
			wantStatuses: []int{500, 503},
		},
		{
			name:         "dropped connection then accepted",
			fault:        amplitudetest.WithDropFirst(1),
			wantStatuses: []int{0},
			wantSaid:     "resent after: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := sendNewFake(t, tt.fault)
			dir := t.TempDir()
			path, d := sendWriteStandard(t, dir)

			r := sendRunCmd(t, sendFakeVars(s), append(append([]string{"send"}, tt.args...), path)...)
			assert.Equal(t, exitOK, r.code, r.stderr)
			assert.Contains(t, r.stdout, "\naccepted: 45 of 45\nrejected: 0\nundelivered: 0\n")
			if tt.wantSaid != "" {
				assert.Contains(t, r.stdout, tt.wantSaid)
			}
			statuses := s.Statuses()
			require.GreaterOrEqual(t, len(statuses), len(tt.wantStatuses))
			assert.Equal(t, tt.wantStatuses, statuses[:len(tt.wantStatuses)])

			// Nothing lost, nothing stored twice.
			stored := s.Events()
			assert.Len(t, stored, 45)
			if diff := cmp.Diff(sendInsertIDs(t, d.Events), sendInsertIDs(t, stored)); diff != "" {
				t.Errorf("stored insert ids mismatch (-sent +stored):\n%s", diff)
			}
			sendAssertNoKeys(t, dir, r)
		})
	}
}

func TestSendRejectedEvent(t *testing.T) {
	s := sendNewFake(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "null.json")
	require.NoError(t, dataset.WriteFile(path, &dataset.Dataset{Events: []event.Event{
		{EventType: event.Str("page_view"), UserID: event.Str("rejected_test_user"), DeviceID: event.Str("rejected_test_device"), Time: 1705312800000, InsertID: "rejected-test-0"},
		{EventType: event.Str("page_view"), UserID: event.Str("null"), Time: 1705312801000, InsertID: "rejected-test-1"},
	}}))

	r := sendRunCmd(t, sendFakeVars(s), "send", path)
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stdout, "accepted: 1 of 2\nrejected: 1\n")
	assert.Contains(t, r.stdout, `  event 1, insert_id "rejected-test-1": Amplitude said "Invalid field values on some events" (code 400); likely because user_id "null" is one of Amplitude's invalid ids`)
	assert.Contains(t, r.stderr, "not every event was accepted: 2 events: 1 accepted, 1 rejected, 0 undelivered")
	assert.Len(t, s.Events(), 1)
	sendAssertNoKeys(t, dir, r)
}

func TestSendNeverAnswered(t *testing.T) {
	s := sendNewFake(t, amplitudetest.WithNeverAnswer())
	dir := t.TempDir()
	path, _ := sendWriteStandard(t, dir)

	r := sendRunCmd(t, sendFakeVars(s), "send", "--timeout", "2s", path)
	assert.Equal(t, exitFail, r.code)
	assert.Less(t, r.elapsed, 10*time.Second, "send overran its --timeout by far")
	assert.Contains(t, r.stdout, "accepted: 0 of 45\nrejected: 0\nundelivered: 45 (events 0-44): ")
	assert.Contains(t, r.stderr, "0 accepted, 0 rejected, 45 undelivered")
	assert.Empty(t, s.Events())
	sendAssertNoKeys(t, dir, r)
}

// TestSendKeyRejected: a wrong key is one clear failure, from send and from
// generate alike, and the wrong key is not printed either.
func TestSendKeyRejected(t *testing.T) {
	const wrongKey = "wr0ng-k3y-0f-n0-pr0j3ct-9999"
	for _, args := range [][]string{{"send"}, {"generate", "--out"}} {
		t.Run(args[0], func(t *testing.T) {
			s := sendNewFake(t)
			dir := t.TempDir()
			path, _ := sendWriteStandard(t, dir)
			if args[0] == "generate" {
				path = filepath.Join(dir, "generated.json")
			}
			vars := sendFakeVars(s)
			vars[apiKeyEnv] = wrongKey

			r := sendRunCmd(t, vars, append(args, path)...)
			assert.Equal(t, exitFail, r.code)
			assert.Contains(t, r.stderr, "API key rejected by Amplitude")
			assert.Empty(t, s.Events())
			assert.NotContains(t, r.stdout+r.stderr, wrongKey)
			sendAssertNoKeys(t, dir, r)
		})
	}
}

// TestSendNodeFile sends a file without insert ids twice: the derived ids
// are the same both times, so Amplitude stores each event once.
func TestSendNodeFile(t *testing.T) {
	s := sendNewFake(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "node.json")
	// Two identical events: the position keeps their ids apart.
	node := `{"metadata": {"api_key": "` + sendTestAPIKey + `", "scenarios": ["first_time_combinations"]},
  "events": [
    {"event_type": "login", "user_id": "node_user_alice", "device_id": "node_device_mobile", "time": 1705312800000},
    {"event_type": "login", "user_id": "node_user_alice", "device_id": "node_device_mobile", "time": 1705312800000},
    {"event_type": "page_view", "user_id": null, "device_id": "node_device_laptop", "time": 1705312801000}
  ]}`
	require.NoError(t, os.WriteFile(path, []byte(node), 0o644))

	first := sendRunCmd(t, sendFakeVars(s), "send", path)
	assert.Equal(t, exitOK, first.code, first.stderr)
	assert.Contains(t, first.stdout, "3 events without insert_id (a Node generator file?): using ids derived from each event's position and content")
	ids := sendInsertIDs(t, s.Events())
	assert.Len(t, ids, 3)

	second := sendRunCmd(t, sendFakeVars(s), "send", path)
	assert.Equal(t, exitOK, second.code, second.stderr)
	assert.Equal(t, ids, sendInsertIDs(t, s.Events()), "a second send stored new events")
	assert.Equal(t, 3, s.Duplicates())

	// The Node file itself holds the key (test fixture); outputs must not.
	for _, r := range []sendRun{first, second} {
		assert.NotContains(t, r.stdout+r.stderr, sendTestAPIKey)
	}
}

func TestFetchExportFailures(t *testing.T) {
	tests := []struct {
		name    string
		vars    func(map[string]string)
		want    string
		wantNot string
	}{
		{
			name: "no data yet",
			want: "no data in the export range: Amplitude exports lag about two hours behind ingestion; try again later",
		},
		{
			name:    "wrong secret key",
			vars:    func(v map[string]string) { v[secretKeyEnv] = "wr0ng-s3cr3t-4321" },
			want:    "Amplitude rejected the API key or secret key",
			wantNot: "wr0ng-s3cr3t-4321",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sendNewFake(t)
			dir := t.TempDir()
			vars := sendFakeVars(s)
			if tt.vars != nil {
				tt.vars(vars)
			}
			r := sendRunCmd(t, vars, "fetch-export", "--start", "2024-01-16T11:00:00Z", "--end", "2024-01-16T13:00:00Z", "--out", filepath.Join(dir, "export.zip"))
			assert.Equal(t, exitFail, r.code)
			assert.Contains(t, r.stderr, tt.want)
			assert.Empty(t, r.stdout, "no prediction without an export")
			if tt.wantNot != "" {
				assert.NotContains(t, r.stdout+r.stderr, tt.wantNot)
			}
			left, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, left, "a failed fetch leaves no file, partial or temporary")
			sendAssertNoKeys(t, dir, r)
		})
	}
}

func TestDeriveInsertIDs(t *testing.T) {
	ev := func(user string, id string) event.Event {
		return event.Event{EventType: event.Str("login"), UserID: event.Str(user), DeviceID: event.Str("device_x"), Time: 1, InsertID: id}
	}
	tests := []struct {
		name   string
		events []event.Event
		wantN  int
	}{
		{"ids present are kept", []event.Event{ev("user_a", "given-0"), ev("user_b", "given-1")}, 0},
		{"identical events get different ids", []event.Event{ev("user_a", ""), ev("user_a", "")}, 2},
		{"only missing ids are filled", []event.Event{ev("user_a", "given-0"), ev("user_b", "")}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]event.Event(nil), tt.events...)
			n := deriveInsertIDs(tt.events)
			assert.Equal(t, tt.wantN, n)
			seen := map[string]bool{}
			for i, e := range tt.events {
				assert.NotEmpty(t, e.InsertID)
				assert.False(t, seen[e.InsertID], "insert_id %q given twice", e.InsertID)
				seen[e.InsertID] = true
				if before[i].InsertID != "" {
					assert.Equal(t, before[i].InsertID, e.InsertID, "a given insert_id was replaced")
				}
			}
			// Deterministic: the same input gives the same ids.
			again := append([]event.Event(nil), before...)
			deriveInsertIDs(again)
			assert.Equal(t, tt.events, again)
		})
	}
}

func TestIndexRanges(t *testing.T) {
	tests := []struct {
		in   []int
		want string
	}{
		{[]int{7}, "7"},
		{[]int{0, 1, 2, 3}, "0-3"},
		{[]int{0, 1, 2, 3, 7, 9, 10}, "0-3, 7, 9-10"},
		{nil, ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, indexRanges(tt.in), "indexRanges(%v)", tt.in)
	}
}
