// Package verify compares what PostHog produced from an Amplitude import
// with what the oracle says the batch import worker must produce (SPEC.md
// §3), and writes the verdict as a report for people (WriteText) and for
// machines (WriteJSON).
//
// Each expected $identify is found, missing or wrong; PostHog's other
// $identify events are unexpected or duplicates. Duplicates are classed:
//
//   - predicted: the oracle expects them (padded and plain ids give two
//     identical identifies, its "identical_identifies" finding); fine.
//   - worker_dedup: more identifies of an expected pair than predicted, each
//     at the time of an Amplitude event of that pair. The worker's dedup is
//     best effort (an in-memory cache with a TTL, a chunk's events
//     transformed in parallel), so a pair seen again can identify again. A
//     known worker limitation, named as such; it still fails the verdict,
//     since the migration promised exactly one $identify per pair.
//   - unexplained: any other duplicate; a mismatch.
//
// With Options.CheckEvents the original events are checked too: every event
// the worker keeps is in PostHog exactly once, under the distinct_id of rule
// 7, and no session_start event is there.
package verify

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/oracle"
	"amplitude-testgen/helpers/posthog"
)

// Options configure Compare.
type Options struct {
	// CheckEvents checks the original events as well as the identifies. It
	// needs the Amplitude events.
	CheckEvents bool
}

// Severity says whether an issue fails the verdict.
type Severity string

const (
	SeverityError Severity = "error" // fails the verdict
	SeverityInfo  Severity = "info"  // expected, shown for completeness
)

// Kind names what an Issue is about.
type Kind string

const (
	KindMissingIdentify    Kind = "missing_identify"
	KindWrongIdentify      Kind = "wrong_identify"
	KindUnexpectedIdentify Kind = "unexpected_identify"
	KindDuplicateIdentify  Kind = "duplicate_identify"
	KindEventsNotChecked   Kind = "events_not_checked"
	KindMissingEvent       Kind = "missing_event"
	KindUnexpectedEvent    Kind = "unexpected_event"
	KindDuplicateEvent     Kind = "duplicate_event"
	KindSessionStart       Kind = "session_start_present"
)

// kindOrder is the order of issues in a report.
var kindOrder = []Kind{
	KindMissingIdentify, KindWrongIdentify, KindUnexpectedIdentify, KindDuplicateIdentify,
	KindEventsNotChecked, KindMissingEvent, KindUnexpectedEvent, KindDuplicateEvent, KindSessionStart,
}

// DuplicateClass says why PostHog holds more than one $identify of a pair.
type DuplicateClass string

const (
	DuplicatePredicted   DuplicateClass = "predicted"
	DuplicateWorkerDedup DuplicateClass = "worker_dedup"
	DuplicateUnexplained DuplicateClass = "unexplained"
)

var classOrder = []DuplicateClass{DuplicateUnexplained, DuplicateWorkerDedup, DuplicatePredicted}

// Report is the verdict. Its JSON form has a fixed field and issue order.
type Report struct {
	Verdict    string          `json:"verdict"` // "pass" or "fail"
	Identifies IdentifySummary `json:"identifies"`
	Events     *EventSummary   `json:"events,omitempty"`
	Issues     []Issue         `json:"issues"`
	// Notes are the oracle's findings, which explain some results.
	Notes []Note `json:"notes"`
}

// OK reports whether the verdict is a pass: no issue of severity error.
func (r Report) OK() bool { return r.Verdict == "pass" }

// IdentifySummary counts the $identify comparison. Found + Missing + Wrong
// is Expected.
type IdentifySummary struct {
	Expected   int        `json:"expected"`
	Found      int        `json:"found"`
	Missing    int        `json:"missing"`
	Wrong      int        `json:"wrong"`
	Unexpected int        `json:"unexpected"`
	Duplicates Duplicates `json:"duplicates"`
}

// Duplicates counts the $identify events beyond one per pair, by class.
type Duplicates struct {
	Total       int `json:"total"`
	Predicted   int `json:"predicted"`
	WorkerDedup int `json:"worker_dedup"`
	Unexplained int `json:"unexplained"`
}

