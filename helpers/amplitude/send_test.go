package amplitude_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/amplitude"
	"amplitude-testgen/helpers/amplitudetest"
	"amplitude-testgen/helpers/event"
)

// testKey is the fake project's API key: long and distinctive, so a leak
// into any output is easy to find.
const testKey = "k3y-0f-th3-f4k3-pr0j3ct-0123456789abcdef"

// baseTime is the first event's time: 2024-01-15 10:00:00 UTC.
var baseTime = time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)

// makeEvents builds n distinct valid events, a minute apart, each with
// properties like the dataset's.
func makeEvents(n int) []event.Event {
	types := []string{"login", "purchase", "page_view", "button_click", "app_open"}
	out := make([]event.Event, n)
	for i := range out {
		out[i] = event.Event{
			EventType:       event.Str(types[i%len(types)]),
			UserID:          event.Str(fmt.Sprintf("user_%03d", i%7)),
			DeviceID:        event.Str(fmt.Sprintf("device_%03d", i%5)),
			Time:            baseTime.Add(time.Duration(i) * time.Minute).UnixMilli(),
			InsertID:        fmt.Sprintf("test-insert-%03d", i),
			EventProperties: map[string]any{"scenario": "send_test", "step": float64(i)},
			UserProperties:  map[string]any{"test_scenario": true},
			HasTime:         true,
		}
	}
	// One anonymous event: device only, as in the dataset's scenario 6.
	if n > 3 {
		out[3].UserID = nil
	}
	return out
}

// fastOptions sends to s with small SDK intervals, so retries take
// milliseconds; log collects the SDK's log.
func fastOptions(s *amplitudetest.Server, log *syncBuffer) amplitude.Options {
	return amplitude.Options{
		APIKey:                 testKey,
		ServerURL:              s.HTTPAPIURL(),
		Timeout:                20 * time.Second,
		FlushInterval:          20 * time.Millisecond,
		RetryBaseInterval:      5 * time.Millisecond,
		RetryThrottledInterval: 20 * time.Millisecond,
		FlushQueueSize:         20,
		Log:                    log,
		Verbose:                true,
	}
}

// syncBuffer is a bytes.Buffer safe for the SDK's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newServer(tb testing.TB, opts ...amplitudetest.Option) *amplitudetest.Server {
	tb.Helper()
	s := amplitudetest.NewServer(append([]amplitudetest.Option{amplitudetest.WithAPIKey(testKey)}, opts...)...)
	tb.Cleanup(s.Close)
	return s
}

// assertNoKey checks that the API key appears in none of the outputs.
func assertNoKey(tb testing.TB, outputs ...string) {
	tb.Helper()
	for _, out := range outputs {
		assert.NotContains(tb, out, testKey)
	}
}

// byInsertID indexes events by insert_id, failing on a repeat.
func byInsertID(tb testing.TB, events []event.Event) map[string]event.Event {
	tb.Helper()
	m := make(map[string]event.Event, len(events))
	for _, e := range events {
		_, dup := m[e.InsertID]
		assert.False(tb, dup, "insert_id %s stored twice", e.InsertID)
		m[e.InsertID] = e
	}
	return m
}

