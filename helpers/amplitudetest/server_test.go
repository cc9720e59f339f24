package amplitudetest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/amplitudetest"
	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/export"
)

const key = amplitudetest.DefaultAPIKey

// testClock is a clock a test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func newServer(tb testing.TB, opts ...amplitudetest.Option) *amplitudetest.Server {
	tb.Helper()
	s := amplitudetest.NewServer(opts...)
	tb.Cleanup(s.Close)
	return s
}

// post sends body to url and returns the status and the answer's body.
func post(tb testing.TB, client *http.Client, url, body string) (int, string) {
	tb.Helper()
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, string(b)
}

// request builds an ingestion body with the default key.
func request(events ...string) string {
	return fmt.Sprintf(`{"api_key":%q,"events":[%s]}`, key, strings.Join(events, ","))
}

const okEvent = `{"event_type":"login","user_id":"user_alice","device_id":"device_one","time":1705312800000,"insert_id":"ins-1"}`

func TestIngestValidation(t *testing.T) {
	uploadMS := amplitudetest.DefaultUploadTime().UnixMilli()
	manyEvents := strings.TrimSuffix(strings.Repeat(okEvent+",", amplitudetest.MaxHTTPAPIEvents+1), ",")
	tests := []struct {
		name       string
		body       string
		wantStatus int
		want       string // JSON; "" skips the body check
		wantStored int
	}{
		{
			name:       "valid events are ingested",
			body:       request(okEvent, `{"event_type":"logout","device_id":"device_two","insert_id":"ins-2"}`),
			wantStatus: 200,
			wantStored: 2,
		},
		{
			name:       "missing api_key names the field",
			body:       `{"events":[` + okEvent + `]}`,
			wantStatus: 400,
			want:       `{"code":400,"error":"Request missing required field","missing_field":"api_key"}`,
		},
		{
			name:       "wrong api_key is refused without echoing it",
			body:       `{"api_key":"not-the-key-12345","events":[` + okEvent + `]}`,
			wantStatus: 400,
			want:       `{"code":400,"error":"Invalid API key: [redacted]"}`,
		},
		{
			name:       "missing events names the field",
			body:       fmt.Sprintf(`{"api_key":%q}`, key),
			wantStatus: 400,
			want:       `{"code":400,"error":"Request missing required field","missing_field":"events"}`,
		},
		{
			name:       "empty events array counts as missing",
			body:       request(),
			wantStatus: 400,
			want:       `{"code":400,"error":"Request missing required field","missing_field":"events"}`,
		},
		{
			name:       "body that is not JSON",
			body:       `{"api_key":`,
			wantStatus: 400,
			want:       `{"code":400,"error":"Invalid JSON request body"}`,
		},
		{
			name:       "event without event_type is listed by index",
			body:       request(okEvent, `{"user_id":"user_bob","insert_id":"x2"}`),
			wantStatus: 400,
			want:       `{"code":400,"error":"Request missing required field","events_with_missing_fields":{"event_type":[1]}}`,
		},
		{
			name:       "event with neither user_id nor device_id",
			body:       request(`{"event_type":"a","user_id":null}`, okEvent),
			wantStatus: 400,
			want:       `{"code":400,"error":"Request missing required field","events_with_missing_fields":{"device_id":[0]}}`,
		},
		{
			name:       "user_id null as a string is invalid",
			body:       request(okEvent, `{"event_type":"a","user_id":"null","device_id":"device_one"}`),
			wantStatus: 400,
			want:       `{"code":400,"error":"Invalid field values on some events","events_with_invalid_fields":{"user_id":[1]}}`,
		},
		{
			name:       "invalid ids are matched case-insensitively",
			body:       request(`{"event_type":"a","user_id":"UNDEFINED"}`, `{"event_type":"a","device_id":"00000000-0000-0000-0000-000000000000"}`),
			wantStatus: 400,
			want:       `{"code":400,"error":"Invalid field values on some events","events_with_invalid_fields":{"user_id":[0],"device_id":[1]}}`,
		},
		{
			name:       "id shorter than five characters is invalid",
			body:       request(`{"event_type":"a","user_id":"abcd"}`),
			wantStatus: 400,
			want:       `{"code":400,"error":"Invalid field values on some events","events_with_invalid_fields":{"user_id":[0]}}`,
		},
		{
			name:       "min_id_length option allows shorter ids",
			body:       fmt.Sprintf(`{"api_key":%q,"events":[{"event_type":"a","user_id":"abc"}],"options":{"min_id_length":3}}`, key),
			wantStatus: 200,
			wantStored: 1,
		},
		{
			name:       "time that is not milliseconds is invalid",
			body:       request(`{"event_type":"a","user_id":"user_alice","time":"2024-01-15T10:00:00Z"}`),
			wantStatus: 400,
			want:       `{"code":400,"error":"Invalid field values on some events","events_with_invalid_fields":{"time":[0]}}`,
		},
		{
			name:       "reserved event type is invalid",
			body:       request(`{"event_type":"[Amplitude] Start Session","user_id":"user_alice"}`),
			wantStatus: 400,
			want:       `{"code":400,"error":"Invalid field values on some events","events_with_invalid_fields":{"event_type":[0]}}`,
		},
		{
			name:       "missing and invalid fields in one request",
			body:       request(`{"user_id":"user_alice"}`, `{"event_type":"a","user_id":"nil"}`),
			wantStatus: 400,
			want:       `{"code":400,"error":"Request missing required field","events_with_missing_fields":{"event_type":[0]},"events_with_invalid_fields":{"user_id":[1]}}`,
		},
		{
			name:       "more than 2000 events is too large",
			body:       request(manyEvents),
			wantStatus: 413,
			want:       `{"code":413,"error":"Payload too large"}`,
		},
		{
			name:       "body over 1 MB is too large",
			body:       request(`{"event_type":"a","user_id":"user_alice","event_properties":{"pad":"` + strings.Repeat("x", amplitudetest.MaxHTTPAPIBytes) + `"}}`),
			wantStatus: 413,
			want:       `{"code":413,"error":"Payload too large"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			status, body := post(t, s.Client(), s.HTTPAPIURL(), tt.body)
			assert.Equal(t, tt.wantStatus, status, "body: %.300s", body)
			want := tt.want
			if tt.wantStatus == 200 {
				want = fmt.Sprintf(`{"code":200,"events_ingested":%d,"payload_size_bytes":%d,"server_upload_time":%d}`,
					tt.wantStored, len(tt.body), uploadMS)
			}
			assert.JSONEq(t, want, body)
			assert.NotContains(t, body, "not-the-key")
			assert.Len(t, s.Events(), tt.wantStored)
			assert.Equal(t, []int{tt.wantStatus}, s.Statuses())
		})
	}
}

func TestRejectedCountsEvents(t *testing.T) {
	s := newServer(t)
	status, _ := post(t, s.Client(), s.HTTPAPIURL(), request(okEvent, `{"event_type":"a","user_id":"na"}`, `{"user_id":"user_bob"}`))
	require.Equal(t, 400, status)
	assert.Equal(t, 2, s.Rejected())
	assert.Empty(t, s.Events(), "a 400 stores nothing, not even the valid events")
}

func TestBatchAllowsMoreThan2000Events(t *testing.T) {
	s := newServer(t)
	events := make([]string, 2001)
	for i := range events {
		events[i] = fmt.Sprintf(`{"event_type":"a","user_id":"user_alice","insert_id":"b-%d"}`, i)
	}
	status, body := post(t, s.Client(), s.BatchURL(), request(events...))
	assert.Equal(t, 200, status, body)
	assert.Len(t, s.Events(), 2001)
}

func TestStoredEventKeepsTimeInsertIDAndUploadTime(t *testing.T) {
	clock := &testClock{t: time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC)}
	s := newServer(t, amplitudetest.WithClock(clock.Now))
	status, _ := post(t, s.Client(), s.HTTPAPIURL(), request(
		`{"event_type":"login","user_id":"user_alice","time":1705312800123,"insert_id":"ins-9",`+
			`"user_properties":{"$set":{"plan":"pro"},"$setOnce":{"plan":"free","first":"yes"},"plain":1,"$add":{"n":1}}}`))
	require.Equal(t, 200, status)
	stored := s.Stored()
	require.Len(t, stored, 1)
	got := stored[0]
	assert.Equal(t, int64(1705312800123), got.Event.Time)
	assert.Equal(t, "ins-9", got.Event.InsertID)
	assert.Equal(t, clock.Now(), got.UploadTime)
	assert.Equal(t, map[string]any{"plan": "pro", "first": "yes", "plain": float64(1)}, got.Event.UserProperties)
	assert.Contains(t, string(got.Raw), `"$set"`, "Raw keeps the event as received")
}

func TestDedupByInsertID(t *testing.T) {
	clock := &testClock{t: amplitudetest.DefaultUploadTime()}
	s := newServer(t, amplitudetest.WithClock(clock.Now))
	send := func() {
		t.Helper()
		status, body := post(t, s.Client(), s.HTTPAPIURL(), request(okEvent, `{"event_type":"a","user_id":"user_bob"}`))
		require.Equal(t, 200, status, body)
	}
	send()
	clock.Set(clock.Now().Add(amplitudetest.DedupWindow - time.Minute))
	send()
	assert.Len(t, s.Events(), 3, "the repeated insert_id is dropped; the event without one is kept")
	assert.Equal(t, 1, s.Duplicates())

	clock.Set(clock.Now().Add(2 * time.Minute))
	send()
	assert.Len(t, s.Events(), 5, "after seven days the insert_id is accepted again")
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name         string
		opts         []amplitudetest.Option
		wantStatuses []int
		wantFirst    string
	}{
		{
			name:         "throttled first request lists every event",
			opts:         []amplitudetest.Option{amplitudetest.WithThrottleFirst(1)},
			wantStatuses: []int{429, 200},
			wantFirst: `{"code":429,"error":"Too many requests for some devices and users","eps_threshold":30,` +
				`"throttled_devices":{"device_one":31},"throttled_users":{"user_alice":31,"user_bob":31},"throttled_events":[0,1],` +
				`"exceeded_daily_quota_users":{},"exceeded_daily_quota_devices":{}}`,
		},
		{
			name:         "server errors alternate 500 and 503",
			opts:         []amplitudetest.Option{amplitudetest.WithServerErrorFirst(2)},
			wantStatuses: []int{500, 503, 200},
			wantFirst:    `{"code":500,"error":"Internal Server Error"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.opts...)
			body := request(okEvent, `{"event_type":"a","user_id":"user_bob","insert_id":"ins-2"}`)
			var first string
			for i := range tt.wantStatuses {
				status, answer := post(t, s.Client(), s.HTTPAPIURL(), body)
				assert.Equal(t, tt.wantStatuses[i], status)
				if i == 0 {
					first = answer
				}
			}
			assert.JSONEq(t, tt.wantFirst, first)
			assert.Equal(t, tt.wantStatuses, s.Statuses())
			assert.Len(t, s.Events(), 2, "only the successful request stores events")
		})
	}
}

