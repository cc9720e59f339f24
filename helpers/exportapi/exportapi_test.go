package exportapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/amplitudetest"
	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/export"
	"amplitude-testgen/helpers/exportapi"
)

// Distinctive test credentials, so a leak is easy to spot.
const (
	apiKey    = "api-k3y-for-export-tests-0123456789"
	secretKey = "s3cr3t-k3y-for-export-tests-9876543210"
)

var uploadTime = time.Date(2024, 1, 15, 10, 20, 0, 0, time.UTC)

// fakeWithEvents starts a fake Amplitude holding n events uploaded at
// uploadTime, sent over its HTTP API.
func fakeWithEvents(tb testing.TB, n int) *amplitudetest.Server {
	tb.Helper()
	s := amplitudetest.NewServer(
		amplitudetest.WithAPIKey(apiKey), amplitudetest.WithSecretKey(secretKey),
		amplitudetest.WithClock(func() time.Time { return uploadTime }))
	tb.Cleanup(s.Close)
	if n == 0 {
		return s
	}
	events := make([]string, n)
	for i := range events {
		events[i] = fmt.Sprintf(`{"event_type":"login","user_id":"user_%03d","device_id":"device_%03d","time":%d,"insert_id":"exp-%03d"}`,
			i, i, uploadTime.Add(-time.Duration(i)*time.Minute).UnixMilli(), i)
	}
	body := fmt.Sprintf(`{"api_key":%q,"events":[%s]}`, apiKey, strings.Join(events, ","))
	resp, err := s.Client().Post(s.HTTPAPIURL(), "application/json", strings.NewReader(body))
	require.NoError(tb, err)
	resp.Body.Close()
	require.Equal(tb, http.StatusOK, resp.StatusCode)
	return s
}

func options(serverURL string) exportapi.Options {
	return exportapi.Options{APIKey: apiKey, SecretKey: secretKey, ServerURL: serverURL, Sleep: func(time.Duration) {}}
}

// readRows decodes every row of an export zip.
func readRows(tb testing.TB, zip []byte) []event.Event {
	tb.Helper()
	var rows []event.Event
	err := export.ReadZip(bytes.NewReader(zip), int64(len(zip)), func(entry string, line int, raw []byte) error {
		var e event.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%s line %d: %w", entry, line, err)
		}
		rows = append(rows, e)
		return nil
	})
	require.NoError(tb, err)
	return rows
}

// assertNoKeys checks that neither key appears in s.
func assertNoKeys(tb testing.TB, s string) {
	tb.Helper()
	assert.NotContains(tb, s, apiKey)
	assert.NotContains(tb, s, secretKey)
}

func TestFetchFromFake(t *testing.T) {
	s := fakeWithEvents(t, 12)
	var buf bytes.Buffer
	// A range of minutes inside the upload hour: start is truncated to it.
	n, err := exportapi.Fetch(context.Background(), uploadTime.Add(5*time.Minute), uploadTime.Add(10*time.Minute), &buf, options(s.URL()))
	require.NoError(t, err)
	assert.Equal(t, int64(buf.Len()), n)
	rows := readRows(t, buf.Bytes())
	require.Len(t, rows, 12)
	for i, r := range rows {
		assert.Equal(t, fmt.Sprintf("exp-%03d", i), r.InsertID)
		assert.Equal(t, uploadTime.Add(-time.Duration(i)*time.Minute).UnixMilli(), r.Time)
	}
}

func TestFetchErrorsFromFake(t *testing.T) {
	s := fakeWithEvents(t, 3)
	tests := []struct {
		name       string
		start, end time.Time
		edit       func(o *exportapi.Options)
		wantStatus int
		wantIs     error
		wantMsg    string
	}{
		{
			name:  "no data in the range",
			start: uploadTime.Add(24 * time.Hour), end: uploadTime.Add(25 * time.Hour),
			wantStatus: 404, wantIs: exportapi.ErrNoData,
			wantMsg: "no data in the export range: Amplitude exports lag about two hours behind ingestion; try again later",
		},
		{
			name:  "wrong secret key",
			start: uploadTime, end: uploadTime,
			edit:       func(o *exportapi.Options) { o.SecretKey = "wrong-" + secretKey },
			wantStatus: 401, wantIs: exportapi.ErrAuth,
			wantMsg: "Amplitude rejected the API key or secret key",
		},
		{
			name:  "range over a year",
			start: uploadTime.AddDate(-2, 0, 0), end: uploadTime,
			wantStatus: 400, wantIs: exportapi.ErrInvalidRange,
			wantMsg: "the export range is invalid or too large",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := options(s.URL())
			if tt.edit != nil {
				tt.edit(&opts)
			}
			var buf bytes.Buffer
			_, err := exportapi.Fetch(context.Background(), tt.start, tt.end, &buf, opts)
			require.Error(t, err)
			var e *exportapi.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.wantStatus, e.Status)
			assert.ErrorIs(t, err, tt.wantIs)
			assert.Contains(t, err.Error(), tt.wantMsg)
			assert.Equal(t, 1, e.Attempts, "a %d is not retried", tt.wantStatus)
			assert.Zero(t, buf.Len())
			assertNoKeys(t, err.Error())
			assert.NotContains(t, err.Error(), "wrong-")
		})
	}
}