// EventSummary counts the original events comparison.
type EventSummary struct {
	Expected     int `json:"expected"`
	Found        int `json:"found"`
	Missing      int `json:"missing"`
	Unexpected   int `json:"unexpected"`
	Duplicates   int `json:"duplicates"`
	SessionStart int `json:"session_start"`
}

// Issue is one row of the report.
type Issue struct {
	Kind     Kind           `json:"kind"`
	Severity Severity       `json:"severity"`
	Class    DuplicateClass `json:"class,omitempty"`
	// DistinctID and AnonDistinctID name the pair as expected (or as found,
	// for what was not expected).
	DistinctID     string `json:"distinct_id"`
	AnonDistinctID string `json:"anon_distinct_id,omitempty"`
	Event          string `json:"event,omitempty"`     // original events only
	Timestamp      string `json:"timestamp,omitempty"` // RFC 3339, UTC, milliseconds
	// EventIndex is the Amplitude event behind the row, when known.
	EventIndex  *int         `json:"event_index,omitempty"`
	Differences []Difference `json:"differences,omitempty"`
	Message     string       `json:"message"`
}

// Difference is one field that is not what the oracle expects.
type Difference struct {
	Field string `json:"field"`
	Want  string `json:"want"`
	Got   string `json:"got"`
}

// Note is an oracle finding carried into the report.
type Note struct {
	Kind         string `json:"kind"`
	Message      string `json:"message"`
	EventIndexes []int  `json:"event_indexes"`
}

// tsLayout writes every timestamp of a report.
const tsLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTS(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(tsLayout)
}

// pair is the identity of an $identify: (distinct_id, $anon_distinct_id).
type pair struct{ distinct, anon string }

// Compare checks actual (every PostHog event read, of any name) against the
// oracle's result. expectedEvents are the Amplitude events the oracle ran
// on, in the same order; they are optional for the identify check (they
// confirm worker_dedup duplicates) and required for CheckEvents.
func Compare(expected oracle.Result, expectedEvents []event.Event, actual []posthog.Event, opts Options) Report {
	c := &comparison{expected: expected, events: expectedEvents}
	for _, ev := range actual {
		if ev.Event == "$identify" {
			c.identifies = append(c.identifies, ev)
		} else {
			c.others = append(c.others, ev)
		}
	}
	c.compareIdentifies()
	var events *EventSummary
	if opts.CheckEvents {
		events = c.compareEvents()
	}
	r := Report{
		Verdict:    "pass",
		Identifies: c.sum,
		Events:     events,
		Issues:     c.issues,
		Notes:      []Note{},
	}
	for _, f := range expected.Findings {
		r.Notes = append(r.Notes, Note{Kind: f.Kind, Message: f.Message, EventIndexes: slices.Clone(f.EventIndexes)})
	}
	if r.Issues == nil {
		r.Issues = []Issue{}
	}
	sortIssues(r.Issues)
	for _, is := range r.Issues {
		if is.Severity == SeverityError {
			r.Verdict = "fail"
		}
	}
	return r
}

type comparison struct {
	expected   oracle.Result
	events     []event.Event
	identifies []posthog.Event // PostHog's $identify events
	others     []posthog.Event // PostHog's other events
	sum        IdentifySummary
	issues     []Issue
	pairEvents map[pair][]int // events by trimmed pair, for extra
}

func (c *comparison) add(is Issue) { c.issues = append(c.issues, is) }

func actualPair(ev posthog.Event) pair {
	anon, _ := ev.StringProp("$anon_distinct_id")
	return pair{ev.DistinctID, anon}
}

func sameMilli(a, b time.Time) bool { return a.UnixMilli() == b.UnixMilli() }

func intPtr(i int) *int { return &i }

