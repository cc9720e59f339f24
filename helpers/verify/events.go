package verify

import (
	"cmp"
	"fmt"
	"slices"

	"amplitude-testgen/helpers/oracle"
	"amplitude-testgen/helpers/posthog"
)

// postHogEventName is the name the worker gives an Amplitude event_type: a
// few of Amplitude's autocaptured events become PostHog's own.
func postHogEventName(eventType string) string {
	switch eventType {
	case "[Amplitude] Page Viewed":
		return "$pageview"
	case "[Amplitude] Element Clicked", "[Amplitude] Element Changed":
		return "$autocapture"
	}
	return eventType
}

// wantEvent is one original event the worker must import.
type wantEvent struct {
	index    int
	name     string
	distinct string // "" when PostHog picks a random id
	device   string // $amplitude_device_id: the raw device_id, "" when absent
	ts       int64  // milliseconds
	timed    bool   // false: PostHog stamps the import time
}

// eventKey finds PostHog events by what the worker keeps of an original
// event: its name, time and raw device id.
type eventKey struct {
	name   string
	ts     int64
	device string
}

func (c *comparison) compareEvents() *EventSummary {
	sum := &EventSummary{}
	if c.events == nil {
		c.add(Issue{
			Kind: KindEventsNotChecked, Severity: SeverityError,
			Message: "the events check needs the Amplitude events the oracle ran on; none were given",
		})
		return sum
	}
	outcomes := c.expected.Outcomes
	if len(outcomes) != len(c.events) {
		// A result built without KeepOutcomes has no per-event outcome;
		// the rules are cheap to run again.
		outcomes = oracle.Expect(c.events, oracle.Options{}).Outcomes
	}
	var wants []wantEvent
	for _, o := range outcomes {
		if o.Dropped {
			continue
		}
		e := c.events[o.Index]
		w := wantEvent{index: o.Index, name: postHogEventName(*e.EventType), distinct: o.DistinctID,
			timed: e.TimeKnown()}
		if e.DeviceID != nil {
			w.device = *e.DeviceID
		}
		if w.timed {
			w.ts = e.Time
		}
		wants = append(wants, w)
	}
	sum.Expected = len(wants)

	act := slices.Clone(c.others)
	slices.SortStableFunc(act, func(a, b posthog.Event) int {
		return cmp.Or(a.Timestamp.Compare(b.Timestamp), cmp.Compare(a.Event, b.Event),
			cmp.Compare(a.DistinctID, b.DistinctID), cmp.Compare(a.UUID, b.UUID))
	})
	// Indexes keep the matching linear: by name, time and device for
	// events with a known time, by name and device for the others.
	byKey := map[eventKey][]int{}
	byNameDevice := map[eventKey][]int{}
	for i, ev := range act {
		device, _ := ev.StringProp("$amplitude_device_id")
		k := eventKey{ev.Event, ev.Timestamp.UnixMilli(), device}
		byKey[k] = append(byKey[k], i)
		nd := eventKey{name: ev.Event, device: device}
		byNameDevice[nd] = append(byNameDevice[nd], i)
	}
	used := make([]bool, len(act))
	matchedKeys := map[eventKey]bool{}
	take := func(w wantEvent) bool {
		cands := byNameDevice[eventKey{name: w.name, device: w.device}]
		if w.timed {
			cands = byKey[eventKey{w.name, w.ts, w.device}]
		}
		for _, i := range cands {
			ev := act[i]
			if used[i] || (w.distinct != "" && ev.DistinctID != w.distinct) {
				continue
			}
			used[i] = true
			matchedKeys[eventKey{ev.Event, ev.Timestamp.UnixMilli(), w.device}] = true
			return true
		}
		return false
	}
	// Exact wants first (known time and distinct_id), so that the looser
	// ones (random distinct_id, import time) cannot take their events.
	found := make([]bool, len(wants))
	for pass := range 2 {
		for i, w := range wants {
			exact := w.timed && w.distinct != ""
			if found[i] || exact != (pass == 0) {
				continue
			}
			found[i] = take(w)
		}
	}
	for i, w := range wants {
		if found[i] {
			sum.Found++
			continue
		}
		sum.Missing++
		is := Issue{
			Kind: KindMissingEvent, Severity: SeverityError, DistinctID: w.distinct, Event: w.name,
			EventIndex: intPtr(w.index), Message: "not in PostHog",
		}
		if w.timed {
			is.Timestamp = formatTS(c.events[w.index].Timestamp())
		}
		if w.distinct == "" {
			is.Message = "not in PostHog (under a random distinct_id: the event has neither user_id nor device_id)"
		}
		c.add(is)
	}
	for i, ev := range act {
		if used[i] {
			continue
		}
		device, _ := ev.StringProp("$amplitude_device_id")
		is := Issue{DistinctID: ev.DistinctID, Event: ev.Event, Timestamp: formatTS(ev.Timestamp), Severity: SeverityError}
		switch {
		case ev.Event == "session_start":
			sum.SessionStart++
			is.Kind = KindSessionStart
			is.Message = "the worker drops session_start events; PostHog should have none"
		case matchedKeys[eventKey{ev.Event, ev.Timestamp.UnixMilli(), device}]:
			sum.Duplicates++
			is.Kind = KindDuplicateEvent
			is.Message = "the same event is in PostHog more than once (imported twice?)"
		default:
			sum.Unexpected++
			is.Kind = KindUnexpectedEvent
			is.Message = fmt.Sprintf("in PostHog, but no Amplitude event the worker keeps matches it ($amplitude_device_id %q)", device)
		}
		c.add(is)
	}
	return sum
}