// answer is one scripted reply of a sequence server.
type answer struct {
	status     int
	retryAfter string
	body       string
}

// sequence is a server that replies with the answers in turn (the last one
// repeats) and records the queries and auth it got.
type sequence struct {
	*httptest.Server
	mu      sync.Mutex
	queries []string
	auth    []string
}

func newSequence(tb testing.TB, answers ...answer) *sequence {
	tb.Helper()
	seq := &sequence{}
	seq.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seq.mu.Lock()
		i := len(seq.queries)
		seq.queries = append(seq.queries, r.URL.Path+"?"+r.URL.RawQuery)
		user, pass, _ := r.BasicAuth()
		seq.auth = append(seq.auth, user+":"+pass)
		seq.mu.Unlock()
		a := answers[min(i, len(answers)-1)]
		if a.status == 0 {
			panic(http.ErrAbortHandler) // close the connection unanswered
		}
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
	}))
	tb.Cleanup(seq.Close)
	return seq
}

func (s *sequence) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queries)
}

func TestFetchRetries(t *testing.T) {
	ok := answer{status: 200, body: "PK-zip-bytes"}
	tests := []struct {
		name       string
		answers    []answer
		maxRetries int
		wantSleeps []time.Duration
		wantStatus int // 0: success
		wantIs     error
		wantMsg    string
	}{
		{
			name:       "Retry-After is honoured",
			answers:    []answer{{status: 429, retryAfter: "7"}, ok},
			wantSleeps: []time.Duration{7 * time.Second},
		},
		{
			name:       "Retry-After is capped",
			answers:    []answer{{status: 429, retryAfter: "86400"}, ok},
			wantSleeps: []time.Duration{exportapi.DefaultMaxRetryAfter},
		},
		{
			name:       "429 without Retry-After backs off",
			answers:    []answer{{status: 429}, {status: 429}, ok},
			wantSleeps: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name:       "server errors are retried with exponential backoff",
			answers:    []answer{{status: 503}, {status: 500}, {status: 504}, ok},
			wantSleeps: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		},
		{
			name:       "server errors past the retries fail naming the status",
			answers:    []answer{{status: 502}},
			maxRetries: 2,
			wantSleeps: []time.Duration{time.Second, 2 * time.Second},
			wantStatus: 502, wantIs: exportapi.ErrServer,
			wantMsg: "HTTP 502: Amplitude server error 502 Bad Gateway; try again later or shorten the range (after 3 attempts)",
		},
		{
			name:       "rate limit past the retries fails",
			answers:    []answer{{status: 429, retryAfter: "1"}},
			maxRetries: 1,
			wantSleeps: []time.Duration{time.Second},
			wantStatus: 429, wantIs: exportapi.ErrRateLimited,
			wantMsg: "rate limited by Amplitude",
		},
		{
			name:       "400 is not retried",
			answers:    []answer{{status: 400, body: "range too large"}},
			wantStatus: 400, wantIs: exportapi.ErrInvalidRange,
			wantMsg: `the export range is invalid or too large (at most 365 days, and an export under 4 GB); shorten the range; server said: "range too large"`,
		},
		{
			name:       "403 is not retried",
			answers:    []answer{{status: 403}},
			wantStatus: 403, wantIs: exportapi.ErrAuth,
			wantMsg: "Amplitude rejected the API key or secret key: check AMPLITUDE_API_KEY, AMPLITUDE_SECRET_KEY and the cluster (us or eu)",
		},
		{
			name:       "keys echoed by the server are redacted",
			answers:    []answer{{status: 401, body: "bad key " + apiKey + " / " + secretKey}},
			wantStatus: 401, wantIs: exportapi.ErrAuth,
			wantMsg: `server said: "bad key [redacted] / [redacted]"`,
		},
		{
			name:       "dropped connections are retried",
			answers:    []answer{{status: 0}, {status: 0}, ok},
			wantSleeps: []time.Duration{time.Second, 2 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq := newSequence(t, tt.answers...)
			var sleeps []time.Duration
			opts := options(seq.URL)
			opts.MaxRetries = tt.maxRetries
			opts.Sleep = func(d time.Duration) { sleeps = append(sleeps, d) }
			var buf bytes.Buffer
			n, err := exportapi.Fetch(context.Background(), uploadTime, uploadTime, &buf, opts)
			assert.Equal(t, tt.wantSleeps, sleeps)
			assert.Equal(t, len(tt.wantSleeps)+1, seq.requests(), "requests made")
			if tt.wantStatus == 0 {
				require.NoError(t, err)
				assert.Equal(t, "PK-zip-bytes", buf.String())
				assert.Equal(t, int64(len("PK-zip-bytes")), n)
				return
			}
			require.Error(t, err)
			var e *exportapi.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.wantStatus, e.Status)
			assert.ErrorIs(t, err, tt.wantIs)
			assert.Contains(t, err.Error(), tt.wantMsg)
			assertNoKeys(t, err.Error())
		})
	}
}

