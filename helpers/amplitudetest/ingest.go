package amplitudetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"amplitude-testgen/helpers/event"
)

// Amplitude's error texts (HTTP V2 API docs, "400 Response InvalidRequestError").
const (
	errMissingField  = "Request missing required field"
	errInvalidFields = "Invalid field values on some events"
	errInvalidJSON   = "Invalid JSON request body"
	errInvalidEvent  = "Invalid event JSON"
	errMissingBody   = "Missing request body"
	errTooLarge      = "Payload too large"
	errThrottled     = "Too many requests for some devices and users"
	// Amplitude appends the key it was given; the fake appends this instead,
	// so an answer that reaches a log never carries a key.
	errInvalidAPIKey = "Invalid API key: [redacted]"
)

// invalidIDs are the ids Amplitude refuses whatever min_id_length says,
// compared case-insensitively (HTTP V2 API docs, "Invalid IDs"). The sender
// in helpers/amplitude has the same list; its tests check that they agree.
var invalidIDs = []string{
	"anonymous", "nil", "none", "null", "n/a", "na", "undefined", "unknown",
	`""`, "", "00000000-0000-0000-0000-000000000000", "{}", "lmy47d", "0", "-1",
}

// InvalidID reports whether Amplitude refuses id as a user_id or device_id
// when ids must be at least minLength characters long.
func InvalidID(id string, minLength int) bool {
	if utf8.RuneCountInString(id) < minLength {
		return true
	}
	return slices.Contains(invalidIDs, strings.ToLower(id))
}

// reservedEventTypes are the event types Amplitude keeps for itself.
var reservedEventTypes = []string{
	"[Amplitude] Start Session", "[Amplitude] End Session", "[Amplitude] Revenue",
	"[Amplitude] Revenue (Verified)", "[Amplitude] Revenue (Unverified)", "[Amplitude] Merged User",
}

type errorBody struct {
	Code                    int              `json:"code"`
	Error                   string           `json:"error"`
	MissingField            string           `json:"missing_field,omitempty"`
	EventsWithInvalidFields map[string][]int `json:"events_with_invalid_fields,omitempty"`
	EventsWithMissingFields map[string][]int `json:"events_with_missing_fields,omitempty"`
}

type throttleBody struct {
	Code                      int            `json:"code"`
	Error                     string         `json:"error"`
	EPSThreshold              int            `json:"eps_threshold"`
	ThrottledDevices          map[string]int `json:"throttled_devices"`
	ThrottledUsers            map[string]int `json:"throttled_users"`
	ThrottledEvents           []int          `json:"throttled_events"`
	ExceededDailyQuotaUsers   map[string]int `json:"exceeded_daily_quota_users"`
	ExceededDailyQuotaDevices map[string]int `json:"exceeded_daily_quota_devices"`
}

type successBody struct {
	Code             int   `json:"code"`
	EventsIngested   int   `json:"events_ingested"`
	PayloadSizeBytes int   `json:"payload_size_bytes"`
	ServerUploadTime int64 `json:"server_upload_time"`
}

// throttleEPS is the events-per-second threshold a throttled answer reports
// (Amplitude's per-device limit), and the rate it says the ids exceeded it with.
const throttleEPS = 30

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// begin counts an ingestion request and returns its 1-based number.
func (s *Server) begin() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.statuses = append(s.statuses, 0)
	return s.requests
}

func (s *Server) answered(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses[n-1] = status
}

// wait blocks for d (forever when d < 0) and reports whether the client and
// the server are both still there.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closing:
		return false
	}
}