func TestDropFirstClosesTheConnection(t *testing.T) {
	s := newServer(t, amplitudetest.WithDropFirst(1))
	_, err := s.Client().Post(s.HTTPAPIURL(), "application/json", strings.NewReader(request(okEvent)))
	require.Error(t, err)
	status, _ := post(t, s.Client(), s.HTTPAPIURL(), request(okEvent))
	assert.Equal(t, 200, status)
	assert.Equal(t, []int{0, 200}, s.Statuses())
	assert.Len(t, s.Events(), 1)
}

func TestNeverAnswerHangsUntilTheClientGivesUp(t *testing.T) {
	s := newServer(t, amplitudetest.WithNeverAnswer())
	client := &http.Client{Timeout: 200 * time.Millisecond}
	begin := time.Now()
	_, err := client.Post(s.HTTPAPIURL(), "application/json", strings.NewReader(request(okEvent)))
	require.Error(t, err)
	assert.Less(t, time.Since(begin), 2*time.Second)
	assert.Equal(t, 1, s.Requests())
	assert.Empty(t, s.Events())

	// A request still hanging when the server closes must not block Close.
	go func() { _, _ = http.Post(s.HTTPAPIURL(), "application/json", strings.NewReader(request(okEvent))) }()
	require.Eventually(t, func() bool { return s.Requests() == 2 }, 2*time.Second, 5*time.Millisecond)
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("Close blocked on a hanging request")
	}
}

