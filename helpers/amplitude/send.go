// Package amplitude sends events to Amplitude with its official Go SDK,
// github.com/amplitude/analytics-go v1.0.2, and says what became of every
// event (SPEC.md §4, "Amplitude ingestion").
//
// The SDK is fire-and-forget: Track queues, Flush and Shutdown return before
// the answers are in, and results arrive later through ExecuteCallback, one
// per event, on goroutines of their own. Send therefore keeps its own ledger:
// an event is done only when a callback says Amplitude accepted or refused
// it, matched by insert_id. What the SDK gives up on without an answer from
// Amplitude (a dropped connection, server errors past its retry limit) is
// tracked again, with the same insert_id so Amplitude drops any copy it
// already has. Whatever has no answer when the time is up is reported as
// undelivered, never as sent.
//
// Facts about the SDK that shape this code:
//   - Code in a callback is the "code" of Amplitude's JSON answer, not the
//     HTTP status; a transport error has Code 0.
//   - It retries 5xx and timeouts itself (FlushMaxRetries, exponential from
//     RetryBaseInterval), waits RetryThrottledInterval after a 429, drops the
//     events a 400 lists by index and resends the rest at once. A dropped
//     connection is not retried: the events get a callback with Code 0.
//   - Events due for a retry are sent only on the next FlushInterval tick.
//   - Its queue is a channel of MaxStorageCapacity; a full queue drops events
//     without a word, so the capacity is sized to hold every event.
//   - Shutdown does not wait for events waiting on a retry; they are lost.
//   - Its debug log prints the request body, API key included, so the SDK
//     gets a logger that redacts the key.
//   - It sets Time to now and InsertID to a random UUID when they are zero,
//     so both come from the dataset; user_properties must be operations
//     ($set, ...), so plain properties go under $set, which Amplitude
//     treats alike.
//   - An empty user_id or device_id is left out of the request (omitempty).
package amplitude

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/amplitude/analytics-go/amplitude"
	"github.com/amplitude/analytics-go/amplitude/storages"
	"github.com/amplitude/analytics-go/amplitude/types"

	"amplitude-testgen/helpers/event"
)

// Options configure Send. Zero values take the defaults noted.
type Options struct {
	APIKey    string // the project's API key; required, never logged
	Cluster   string // "us" (default) or "eu"
	ServerURL string // full endpoint URL, overriding Cluster (a fake's HTTPAPIURL, say)
	UseBatch  bool   // use the Batch API (/batch) instead of HTTP V2 when ServerURL is empty

	// Timeout bounds the whole send (default 2 minutes). Send may overrun it
	// by one ConnectionTimeout while a request in flight finishes.
	Timeout time.Duration
	// Progress, if set, is called from Send's goroutine each time an event
	// gets its final answer: acked events so far (accepted or rejected).
	Progress func(acked, total int)

	MinIDLength int // min_id_length sent with each request; 0 leaves Amplitude's default (5)

	// SDK tuning.
	FlushQueueSize         int           // events per request (default 200)
	FlushInterval          time.Duration // how often queued and retried events are sent (default 1s)
	RetryBaseInterval      time.Duration // first retry delay after a 5xx or timeout (SDK default 100ms)
	RetryThrottledInterval time.Duration // wait after a 429 (SDK default 30s)
	MaxRetries             int           // SDK retries after a 5xx or timeout (SDK default 12)
	ConnectionTimeout      time.Duration // per request (default the smaller of 10s and Timeout/2)
	// MaxResends is how often Send tracks an event again after the SDK gave
	// up on it without an answer from Amplitude (default 3).
	MaxResends int

	// Log receives the SDK's warnings and errors, with the API key replaced
	// by [redacted]; nil discards them. Verbose adds its debug and info lines.
	Log     io.Writer
	Verbose bool
}

// DefaultTimeout bounds a Send without Options.Timeout.
const DefaultTimeout = 2 * time.Minute

// callbackGrace is how long Send waits after Shutdown for answers to a
// request that was still in flight.
const callbackGrace = 100 * time.Millisecond

// Errors Send returns.
var (
	// ErrNoAPIKey: Options.APIKey is empty.
	ErrNoAPIKey = errors.New("AMPLITUDE_API_KEY is not set: Send needs the project's API key")
	// ErrAPIKeyRejected: Amplitude answered "Invalid API key". The summary
	// lists the events it refused.
	ErrAPIKeyRejected = errors.New("API key rejected by Amplitude: check AMPLITUDE_API_KEY and the cluster (us or eu)")
)

// Rejection is an event Amplitude refused.
type Rejection struct {
	Index    int    // in the events given to Send
	InsertID string //
	Code     int    // the code in Amplitude's answer (400, 413, 429)
	Reason   string // Amplitude's message, as the SDK reports it
	Hint     string // what looks wrong with the event, when we can tell
}

