package posthogtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/posthog"
	"amplitude-testgen/helpers/posthogtest"
)

const key = "phx_server_test_key"

func post(t testing.TB, url, auth, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out), "body %s", b)
	return resp.StatusCode, out
}

func TestServerQuery(t *testing.T) {
	ts := time.Date(2024, 1, 15, 10, 0, 0, 123e6, time.UTC)
	srv := posthogtest.NewServer(posthogtest.WithPersonalAPIKey(key), posthogtest.WithProjectID(3),
		posthogtest.WithEvents(
			posthog.Event{UUID: "b", Event: "$identify", DistinctID: "u", Properties: map[string]any{"$anon_distinct_id": "d"}, Timestamp: ts},
			posthog.Event{UUID: "a", Event: "login", DistinctID: "u", Timestamp: ts},
		))
	defer srv.Close()
	url := srv.URL + "/api/projects/3/query/"
	query := posthog.EventsQuery(ts.Add(-time.Hour), ts.Add(time.Hour), []string{"$identify"}, 10, 0)
	body, err := json.Marshal(map[string]any{"query": map[string]any{"kind": "HogQLQuery", "query": query}})
	require.NoError(t, err)

	tests := []struct {
		name       string
		url, auth  string
		body       string
		wantStatus int
		wantRows   int
	}{
		{"authorised query", url, "Bearer " + key, string(body), http.StatusOK, 1},
		{"no key", url, "", string(body), http.StatusUnauthorized, 0},
		{"wrong key", url, "Bearer nope", string(body), http.StatusUnauthorized, 0},
		{"other project", srv.URL + "/api/projects/4/query/", "Bearer " + key, string(body), http.StatusNotFound, 0},
		{"other query kind", url, "Bearer " + key, `{"query": {"kind": "TrendsQuery"}}`, http.StatusBadRequest, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := post(t, tt.url, tt.auth, tt.body)
			assert.Equal(t, tt.wantStatus, status)
			if tt.wantRows > 0 {
				rows, _ := out["results"].([]any)
				require.Len(t, rows, tt.wantRows)
				row := rows[0].([]any)
				assert.Equal(t, []any{"b", "$identify", "u", `{"$anon_distinct_id":"d"}`, "2024-01-15T10:00:00.123000Z"}, row)
				assert.Equal(t, false, out["hasMore"])
			}
		})
	}
	reqs := srv.Requests()
	require.Len(t, reqs, len(tests))
	assert.True(t, reqs[0].Authorized)
	assert.False(t, reqs[1].Authorized)
	assert.Equal(t, http.StatusUnauthorized, reqs[2].Status)
	for _, r := range reqs {
		assert.NotContains(t, r.Body+r.RawQuery, key, "the key travels only in the header")
	}
}
