// Package posthogtest runs a fake PostHog app server for tests, in the style
// of net/http/httptest: a real HTTP server on 127.0.0.1 answering the two
// endpoints posthog.FetchEvents reads, from recorded events.
//
//   - POST /api/projects/:id/query/ with a HogQLQuery of the form
//     posthog.EventsQuery writes: it understands the selected columns, the
//     timestamp bounds, "event IN (...)", ORDER BY timestamp and
//     LIMIT/OFFSET, and answers {"results": rows, "columns", "types",
//     "hasMore"} with properties as a JSON string, as PostHog does.
//   - GET /api/projects/:id/events/ with after, before, event, limit and
//     offset, answering {"next", "results"} newest first.
//
// Every request must carry "Authorization: Bearer <key>". Faults can be
// injected: 429 with Retry-After, 5xx, 401 or 403, for the first N requests.
package posthogtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"amplitude-testgen/helpers/posthog"
)

// Server is a running fake PostHog.
type Server struct {
	// URL is the base URL (http://127.0.0.1:port), for ClientOptions.Host.
	URL string

	srv *httptest.Server
	cfg config

	mu       sync.Mutex
	requests []Request
}

// Request is what the server saw of one request. The key itself is never
// kept, only whether it matched.
type Request struct {
	Method     string
	Path       string
	RawQuery   string
	Body       string
	Authorized bool
	Status     int
}

type config struct {
	events       []posthog.Event
	projectID    int
	key          string
	pageSize     int
	tooMany      int
	retryAfter   string
	serverErrors int
	errorStatus  int
	forceStatus  int
}

// Option configures a Server.
type Option func(*config)

// WithEvents sets the recorded events the server answers from.
func WithEvents(events ...posthog.Event) Option {
	return func(c *config) { c.events = append(c.events, events...) }
}

// WithProjectID sets the project the server serves (default 1).
func WithProjectID(id int) Option { return func(c *config) { c.projectID = id } }

// WithPersonalAPIKey sets the key the server accepts (default
// "phx_posthogtest").
func WithPersonalAPIKey(key string) Option { return func(c *config) { c.key = key } }

// WithPageSize caps the rows of one answer below what the client asks, to
// force pagination.
func WithPageSize(n int) Option { return func(c *config) { c.pageSize = n } }

// WithTooManyRequests answers the first n requests with 429 and the given
// Retry-After header value ("" sends none).
func WithTooManyRequests(n int, retryAfter string) Option {
	return func(c *config) { c.tooMany, c.retryAfter = n, retryAfter }
}

// WithServerErrors answers the n requests after any 429s with status (a
// 5xx).
func WithServerErrors(n, status int) Option {
	return func(c *config) { c.serverErrors, c.errorStatus = n, status }
}

// WithStatus answers every authorised request with status (401 for an
// expired key, 403 for a key without the query:read scope).
func WithStatus(status int) Option { return func(c *config) { c.forceStatus = status } }

// NewServer starts a fake PostHog. Close it when done.
func NewServer(opts ...Option) *Server {
	cfg := config{projectID: 1, key: "phx_posthogtest"}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{cfg: cfg}
	// httptest listens on 127.0.0.1 only.
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Requests returns every request seen so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := Request{
		Method:     r.Method,
		Path:       r.URL.Path,
		RawQuery:   r.URL.RawQuery,
		Body:       string(body),
		Authorized: r.Header.Get("Authorization") == "Bearer "+s.cfg.key,
	}
	s.mu.Lock()
	n := len(s.requests) // requests before this one
	s.requests = append(s.requests, rec)
	idx := len(s.requests) - 1
	s.mu.Unlock()

	status, payload, header := s.answer(r, body, rec.Authorized, n)

	s.mu.Lock()
	s.requests[idx].Status = status
	s.mu.Unlock()

	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(payload)
}

func errorBody(typ, code, detail string) map[string]any {
	return map[string]any{"type": typ, "code": code, "detail": detail, "attr": nil}
}

