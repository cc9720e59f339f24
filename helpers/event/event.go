// Package event defines the Amplitude event as this project reads and writes
// it: the shape of the HTTP API and of the dataset file (SPEC.md §4), and the
// fields of an Export API row that decide PostHog's identify logic.
//
// Absence matters here. PostHog's batch import worker treats a JSON null and a
// missing key alike, but an empty string as present, so the ids are pointers:
// nil means absent, a pointer to "" means present and empty.
package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Event is one Amplitude event.
//
// Its JSON form is the dataset file's (SPEC.md §4): event_type, user_id
// (null when absent), device_id, time in milliseconds, insert_id,
// event_properties and user_properties. Unmarshal also accepts the Export API
// row form, where the time is in event_time and the insert id in $insert_id.
type Event struct {
	EventType       *string        `json:"event_type"`
	UserID          *string        `json:"user_id"`
	DeviceID        *string        `json:"device_id"`
	Time            int64          `json:"time"`
	InsertID        string         `json:"insert_id,omitempty"`
	EventProperties map[string]any `json:"event_properties,omitempty"`
	UserProperties  map[string]any `json:"user_properties,omitempty"`

	// HasTime reports whether Time was read from the input. When it is
	// false, PostHog stamps the event with the time of the import.
	HasTime bool `json:"-"`
}

// Str returns a pointer to s, for the optional string fields.
func Str(s string) *string { return &s }

// TimeKnown reports whether the event carries a time PostHog can use.
// Readers set HasTime; an event built in Go may set only Time, and a
// non-zero Time counts as known then, since the epoch itself is no plausible
// event time.
func (e Event) TimeKnown() bool { return e.HasTime || e.Time != 0 }

// Timestamp is the event's time in UTC, at millisecond precision.
func (e Event) Timestamp() time.Time { return time.UnixMilli(e.Time).UTC() }

// wire lists every key Unmarshal understands, in both forms.
type wire struct {
	EventType          *string         `json:"event_type"`
	UserID             *string         `json:"user_id"`
	DeviceID           *string         `json:"device_id"`
	Time               json.RawMessage `json:"time"`
	InsertID           *string         `json:"insert_id"`
	DollarInsertID     *string         `json:"$insert_id"`
	EventTime          *string         `json:"event_time"`
	ClientEventTime    *string         `json:"client_event_time"`
	ServerReceivedTime *string         `json:"server_received_time"`
	EventProperties    map[string]any  `json:"event_properties"`
	UserProperties     map[string]any  `json:"user_properties"`
}

// UnmarshalJSON reads either form. A time in milliseconds (time) wins over
// the export's strings; among those, the order is PostHog's: event_time,
// then client_event_time, then server_received_time.
func (e *Event) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = Event{
		EventType:       w.EventType,
		UserID:          w.UserID,
		DeviceID:        w.DeviceID,
		EventProperties: w.EventProperties,
		UserProperties:  w.UserProperties,
	}
	switch {
	case w.InsertID != nil:
		e.InsertID = *w.InsertID
	case w.DollarInsertID != nil:
		e.InsertID = *w.DollarInsertID
	}
	if t := bytes.TrimSpace(w.Time); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		var ms json.Number
		if err := json.Unmarshal(t, &ms); err != nil {
			return fmt.Errorf("time %s: want milliseconds since the epoch", t)
		}
		v, err := ms.Int64()
		if err != nil {
			f, ferr := ms.Float64()
			if ferr != nil {
				return fmt.Errorf("time %s: want milliseconds since the epoch", t)
			}
			v = int64(f)
		}
		e.Time, e.HasTime = v, true
		return nil
	}
	for _, s := range []*string{w.EventTime, w.ClientEventTime, w.ServerReceivedTime} {
		if s == nil {
			continue
		}
		if t, ok := ParseExportTime(*s); ok {
			e.Time, e.HasTime = t.UnixMilli(), true
			return nil
		}
	}
	return nil
}

// ExportTimeLayout is the layout of every time in an Export API row:
// a space, six fraction digits, no zone, UTC.
const ExportTimeLayout = "2006-01-02 15:04:05.000000"

// ParseExportTime parses s as PostHog does: "YYYY-MM-DD HH:MM:SS" with an
// optional fraction of any length, UTC. Anything else (an RFC 3339 string,
// say) does not parse, and PostHog falls back to the next field.
func ParseExportTime(s string) (time.Time, bool) {
	// Go's parser accepts any fraction after the seconds when the layout
	// has none, which is what chrono's "%S%.f" does too.
	t, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// FormatExportTime formats t in the Export API layout.
func FormatExportTime(t time.Time) string { return t.UTC().Format(ExportTimeLayout) }