func TestSend(t *testing.T) {
	tests := []struct {
		name         string
		server       []amplitudetest.Option
		edit         func(events []event.Event)
		wantRejected []int
		wantStatuses func(tb testing.TB, statuses []int)
		// throttleWait, when set, is the SDK's RetryThrottledInterval, and
		// Send must take at least that long: the 429 answers listed the
		// events, so the SDK waited before resending instead of looping.
		// (The two 429s hit the first two requests, 20 events each, which
		// wait side by side.)
		throttleWait time.Duration
	}{
		{name: "all events accepted"},
		{
			name:         "throttled twice then accepted",
			server:       []amplitudetest.Option{amplitudetest.WithThrottleFirst(2)},
			throttleWait: 100 * time.Millisecond,
			wantStatuses: func(tb testing.TB, st []int) {
				assert.Equal(tb, []int{429, 429}, st[:2])
			},
		},
		{
			name:   "server errors twice then accepted",
			server: []amplitudetest.Option{amplitudetest.WithServerErrorFirst(2)},
			wantStatuses: func(tb testing.TB, st []int) {
				assert.Equal(tb, []int{500, 503}, st[:2])
			},
		},
		{
			name:   "dropped connection then accepted",
			server: []amplitudetest.Option{amplitudetest.WithDropFirst(1)},
			wantStatuses: func(tb testing.TB, st []int) {
				assert.Equal(tb, 0, st[0])
			},
		},
		{
			name: "user_id null is rejected, the rest accepted",
			edit: func(es []event.Event) {
				es[10].UserID = event.Str("null")
				es[10].DeviceID = nil
			},
			wantRejected: []int{10},
		},
		{
			name:         "too short ids are rejected, the rest accepted",
			edit:         func(es []event.Event) { es[4].UserID = event.Str("abc"); es[30].DeviceID = event.Str("dev") },
			wantRejected: []int{4, 30},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.server...)
			events := makeEvents(45)
			if tt.edit != nil {
				tt.edit(events)
			}
			log := &syncBuffer{}
			opts := fastOptions(s, log)
			if tt.throttleWait > 0 {
				opts.RetryThrottledInterval = tt.throttleWait
			}
			begin := time.Now()
			sum, err := amplitude.Send(context.Background(), events, opts)
			require.NoError(t, err)
			assert.GreaterOrEqual(t, time.Since(begin), tt.throttleWait)

			assert.Equal(t, 45, sum.Total)
			assert.Equal(t, 45-len(tt.wantRejected), sum.Accepted)
			assert.Empty(t, sum.Undelivered)
			var rejected []int
			for _, r := range sum.Rejected {
				rejected = append(rejected, r.Index)
				assert.Equal(t, events[r.Index].InsertID, r.InsertID)
				assert.Equal(t, 400, r.Code)
				assert.Equal(t, "Invalid field values on some events", r.Reason)
				assert.NotEmpty(t, r.Hint)
			}
			assert.Equal(t, tt.wantRejected, rejected)
			assert.Equal(t, len(tt.wantRejected) == 0, sum.OK())

			// Nothing lost, nothing stored twice, time and insert_id kept.
			stored := byInsertID(t, s.Events())
			assert.Len(t, s.Events(), 45-len(tt.wantRejected))
			for i, e := range events {
				got, ok := stored[e.InsertID]
				if slices.Contains(tt.wantRejected, i) {
					assert.False(t, ok, "rejected event %d was stored", i)
					continue
				}
				if !assert.True(t, ok, "event %d (%s) not stored", i, e.InsertID) {
					continue
				}
				assert.Equal(t, e.Time, got.Time, "event %d time", i)
				assert.Equal(t, e.UserID, got.UserID, "event %d user_id", i)
				assert.Equal(t, e.DeviceID, got.DeviceID, "event %d device_id", i)
				assert.Equal(t, e.EventProperties, got.EventProperties, "event %d event_properties", i)
				assert.Equal(t, e.UserProperties, got.UserProperties, "event %d user_properties", i)
			}
			if tt.wantStatuses != nil {
				tt.wantStatuses(t, s.Statuses())
			}
			assertNoKey(t, log.String(), fmt.Sprintf("%+v", sum))
			assert.Contains(t, log.String(), "[redacted]", "the verbose SDK log prints request bodies; the key must be replaced")
		})
	}
}