func TestDelay(t *testing.T) {
	s := newServer(t, amplitudetest.WithDelay(150*time.Millisecond))
	begin := time.Now()
	status, _ := post(t, s.Client(), s.HTTPAPIURL(), request(okEvent))
	assert.Equal(t, 200, status)
	assert.GreaterOrEqual(t, time.Since(begin), 150*time.Millisecond)
}

func TestWrongMethodAndPath(t *testing.T) {
	s := newServer(t)
	resp, err := s.Client().Get(s.HTTPAPIURL())
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	status, body := post(t, s.Client(), s.URL()+"/httpapi", request(okEvent))
	assert.Equal(t, 400, status)
	assert.JSONEq(t, `{"code":400,"error":"Invalid request path"}`, body)
}

// exportGet fetches the export for a query with the given credentials.
func exportGet(tb testing.TB, s *amplitudetest.Server, query, user, pass string) (int, []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL()+amplitudetest.ExportPath+"?"+query, nil)
	require.NoError(tb, err)
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := s.Client().Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, b
}

// readExport decodes every row of an export zip.
func readExport(tb testing.TB, zip []byte) []event.Event {
	tb.Helper()
	var out []event.Event
	err := export.ReadZip(bytes.NewReader(zip), int64(len(zip)), func(entry string, line int, raw []byte) error {
		var e event.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%s line %d: %w", entry, line, err)
		}
		out = append(out, e)
		return nil
	})
	require.NoError(tb, err)
	return out
}

