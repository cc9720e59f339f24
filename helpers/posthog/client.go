package posthog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// API names the PostHog endpoint FetchEvents reads.
type API string

const (
	// APIQuery is POST /api/projects/:id/query/ with a HogQLQuery, PostHog's
	// recommended way to read events; pages by LIMIT/OFFSET.
	APIQuery API = "query"
	// APIEvents is GET /api/projects/:id/events/, deprecated by PostHog but
	// still served; pages by following the "next" URL.
	APIEvents API = "events"
)

// Defaults for ClientOptions.
const (
	DefaultPageSize      = 1000
	DefaultMaxRetries    = 5
	DefaultMaxRetryAfter = 60 * time.Second
	maxBackoff           = 30 * time.Second
)

// ClientOptions configure FetchEvents.
type ClientOptions struct {
	// Host is the app host: https://us.posthog.com, https://eu.posthog.com,
	// or a self-hosted URL (not the i.posthog.com ingestion host).
	Host      string
	ProjectID int
	// PersonalAPIKey needs the query:read scope. It is sent as a Bearer
	// token and never appears in an error.
	PersonalAPIKey string
	API            API // APIQuery when empty
	HTTPClient     *http.Client
	PageSize       int // rows a request; DefaultPageSize when 0
	// MaxRetries bounds the retries of one request after a 429, a 5xx or a
	// network error; DefaultMaxRetries when 0, no retry when negative.
	MaxRetries int
	// MaxRetryAfter caps how long a 429's Retry-After is honoured;
	// DefaultMaxRetryAfter when 0.
	MaxRetryAfter time.Duration
	// Sleep waits between retries; a context-aware wait when nil. Tests
	// inject one that records the waits.
	Sleep func(time.Duration)
}

// ErrAuth is wrapped by the error for a rejected key (HTTP 401) or a key
// without access (HTTP 403).
var ErrAuth = errors.New("PostHog refused the personal API key")

// StatusError is a PostHog answer FetchEvents gave up on.
type StatusError struct {
	Status int
	Detail string // PostHog's "detail", with the key removed
}

func (e *StatusError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Detail)
}

