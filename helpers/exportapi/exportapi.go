// Package exportapi downloads events from Amplitude's Export API (SPEC.md
// §4): GET /api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH with HTTP Basic
// auth (API key and secret key), answered with a zip of the events whose
// server upload time falls in those UTC hours, both inclusive.
//
// Amplitude answers 404 when the range holds no data, which is what a
// caller sees for about two hours after sending: exports lag ingestion.
// It answers 400 for a malformed or too large range (over 365 days, or an
// export over 4 GB), 401 or 403 for bad credentials, and 429 with
// Retry-After when rate limited. Fetch retries what may pass (429, 5xx,
// transport errors) a bounded number of times and turns the rest into an
// *Error that says what to do. Keys never appear in errors.
package exportapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"amplitude-testgen/helpers/atomicfile"
)

// Hosts of the Export API per cluster.
const (
	USBaseURL = "https://amplitude.com"
	EUBaseURL = "https://analytics.eu.amplitude.com"
)

// Path is the Export API endpoint under the base URL.
const Path = "/api/2/export"

// HourLayout is the layout of the start and end parameters: a UTC hour.
const HourLayout = "20060102T15"

// Defaults of Options.
const (
	DefaultMaxRetries    = 4
	DefaultBackoff       = time.Second
	DefaultMaxRetryAfter = 5 * time.Minute
)

// Options configure Fetch. Zero values take the defaults noted.
type Options struct {
	APIKey    string // Basic auth user; required, never in errors
	SecretKey string // Basic auth password; required, never in errors
	Cluster   string // "us" (default) or "eu"
	ServerURL string // base URL overriding Cluster, e.g. a fake's URL

	HTTPClient *http.Client // default: a client with no overall timeout (exports are large); ctx bounds it
	MaxRetries int          // retries after 429, 5xx and transport errors (default 4)
	// Sleep waits between attempts; tests record the waits instead. The
	// default waits on a timer and stops early when ctx ends.
	Sleep         func(time.Duration)
	Backoff       time.Duration // first retry delay, doubled each retry (default 1s)
	MaxRetryAfter time.Duration // cap on a server's Retry-After (default 5m)
}

// Sentinel errors, wrapped by *Error so callers can branch with errors.Is.
var (
	ErrNoData       = errors.New("no data in the export range")
	ErrInvalidRange = errors.New("export range rejected")
	ErrAuth         = errors.New("credentials rejected")
	ErrRateLimited  = errors.New("rate limited")
	ErrServer       = errors.New("server error")
)

// Error is an Export API answer that Fetch could not turn into a zip.
type Error struct {
	Status   int    // HTTP status of the last answer
	Attempts int    // requests made
	Message  string // what happened and what to do
	Body     string // start of the answer's body, keys redacted
	kind     error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("amplitude export: HTTP %d: %s", e.Status, e.Message)
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	if e.Body != "" {
		msg += fmt.Sprintf("; server said: %q", e.Body)
	}
	return msg
}

// Unwrap returns the sentinel for the kind of failure.
func (e *Error) Unwrap() error { return e.kind }

// maxBodyExcerpt bounds the part of an error answer kept in Error.Body.
const maxBodyExcerpt = 200

// Fetch downloads the export of the hours from start (truncated to its hour)
// through end's hour, both UTC, and writes the zip to w. It returns the bytes
// written. On an error after writing began, w holds a partial zip; FetchFile
// never leaves one.
func Fetch(ctx context.Context, start, end time.Time, w io.Writer, opts Options) (int64, error) {
	u, err := opts.exportURL(start, end)
	if err != nil {
		return 0, err
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	maxRetries := opts.MaxRetries
	if maxRetries == 0 {
		maxRetries = DefaultMaxRetries
	}
	backoff := opts.Backoff
	if backoff == 0 {
		backoff = DefaultBackoff
	}
	maxRetryAfter := opts.MaxRetryAfter
	if maxRetryAfter == 0 {
		maxRetryAfter = DefaultMaxRetryAfter
	}

	for attempt := 1; ; attempt++ {
		resp, err := opts.get(ctx, client, u)
		retryable, wait := true, backoff<<(attempt-1)
		var failure error
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return 0, fmt.Errorf("amplitude export: %w", ctx.Err())
			}
			failure = fmt.Errorf("amplitude export: request failed after %d attempts: %w", attempt, opts.redactErr(err))
		case resp.StatusCode == http.StatusOK:
			n, err := io.Copy(w, resp.Body)
			resp.Body.Close()
			if err != nil {
				return n, fmt.Errorf("amplitude export: download interrupted after %d bytes: %w", n, opts.redactErr(err))
			}
			return n, nil
		default:
			e := opts.answerError(resp, attempt)
			resp.Body.Close()
			failure = e
			switch {
			case resp.StatusCode == http.StatusTooManyRequests:
				if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
					wait = min(d, maxRetryAfter)
				}
			case resp.StatusCode >= 500:
			default:
				retryable = false
			}
		}
		if !retryable || attempt > maxRetries {
			return 0, failure
		}
		if err := opts.sleep(ctx, wait); err != nil {
			return 0, fmt.Errorf("amplitude export: waiting to retry: %w", err)
		}
	}
}