// ingest serves the HTTP V2 and Batch APIs; maxEvents 0 means no count limit.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request, maxBytes, maxEvents int) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Code: http.StatusMethodNotAllowed, Error: "Method not allowed: use POST"})
		return
	}
	n := s.begin()
	// Read at most one byte past the limit: enough to know it is too large.
	body, readErr := io.ReadAll(io.LimitReader(r.Body, int64(maxBytes)+1))

	switch {
	case n <= s.cfg.dropFirst:
		// Closes the connection without an answer; net/http does not log it.
		panic(http.ErrAbortHandler)
	case s.cfg.neverAnswer:
		s.wait(r, -1)
		panic(http.ErrAbortHandler)
	case s.cfg.delay > 0:
		if !s.wait(r, s.cfg.delay) {
			panic(http.ErrAbortHandler)
		}
	}
	reply := func(status int, b any) {
		s.answered(n, status)
		writeJSON(w, status, b)
	}
	if n <= s.cfg.serverErrorFirst {
		status := http.StatusInternalServerError
		if n%2 == 0 {
			status = http.StatusServiceUnavailable
		}
		reply(status, errorBody{Code: status, Error: http.StatusText(status)})
		return
	}
	if readErr != nil {
		reply(http.StatusBadRequest, errorBody{Code: http.StatusBadRequest, Error: errMissingBody})
		return
	}
	if len(body) > maxBytes {
		reply(http.StatusRequestEntityTooLarge, errorBody{Code: http.StatusRequestEntityTooLarge, Error: errTooLarge})
		return
	}
	status, answer, accepted := s.validate(body, n, maxEvents)
	if accepted != nil {
		s.store(accepted)
	}
	reply(status, answer)
}

// validate checks a request body as Amplitude does and returns the answer,
// plus the events to store when the request is accepted.
func (s *Server) validate(body []byte, n, maxEvents int) (int, any, []json.RawMessage) {
	bad := func(b errorBody) (int, any, []json.RawMessage) {
		b.Code = http.StatusBadRequest
		return http.StatusBadRequest, b, nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return bad(errorBody{Error: errMissingBody})
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return bad(errorBody{Error: errInvalidJSON})
	}
	if isNull(req["api_key"]) {
		return bad(errorBody{Error: errMissingField, MissingField: "api_key"})
	}
	if isNull(req["events"]) {
		return bad(errorBody{Error: errMissingField, MissingField: "events"})
	}
	var key string
	if err := json.Unmarshal(req["api_key"], &key); err != nil || key != s.cfg.apiKey {
		return bad(errorBody{Error: errInvalidAPIKey})
	}
	var events []json.RawMessage
	if err := json.Unmarshal(req["events"], &events); err != nil {
		return bad(errorBody{Error: errInvalidEvent})
	}
	if len(events) == 0 {
		return bad(errorBody{Error: errMissingField, MissingField: "events"})
	}
	if maxEvents > 0 && len(events) > maxEvents {
		return http.StatusRequestEntityTooLarge, errorBody{Code: http.StatusRequestEntityTooLarge, Error: errTooLarge}, nil
	}
	minLen := s.cfg.minIDLength
	if raw, ok := req["options"]; ok && !isNull(raw) {
		var o struct {
			MinIDLength *int `json:"min_id_length"`
		}
		if err := json.Unmarshal(raw, &o); err == nil && o.MinIDLength != nil {
			minLen = *o.MinIDLength
		}
	}

	missing, invalid := map[string][]int{}, map[string][]int{}
	parsed := make([]map[string]json.RawMessage, len(events))
	for i, raw := range events {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
			return bad(errorBody{Error: errInvalidEvent})
		}
		parsed[i] = fields
		checkEvent(i, fields, minLen, missing, invalid)
	}
	if len(missing) > 0 || len(invalid) > 0 {
		b := errorBody{Error: errInvalidFields, EventsWithInvalidFields: invalid, EventsWithMissingFields: missing}
		if len(missing) > 0 {
			b.Error = errMissingField
		}
		s.mu.Lock()
		s.rejectedEvents += countIndexes(missing, invalid)
		s.mu.Unlock()
		return bad(b)
	}

	if n <= s.cfg.throttleFirst {
		return http.StatusTooManyRequests, throttled(parsed), nil
	}
	return http.StatusOK, successBody{
		Code:             http.StatusOK,
		EventsIngested:   len(events),
		PayloadSizeBytes: len(body),
		ServerUploadTime: s.cfg.clock().UnixMilli(),
	}, events
}

