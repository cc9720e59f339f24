// Package oracle predicts what PostHog's batch import worker does with an
// Amplitude event stream when it generates identify events (SPEC.md §3):
// which events trigger an $identify, with which ids and timestamp, and why
// every other event triggers none.
//
// The oracle reads events only, never scenario definitions, so it can judge
// any stream: the standard dataset, an Amplitude export, or a hand-written
// fixture. It mirrors the worker's rules in the worker's order:
//
//  1. no event_type: the event is dropped;
//  2. event_type "session_start": dropped before identify logic;
//  3. identify logic only when user_id and device_id are both present
//     (null and missing are absent, "" is present);
//  4. the dedup key is (team, user_id, device_id) as received, untrimmed;
//  5. a new key whose trimmed user_id or device_id is empty makes the worker
//     fail ("user_id cannot be empty" / "device_id cannot be empty") before
//     it remembers the key;
//  6. otherwise one $identify with the trimmed ids, and the key is remembered;
//  7. the original event goes to user_id, else device_id (untrimmed), else a
//     random id.
//
// Consequences of these rules that surprise testers (identical identifies,
// split persons, import errors, unknown timestamps) are reported as Findings.
package oracle

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"amplitude-testgen/helpers/event"
)

// Outcome is what the worker does with one event, identify-wise.
type Outcome string

// The outcomes, one per rule that can decide an event.
const (
	OutcomeIdentify            Outcome = "identify"
	OutcomeDuplicate           Outcome = "duplicate"
	OutcomeAnonymous           Outcome = "anonymous"
	OutcomeNoDevice            Outcome = "no_device"
	OutcomeDroppedSessionStart Outcome = "dropped_session_start"
	OutcomeDroppedNoEventType  Outcome = "dropped_no_event_type"
	OutcomeImportError         Outcome = "import_error"
)

// AllOutcomes lists every Outcome in a fixed order (the order of Counts).
func AllOutcomes() []Outcome {
	return []Outcome{
		OutcomeIdentify, OutcomeDuplicate, OutcomeAnonymous, OutcomeNoDevice,
		OutcomeDroppedSessionStart, OutcomeDroppedNoEventType, OutcomeImportError,
	}
}

// The worker's error messages for an id that is empty after trimming.
const (
	ErrUserIDEmpty   = "user_id cannot be empty"
	ErrDeviceIDEmpty = "device_id cannot be empty"
)

// Finding kinds.
const (
	FindingImportError         = "import_error"
	FindingIdenticalIdentifies = "identical_identifies"
	FindingSplitPerson         = "split_person"
	FindingTimestampUnknown    = "timestamp_unknown"
)

// Options configure an Oracle.
type Options struct {
	Team int // team of events added with Add; 0 means 1

	// KeepOutcomes makes Result list every event's EventResult with its
	// reason. Without it the oracle keeps only what a long stream needs
	// (identifies, counts and the events behind findings), so a run over
	// millions of events does not hold millions of reason strings.
	// Expect always keeps them.
	KeepOutcomes bool
}

// key is the worker's dedup key: the ids exactly as received. A struct of
// the event's own strings costs no allocation to build or look up.
type key struct {
	team   int
	user   string
	device string
}

// padded remembers an identify whose raw ids carried whitespace, for the
// identical_identifies and split_person findings.
type padded struct {
	team, index  int    // the identify's team and triggering event
	user, device string // raw ids
	tu, td       string // trimmed ids
}

// importError remembers an event that fails the import.
type importError struct {
	index        int
	msg          string
	user, device string // raw ids
}

// Oracle consumes events one at a time, in import order. It is not safe for
// concurrent use: the worker's answer depends on the order of events.
type Oracle struct {
	team         int
	keep         bool
	next         int         // index of the next event
	seen         map[key]int // raw key -> index of the event that identified it
	counts       [7]int      // by outcomeIndex
	outcomes     []EventResult
	identifies   []Identify
	padded       []padded
	importErrors []importError
	untimed      []int // indexes of identify-triggering events with no time
}

// New returns an Oracle.
func New(opts Options) *Oracle {
	team := opts.Team
	if team == 0 {
		team = 1
	}
	return &Oracle{team: team, keep: opts.KeepOutcomes, seen: make(map[key]int)}
}

// Add applies the rules to the next event, for the default team.
func (o *Oracle) Add(e event.Event) EventResult { return o.AddTeam(o.team, e) }

// AddTeam applies the rules to the next event, for the given team. Teams
// never share dedup keys: the same pair in two teams identifies twice.
func (o *Oracle) AddTeam(team int, e event.Event) EventResult {
	r, d := o.apply(team, &e)
	r.Reason = reason(&r, &e, &d)
	if o.keep {
		o.outcomes = append(o.outcomes, r)
	}
	return r
}