func (c *comparison) compareIdentifies() {
	exp := c.expected.Identifies
	c.sum.Expected = len(exp)

	// Both sides grouped by pair, in a fixed order: expected by event
	// index, actual by timestamp then uuid.
	act := slices.Clone(c.identifies)
	slices.SortStableFunc(act, func(a, b posthog.Event) int {
		return cmp.Or(a.Timestamp.Compare(b.Timestamp), cmp.Compare(a.UUID, b.UUID))
	})
	expBy := map[pair][]int{}
	var pairs []pair
	for i, id := range exp {
		p := pair{id.DistinctID, id.Properties.AnonDistinctID}
		if _, ok := expBy[p]; !ok {
			pairs = append(pairs, p)
		}
		expBy[p] = append(expBy[p], i)
	}
	actBy := map[pair][]int{}
	var actPairs []pair
	for i, ev := range act {
		p := actualPair(ev)
		if _, ok := actBy[p]; !ok {
			actPairs = append(actPairs, p)
		}
		actBy[p] = append(actBy[p], i)
	}

	expLeft := map[int]bool{} // expected identifies with no same-pair match
	used := make([]bool, len(act))
	for _, p := range pairs {
		ms := c.matchPair(expBy[p], actBy[p], act, used, expLeft)
		for i, m := range ms {
			c.checkMatch(exp[m.exp], act[m.act])
			if i > 0 {
				c.predicted(p, len(ms), act[m.act], exp[m.exp].EventIndex)
			}
		}
		// More in PostHog than predicted: duplicates of an expected pair.
		for _, ai := range actBy[p] {
			if !used[ai] {
				used[ai] = true
				c.extra(p, act[ai])
			}
		}
	}

	// Expected identifies nothing of their pair answered: wrong when an
	// identify of another pair sits at the same time under the same
	// distinct_id (or the same $anon_distinct_id), missing otherwise.
	for ei := range exp {
		if !expLeft[ei] {
			continue
		}
		if ai, ok := c.findWrong(exp[ei], act, used); ok {
			used[ai] = true
			c.checkMatch(exp[ei], act[ai])
			continue
		}
		c.missing(ei)
	}

	// What is left was never expected: the first of each pair is
	// unexpected, the rest duplicates of it.
	for _, p := range actPairs {
		first := true
		for _, ai := range actBy[p] {
			if used[ai] {
				continue
			}
			used[ai] = true
			ev := act[ai]
			if first {
				first = false
				c.sum.Unexpected++
				c.add(Issue{
					Kind: KindUnexpectedIdentify, Severity: SeverityError,
					DistinctID: p.distinct, AnonDistinctID: p.anon, Timestamp: formatTS(ev.Timestamp),
					Message: "in PostHog, but the oracle expects no $identify for this pair",
				})
				continue
			}
			c.duplicate(DuplicateUnexplained, p, ev, nil,
				"another $identify of a pair the oracle never expected at all")
		}
	}
}

type match struct{ exp, act int }

// matchPair pairs the expected and actual identifies of one pair: same
// millisecond first, then in time order. Unmatched expected ones go to left.
func (c *comparison) matchPair(expIdx, actIdx []int, act []posthog.Event, used []bool, left map[int]bool) []match {
	exp := c.expected.Identifies
	var out []match
	pending := []int{}
	for _, ei := range expIdx {
		found := false
		if exp[ei].TimestampKnown {
			for _, ai := range actIdx {
				if !used[ai] && sameMilli(act[ai].Timestamp, exp[ei].Timestamp) {
					used[ai], found = true, true
					out = append(out, match{ei, ai})
					break
				}
			}
		}
		if !found {
			pending = append(pending, ei)
		}
	}
	for _, ei := range pending {
		found := false
		for _, ai := range actIdx {
			if !used[ai] {
				used[ai], found = true, true
				out = append(out, match{ei, ai})
				break
			}
		}
		if !found {
			left[ei] = true
		}
	}
	slices.SortFunc(out, func(a, b match) int { return a.exp - b.exp })
	return out
}