func (s *Server) answer(r *http.Request, body []byte, authorized bool, n int) (int, any, map[string]string) {
	if !authorized {
		return http.StatusUnauthorized, errorBody("authentication_error", "authentication_failed", "Personal API key found in request Authorization header is invalid."), nil
	}
	switch {
	case s.cfg.forceStatus != 0:
		return s.cfg.forceStatus, errorBody("authentication_error", "permission_denied", "API key missing required scope 'query:read'"), nil
	case n < s.cfg.tooMany:
		h := map[string]string{}
		if s.cfg.retryAfter != "" {
			h["Retry-After"] = s.cfg.retryAfter
		}
		return http.StatusTooManyRequests, errorBody("throttled_error", "throttled", "Request was throttled."), h
	case n < s.cfg.tooMany+s.cfg.serverErrors:
		return s.cfg.errorStatus, errorBody("server_error", "error", "A server error occurred."), nil
	}
	prefix := fmt.Sprintf("/api/projects/%d/", s.cfg.projectID)
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		return http.StatusNotFound, map[string]any{"detail": "Not found."}, nil
	}
	switch strings.TrimSuffix(rest, "/") {
	case "query":
		if r.Method != http.MethodPost {
			return http.StatusMethodNotAllowed, map[string]any{"detail": "Method not allowed."}, nil
		}
		return s.query(body)
	case "events":
		if r.Method != http.MethodGet {
			return http.StatusMethodNotAllowed, map[string]any{"detail": "Method not allowed."}, nil
		}
		return s.eventsList(r.URL)
	}
	return http.StatusNotFound, map[string]any{"detail": "Not found."}, nil
}

var (
	reSelect = regexp.MustCompile(`(?is)^\s*SELECT\s+(.+?)\s+FROM\s+events\b`)
	reLower  = regexp.MustCompile(`(?i)timestamp\s*>=\s*toDateTime\('([^']*)'\)`)
	reUpper  = regexp.MustCompile(`(?i)timestamp\s*(<=?)\s*toDateTime\('([^']*)'\)`)
	reIn     = regexp.MustCompile(`(?i)\bevent\s+IN\s+\(((?:'(?:[^'\\]|\\.)*'\s*,?\s*)*)\)`)
	reStr    = regexp.MustCompile(`'((?:[^'\\]|\\.)*)'`)
	reLimit  = regexp.MustCompile(`(?i)\bLIMIT\s+(\d+)(?:\s+OFFSET\s+(\d+))?`)
)

func badQuery(detail string) (int, any, map[string]string) {
	return http.StatusBadRequest, errorBody("validation_error", "query_error", detail), nil
}