// Summary says what became of every event.
type Summary struct {
	Total       int
	Accepted    int         // events Amplitude answered with success
	Rejected    []Rejection // events Amplitude refused, by index
	Undelivered []int       // indexes of events with no answer from Amplitude
	// LastError is the last failure that had no answer from Amplitude (a
	// transport error, a server error past the retries), or "".
	LastError string
}

// OK reports whether Amplitude accepted every event.
func (s Summary) OK() bool {
	return s.Accepted == s.Total && len(s.Rejected) == 0 && len(s.Undelivered) == 0
}

// String is a one-line account, for logs and CLI output.
func (s Summary) String() string {
	return fmt.Sprintf("%d events: %d accepted, %d rejected, %d undelivered",
		s.Total, s.Accepted, len(s.Rejected), len(s.Undelivered))
}

// Send tracks events through the Amplitude SDK and waits until each has an
// answer or the time is up. Every event needs an insert_id: it matches
// answers to events and makes resending safe. The error is non-nil for bad
// options or events, an interrupted ctx, or a rejected API key; delivery
// problems of single events are in the Summary.
func Send(ctx context.Context, events []event.Event, opts Options) (Summary, error) {
	cfg, err := opts.sdkConfig(len(events))
	if err != nil {
		return Summary{}, err
	}
	for i, e := range events {
		if e.InsertID == "" {
			return Summary{}, fmt.Errorf("event %d has no insert_id: Send needs one to match Amplitude's answers to events and to resend without duplicates", i)
		}
	}
	s := newSender(events, opts)
	if len(events) == 0 {
		return s.summary(), nil
	}
	return s.run(ctx, cfg)
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

// sdkConfig checks the options and builds the SDK's configuration for
// sending n events. Callback, logger and storage are set by the sender.
func (o Options) sdkConfig(n int) (sdk.Config, error) {
	if o.APIKey == "" {
		return sdk.Config{}, ErrNoAPIKey
	}
	cfg := sdk.NewConfig(o.APIKey)
	switch strings.ToLower(o.Cluster) {
	case "", "us":
		cfg.ServerZone = sdk.ServerZoneUS
	case "eu":
		cfg.ServerZone = sdk.ServerZoneEU
	default:
		return sdk.Config{}, fmt.Errorf("unknown Amplitude cluster %q: want \"us\" or \"eu\"", o.Cluster)
	}
	if o.ServerURL != "" {
		u, err := url.Parse(o.ServerURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return sdk.Config{}, fmt.Errorf("server URL %q: want an http(s) URL such as https://api2.amplitude.com/2/httpapi", o.ServerURL)
		}
		cfg.ServerURL = o.ServerURL
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"timeout", o.Timeout}, {"flush interval", o.FlushInterval}, {"retry base interval", o.RetryBaseInterval},
		{"retry throttled interval", o.RetryThrottledInterval}, {"connection timeout", o.ConnectionTimeout},
	} {
		if d.v < 0 {
			return sdk.Config{}, fmt.Errorf("%s %v: want a positive duration, or 0 for the default", d.name, d.v)
		}
	}
	for _, c := range []struct {
		name string
		v    int
	}{
		{"min id length", o.MinIDLength}, {"flush queue size", o.FlushQueueSize},
		{"max retries", o.MaxRetries}, {"max resends", o.MaxResends},
	} {
		if c.v < 0 {
			return sdk.Config{}, fmt.Errorf("%s %d: want a positive number, or 0 for the default", c.name, c.v)
		}
	}
	cfg.UseBatch = o.UseBatch
	cfg.MinIDLength = o.MinIDLength
	cfg.FlushQueueSize = o.FlushQueueSize
	cfg.FlushInterval = o.FlushInterval
	if cfg.FlushInterval == 0 {
		// The SDK's 10s default would hold every retry for up to 10s.
		cfg.FlushInterval = time.Second
	}
	cfg.RetryBaseInterval = o.RetryBaseInterval
	cfg.RetryThrottledInterval = o.RetryThrottledInterval
	cfg.FlushMaxRetries = o.MaxRetries
	cfg.ConnectionTimeout = o.ConnectionTimeout
	if cfg.ConnectionTimeout == 0 {
		// A request cannot be cancelled once the SDK sends it, so its
		// timeout bounds how far Send can overrun its own.
		cfg.ConnectionTimeout = min(10*time.Second, o.timeout()/2)
	}
	// The queue must hold every event and every resend, or Track drops
	// events silently.
	cfg.MaxStorageCapacity = max(20000, 2*n+1000)
	return cfg, nil
}

// sender is the ledger of one Send.
type sender struct {
	events []event.Event
	opts   Options
	minLen int

	pending  map[string][]int // insert_id -> indexes tracked and awaiting a callback, oldest first
	open     int              // events without a final answer
	done     []bool
	accepted int
	rejected []Rejection
	resends  []int
	lastErr  string

	inbox results
}