func TestExport(t *testing.T) {
	clock := &testClock{t: time.Date(2024, 1, 15, 10, 20, 0, 0, time.UTC)}
	s := newServer(t, amplitudetest.WithClock(clock.Now), amplitudetest.WithSecretKey("test-secret"))
	status, _ := post(t, s.Client(), s.HTTPAPIURL(), request(okEvent))
	require.Equal(t, 200, status)
	clock.Set(time.Date(2024, 1, 15, 11, 59, 0, 0, time.UTC))
	status, _ = post(t, s.Client(), s.HTTPAPIURL(), request(`{"event_type":"b","user_id":"user_bob","time":1705312900000,"insert_id":"ins-2"}`))
	require.Equal(t, 200, status)

	tests := []struct {
		name       string
		query      string
		user, pass string
		wantStatus int
		wantIDs    []string
	}{
		{"both hours", "start=20240115T10&end=20240115T11", key, "test-secret", 200, []string{"ins-1", "ins-2"}},
		{"end hour is inclusive", "start=20240115T11&end=20240115T11", key, "test-secret", 200, []string{"ins-2"}},
		{"start hour only", "start=20240115T00&end=20240115T10", key, "test-secret", 200, []string{"ins-1"}},
		{"no data in range", "start=20240116T00&end=20240116T05", key, "test-secret", 404, nil},
		{"no credentials", "start=20240115T10&end=20240115T11", "", "", 401, nil},
		{"wrong secret key", "start=20240115T10&end=20240115T11", key, "wrong", 401, nil},
		{"wrong api key", "start=20240115T10&end=20240115T11", "wrong", "test-secret", 401, nil},
		{"malformed start", "start=2024-01-15&end=20240115T11", key, "test-secret", 400, nil},
		{"missing end", "start=20240115T10", key, "test-secret", 400, nil},
		{"end before start", "start=20240115T11&end=20240115T10", key, "test-secret", 400, nil},
		{"range over a year", "start=20230101T00&end=20240115T11", key, "test-secret", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := exportGet(t, s, tt.query, tt.user, tt.pass)
			require.Equal(t, tt.wantStatus, status, "body: %.200s", body)
			assert.NotContains(t, string(body), "test-secret")
			if tt.wantStatus != 200 {
				return
			}
			var ids []string
			for _, e := range readExport(t, body) {
				ids = append(ids, e.InsertID)
			}
			assert.Equal(t, tt.wantIDs, ids)
		})
	}
}

func TestExportRowsKeepEventTime(t *testing.T) {
	s := newServer(t)
	status, _ := post(t, s.Client(), s.HTTPAPIURL(), request(okEvent))
	require.Equal(t, 200, status)
	hour := amplitudetest.DefaultUploadTime().Format(amplitudetest.ExportHourLayout)
	status, body := exportGet(t, s, "start="+hour+"&end="+hour, key, amplitudetest.DefaultSecretKey)
	require.Equal(t, 200, status)
	rows := readExport(t, body)
	require.Len(t, rows, 1)
	assert.Equal(t, int64(1705312800000), rows[0].Time)
	assert.Equal(t, "user_alice", *rows[0].UserID)
}

func TestExportLag(t *testing.T) {
	clock := &testClock{t: time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)}
	s := newServer(t, amplitudetest.WithClock(clock.Now), amplitudetest.WithExportLag(2*time.Hour))
	status, _ := post(t, s.Client(), s.HTTPAPIURL(), request(okEvent))
	require.Equal(t, 200, status)
	query := "start=20240115T10&end=20240115T10"

	status, _ = exportGet(t, s, query, key, amplitudetest.DefaultSecretKey)
	assert.Equal(t, 404, status, "not exportable before the lag")
	clock.Set(clock.Now().Add(2 * time.Hour))
	status, _ = exportGet(t, s, query, key, amplitudetest.DefaultSecretKey)
	assert.Equal(t, 200, status, "exportable after the lag")
	assert.Equal(t, 2, s.ExportRequests())
}