func (s *Server) query(body []byte) (int, any, map[string]string) {
	var req struct {
		Query struct {
			Kind  string `json:"kind"`
			Query string `json:"query"`
		} `json:"query"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return badQuery("body is not JSON: " + err.Error())
	}
	if req.Query.Kind != "HogQLQuery" {
		return badQuery(fmt.Sprintf("query kind %q is not served by posthogtest (want HogQLQuery)", req.Query.Kind))
	}
	q := req.Query.Query
	m := reSelect.FindStringSubmatch(q)
	if m == nil {
		return badQuery("posthogtest understands only SELECT ... FROM events")
	}
	var cols []string
	for _, c := range strings.Split(m[1], ",") {
		c = strings.TrimSpace(c)
		switch c {
		case "uuid", "event", "distinct_id", "properties", "timestamp":
		default:
			return badQuery(fmt.Sprintf("column %q is not served by posthogtest", c))
		}
		cols = append(cols, c)
	}
	f := filter{}
	if m := reLower.FindStringSubmatch(q); m != nil {
		t, err := posthog.ParseTimestamp(m[1])
		if err != nil {
			return badQuery(err.Error())
		}
		f.after, f.afterIncl = t, true
	}
	if m := reUpper.FindStringSubmatch(q); m != nil {
		t, err := posthog.ParseTimestamp(m[2])
		if err != nil {
			return badQuery(err.Error())
		}
		f.before, f.beforeIncl = t, m[1] == "<="
	}
	if m := reIn.FindStringSubmatch(q); m != nil {
		f.names = map[string]bool{}
		for _, sm := range reStr.FindAllStringSubmatch(m[1], -1) {
			f.names[strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(sm[1])] = true
		}
	}
	limit, offset := 100, 0 // PostHog's default LIMIT is 100
	if m := reLimit.FindStringSubmatch(q); m != nil {
		limit, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			offset, _ = strconv.Atoi(m[2])
		}
	}
	matched := s.match(f)
	sort.SliceStable(matched, func(i, j int) bool {
		a, b := matched[i], matched[j]
		if !a.Timestamp.Equal(b.Timestamp) {
			return a.Timestamp.Before(b.Timestamp)
		}
		return a.UUID < b.UUID
	})
	pageRows := limit
	if s.cfg.pageSize > 0 && s.cfg.pageSize < pageRows {
		pageRows = s.cfg.pageSize
	}
	page, more := window(matched, offset, pageRows)
	rows := make([][]any, 0, len(page))
	for _, ev := range page {
		row := make([]any, len(cols))
		for i, c := range cols {
			switch c {
			case "uuid":
				row[i] = ev.UUID
			case "event":
				row[i] = ev.Event
			case "distinct_id":
				row[i] = ev.DistinctID
			case "properties":
				b, _ := json.Marshal(ev.Properties)
				row[i] = string(b) // HogQL returns the JSON column as a string
			case "timestamp":
				row[i] = ev.Timestamp.UTC().Format("2006-01-02T15:04:05.000000Z")
			}
		}
		rows = append(rows, row)
	}
	types := make([][]string, len(cols))
	for i, c := range cols {
		types[i] = []string{c, "String"}
	}
	return http.StatusOK, map[string]any{
		"columns": cols,
		"types":   types,
		"results": rows,
		"hasMore": more,
		"limit":   pageRows,
		"offset":  offset,
	}, nil
}

type filter struct {
	after, before         time.Time
	afterIncl, beforeIncl bool
	names                 map[string]bool
}

func (s *Server) match(f filter) []posthog.Event {
	var out []posthog.Event
	for _, ev := range s.cfg.events {
		t := ev.Timestamp
		if !f.after.IsZero() && (t.Before(f.after) || (!f.afterIncl && t.Equal(f.after))) {
			continue
		}
		if !f.before.IsZero() && (t.After(f.before) || (!f.beforeIncl && t.Equal(f.before))) {
			continue
		}
		if f.names != nil && !f.names[ev.Event] {
			continue
		}
		out = append(out, ev)
	}
	return out
}

// window returns events[offset:offset+n] and whether more follow.
func window(events []posthog.Event, offset, n int) ([]posthog.Event, bool) {
	if offset >= len(events) {
		return nil, false
	}
	end := min(offset+n, len(events))
	return events[offset:end], end < len(events)
}

// eventsList serves the deprecated Events API: after and before are
// exclusive, newest first, "next" carries the offset.
func (s *Server) eventsList(u *url.URL) (int, any, map[string]string) {
	q := u.Query()
	f := filter{}
	if v := q.Get("after"); v != "" {
		t, err := posthog.ParseTimestamp(v)
		if err != nil {
			return badQuery(err.Error())
		}
		f.after = t
	}
	if v := q.Get("before"); v != "" {
		t, err := posthog.ParseTimestamp(v)
		if err != nil {
			return badQuery(err.Error())
		}
		f.before = t
	}
	if v := q.Get("event"); v != "" {
		f.names = map[string]bool{v: true}
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	if s.cfg.pageSize > 0 && s.cfg.pageSize < limit {
		limit = s.cfg.pageSize
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	matched := s.match(f)
	sort.SliceStable(matched, func(i, j int) bool {
		a, b := matched[i], matched[j]
		if !a.Timestamp.Equal(b.Timestamp) {
			return a.Timestamp.After(b.Timestamp)
		}
		return a.UUID > b.UUID
	})
	page, more := window(matched, offset, limit)
	results := make([]map[string]any, 0, len(page))
	for _, ev := range page {
		props := ev.Properties
		if props == nil {
			props = map[string]any{}
		}
		results = append(results, map[string]any{
			"id":             ev.UUID,
			"distinct_id":    ev.DistinctID,
			"properties":     props,
			"event":          ev.Event,
			"timestamp":      ev.Timestamp.UTC().Format("2006-01-02T15:04:05.000000-07:00"),
			"person":         nil,
			"elements":       []any{},
			"elements_chain": "",
		})
	}
	var next any
	if more {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("offset", strconv.Itoa(offset+len(page)))
		next = s.URL + u.Path + "?" + nq.Encode()
	}
	return http.StatusOK, map[string]any{"next": next, "results": results}, nil
}