func TestFetchTransportErrorsAreBounded(t *testing.T) {
	seq := newSequence(t, answer{status: 0})
	opts := options(seq.URL)
	opts.MaxRetries = 2
	var sleeps int
	opts.Sleep = func(time.Duration) { sleeps++ }
	_, err := exportapi.Fetch(context.Background(), uploadTime, uploadTime, &bytes.Buffer{}, opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "request failed after 3 attempts")
	assert.Equal(t, 3, seq.requests())
	assert.Equal(t, 2, sleeps)
	assertNoKeys(t, err.Error())
}

func TestFetchRequest(t *testing.T) {
	seq := newSequence(t, answer{status: 200, body: "zip"})
	// A base URL with a path and a trailing slash, as a proxy might have.
	opts := options(seq.URL + "/proxy/")
	start := time.Date(2024, 1, 15, 10, 37, 12, 0, time.UTC)
	end := time.Date(2024, 1, 16, 3, 5, 0, 0, time.FixedZone("UTC+2", 2*60*60)) // 01:05 UTC
	_, err := exportapi.Fetch(context.Background(), start, end, &bytes.Buffer{}, opts)
	require.NoError(t, err)
	assert.Equal(t, []string{"/proxy/api/2/export?end=20240116T01&start=20240115T10"}, seq.queries)
	assert.Equal(t, []string{apiKey + ":" + secretKey}, seq.auth)
}

func TestFetchOptionErrors(t *testing.T) {
	tests := []struct {
		name       string
		opts       exportapi.Options
		start, end time.Time
		wantMsg    string
	}{
		{"missing API key", exportapi.Options{SecretKey: secretKey}, uploadTime, uploadTime, "AMPLITUDE_API_KEY is not set"},
		{"missing secret key", exportapi.Options{APIKey: apiKey}, uploadTime, uploadTime, "AMPLITUDE_SECRET_KEY is not set"},
		{"unknown cluster", exportapi.Options{APIKey: apiKey, SecretKey: secretKey, Cluster: "apac"}, uploadTime, uploadTime, `unknown cluster "apac": want "us" or "eu"`},
		{"bad server URL", exportapi.Options{APIKey: apiKey, SecretKey: secretKey, ServerURL: "ftp://x"}, uploadTime, uploadTime, `server URL "ftp://x"`},
		{"end before start", exportapi.Options{APIKey: apiKey, SecretKey: secretKey}, uploadTime, uploadTime.Add(-2 * time.Hour), "end 2024-01-15T08:20:00Z is before start 2024-01-15T10:20:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := exportapi.Fetch(context.Background(), tt.start, tt.end, &bytes.Buffer{}, tt.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantMsg)
			assertNoKeys(t, err.Error())
		})
	}
}

func TestFetchStopsWhenContextEnds(t *testing.T) {
	seq := newSequence(t, answer{status: 503})
	opts := options(seq.URL)
	opts.Sleep = nil // the real, context-aware wait
	opts.Backoff = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := exportapi.Fetch(ctx, uploadTime, uploadTime, &bytes.Buffer{}, opts)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(begin), 5*time.Second)
}

func TestFetchFile(t *testing.T) {
	s := fakeWithEvents(t, 5)
	dir := t.TempDir()
	path := filepath.Join(dir, "export.zip")
	n, err := exportapi.FetchFile(context.Background(), uploadTime, uploadTime, path, options(s.URL()))
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, int64(len(b)), n)
	assert.Len(t, readRows(t, b), 5)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file is left beside the export")
}

func TestFetchFileLeavesNothingOnFailure(t *testing.T) {
	s := fakeWithEvents(t, 0)
	dir := t.TempDir()
	path := filepath.Join(dir, "export.zip")
	_, err := exportapi.FetchFile(context.Background(), uploadTime, uploadTime, path, options(s.URL()))
	require.ErrorIs(t, err, exportapi.ErrNoData)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestFetchFileKeepsAnOlderFileOnFailure(t *testing.T) {
	seq := newSequence(t, answer{status: 404})
	dir := t.TempDir()
	path := filepath.Join(dir, "export.zip")
	require.NoError(t, os.WriteFile(path, []byte("previous"), 0o644))
	_, err := exportapi.FetchFile(context.Background(), uploadTime, uploadTime, path, options(seq.URL))
	require.ErrorIs(t, err, exportapi.ErrNoData)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "previous", string(b))
}
