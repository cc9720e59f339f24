// Package amplitudetest is a fake Amplitude for tests, in the style of
// net/http/httptest: NewServer starts a real HTTP server on 127.0.0.1 that
// speaks Amplitude's protocols (SPEC.md §4), and accessors say what it
// received.
//
// It serves the HTTP V2 API (POST /2/httpapi) and the Batch API (POST
// /batch) with Amplitude's validation and answer shapes, because Amplitude's
// SDKs act on those shapes: the Go SDK drops the events a 400 lists by index
// and resends the rest, and waits before resending the events a 429 lists. An
// answer without the index lists makes the SDK resend the whole batch at
// once, in a tight loop, so the fake answers exactly as Amplitude documents.
// Accepted events are de-duplicated by insert_id for seven days, as Amplitude
// does, and keep the server upload time the clock gave them.
//
// It also serves the Export API (GET /api/2/export) with Basic auth: the
// events whose upload hour falls in the requested range, as an export zip
// written by helpers/export.
//
// Faults (throttling, server errors, dropped connections, delays, a server
// that never answers) are options, so senders can be tested against them.
//
// Unlike Amplitude, the fake never echoes an API key in an answer: an answer
// may end up in a log.
package amplitudetest

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"time"

	"amplitude-testgen/helpers/event"
)

// Defaults of the fake project. They are test values, not secrets.
const (
	DefaultAPIKey    = "amplitudetest-api-key"
	DefaultSecretKey = "amplitudetest-secret-key"
	DefaultProjectID = 187520
	// DefaultMinIDLength is Amplitude's minimum user_id/device_id length
	// when a request sets no min_id_length option.
	DefaultMinIDLength = 5
)

// DefaultUploadTime is the fake's clock when no WithClock is given: a fixed
// instant, 2024-01-16 12:00 UTC, so tests never depend on the wall clock.
func DefaultUploadTime() time.Time { return time.Date(2024, time.January, 16, 12, 0, 0, 0, time.UTC) }

// Request size limits (Amplitude's: 1 MB and 2000 events a request for HTTP
// V2, 20 MB for the Batch API).
const (
	MaxHTTPAPIBytes  = 1 << 20
	MaxHTTPAPIEvents = 2000
	MaxBatchBytes    = 20 << 20
)

// DedupWindow is how long Amplitude ignores an insert_id it has accepted.
const DedupWindow = 7 * 24 * time.Hour

// Paths the fake serves.
const (
	HTTPAPIPath = "/2/httpapi"
	BatchPath   = "/batch"
	ExportPath  = "/api/2/export"
)

type config struct {
	apiKey      string
	secretKey   string
	projectID   int64
	clock       func() time.Time
	minIDLength int
	exportLag   time.Duration

	throttleFirst    int
	serverErrorFirst int
	dropFirst        int
	delay            time.Duration
	neverAnswer      bool
}

// Option configures a Server.
type Option func(*config)

// WithAPIKey sets the project's API key (default DefaultAPIKey). Ingestion
// with another key gets Amplitude's 400 "Invalid API key"; the export needs
// it as the Basic auth user.
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithSecretKey sets the project's secret key, the export's Basic auth
// password (default DefaultSecretKey).
func WithSecretKey(secret string) Option { return func(c *config) { c.secretKey = secret } }

// WithProjectID sets the project id written into export entry names and rows.
func WithProjectID(id int64) Option { return func(c *config) { c.projectID = id } }

// WithClock sets the clock that stamps server upload times and decides the
// seven-day dedup window (default: always DefaultUploadTime).
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithMinIDLength sets the minimum id length used when a request sets no
// min_id_length option (default 5, Amplitude's).
func WithMinIDLength(n int) Option { return func(c *config) { c.minIDLength = n } }

// WithExportLag makes events exportable only once the clock is lag past
// their upload time; Amplitude's lag is about two hours. Default 0.
func WithExportLag(lag time.Duration) Option { return func(c *config) { c.exportLag = lag } }

// WithThrottleFirst answers the first n ingestion requests with 429, every
// event listed in throttled_events (and not over a daily quota), as
// Amplitude does for users or devices over their events-per-second limit.
func WithThrottleFirst(n int) Option { return func(c *config) { c.throttleFirst = n } }

// WithServerErrorFirst answers the first n ingestion requests with a server
// error, alternately 500 and 503, storing nothing.
func WithServerErrorFirst(n int) Option { return func(c *config) { c.serverErrorFirst = n } }

// WithDropFirst reads the first n ingestion requests, stores nothing, and
// closes the connection without answering.
func WithDropFirst(n int) Option { return func(c *config) { c.dropFirst = n } }