// Step is AddTeam for long streams whose caller wants only the outcome: it
// builds no reason unless the Oracle keeps outcomes.
func (o *Oracle) Step(team int, e event.Event) Outcome {
	r, d := o.apply(team, &e)
	if o.keep {
		r.Reason = reason(&r, &e, &d)
		o.outcomes = append(o.outcomes, r)
	}
	return r.Outcome
}

// detail is what a reason needs beyond the EventResult.
type detail struct {
	earlier       int    // duplicate: the event that identified the key
	errMsg        string // import_error: the worker's message
	trimmedUser   string
	trimmedDevice string
	untimed       bool // identify: the triggering event has no time
	randomID      bool // rule 7 found no id: PostHog picks a random one
}

// apply runs rules 1 to 7 on one event. It is the hot path: no fmt, no
// allocation except for the identify list and the dedup set.
func (o *Oracle) apply(team int, e *event.Event) (EventResult, detail) {
	r := EventResult{Index: o.next, Team: team}
	var d detail
	o.next++

	switch {
	case e.EventType == nil:
		r.Outcome, r.Dropped = OutcomeDroppedNoEventType, true
	case *e.EventType == "session_start":
		r.Outcome, r.Dropped = OutcomeDroppedSessionStart, true
	case e.UserID == nil:
		r.Outcome = OutcomeAnonymous
	case e.DeviceID == nil:
		r.Outcome = OutcomeNoDevice
	default:
		user, device := *e.UserID, *e.DeviceID
		k := key{team: team, user: user, device: device}
		if first, ok := o.seen[k]; ok {
			r.Outcome, d.earlier = OutcomeDuplicate, first
			break
		}
		tu, td := strings.TrimSpace(user), strings.TrimSpace(device)
		d.trimmedUser, d.trimmedDevice = tu, td
		switch {
		case tu == "":
			d.errMsg = ErrUserIDEmpty
		case td == "":
			d.errMsg = ErrDeviceIDEmpty
		}
		if d.errMsg != "" {
			// The worker errors before it remembers the key, so the same
			// pair fails again every time it comes back.
			r.Outcome, r.Dropped = OutcomeImportError, true
			o.importErrors = append(o.importErrors, importError{index: r.Index, msg: d.errMsg, user: user, device: device})
			break
		}
		r.Outcome = OutcomeIdentify
		o.seen[k] = r.Index
		known := e.TimeKnown()
		id := Identify{
			Team:       team,
			DistinctID: tu,
			Properties: IdentifyProperties{
				AnonDistinctID:      td,
				AmplitudeUserID:     tu,
				AmplitudeDeviceID:   td,
				HistoricalMigration: true,
				AnalyticsSource:     "amplitude",
			},
			EventIndex:     r.Index,
			InsertID:       e.InsertID,
			TimestampKnown: known,
		}
		if known {
			id.Timestamp = e.Timestamp()
		} else {
			d.untimed = true
			o.untimed = append(o.untimed, r.Index)
		}
		if len(tu) != len(user) || len(td) != len(device) {
			o.padded = append(o.padded, padded{team: team, index: r.Index, user: user, device: device, tu: tu, td: td})
		}
		o.identifies = append(o.identifies, id)
	}
	o.counts[outcomeIndex(r.Outcome)]++

	if !r.Dropped {
		// Rule 7: the original event's distinct_id, untrimmed.
		switch {
		case e.UserID != nil && *e.UserID != "":
			r.DistinctID = *e.UserID
		case e.DeviceID != nil && *e.DeviceID != "":
			r.DistinctID = *e.DeviceID
		default:
			d.randomID = true
		}
	}
	return r, d
}

func outcomeIndex(o Outcome) int {
	switch o {
	case OutcomeIdentify:
		return 0
	case OutcomeDuplicate:
		return 1
	case OutcomeAnonymous:
		return 2
	case OutcomeNoDevice:
		return 3
	case OutcomeDroppedSessionStart:
		return 4
	case OutcomeDroppedNoEventType:
		return 5
	case OutcomeImportError:
		return 6
	}
	return -1
}

// Result returns everything seen so far. The slices it returns are not
// changed by later calls to Add.
func (o *Oracle) Result() Result {
	c := o.counts
	r := Result{
		Outcomes:   slices.Clip(o.outcomes),
		Identifies: slices.Clip(o.identifies),
		Findings:   o.findings(),
		Counts: Counts{
			Events:              o.next,
			Identify:            c[0],
			Duplicate:           c[1],
			Anonymous:           c[2],
			NoDevice:            c[3],
			DroppedSessionStart: c[4],
			DroppedNoEventType:  c[5],
			ImportError:         c[6],
		},
		IdentifyCount: c[0],
		ImportErrors:  c[6],
	}
	// Empty lists, not null, keep the JSON form uniform.
	if r.Outcomes == nil {
		r.Outcomes = []EventResult{}
	}
	if r.Identifies == nil {
		r.Identifies = []Identify{}
	}
	return r
}