// FetchEvents reads the project's events with start <= timestamp <= end,
// only those named in eventNames (all when it is empty), and calls fn for
// each, in timestamp order for the query API. Pagination is followed to the
// end. 401 and 403 fail at once with ErrAuth; 429 waits for Retry-After
// (capped at MaxRetryAfter) and 5xx backs off exponentially, both at most
// MaxRetries times.
func FetchEvents(ctx context.Context, opts ClientOptions, start, end time.Time, eventNames []string, fn func(Event) error) error {
	c, err := newClient(opts)
	if err != nil {
		return err
	}
	if !start.Before(end) {
		return fmt.Errorf("fetch PostHog events: start %s is not before end %s", start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	}
	switch c.opts.API {
	case APIQuery:
		return c.fetchQuery(ctx, start, end, eventNames, fn)
	case APIEvents:
		return c.fetchEventsAPI(ctx, start, end, eventNames, fn)
	default:
		return fmt.Errorf("fetch PostHog events: unknown API %q (want %q or %q)", c.opts.API, APIQuery, APIEvents)
	}
}

type client struct {
	opts ClientOptions
	base *url.URL
}

func newClient(opts ClientOptions) (*client, error) {
	if opts.Host == "" {
		return nil, errors.New("PostHog host is empty: want https://us.posthog.com, https://eu.posthog.com or your instance's URL")
	}
	base, err := url.Parse(strings.TrimRight(opts.Host, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("PostHog host %q: want a URL such as https://us.posthog.com", opts.Host)
	}
	if opts.ProjectID <= 0 {
		return nil, fmt.Errorf("PostHog project id %d: want the positive number from the project settings", opts.ProjectID)
	}
	if opts.PersonalAPIKey == "" {
		return nil, errors.New("PostHog personal API key is empty: create one with the query:read scope")
	}
	if opts.API == "" {
		opts.API = APIQuery
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 2 * time.Minute}
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = DefaultMaxRetries
	}
	if opts.MaxRetries < 0 {
		opts.MaxRetries = 0
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = DefaultMaxRetryAfter
	}
	return &client{opts: opts, base: base}, nil
}

// hogQLTime writes a time for toDateTime in a HogQL query.
func hogQLTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// quoteHogQL quotes s as a HogQL string literal.
func quoteHogQL(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(s) + "'"
}

// EventsQuery is the HogQL FetchEvents sends for one page. The bounds are
// widened to whole seconds (start floored, end exclusive at the next second)
// so that no precision loss in toDateTime can drop an event at a bound.
func EventsQuery(start, end time.Time, eventNames []string, limit, offset int) string {
	lo := start.UTC().Truncate(time.Second)
	hi := end.UTC().Truncate(time.Second).Add(time.Second)
	var b strings.Builder
	b.WriteString("SELECT uuid, event, distinct_id, properties, timestamp FROM events")
	fmt.Fprintf(&b, " WHERE timestamp >= toDateTime(%s) AND timestamp < toDateTime(%s)", quoteHogQL(hogQLTime(lo)), quoteHogQL(hogQLTime(hi)))
	if len(eventNames) > 0 {
		q := make([]string, len(eventNames))
		for i, n := range eventNames {
			q[i] = quoteHogQL(n)
		}
		fmt.Fprintf(&b, " AND event IN (%s)", strings.Join(q, ", "))
	}
	fmt.Fprintf(&b, " ORDER BY timestamp ASC, uuid ASC LIMIT %d OFFSET %d", limit, offset)
	return b.String()
}

type queryResponse struct {
	Results []json.RawMessage `json:"results"`
	Columns []string          `json:"columns"`
	HasMore bool              `json:"hasMore"`
}

func (c *client) fetchQuery(ctx context.Context, start, end time.Time, eventNames []string, fn func(Event) error) error {
	u := c.base.JoinPath("api", "projects", strconv.Itoa(c.opts.ProjectID), "query").String() + "/"
	offset := 0
	for page := 1; ; page++ {
		body, err := json.Marshal(map[string]any{
			"query": map[string]any{
				"kind":  "HogQLQuery",
				"query": EventsQuery(start, end, eventNames, c.opts.PageSize, offset),
			},
		})
		if err != nil {
			return err
		}
		raw, err := c.do(ctx, http.MethodPost, u, body)
		if err != nil {
			return fmt.Errorf("fetch PostHog events (query API, page %d): %w", page, err)
		}
		var resp queryResponse
		if err := json.Unmarshal(raw, &resp); err != nil {
			return fmt.Errorf("fetch PostHog events (query API, page %d): response is not a query result: %w", page, err)
		}
		for i, row := range resp.Results {
			ev, err := decodeRow(row, resp.Columns)
			if err != nil {
				return fmt.Errorf("fetch PostHog events (query API, page %d, row %d): %w", page, i+1, err)
			}
			if err := fn(ev); err != nil {
				return err
			}
		}
		offset += len(resp.Results)
		// A short page ends the scan; hasMore covers a server that caps
		// the page below the LIMIT asked.
		if len(resp.Results) == 0 || (len(resp.Results) < c.opts.PageSize && !resp.HasMore) {
			return nil
		}
	}
}

type eventsResponse struct {
	Next    *string           `json:"next"`
	Results []json.RawMessage `json:"results"`
}

func (c *client) fetchEventsAPI(ctx context.Context, start, end time.Time, eventNames []string, fn func(Event) error) error {
	names := eventNames
	if len(names) == 0 {
		names = []string{""} // one unfiltered scan
	}
	for _, name := range names {
		q := url.Values{}
		q.Set("after", start.UTC().Add(-time.Millisecond).Format(time.RFC3339Nano))
		q.Set("before", end.UTC().Add(time.Millisecond).Format(time.RFC3339Nano))
		q.Set("limit", strconv.Itoa(c.opts.PageSize))
		if name != "" {
			q.Set("event", name)
		}
		next := c.base.JoinPath("api", "projects", strconv.Itoa(c.opts.ProjectID), "events").String() + "/?" + q.Encode()
		for page := 1; next != ""; page++ {
			raw, err := c.do(ctx, http.MethodGet, next, nil)
			if err != nil {
				return fmt.Errorf("fetch PostHog events (events API, page %d): %w", page, err)
			}
			var resp eventsResponse
			if err := json.Unmarshal(raw, &resp); err != nil {
				return fmt.Errorf("fetch PostHog events (events API, page %d): response is not an events list: %w", page, err)
			}
			for i, obj := range resp.Results {
				ev, _, err := decodeEvent(obj)
				if err != nil {
					return fmt.Errorf("fetch PostHog events (events API, page %d, result %d): %w", page, i+1, err)
				}
				if ev.Timestamp.Before(start) || ev.Timestamp.After(end) {
					continue // after/before are exclusive and widened by 1 ms
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			next = ""
			if resp.Next != nil && *resp.Next != "" && len(resp.Results) > 0 {
				n, err := c.sameHost(*resp.Next)
				if err != nil {
					return fmt.Errorf("fetch PostHog events (events API, page %d): %w", page, err)
				}
				next = n
			}
		}
	}
	return nil
}

// sameHost resolves a "next" link and refuses one on another host: the key
// goes with every request and must not go anywhere but Host.
func (c *client) sameHost(link string) (string, error) {
	u, err := c.base.Parse(link)
	if err != nil {
		return "", fmt.Errorf("next page link %q: %w", link, err)
	}
	if u.Host != c.base.Host {
		return "", fmt.Errorf("next page link points at host %q, not %q; not sending the key there", u.Host, c.base.Host)
	}
	// A proxy in front of PostHog may rewrite the scheme; keep ours.
	u.Scheme = c.base.Scheme
	return u.String(), nil
}

// do sends one request with retries and returns the 200 body.
func (c *client) do(ctx context.Context, method, u string, body []byte) ([]byte, error) {
	var lastErr error
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		status, respBody, header, err := c.once(ctx, method, u, body)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			lastErr = err
			wait = backoff(attempt)
		case status == http.StatusOK:
			return respBody, nil
		case status == http.StatusUnauthorized:
			return nil, fmt.Errorf("%w: HTTP 401, the key is invalid or expired; check the personal API key and that it belongs to the host %s%s", ErrAuth, c.base.Host, c.detail(respBody))
		case status == http.StatusForbidden:
			return nil, fmt.Errorf("%w: HTTP 403, the key lacks access to project %d or the query:read scope%s", ErrAuth, c.opts.ProjectID, c.detail(respBody))
		case status == http.StatusTooManyRequests:
			lastErr = &StatusError{Status: status, Detail: c.cleanDetail(respBody)}
			wait = retryAfter(header.Get("Retry-After"), attempt, c.opts.MaxRetryAfter)
		case status >= 500:
			lastErr = &StatusError{Status: status, Detail: c.cleanDetail(respBody)}
			wait = backoff(attempt)
		default:
			return nil, &StatusError{Status: status, Detail: c.cleanDetail(respBody)}
		}
		if attempt >= c.opts.MaxRetries {
			return nil, fmt.Errorf("gave up after %d attempts: %w", attempt+1, lastErr)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (c *client) once(ctx context.Context, method, u string, body []byte) (int, []byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.opts.PersonalAPIKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		// url.Error names the URL, which holds no key: the key travels
		// only in the header.
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read response: %w", err)
	}
	return resp.StatusCode, b, resp.Header, nil
}

func (c *client) sleep(ctx context.Context, d time.Duration) error {
	if c.opts.Sleep != nil {
		c.opts.Sleep(d)
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// detail is ": <PostHog's detail>" for messages, or "".
func (c *client) detail(body []byte) string {
	if d := c.cleanDetail(body); d != "" {
		return ": " + d
	}
	return ""
}

// cleanDetail extracts PostHog's error "detail" (or a short body), with the
// key cut out in case the server echoes it.
func (c *client) cleanDetail(body []byte) string {
	var e struct {
		Detail string `json:"detail"`
	}
	d := ""
	if json.Unmarshal(body, &e) == nil && e.Detail != "" {
		d = e.Detail
	} else {
		d = strings.TrimSpace(string(body))
		if len(d) > 200 {
			d = d[:200] + "..."
		}
	}
	if c.opts.PersonalAPIKey != "" {
		d = strings.ReplaceAll(d, c.opts.PersonalAPIKey, "[personal API key]")
	}
	return d
}

// backoff is 1s, 2s, 4s, ... capped at maxBackoff.
func backoff(attempt int) time.Duration {
	d := time.Second << min(attempt, 10)
	return min(d, maxBackoff)
}

// retryAfter reads Retry-After in seconds or as an HTTP date (against no
// clock: a date falls back to the backoff), capped at max.
func retryAfter(v string, attempt int, max time.Duration) time.Duration {
	d := backoff(attempt)
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs >= 0 {
		d = time.Duration(secs) * time.Second
	}
	return min(d, max)
}