func TestSendNeverAnswered(t *testing.T) {
	s := newServer(t, amplitudetest.WithNeverAnswer())
	log := &syncBuffer{}
	opts := fastOptions(s, log)
	opts.Timeout = 2 * time.Second
	events := makeEvents(45)

	begin := time.Now()
	sum, err := amplitude.Send(context.Background(), events, opts)
	elapsed := time.Since(begin)
	require.NoError(t, err)

	assert.Zero(t, sum.Accepted)
	assert.Empty(t, sum.Rejected)
	want := make([]int, 45)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, sum.Undelivered)
	assert.False(t, sum.OK())
	// Timeout plus at most one connection timeout (Timeout/2) for the
	// request in flight, plus slack for a slow machine.
	assert.Less(t, elapsed, opts.Timeout*3/2+time.Second, "Send overran its timeout")
	assert.GreaterOrEqual(t, elapsed, opts.Timeout)
	assert.Empty(t, s.Events())
	assert.NotEmpty(t, sum.LastError, "an undelivered summary says why")
	assertNoKey(t, log.String(), fmt.Sprintf("%+v", sum))
}

func TestSendContextCancelled(t *testing.T) {
	s := newServer(t, amplitudetest.WithNeverAnswer())
	opts := fastOptions(s, nil)
	opts.Log = nil
	opts.ConnectionTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	sum, err := amplitude.Send(ctx, makeEvents(5), opts)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "5 of 5 events unanswered")
	assert.Len(t, sum.Undelivered, 5)
}

func TestSendWrongAPIKey(t *testing.T) {
	s := amplitudetest.NewServer(amplitudetest.WithAPIKey("another-project-key"))
	t.Cleanup(s.Close)
	log := &syncBuffer{}
	sum, err := amplitude.Send(context.Background(), makeEvents(5), fastOptions(s, log))
	require.ErrorIs(t, err, amplitude.ErrAPIKeyRejected)
	require.Len(t, sum.Rejected, 5)
	for _, r := range sum.Rejected {
		assert.Equal(t, 400, r.Code)
		assert.Equal(t, "Invalid API key", r.Reason)
	}
	assert.Empty(t, s.Events())
	assertNoKey(t, err.Error(), log.String(), fmt.Sprintf("%+v", sum))
}

func TestSendProgress(t *testing.T) {
	s := newServer(t)
	var calls [][2]int
	opts := fastOptions(s, nil)
	opts.Log = nil
	opts.Progress = func(acked, total int) { calls = append(calls, [2]int{acked, total}) }
	sum, err := amplitude.Send(context.Background(), makeEvents(45), opts)
	require.NoError(t, err)
	require.True(t, sum.OK(), sum.String())
	require.Len(t, calls, 45)
	for i, c := range calls {
		assert.Equal(t, [2]int{i + 1, 45}, c)
	}
}

func TestSendBatchAPI(t *testing.T) {
	s := newServer(t)
	opts := fastOptions(s, nil)
	opts.Log = nil
	opts.ServerURL = s.BatchURL()
	opts.UseBatch = true
	sum, err := amplitude.Send(context.Background(), makeEvents(45), opts)
	require.NoError(t, err)
	assert.True(t, sum.OK(), sum.String())
	assert.Len(t, s.Events(), 45)
}

func TestSendUserPropertyOperations(t *testing.T) {
	s := newServer(t)
	events := makeEvents(1)
	events[0].UserProperties = map[string]any{"plain": "x", "$setOnce": map[string]any{"first": "y"}}
	opts := fastOptions(s, nil)
	opts.Log = nil
	sum, err := amplitude.Send(context.Background(), events, opts)
	require.NoError(t, err)
	require.True(t, sum.OK(), sum.String())
	stored := s.Stored()
	require.Len(t, stored, 1)
	assert.JSONEq(t, `{"$set":{"plain":"x"},"$setOnce":{"first":"y"}}`, rawField(t, stored[0].Raw, "user_properties"))
}