// Expect runs a fresh Oracle over events, keeping every outcome.
func Expect(events []event.Event, opts Options) Result {
	opts.KeepOutcomes = true
	o := New(opts)
	for i := range events {
		o.Add(events[i])
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
	Timestamp      time.Time          `json:"timestamp"`       // zero when not known
	TimestampKnown bool               `json:"timestamp_known"` // false: PostHog uses the import time
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
	// Team, DistinctID and AnonDistinctID name the identify a finding is
	// about (identical_identifies, split_person), with the trimmed ids.
	Team           int    `json:"team,omitempty"`
	DistinctID     string `json:"distinct_id,omitempty"`
	AnonDistinctID string `json:"anon_distinct_id,omitempty"`
	// UserID and DeviceID are the raw ids as received (split_person).
	UserID   string `json:"user_id,omitempty"`
	DeviceID string `json:"device_id,omitempty"`
}

// Counts are the number of events per outcome, in a fixed order.
type Counts struct {
	Events              int `json:"events"`
	Identify            int `json:"identify"`
	Duplicate           int `json:"duplicate"`
	Anonymous           int `json:"anonymous"`
	NoDevice            int `json:"no_device"`
	DroppedSessionStart int `json:"dropped_session_start"`
	DroppedNoEventType  int `json:"dropped_no_event_type"`
	ImportError         int `json:"import_error"`
}

// Result is the oracle's verdict over a stream.
type Result struct {
	// Outcomes has one entry per event when the oracle keeps outcomes
	// (Options.KeepOutcomes, Expect), and is empty otherwise.
	Outcomes      []EventResult `json:"outcomes"`
	Identifies    []Identify    `json:"identifies"`
	Findings      []Finding     `json:"findings"`
	Counts        Counts        `json:"counts"`
	IdentifyCount int           `json:"identify_count"`
	ImportErrors  int           `json:"import_errors"`
}

// Count returns the number of events with outcome o.
func (r Result) Count(o Outcome) int {
	c := r.Counts
	switch o {
	case OutcomeIdentify:
		return c.Identify
	case OutcomeDuplicate:
		return c.Duplicate
	case OutcomeAnonymous:
		return c.Anonymous
	case OutcomeNoDevice:
		return c.NoDevice
	case OutcomeDroppedSessionStart:
		return c.DroppedSessionStart
	case OutcomeDroppedNoEventType:
		return c.DroppedNoEventType
	case OutcomeImportError:
		return c.ImportError
	}
	return 0
}

// reason explains one EventResult in a sentence. String concatenation keeps
// it cheap enough to build for every event of a large stream.
func reason(r *EventResult, e *event.Event, d *detail) string {
	var s string
	switch r.Outcome {
	case OutcomeDroppedNoEventType:
		return "event has no event_type: PostHog drops it and emits nothing"
	case OutcomeDroppedSessionStart:
		return `event_type is "session_start": PostHog drops the event before identify logic, so it identifies nothing`
	case OutcomeAnonymous:
		if e.DeviceID == nil {
			s = "event has neither user_id nor device_id: no identify"
		} else {
			s = "event has no user_id: device " + strconv.Quote(*e.DeviceID) + " stays anonymous, no identify"
		}
	case OutcomeNoDevice:
		s = "user " + strconv.Quote(*e.UserID) + " has no device_id: nothing to link, no identify"
	case OutcomeDuplicate:
		s = "user " + strconv.Quote(*e.UserID) + " with device " + strconv.Quote(*e.DeviceID) +
			" was already identified by event " + strconv.Itoa(d.earlier) + ": no identify"
	case OutcomeImportError:
		which, id := "user_id", *e.UserID
		if d.errMsg == ErrDeviceIDEmpty {
			which, id = "device_id", *e.DeviceID
		}
		return which + " " + strconv.Quote(id) + " is empty after trimming: the worker fails with \"" + d.errMsg +
			"\"; in current versions the import chunk fails and the import pauses"
	case OutcomeIdentify:
		s = "first time user " + strconv.Quote(*e.UserID) + " is seen with device " + strconv.Quote(*e.DeviceID)
		if d.trimmedUser != *e.UserID || d.trimmedDevice != *e.DeviceID {
			s += "; the identify uses the trimmed ids " + strconv.Quote(d.trimmedUser) + " and " + strconv.Quote(d.trimmedDevice)
		}
		if d.untimed {
			s += "; the event has no parsable time, so PostHog stamps the identify with the import time"
		}
	}
	if d.randomID {
		s += "; user_id and device_id are empty, so PostHog gives the event a random uuid as distinct_id"
	}
	return s
}
