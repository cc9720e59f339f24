package posthog_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/posthog"
	"amplitude-testgen/helpers/posthogtest"
)

// testKey is a made-up key; tests check that it never leaks into errors.
const testKey = "phx_fake_key_for_tests_0123456789"

var (
	rangeStart = time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC)
	rangeEnd   = time.Date(2024, 1, 16, 0, 0, 0, 0, time.UTC)
)

// recorded returns n events alternating $identify and login, one minute
// apart from 10:00, plus one event outside the range.
func recorded(n int) []posthog.Event {
	var out []posthog.Event
	for i := range n {
		name := "login"
		if i%2 == 0 {
			name = "$identify"
		}
		out = append(out, posthog.Event{
			UUID:       fmt.Sprintf("uuid-%02d", i),
			Event:      name,
			DistinctID: fmt.Sprintf("user_%d", i),
			Properties: map[string]any{"$anon_distinct_id": fmt.Sprintf("dev_%d", i), "historical_migration": true},
			Timestamp:  rangeStart.Add(10*time.Hour + time.Duration(i)*time.Minute + 123*time.Millisecond),
		})
	}
	out = append(out, posthog.Event{UUID: "uuid-outside", Event: "$identify", DistinctID: "late", Timestamp: rangeEnd.Add(time.Hour)})
	return out
}

type sleeps []time.Duration

func (s *sleeps) sleep(d time.Duration) { *s = append(*s, d) }

func fetch(t testing.TB, srv *posthogtest.Server, opts posthog.ClientOptions, names []string) ([]posthog.Event, error) {
	t.Helper()
	opts.Host = srv.URL
	opts.ProjectID = 7
	if opts.PersonalAPIKey == "" {
		opts.PersonalAPIKey = testKey
	}
	var got []posthog.Event
	err := posthog.FetchEvents(context.Background(), opts, rangeStart, rangeEnd, names, func(e posthog.Event) error {
		got = append(got, e)
		return nil
	})
	return got, err
}

func distinctIDs(events []posthog.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.DistinctID)
	}
	return out
}

func TestFetchEventsPagination(t *testing.T) {
	tests := []struct {
		name         string
		api          posthog.API
		clientPage   int
		serverPage   int
		names        []string
		wantIDs      []string
		wantRequests int
	}{
		{"query API, server caps the page", posthog.APIQuery, 0, 2, []string{"$identify"}, []string{"user_0", "user_2", "user_4"}, 2},
		{"query API, client page size", posthog.APIQuery, 2, 0, []string{"$identify"}, []string{"user_0", "user_2", "user_4"}, 2},
		{"query API, every event", posthog.APIQuery, 4, 0, nil, []string{"user_0", "user_1", "user_2", "user_3", "user_4", "user_5"}, 2},
		{"events API follows next", posthog.APIEvents, 2, 0, []string{"$identify"}, []string{"user_4", "user_2", "user_0"}, 2},
		{"events API, every event", posthog.APIEvents, 0, 4, nil, []string{"user_5", "user_4", "user_3", "user_2", "user_1", "user_0"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := posthogtest.NewServer(posthogtest.WithEvents(recorded(6)...), posthogtest.WithProjectID(7),
				posthogtest.WithPersonalAPIKey(testKey), posthogtest.WithPageSize(tt.serverPage))
			defer srv.Close()
			got, err := fetch(t, srv, posthog.ClientOptions{API: tt.api, PageSize: tt.clientPage}, tt.names)
			require.NoError(t, err)
			assert.Equal(t, tt.wantIDs, distinctIDs(got))
			reqs := srv.Requests()
			assert.Len(t, reqs, tt.wantRequests)
			for _, r := range reqs {
				assert.True(t, r.Authorized, "request %s %s without the Bearer key", r.Method, r.Path)
				assert.Equal(t, http.StatusOK, r.Status)
			}
			require.NotEmpty(t, got)
			assert.Equal(t, "dev_"+strings.TrimPrefix(got[0].DistinctID, "user_"), got[0].Properties["$anon_distinct_id"])
			assert.Equal(t, true, got[0].Properties["historical_migration"])
			assert.False(t, got[0].Timestamp.IsZero())
		})
	}
}