func TestSendSplitsARequestAmplitudeFindsTooLarge(t *testing.T) {
	s := newServer(t)
	opts := fastOptions(s, nil)
	opts.Log = nil
	opts.FlushQueueSize = 3000 // over the 2000 events a request Amplitude takes
	// No tick may send part of the events early: Send's flush sends all
	// 2500 in one request, and the SDK resends the halves at once.
	opts.FlushInterval = time.Hour
	events := makeEvents(2500)
	sum, err := amplitude.Send(context.Background(), events, opts)
	require.NoError(t, err)
	assert.True(t, sum.OK(), sum.String())
	st := s.Statuses()
	require.NotEmpty(t, st)
	assert.Equal(t, 413, st[0], "the first request is too large")
	assert.Len(t, s.Events(), 2500)
}

func TestSendOptionErrors(t *testing.T) {
	valid := makeEvents(2)
	noInsertID := makeEvents(2)
	noInsertID[1].InsertID = ""
	tests := []struct {
		name    string
		opts    amplitude.Options
		events  []event.Event
		wantErr string
	}{
		{"missing API key", amplitude.Options{}, valid, "AMPLITUDE_API_KEY is not set"},
		{"unknown cluster", amplitude.Options{APIKey: testKey, Cluster: "mars"}, valid, `unknown Amplitude cluster "mars": want "us" or "eu"`},
		{"server URL without scheme", amplitude.Options{APIKey: testKey, ServerURL: "127.0.0.1:1/2/httpapi"}, valid, `server URL "127.0.0.1:1/2/httpapi"`},
		{"negative timeout", amplitude.Options{APIKey: testKey, Timeout: -time.Second}, valid, "timeout -1s: want a positive duration"},
		{"event without insert_id", amplitude.Options{APIKey: testKey}, noInsertID, "event 1 has no insert_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := amplitude.Send(context.Background(), tt.events, tt.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assertNoKey(t, err.Error())
		})
	}
	t.Run("EU cluster is accepted", func(t *testing.T) {
		sum, err := amplitude.Send(context.Background(), nil, amplitude.Options{APIKey: testKey, Cluster: "EU"})
		require.NoError(t, err)
		assert.True(t, sum.OK())
	})
}

func TestInvalidIDAgreesWithTheFake(t *testing.T) {
	tests := []struct {
		id     string
		minLen int
		want   bool
	}{
		{"user_alice", 5, false},
		{"abcd", 5, true},
		{"abcd", 4, false},
		{"Anonymous", 1, true},
		{"N/A", 1, true},
		{"LMY47D", 1, true},
		{"-1", 1, true},
		{"{}", 1, true},
		{`""`, 1, true},
		{"00000000-0000-0000-0000-000000000000", 1, true},
		{"用户用户用", 5, false}, // five characters, more bytes
		{"  edge_trimmed_user  ", 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			assert.Equal(t, tt.want, amplitude.InvalidID(tt.id, tt.minLen), "amplitude.InvalidID")
			assert.Equal(t, tt.want, amplitudetest.InvalidID(tt.id, tt.minLen), "amplitudetest.InvalidID")
		})
	}
}

func TestSummary(t *testing.T) {
	sum := amplitude.Summary{Total: 3, Accepted: 1, Rejected: []amplitude.Rejection{{Index: 1}}, Undelivered: []int{2}}
	assert.False(t, sum.OK())
	assert.Equal(t, "3 events: 1 accepted, 1 rejected, 1 undelivered", sum.String())
	assert.True(t, amplitude.Summary{Total: 2, Accepted: 2}.OK())
}

// sortedIDs lists the insert ids of events, sorted.
func sortedIDs(events []event.Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.InsertID
	}
	sort.Strings(ids)
	return ids
}

// diffIDs is a go-cmp diff of two events' insert id sets.
func diffIDs(want, got []event.Event) string { return cmp.Diff(sortedIDs(want), sortedIDs(got)) }

func rawField(tb testing.TB, raw []byte, field string) string {
	tb.Helper()
	var fields map[string]json.RawMessage
	require.NoError(tb, json.Unmarshal(raw, &fields))
	v, ok := fields[field]
	require.True(tb, ok, "field %s in %s", field, raw)
	return string(v)
}
