// Package posthog reads what PostHog produced from an Amplitude import, so
// that it can be checked against the oracle's prediction (SPEC.md §4
// "PostHog output").
//
// Two ways in:
//   - Read parses saved output: Events API or query API responses (a JSON
//     object with "results", possibly one file per page), JSON arrays or
//     JSON lines of events, and the batch import worker's CapturedEvent
//     lines, whose "data" field is a JSON string holding the event.
//   - FetchEvents asks a PostHog project directly through the query API
//     (HogQL) or the older Events API, following pagination, with a
//     personal API key that never appears in an error.
package posthog

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Event is one PostHog event as the verifier needs it.
type Event struct {
	UUID       string         `json:"uuid,omitempty"`
	Event      string         `json:"event"`
	DistinctID string         `json:"distinct_id"`
	Properties map[string]any `json:"properties"`
	// Timestamp is the parsed time, in UTC; zero when the input had none.
	Timestamp time.Time `json:"-"`
	// RawTimestamp is the timestamp exactly as read, for messages.
	RawTimestamp string `json:"timestamp,omitempty"`
}

// StringProp returns the property name when it is a string.
func (e Event) StringProp(name string) (string, bool) {
	s, ok := e.Properties[name].(string)
	return s, ok
}

// Format names an input layout Read recognised.
type Format string

const (
	FormatResults      Format = "results"       // {"results": [...]} (Events API, query API)
	FormatArray        Format = "array"         // [ {event}, ... ]
	FormatJSONLines    Format = "json_lines"    // one event object a line
	FormatCapturedLine Format = "captured_line" // one CapturedEvent a line ("data" is a JSON string)
	FormatObject       Format = "object"        // a pretty-printed event object
)

// eventTimeLayouts are the timestamp forms PostHog writes: RFC 3339 from the
// worker (chrono's to_rfc3339) and the APIs, ClickHouse's space-separated
// form, and either without a zone (read as UTC).
var eventTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// ParseTimestamp parses a PostHog event timestamp in any of the forms its
// APIs and the worker write. The result is in UTC.
func ParseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range eventTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q: want RFC 3339 (2024-01-15T10:00:00.000Z) or 2024-01-15 10:00:00.000000", s)
}

// wireEvent is every key an event object may carry in the formats Read
// knows. CapturedEvent lines carry "data" (a JSON string of the event) and
// the Events API names the uuid "id".
type wireEvent struct {
	UUID       *string         `json:"uuid"`
	ID         json.RawMessage `json:"id"`
	Event      *string         `json:"event"`
	DistinctID json.RawMessage `json:"distinct_id"`
	Properties json.RawMessage `json:"properties"`
	Timestamp  json.RawMessage `json:"timestamp"`
	Data       *string         `json:"data"`
}

// decodeEvent turns one event object into an Event. It reports whether the
// object was a CapturedEvent (with a "data" string).
func decodeEvent(raw []byte) (Event, bool, error) {
	var w wireEvent
	if err := json.Unmarshal(raw, &w); err != nil {
		return Event{}, false, fmt.Errorf("event object: %w", err)
	}
	if w.Data != nil {
		// The captured event's own fields (uuid, distinct_id) are copies
		// of the inner event's; the inner ones win, the outer fill gaps.
		var inner wireEvent
		if err := json.Unmarshal([]byte(*w.Data), &inner); err != nil {
			return Event{}, true, fmt.Errorf("CapturedEvent data is not a JSON event object: %w", err)
		}
		if inner.UUID == nil {
			inner.UUID = w.UUID
		}
		if len(inner.DistinctID) == 0 || string(inner.DistinctID) == "null" {
			inner.DistinctID = w.DistinctID
		}
		ev, err := fromWire(inner)
		return ev, true, err
	}
	ev, err := fromWire(w)
	return ev, false, err
}

func fromWire(w wireEvent) (Event, error) {
	var ev Event
	if w.Event == nil || *w.Event == "" {
		return Event{}, fmt.Errorf("event object has no \"event\" name")
	}
	ev.Event = *w.Event
	switch {
	case w.UUID != nil:
		ev.UUID = *w.UUID
	case len(w.ID) > 0:
		ev.UUID = scalarString(w.ID)
	}
	if len(w.DistinctID) == 0 || string(w.DistinctID) == "null" {
		return Event{}, fmt.Errorf("event %q has no distinct_id", ev.Event)
	}
	ev.DistinctID = scalarString(w.DistinctID)
	props, err := decodeProperties(w.Properties)
	if err != nil {
		return Event{}, fmt.Errorf("event %q: %w", ev.Event, err)
	}
	ev.Properties = props
	if ts := scalarString(w.Timestamp); ts != "" {
		t, err := ParseTimestamp(ts)
		if err != nil {
			return Event{}, fmt.Errorf("event %q: %w", ev.Event, err)
		}
		ev.Timestamp, ev.RawTimestamp = t, ts
	}
	return ev, nil
}

// decodeProperties accepts a JSON object, or a JSON string holding one (the
// query API returns the properties column as a string).
func decodeProperties(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]any{}, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("properties: %w", err)
		}
		raw = json.RawMessage(s)
	}
	var props map[string]any
	if err := json.Unmarshal(raw, &props); err != nil {
		return nil, fmt.Errorf("properties: want a JSON object: %w", err)
	}
	if props == nil {
		props = map[string]any{}
	}
	return props, nil
}

// scalarString renders a JSON string or number as text ("" for null or
// missing). distinct_id is a string in PostHog but numbers slip in.
func scalarString(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}