// FetchFile downloads the export into path atomically (see atomicfile):
// the file appears only when the download is complete, and on failure no
// file is left at path or beside it.
func FetchFile(ctx context.Context, start, end time.Time, path string, opts Options) (int64, error) {
	var n int64
	err := atomicfile.Write(path, func(w io.Writer) error {
		var err error
		n, err = Fetch(ctx, start, end, w, opts)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Range returns the start and end parameters for the hours from start
// through end, both UTC: start truncated down to its hour, end's hour
// included.
func Range(start, end time.Time) (string, string) {
	return start.UTC().Truncate(time.Hour).Format(HourLayout), end.UTC().Truncate(time.Hour).Format(HourLayout)
}

func (o Options) exportURL(start, end time.Time) (string, error) {
	if o.APIKey == "" {
		return "", errors.New("amplitude export: AMPLITUDE_API_KEY is not set: the Export API needs the project's API key")
	}
	if o.SecretKey == "" {
		return "", errors.New("amplitude export: AMPLITUDE_SECRET_KEY is not set: the Export API needs the project's secret key")
	}
	base := o.ServerURL
	if base == "" {
		switch strings.ToLower(o.Cluster) {
		case "", "us":
			base = USBaseURL
		case "eu":
			base = EUBaseURL
		default:
			return "", fmt.Errorf("amplitude export: unknown cluster %q: want \"us\" or \"eu\"", o.Cluster)
		}
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("amplitude export: server URL %q: want an http(s) base URL such as %s", base, USBaseURL)
	}
	if end.Before(start.Truncate(time.Hour)) {
		return "", fmt.Errorf("amplitude export: end %s is before start %s", end.UTC().Format(time.RFC3339), start.UTC().Format(time.RFC3339))
	}
	s, e := Range(start, end)
	u.Path = strings.TrimRight(u.Path, "/") + Path
	u.RawQuery = url.Values{"start": {s}, "end": {e}}.Encode()
	return u.String(), nil
}

func (o Options) get(ctx context.Context, client *http.Client, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(o.APIKey, o.SecretKey)
	return client.Do(req)
}

// answerError describes a non-200 answer.
func (o Options) answerError(resp *http.Response, attempts int) *Error {
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodyExcerpt))
	e := &Error{
		Status:   resp.StatusCode,
		Attempts: attempts,
		Body:     o.redact(strings.TrimSpace(string(excerpt))),
	}
	switch s := resp.StatusCode; {
	case s == http.StatusNotFound:
		e.kind = ErrNoData
		e.Message = "no data in the export range: Amplitude exports lag about two hours behind ingestion; try again later"
	case s == http.StatusBadRequest:
		e.kind = ErrInvalidRange
		e.Message = "the export range is invalid or too large (at most 365 days, and an export under 4 GB); shorten the range"
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		e.kind = ErrAuth
		e.Message = "Amplitude rejected the API key or secret key: check AMPLITUDE_API_KEY, AMPLITUDE_SECRET_KEY and the cluster (us or eu)"
	case s == http.StatusTooManyRequests:
		e.kind = ErrRateLimited
		e.Message = "rate limited by Amplitude; wait and try again"
	case s >= 500:
		e.kind = ErrServer
		e.Message = fmt.Sprintf("Amplitude server error %d %s; try again later or shorten the range", s, http.StatusText(s))
	default:
		e.kind = ErrServer
		e.Message = fmt.Sprintf("unexpected answer %d %s", s, http.StatusText(s))
	}
	return e
}

// retryAfter parses a Retry-After in seconds, the form Amplitude sends. An
// HTTP date would need the wall clock; Fetch falls back to its backoff then.
func retryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	return 0, false
}

func (o Options) sleep(ctx context.Context, d time.Duration) error {
	if o.Sleep != nil {
		o.Sleep(d)
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// redact removes both keys from s; a transport error can quote the request.
func (o Options) redact(s string) string {
	for _, k := range []string{o.APIKey, o.SecretKey} {
		if k != "" {
			s = strings.ReplaceAll(s, k, "[redacted]")
		}
	}
	return s
}

func (o Options) redactErr(err error) error {
	msg := err.Error()
	if r := o.redact(msg); r != msg {
		return errors.New(r)
	}
	return err
}