// findWrong looks for an unused identify of another pair that is the
// expected one with a wrong id: same time, same distinct_id or same
// $anon_distinct_id.
func (c *comparison) findWrong(want oracle.Identify, act []posthog.Event, used []bool) (int, bool) {
	for _, sameDistinct := range []bool{true, false} {
		for ai, ev := range act {
			if used[ai] {
				continue
			}
			if want.TimestampKnown && !sameMilli(ev.Timestamp, want.Timestamp) {
				continue
			}
			p := actualPair(ev)
			if sameDistinct && p.distinct == want.DistinctID {
				return ai, true
			}
			if !sameDistinct && want.TimestampKnown && p.anon == want.Properties.AnonDistinctID {
				return ai, true
			}
		}
	}
	return 0, false
}

// checkMatch compares one expected identify with the PostHog one taken for
// it: found when every field agrees, wrong otherwise.
func (c *comparison) checkMatch(want oracle.Identify, got posthog.Event) {
	var diffs []Difference
	diffStr := func(field, w, g string) {
		if w != g {
			diffs = append(diffs, Difference{field, quote(w), quote(g)})
		}
	}
	diffStr("distinct_id", want.DistinctID, got.DistinctID)
	diffProp := func(name string, w any) {
		g, ok := got.Properties[name]
		if !ok {
			diffs = append(diffs, Difference{name, render(w), "absent"})
			return
		}
		if render(g) != render(w) {
			diffs = append(diffs, Difference{name, render(w), render(g)})
		}
	}
	p := want.Properties
	diffProp("$anon_distinct_id", p.AnonDistinctID)
	diffProp("$amplitude_user_id", p.AmplitudeUserID)
	diffProp("$amplitude_device_id", p.AmplitudeDeviceID)
	diffProp("historical_migration", p.HistoricalMigration)
	diffProp("analytics_source", p.AnalyticsSource)
	if want.TimestampKnown && !sameMilli(want.Timestamp, got.Timestamp) {
		g := formatTS(got.Timestamp)
		if g == "" {
			g = "absent"
		}
		diffs = append(diffs, Difference{"timestamp", formatTS(want.Timestamp), g})
	}
	if len(diffs) == 0 {
		c.sum.Found++
		return
	}
	c.sum.Wrong++
	c.add(Issue{
		Kind: KindWrongIdentify, Severity: SeverityError,
		DistinctID: want.DistinctID, AnonDistinctID: p.AnonDistinctID, Timestamp: expectedTS(want),
		EventIndex: intPtr(want.EventIndex), Differences: diffs,
		Message: "in PostHog with other values",
	})
}

func expectedTS(id oracle.Identify) string {
	if !id.TimestampKnown {
		return ""
	}
	return formatTS(id.Timestamp)
}

func (c *comparison) missing(ei int) {
	id := c.expected.Identifies[ei]
	c.sum.Missing++
	msg := "not in PostHog"
	if f, ok := c.identicalFinding(pair{id.DistinctID, id.Properties.AnonDistinctID}); ok {
		msg += fmt.Sprintf("; the oracle expects %d identical identifies of this pair (events %s)", len(f.EventIndexes), joinInts(f.EventIndexes))
	}
	c.add(Issue{
		Kind: KindMissingIdentify, Severity: SeverityError,
		DistinctID: id.DistinctID, AnonDistinctID: id.Properties.AnonDistinctID, Timestamp: expectedTS(id),
		EventIndex: intPtr(id.EventIndex), Message: msg,
	})
}

func (c *comparison) identicalFinding(p pair) (oracle.Finding, bool) {
	for _, f := range c.expected.Findings {
		if f.Kind == oracle.FindingIdenticalIdentifies && f.DistinctID == p.distinct && f.AnonDistinctID == p.anon {
			return f, true
		}
	}
	return oracle.Finding{}, false
}