func TestFetchEventsFaults(t *testing.T) {
	tests := []struct {
		name         string
		serverOpts   []posthogtest.Option
		key          string
		maxRetries   int
		wantErr      []string // substrings; none means success
		wantAuth     bool
		wantSleeps   sleeps
		wantRequests int
	}{
		{
			name:         "wrong key is rejected at once",
			key:          "phx_wrong_key_also_secret",
			wantErr:      []string{"HTTP 401", "invalid or expired"},
			wantAuth:     true,
			wantRequests: 1,
		},
		{
			name:         "key without scope",
			serverOpts:   []posthogtest.Option{posthogtest.WithStatus(http.StatusForbidden)},
			wantErr:      []string{"HTTP 403", "query:read", "project 7"},
			wantAuth:     true,
			wantRequests: 1,
		},
		{
			name:         "429 twice then ok honours Retry-After",
			serverOpts:   []posthogtest.Option{posthogtest.WithTooManyRequests(2, "7")},
			wantSleeps:   sleeps{7 * time.Second, 7 * time.Second},
			wantRequests: 3,
		},
		{
			name:         "429 Retry-After is capped",
			serverOpts:   []posthogtest.Option{posthogtest.WithTooManyRequests(1, "86400")},
			wantSleeps:   sleeps{posthog.DefaultMaxRetryAfter},
			wantRequests: 2,
		},
		{
			name:         "429 without Retry-After backs off",
			serverOpts:   []posthogtest.Option{posthogtest.WithTooManyRequests(2, "")},
			wantSleeps:   sleeps{time.Second, 2 * time.Second},
			wantRequests: 3,
		},
		{
			name:         "5xx then ok",
			serverOpts:   []posthogtest.Option{posthogtest.WithServerErrors(2, http.StatusBadGateway)},
			wantSleeps:   sleeps{time.Second, 2 * time.Second},
			wantRequests: 3,
		},
		{
			name:         "5xx retries are bounded",
			serverOpts:   []posthogtest.Option{posthogtest.WithServerErrors(100, http.StatusServiceUnavailable)},
			maxRetries:   3,
			wantErr:      []string{"gave up after 4 attempts", "HTTP 503"},
			wantSleeps:   sleeps{time.Second, 2 * time.Second, 4 * time.Second},
			wantRequests: 4,
		},
		{
			name:         "no retries when negative",
			serverOpts:   []posthogtest.Option{posthogtest.WithServerErrors(1, http.StatusInternalServerError)},
			maxRetries:   -1,
			wantErr:      []string{"gave up after 1 attempts", "HTTP 500"},
			wantRequests: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]posthogtest.Option{posthogtest.WithEvents(recorded(2)...), posthogtest.WithProjectID(7),
				posthogtest.WithPersonalAPIKey(testKey)}, tt.serverOpts...)
			srv := posthogtest.NewServer(opts...)
			defer srv.Close()
			var slept sleeps
			got, err := fetch(t, srv, posthog.ClientOptions{PersonalAPIKey: tt.key, MaxRetries: tt.maxRetries, Sleep: slept.sleep}, []string{"$identify"})
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				assert.Equal(t, []string{"user_0"}, distinctIDs(got))
			} else {
				require.Error(t, err)
				for _, s := range tt.wantErr {
					assert.Contains(t, err.Error(), s)
				}
				assert.Equal(t, tt.wantAuth, errors.Is(err, posthog.ErrAuth))
				assert.NotContains(t, err.Error(), testKey)
				if tt.key != "" {
					assert.NotContains(t, err.Error(), tt.key)
				}
			}
			assert.Equal(t, tt.wantSleeps, slept)
			assert.Len(t, srv.Requests(), tt.wantRequests)
		})
	}
}

func TestFetchEventsRefusesNextOnAnotherHost(t *testing.T) {
	var gotAuth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		fmt.Fprint(w, `{"next": "http://other.example:8000/api/projects/7/events/?offset=1",
			"results": [{"id": "u", "event": "$identify", "distinct_id": "a", "timestamp": "2024-01-15T10:00:00Z"}]}`)
	}))
	defer srv.Close()
	opts := posthog.ClientOptions{Host: srv.URL, ProjectID: 7, PersonalAPIKey: testKey, API: posthog.APIEvents}
	err := posthog.FetchEvents(context.Background(), opts, rangeStart, rangeEnd, nil, func(posthog.Event) error { return nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), `host "other.example:8000"`)
	assert.NotContains(t, err.Error(), testKey)
	assert.Len(t, gotAuth, 1)
}

func TestFetchEventsOptionErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    posthog.ClientOptions
		start   time.Time
		wantErr string
	}{
		{"no host", posthog.ClientOptions{ProjectID: 1, PersonalAPIKey: testKey}, rangeStart, "PostHog host is empty"},
		{"host without scheme", posthog.ClientOptions{Host: "us.posthog.com", ProjectID: 1, PersonalAPIKey: testKey}, rangeStart, `PostHog host "us.posthog.com"`},
		{"no project", posthog.ClientOptions{Host: "http://127.0.0.1:1", PersonalAPIKey: testKey}, rangeStart, "PostHog project id 0"},
		{"no key", posthog.ClientOptions{Host: "http://127.0.0.1:1", ProjectID: 1}, rangeStart, "personal API key is empty"},
		{"unknown API", posthog.ClientOptions{Host: "http://127.0.0.1:1", ProjectID: 1, PersonalAPIKey: testKey, API: "persons"}, rangeStart, `unknown API "persons"`},
		{"start not before end", posthog.ClientOptions{Host: "http://127.0.0.1:1", ProjectID: 1, PersonalAPIKey: testKey}, rangeEnd, "is not before end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := posthog.FetchEvents(context.Background(), tt.opts, tt.start, rangeEnd, nil, func(posthog.Event) error { return nil })
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.NotContains(t, err.Error(), testKey)
		})
	}
}

func TestEventsQuery(t *testing.T) {
	got := posthog.EventsQuery(rangeStart.Add(1500*time.Millisecond), rangeEnd.Add(-500*time.Millisecond), []string{"$identify", "it's"}, 100, 200)
	want := "SELECT uuid, event, distinct_id, properties, timestamp FROM events" +
		" WHERE timestamp >= toDateTime('2024-01-15T00:00:01.000Z') AND timestamp < toDateTime('2024-01-16T00:00:00.000Z')" +
		` AND event IN ('$identify', 'it\'s') ORDER BY timestamp ASC, uuid ASC LIMIT 100 OFFSET 200`
	assert.Equal(t, want, got)
}