func newSender(events []event.Event, opts Options) *sender {
	minLen := opts.MinIDLength
	if minLen == 0 {
		minLen = DefaultMinIDLength
	}
	if opts.MaxResends == 0 {
		opts.MaxResends = 3
	}
	return &sender{
		events:  events,
		opts:    opts,
		minLen:  minLen,
		pending: make(map[string][]int, len(events)),
		open:    len(events),
		done:    make([]bool, len(events)),
		resends: make([]int, len(events)),
		inbox:   results{notify: make(chan struct{}, 1)},
	}
}

// results collects callbacks, which the SDK runs on its own goroutines,
// possibly after Flush or Shutdown returned.
type results struct {
	mu     sync.Mutex
	queue  []sdk.ExecuteResult
	notify chan struct{}
}

func (r *results) push(res sdk.ExecuteResult) {
	r.mu.Lock()
	r.queue = append(r.queue, res)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *results) drain() []sdk.ExecuteResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.queue
	r.queue = nil
	return q
}

func (s *sender) run(ctx context.Context, cfg sdk.Config) (Summary, error) {
	gate := &gatedStorage{inner: storages.NewInMemoryEventStorage()}
	cfg.StorageFactory = func() sdk.EventStorage { return gate }
	cfg.Logger = &redactingLogger{w: s.opts.Log, verbose: s.opts.Verbose, secret: s.opts.APIKey}
	cfg.ExecuteCallback = s.inbox.push
	client := sdk.NewClient(cfg)

	// Flush blocks until the SDK has sent everything due, so one goroutine
	// runs it on request; the SDK's ticker covers the rest.
	flushReq, stopFlusher := make(chan struct{}, 1), make(chan struct{})
	var flusher sync.WaitGroup
	flusher.Go(func() {
		for {
			select {
			case <-flushReq:
				client.Flush()
			case <-stopFlusher:
				return
			}
		}
	})
	flush := func() {
		select {
		case flushReq <- struct{}{}:
		default:
		}
	}

	for i := range s.events {
		s.track(client, i)
	}
	flush()

	deadline := time.NewTimer(s.opts.timeout())
	defer deadline.Stop()
wait:
	for s.open > 0 {
		select {
		case <-s.inbox.notify:
			if s.handle(client, s.inbox.drain(), true) {
				flush()
			}
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}

	// Stop sending before shutting down: Shutdown would otherwise send
	// whatever is due, request by request, however long that takes.
	gate.close()
	close(stopFlusher)
	flusher.Wait()
	client.Shutdown()
	// Answers to a request that was in flight come on a goroutine the SDK
	// may start just before Shutdown returns.
	if s.open > 0 {
		grace := time.NewTimer(callbackGrace)
		select {
		case <-s.inbox.notify:
		case <-grace.C:
		}
		grace.Stop()
	}
	s.handle(client, s.inbox.drain(), false)

	sum := s.summary()
	if len(sum.Undelivered) > 0 && sum.LastError == "" {
		sum.LastError = fmt.Sprintf("no answer from Amplitude within %v", s.opts.timeout())
		if ctx.Err() != nil {
			sum.LastError = "interrupted before Amplitude answered"
		}
	}
	if s.open > 0 && ctx.Err() != nil {
		return sum, fmt.Errorf("send interrupted with %d of %d events unanswered: %w", s.open, len(s.events), ctx.Err())
	}
	for _, r := range sum.Rejected {
		if strings.HasPrefix(r.Reason, "Invalid API key") {
			return sum, ErrAPIKeyRejected
		}
	}
	return sum, nil
}

func (s *sender) track(client sdk.Client, i int) {
	e := s.events[i]
	s.pending[e.InsertID] = append(s.pending[e.InsertID], i)
	client.Track(toSDK(e))
}

// handle books callbacks and reports whether it tracked events again.
func (s *sender) handle(client sdk.Client, batch []sdk.ExecuteResult, resend bool) bool {
	tracked := false
	for _, res := range batch {
		if res.Event == nil {
			continue
		}
		id := res.Event.InsertID
		q := s.pending[id]
		if len(q) == 0 {
			continue // not ours, or already answered
		}
		i := q[0]
		s.pending[id] = q[1:]
		if s.done[i] {
			continue
		}
		switch {
		case res.Code >= 200 && res.Code < 300:
			s.accepted++
			s.finish(i)
		case noAnswer(res.Code):
			s.lastErr = redact(res.Message, s.opts.APIKey)
			if resend && s.resends[i] < s.opts.MaxResends {
				s.resends[i]++
				s.track(client, i)
				tracked = true
			}
			// Otherwise the event stays open and ends up undelivered.
		default:
			r := Rejection{Index: i, InsertID: id, Code: res.Code, Reason: redact(res.Message, s.opts.APIKey)}
			if res.Code == 400 && !strings.HasPrefix(r.Reason, "Invalid API key") {
				r.Hint = diagnose(s.events[i], s.minLen)
			}
			s.rejected = append(s.rejected, r)
			s.finish(i)
		}
	}
	return tracked
}

// noAnswer reports whether a callback code means Amplitude never decided:
// 0 for a transport error, 408 and 5xx once the SDK's retries ran out.
func noAnswer(code int) bool { return code == 0 || code == 408 || code >= 500 }

// finish closes event i once its answer is booked, and reports progress.
func (s *sender) finish(i int) {
	s.done[i] = true
	s.open--
	if s.opts.Progress != nil {
		s.opts.Progress(len(s.events)-s.open, len(s.events))
	}
}

func (s *sender) summary() Summary {
	sum := Summary{
		Total:     len(s.events),
		Accepted:  s.accepted,
		Rejected:  slices.Clone(s.rejected),
		LastError: s.lastErr,
	}
	slices.SortFunc(sum.Rejected, func(a, b Rejection) int { return a.Index - b.Index })
	for i, d := range s.done {
		if !d {
			sum.Undelivered = append(sum.Undelivered, i)
		}
	}
	return sum
}

// toSDK converts an event, keeping its time and insert_id.
func toSDK(e event.Event) sdk.Event {
	var userID, deviceID, eventType string
	if e.UserID != nil {
		userID = *e.UserID
	}
	if e.DeviceID != nil {
		deviceID = *e.DeviceID
	}
	if e.EventType != nil {
		eventType = *e.EventType
	}
	return sdk.Event{
		EventType: eventType,
		EventOptions: sdk.EventOptions{
			UserID:   userID,
			DeviceID: deviceID,
			Time:     e.Time,
			InsertID: e.InsertID,
		},
		EventProperties: e.EventProperties,
		UserProperties:  userPropertyOps(e.UserProperties),
		// The SDK's daily-quota check on a 429 reads these, not EventOptions.
		UserID:   userID,
		DeviceID: deviceID,
	}
}

// userPropertyOps puts plain user properties under $set, the SDK's only way
// to send them; operation objects ($set, $setOnce, ...) pass through.
func userPropertyOps(p map[string]any) map[sdk.IdentityOp]map[string]any {
	if len(p) == 0 {
		return nil
	}
	out := map[sdk.IdentityOp]map[string]any{}
	for k, v := range p {
		if m, ok := v.(map[string]any); ok && strings.HasPrefix(k, "$") {
			op := sdk.IdentityOp(k)
			if out[op] == nil {
				out[op] = map[string]any{}
			}
			for mk, mv := range m {
				out[op][mk] = mv
			}
			continue
		}
		if out["$set"] == nil {
			out["$set"] = map[string]any{}
		}
		out["$set"][k] = v
	}
	return out
}

// gatedStorage is the SDK's in-memory storage with an off switch: once
// closed, the SDK finds nothing to send.
type gatedStorage struct {
	inner  sdk.EventStorage
	closed atomic.Bool
}

func (g *gatedStorage) close() { g.closed.Store(true) }

func (g *gatedStorage) PushNew(e *types.StorageEvent) { g.inner.PushNew(e) }

func (g *gatedStorage) ReturnBack(es ...*types.StorageEvent) { g.inner.ReturnBack(es...) }

func (g *gatedStorage) Pull(count int, before time.Time) []*types.StorageEvent {
	if g.closed.Load() {
		return nil
	}
	return g.inner.Pull(count, before)
}

func (g *gatedStorage) Count(before time.Time) int {
	if g.closed.Load() {
		return 0
	}
	return g.inner.Count(before)
}

// redactingLogger is the SDK's logger: it replaces the API key in every line
// (the SDK's debug log prints request bodies, key and all).
type redactingLogger struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
	secret  string
}

func (l *redactingLogger) Debugf(format string, args ...any) {
	if l.verbose {
		l.log("debug", format, args...)
	}
}

func (l *redactingLogger) Infof(format string, args ...any) {
	if l.verbose {
		l.log("info", format, args...)
	}
}

func (l *redactingLogger) Warnf(format string, args ...any)  { l.log("warn", format, args...) }
func (l *redactingLogger) Errorf(format string, args ...any) { l.log("error", format, args...) }

func (l *redactingLogger) log(level, format string, args ...any) {
	if l.w == nil {
		return
	}
	msg := redact(fmt.Sprintf(format, args...), l.secret)
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "amplitude sdk %s: %s\n", level, strings.TrimRight(msg, "\n"))
}

// redact replaces every occurrence of secret in s.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}