// predicted records one of the n identical identifies the oracle expects
// for p, beyond the first: ev is the PostHog event matched to the expected
// identify of event index.
func (c *comparison) predicted(p pair, n int, ev posthog.Event, index int) {
	msg := fmt.Sprintf("%d identical $identify events of this pair, as the oracle predicts", n)
	if f, ok := c.identicalFinding(p); ok {
		msg += fmt.Sprintf(": events %s carry ids that differ only by whitespace, so the worker sees different keys and trims them to one pair", joinInts(f.EventIndexes))
	}
	c.duplicate(DuplicatePredicted, p, ev, intPtr(index), msg)
}

// extra classes one more identify of an expected pair than predicted.
func (c *comparison) extra(p pair, ev posthog.Event) {
	if c.events == nil {
		c.duplicate(DuplicateWorkerDedup, p, ev, nil,
			"more $identify events of this pair than predicted; taken for the worker's best-effort dedup, not confirmed: no Amplitude events were given to check its time against")
		return
	}
	if c.pairEvents == nil {
		// Built once, on the first extra: the events of each trimmed pair
		// that reach identify logic.
		c.pairEvents = map[pair][]int{}
		for i, e := range c.events {
			if e.EventType == nil || *e.EventType == "session_start" || e.UserID == nil || e.DeviceID == nil {
				continue
			}
			k := pair{strings.TrimSpace(*e.UserID), strings.TrimSpace(*e.DeviceID)}
			c.pairEvents[k] = append(c.pairEvents[k], i)
		}
	}
	var seenAt []int
	for _, i := range c.pairEvents[p] {
		e := c.events[i]
		known := e.TimeKnown()
		if !known || ev.Timestamp.IsZero() || sameMilli(e.Timestamp(), ev.Timestamp) {
			seenAt = append(seenAt, i)
		}
	}
	if len(seenAt) == 0 {
		c.duplicate(DuplicateUnexplained, p, ev, nil,
			"more $identify events of this pair than predicted, at a time that matches no Amplitude event of the pair")
		return
	}
	c.duplicate(DuplicateWorkerDedup, p, ev, intPtr(seenAt[0]),
		fmt.Sprintf("more $identify events of this pair than predicted, at the time of event %d of the same pair: the worker's best-effort dedup (in-memory cache with a TTL, parallel transform of a chunk) identified it again; a known worker limitation", seenAt[0]))
}

func (c *comparison) duplicate(class DuplicateClass, p pair, ev posthog.Event, idx *int, msg string) {
	sev := SeverityError
	switch class {
	case DuplicatePredicted:
		c.sum.Duplicates.Predicted++
		sev = SeverityInfo
	case DuplicateWorkerDedup:
		c.sum.Duplicates.WorkerDedup++
	case DuplicateUnexplained:
		c.sum.Duplicates.Unexplained++
	}
	c.sum.Duplicates.Total++
	c.add(Issue{
		Kind: KindDuplicateIdentify, Severity: sev, Class: class,
		DistinctID: p.distinct, AnonDistinctID: p.anon, Timestamp: formatTS(ev.Timestamp),
		EventIndex: idx, Message: msg,
	})
}

// quote writes a string value for a Difference.
func quote(s string) string { return fmt.Sprintf("%q", s) }

// render writes a property value for a Difference: strings quoted, the rest
// as JSON.
func render(v any) string {
	if s, ok := v.(string); ok {
		return quote(s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

func sortIssues(issues []Issue) {
	rank := func(k Kind) int { return slices.Index(kindOrder, k) }
	classRank := func(c DuplicateClass) int { return slices.Index(classOrder, c) }
	idx := func(p *int) int {
		if p == nil {
			return -1
		}
		return *p
	}
	slices.SortStableFunc(issues, func(a, b Issue) int {
		return cmp.Or(
			cmp.Compare(rank(a.Kind), rank(b.Kind)),
			cmp.Compare(classRank(a.Class), classRank(b.Class)),
			cmp.Compare(a.Timestamp, b.Timestamp),
			cmp.Compare(a.DistinctID, b.DistinctID),
			cmp.Compare(a.AnonDistinctID, b.AnonDistinctID),
			cmp.Compare(a.Event, b.Event),
			cmp.Compare(idx(a.EventIndex), idx(b.EventIndex)),
		)
	})
}