// checkEvent records event i's missing and invalid fields.
func checkEvent(i int, f map[string]json.RawMessage, minLen int, missing, invalid map[string][]int) {
	add := func(m map[string][]int, field string) { m[field] = append(m[field], i) }

	if raw := f["event_type"]; isNull(raw) {
		add(missing, "event_type")
	} else if t, ok := jsonString(raw); !ok || slices.Contains(reservedEventTypes, t) {
		add(invalid, "event_type")
	} else if t == "" {
		add(missing, "event_type")
	}

	hasID := false
	for _, field := range []string{"user_id", "device_id"} {
		raw := f[field]
		if isNull(raw) {
			continue
		}
		hasID = true
		if id, ok := jsonString(raw); !ok || InvalidID(id, minLen) {
			add(invalid, field)
		}
	}
	if !hasID {
		// Amplitude needs a device_id, and makes one from the user_id
		// when only that is given; with neither, the device_id is missing.
		add(missing, "device_id")
	}

	if raw := f["time"]; !isNull(raw) {
		var ms int64
		if err := json.Unmarshal(raw, &ms); err != nil {
			add(invalid, "time")
		}
	}
	if raw := f["insert_id"]; !isNull(raw) {
		if _, ok := jsonString(raw); !ok {
			add(invalid, "insert_id")
		}
	}
	for _, field := range []string{"event_properties", "user_properties"} {
		if raw := f[field]; !isNull(raw) {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				add(invalid, field)
			}
		}
	}
}

// throttled is the 429 answer naming every event: none over a daily quota,
// so an SDK waits and resends them all.
func throttled(events []map[string]json.RawMessage) throttleBody {
	b := throttleBody{
		Code:                      http.StatusTooManyRequests,
		Error:                     errThrottled,
		EPSThreshold:              throttleEPS,
		ThrottledDevices:          map[string]int{},
		ThrottledUsers:            map[string]int{},
		ThrottledEvents:           make([]int, len(events)),
		ExceededDailyQuotaUsers:   map[string]int{},
		ExceededDailyQuotaDevices: map[string]int{},
	}
	for i, f := range events {
		b.ThrottledEvents[i] = i
		if id, ok := jsonString(f["user_id"]); ok {
			b.ThrottledUsers[id] = throttleEPS + 1
		}
		if id, ok := jsonString(f["device_id"]); ok {
			b.ThrottledDevices[id] = throttleEPS + 1
		}
	}
	return b
}

// store keeps the accepted events, skipping insert_ids accepted within the
// dedup window.
func (s *Server) store(events []json.RawMessage) {
	now := s.cfg.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, raw := range events {
		var e event.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			// validate accepted it, so this cannot happen; count it as
			// rejected rather than store half an event.
			s.rejectedEvents++
			continue
		}
		if e.InsertID != "" {
			if at, ok := s.seen[e.InsertID]; ok && now.Sub(at) < DedupWindow {
				s.duplicates++
				continue
			}
			s.seen[e.InsertID] = now
		}
		e.UserProperties = flattenUserProperties(e.UserProperties)
		s.stored = append(s.stored, Stored{Event: e, UploadTime: now, Raw: append([]byte(nil), raw...)})
	}
}

// userPropertyOps are the operation keys of an identify's user_properties.
var userPropertyOps = []string{
	"$set", "$setOnce", "$add", "$append", "$prepend", "$unset",
	"$preInsert", "$postInsert", "$remove", "$clearAll",
}

// flattenUserProperties turns {"$set": {...}} into plain properties, as they
// appear in an export. $set wins over $setOnce; other operations need the
// user's earlier state, which the fake does not keep, so they are left out.
func flattenUserProperties(p map[string]any) map[string]any {
	if p == nil {
		return nil
	}
	out := make(map[string]any, len(p))
	for k, v := range p {
		if !slices.Contains(userPropertyOps, k) {
			out[k] = v
		}
	}
	for _, op := range []string{"$setOnce", "$set"} {
		if m, ok := p[op].(map[string]any); ok {
			for k, v := range m {
				out[k] = v
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

func jsonString(raw json.RawMessage) (string, bool) {
	if isNull(raw) {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func countIndexes(maps ...map[string][]int) int {
	seen := map[int]bool{}
	for _, m := range maps {
		for _, idx := range m {
			for _, i := range idx {
				seen[i] = true
			}
		}
	}
	return len(seen)
}