// WithDelay delays every ingestion answer by d (less if the client gives up
// or the server closes first).
func WithDelay(d time.Duration) Option { return func(c *config) { c.delay = d } }

// WithNeverAnswer makes ingestion requests hang until the client gives up or
// the server closes; nothing is stored.
func WithNeverAnswer() Option { return func(c *config) { c.neverAnswer = true } }

// Stored is one accepted event as the fake keeps it.
type Stored struct {
	Event      event.Event // as received; user_properties operations flattened (see Server.Events)
	UploadTime time.Time   // the server upload time: the clock when the request arrived
	Raw        []byte      // the event's JSON exactly as received
}

// Server is a running fake Amplitude. Its methods are safe for concurrent use.
type Server struct {
	cfg     config
	ts      *httptest.Server
	closing chan struct{}
	once    sync.Once

	mu             sync.Mutex
	stored         []Stored
	seen           map[string]time.Time // insert_id -> upload time of its accepted copy
	requests       int                  // ingestion requests received
	statuses       []int                // answer per ingestion request; 0 when none was given
	rejectedEvents int
	duplicates     int
	exportRequests int
}

// NewServer starts a fake Amplitude on 127.0.0.1. Close it when done.
func NewServer(opts ...Option) *Server {
	cfg := config{
		apiKey:      DefaultAPIKey,
		secretKey:   DefaultSecretKey,
		projectID:   DefaultProjectID,
		clock:       DefaultUploadTime,
		minIDLength: DefaultMinIDLength,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{cfg: cfg, closing: make(chan struct{}), seen: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc(HTTPAPIPath, func(w http.ResponseWriter, r *http.Request) { s.ingest(w, r, MaxHTTPAPIBytes, MaxHTTPAPIEvents) })
	mux.HandleFunc(BatchPath, func(w http.ResponseWriter, r *http.Request) { s.ingest(w, r, MaxBatchBytes, 0) })
	mux.HandleFunc(ExportPath, s.export)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusBadRequest, errorBody{Code: http.StatusBadRequest, Error: "Invalid request path"})
	})
	// httptest.NewServer listens on 127.0.0.1 (loopback only).
	s.ts = httptest.NewServer(mux)
	return s
}

// URL is the server's base URL, http://127.0.0.1:port.
func (s *Server) URL() string { return s.ts.URL }

// HTTPAPIURL is the HTTP V2 endpoint, for an SDK's ServerURL.
func (s *Server) HTTPAPIURL() string { return s.ts.URL + HTTPAPIPath }

// BatchURL is the Batch API endpoint.
func (s *Server) BatchURL() string { return s.ts.URL + BatchPath }

// Client is an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close releases hanging requests, closes client connections and shuts the
// server down, waiting for handlers to finish.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closing)
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

// Events returns the accepted events in arrival order, one per insert_id.
// A user_properties operation object ($set, $setOnce) is flattened into
// plain properties, as the properties appear in Amplitude's export; the fake
// keeps no per-user state, so $setOnce acts like $set and other operations
// are left out.
func (s *Server) Events() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]event.Event, len(s.stored))
	for i, st := range s.stored {
		out[i] = st.Event
	}
	return out
}

// Stored returns the accepted events with their upload times and raw JSON.
func (s *Server) Stored() []Stored {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Stored(nil), s.stored...)
}

// Requests is the number of ingestion requests received, answered or not.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Statuses lists the HTTP status of each ingestion answer in arrival order;
// 0 marks a request dropped or never answered.
func (s *Server) Statuses() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.statuses...)
}

// Rejected is the number of events a 400 named as invalid or missing fields.
func (s *Server) Rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejectedEvents
}

// Duplicates is the number of events accepted in a request but ignored
// because their insert_id was accepted within DedupWindow.
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.duplicates
}

// ExportRequests is the number of Export API requests received.
func (s *Server) ExportRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exportRequests
}

// exportable returns the stored events uploaded in [from, to) and older than
// the export lag, ordered by upload time (arrival order within a time).
func (s *Server) exportable(from, to time.Time) []Stored {
	now := s.cfg.clock()
	s.mu.Lock()
	var out []Stored
	for _, st := range s.stored {
		if st.UploadTime.Before(from) || !st.UploadTime.Before(to) {
			continue
		}
		if now.Before(st.UploadTime.Add(s.cfg.exportLag)) {
			continue
		}
		out = append(out, st)
	}
	s.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].UploadTime.Before(out[j].UploadTime) })
	return out
}
