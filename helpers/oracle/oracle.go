// Package oracle applies PostHog's batch import identify rules (SPEC.md §3)
// to any sequence of Amplitude events. STUB: replace.
package oracle

import (
	"time"

	"amplitude-testgen/helpers/event"
)

// Outcome is what the worker does with one event, identify-wise.
type Outcome string

const (
	OutcomeIdentify            Outcome = "identify"
	OutcomeDuplicate           Outcome = "duplicate"
	OutcomeAnonymous           Outcome = "anonymous"
	OutcomeNoDevice            Outcome = "no_device"
	OutcomeDroppedSessionStart Outcome = "dropped_session_start"
	OutcomeDroppedNoEventType  Outcome = "dropped_no_event_type"
	OutcomeImportError         Outcome = "import_error"
)

// Options configure an Oracle.
type Options struct {
	Team int // team of events added with Add; 0 means 1
}

// Oracle consumes events one at a time, in import order.
type Oracle struct{}

// New returns an Oracle.
func New(opts Options) *Oracle { return &Oracle{} }

// Add applies the rules to the next event, for the default team.
func (o *Oracle) Add(e event.Event) EventResult { return EventResult{} }

// AddTeam applies the rules to the next event, for the given team.
func (o *Oracle) AddTeam(team int, e event.Event) EventResult { return EventResult{} }

// Result returns everything seen so far.
func (o *Oracle) Result() Result { return Result{} }

// Expect runs a fresh Oracle over events.
func Expect(events []event.Event, opts Options) Result {
	o := New(opts)
	for _, e := range events {
		o.Add(e)
	}
	return o.Result()
}

// EventResult is the outcome for one input event.
type EventResult struct {
	Index   int     `json:"index"`
	Team    int     `json:"team"`
	Outcome Outcome `json:"outcome"`
	Reason  string  `json:"reason"`
	// DistinctID is the distinct_id the original event gets (rule 7); empty
	// when the event is dropped or PostHog picks a random id.
	DistinctID string `json:"distinct_id,omitempty"`
	// Dropped is true when the original event is not imported at all.
	Dropped bool `json:"dropped,omitempty"`
}

// Identify is one $identify event the worker must emit.
type Identify struct {
	Team           int                `json:"team"`
	DistinctID     string             `json:"distinct_id"`
	Properties     IdentifyProperties `json:"properties"`
	EventIndex     int                `json:"event_index"`
	InsertID       string             `json:"insert_id,omitempty"`
	Timestamp      time.Time          `json:"timestamp"`
	TimestampKnown bool               `json:"timestamp_known"`
}

// IdentifyProperties are the properties of SPEC.md §3 rule 6.
type IdentifyProperties struct {
	AnonDistinctID      string `json:"$anon_distinct_id"`
	AmplitudeUserID     string `json:"$amplitude_user_id"`
	AmplitudeDeviceID   string `json:"$amplitude_device_id"`
	HistoricalMigration bool   `json:"historical_migration"`
	AnalyticsSource     string `json:"analytics_source"`
}

// Finding is a consequence of the rules a tester must know about.
type Finding struct {
	Kind         string `json:"kind"`
	Message      string `json:"message"`
	EventIndexes []int  `json:"event_indexes"`
}

// Result is the oracle's verdict over a stream.
type Result struct {
	Outcomes   []EventResult `json:"outcomes"`
	Identifies []Identify    `json:"identifies"`
	Findings   []Finding     `json:"findings"`
}
