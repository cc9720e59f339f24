// Package scenario holds the 7 scenarios of the standard dataset and the
// generator that lays them out in a time window (SPEC.md §2): 45 events of
// which exactly 30 must make PostHog's batch import emit an $identify.
//
// The scenarios are data (scenarios.go). Each carries a narrative schedule
// (duplicates 5 minutes apart, a journey over 12 hours, ...); Generate lays
// the whole schedule into the requested window, keeping its real spacing
// when it fits and compressing it proportionally when it does not, so that
// event times always increase strictly, millisecond by millisecond.
//
// Everything that varies is an input: the seed drives the event types, the
// window drives the times, Now is written as generated_at. Same options,
// same bytes.
package scenario

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"amplitude-testgen/helpers/dataset"
	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/timerange"
)

// Version is the generator version written into the metadata. Bump it when
// a change alters the bytes generated for the same options.
const Version = "1.0.0"

// pcgStream is the fixed second word of the PCG state. Together with the
// seed it pins the random sequence; math/rand/v2's PCG is specified, so the
// sequence does not change between Go releases.
const pcgStream = 0x616d706c69747564 // "amplitud"

// ErrWindowTooSmall reports a time window that cannot hold every event on
// its own millisecond.
var ErrWindowTooSmall = errors.New("time window too small")

// Options control generation. Same options, same bytes.
type Options struct {
	Seed    int64           // seeds the random source for event types; >= 0
	Range   timerange.Range // every event time falls inside it
	Cluster string          // "us" or "eu" (any case), recorded in metadata
	Now     time.Time       // the injected clock: generated_at
}

// FixedOptions are the inputs of the golden files and of the examples in
// the documentation: seed 1, the day 2024-01-15 UTC, the US cluster.
func FixedOptions() Options {
	start := time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC)
	end := start.Add(24 * time.Hour)
	return Options{
		Seed:    1,
		Range:   timerange.Range{Start: start, End: end},
		Cluster: "us",
		Now:     end,
	}
}

// Scenario summarises one scenario of the standard dataset.
type Scenario struct {
	Name        string
	Number      int // 1 to 7, the order of generation
	Description string
	Events      int
	Identifies  int // events that must trigger an $identify
}

// All lists the 7 scenarios in generation order.
func All() []Scenario {
	defs := definitions()
	out := make([]Scenario, len(defs))
	for i, d := range defs {
		out[i] = Scenario{Name: d.name, Number: d.number, Description: d.description, Events: len(d.steps)}
		for _, s := range d.steps {
			if s.identify {
				out[i].Identifies++
			}
		}
	}
	return out
}

// Generate builds the standard dataset: 45 events, 30 expected identifies.
func Generate(opts Options) (*dataset.Dataset, error) {
	cluster, err := validate(opts)
	if err != nil {
		return nil, err
	}
	defs := definitions()

	// The nominal schedule: each scenario's offsets, one scenario after
	// the other with a gap between them.
	var offsets []int64
	var cursor time.Duration
	for _, d := range defs {
		for _, s := range d.steps {
			offsets = append(offsets, (cursor + s.at).Milliseconds())
		}
		cursor += d.steps[len(d.steps)-1].at + gapBetweenScenarios
	}
	times, err := layout(offsets, opts.Range)
	if err != nil {
		return nil, err
	}

	rng := rand.New(rand.NewPCG(uint64(opts.Seed), pcgStream))
	rangeStart := opts.Range.Start.UTC().Format(time.RFC3339Nano)
	rangeEnd := opts.Range.End.UTC().Format(time.RFC3339Nano)
	generatedAt := opts.Now.UTC().Format(time.RFC3339)

	d := &dataset.Dataset{
		Metadata: dataset.Metadata{
			GeneratedAt: generatedAt,
			Generator:   dataset.Generator{Name: dataset.GeneratorName, Version: Version},
			Seed:        opts.Seed,
			Cluster:     cluster,
			TimeRange:   dataset.TimeRange{Start: rangeStart, End: rangeEnd},
			TotalEvents: len(offsets),
			Scenarios:   make([]dataset.ScenarioSummary, 0, len(defs)),
		},
		Events:             make([]event.Event, 0, len(offsets)),
		ExpectedIdentifies: []dataset.ExpectedIdentify{},
	}
	for _, def := range defs {
		summary := dataset.ScenarioSummary{Name: def.name, Events: len(def.steps)}
		for i, s := range def.steps {
			index := len(d.Events)
			eventType := s.eventType
			if eventType == "" {
				eventType = eventTypes[rng.IntN(len(eventTypes))]
			}
			e := event.Event{
				EventType: event.Str(eventType),
				DeviceID:  event.Str(s.device),
				Time:      times[index],
				HasTime:   true,
				InsertID:  insertID(opts.Seed, def.name, i, rangeStart, rangeEnd),
				EventProperties: map[string]any{
					"scenario":          def.name,
					"scenario_number":   def.number,
					"expected_identify": s.identify,
					"pair":              s.pair,
					"step":              i + 1,
					"context":           s.context,
					"time_range_start":  rangeStart,
					"time_range_end":    rangeEnd,
				},
				UserProperties: map[string]any{
					"test_scenario": true,
					"generated_at":  generatedAt,
				},
			}
			if s.user != nil {
				e.UserID = event.Str(*s.user)
			}
			d.Events = append(d.Events, e)
			if s.identify {
				summary.Identifies++
				d.ExpectedIdentifies = append(d.ExpectedIdentifies, dataset.ExpectedIdentify{
					Scenario:   def.name,
					EventIndex: index,
					InsertID:   e.InsertID,
					// PostHog trims both ids when it builds the identify.
					DistinctID:     strings.TrimSpace(*s.user),
					AnonDistinctID: strings.TrimSpace(s.device),
					Time:           e.Time,
				})
			}
		}
		d.Metadata.Scenarios = append(d.Metadata.Scenarios, summary)
	}
	d.Metadata.ExpectedIdentifyEvents = len(d.ExpectedIdentifies)
	return d, nil
}

// validate checks opts and returns the normalised cluster.
func validate(opts Options) (string, error) {
	if opts.Seed < 0 {
		return "", fmt.Errorf("seed %d: want a seed >= 0", opts.Seed)
	}
	cluster := strings.ToLower(opts.Cluster)
	if cluster != "us" && cluster != "eu" {
		return "", fmt.Errorf("cluster %q: want us or eu", opts.Cluster)
	}
	if !opts.Range.Start.Before(opts.Range.End) {
		return "", fmt.Errorf("time range %s to %s: want the start before the end",
			opts.Range.Start.UTC().Format(time.RFC3339Nano), opts.Range.End.UTC().Format(time.RFC3339Nano))
	}
	return cluster, nil
}

// layout maps nominal offsets (ms from the first event, strictly
// increasing, the first 0) to event times in ms inside r, strictly
// increasing.
//
// Let W be the width of the window in whole milliseconds and D the last
// offset. If D <= W the schedule keeps its real spacing from the window's
// first millisecond. Otherwise event i goes to
//
//	start + i + floor(offset_i * (W - (n-1)) / D)
//
// The floor term never decreases with i, so adding i makes the times
// strictly increasing; the first is start and the last is start + W, the
// window's last millisecond. That needs only W >= n-1, i.e. n distinct
// milliseconds, and the spacing stays proportional to within n-1 ms.
func layout(offsets []int64, r timerange.Range) ([]int64, error) {
	n := int64(len(offsets))
	start, end := ceilMilli(r.Start), floorMilli(r.End)
	if end-start < n-1 {
		distinct := max(end-start+1, 0)
		return nil, fmt.Errorf("%w: %s to %s holds %d distinct milliseconds, need at least %d",
			ErrWindowTooSmall, r.Start.UTC().Format(time.RFC3339Nano), r.End.UTC().Format(time.RFC3339Nano), distinct, n)
	}
	width, last := end-start, offsets[n-1]
	times := make([]int64, n)
	if last <= width {
		for i, o := range offsets {
			times[i] = start + o
		}
		return times, nil
	}
	// No overflow: here width < last, and the schedule is under a day
	// (last < 2^27 ms), so offset * spread < 2^54.
	spread := width - (n - 1)
	for i, o := range offsets {
		times[i] = start + int64(i) + o*spread/last
	}
	return times, nil
}

// floorMilli is t in whole ms since the epoch, rounded down.
func floorMilli(t time.Time) int64 {
	return t.Unix()*1000 + int64(t.Nanosecond())/1e6
}

// ceilMilli is t in whole ms since the epoch, rounded up: the first
// millisecond that is not before t.
func ceilMilli(t time.Time) int64 {
	ms := floorMilli(t)
	if t.Nanosecond()%1e6 != 0 {
		ms++
	}
	return ms
}

// insertID is the event's Amplitude insert_id: a hash of everything that
// places the event, so re-sending the same dataset is deduplicated by
// Amplitude while datasets of other seeds or windows never collide.
func insertID(seed int64, scenario string, step int, rangeStart, rangeEnd string) string {
	h := sha256.New()
	for _, part := range []string{
		dataset.GeneratorName, Version, strconv.FormatInt(seed, 10), scenario, strconv.Itoa(step), rangeStart, rangeEnd,
	} {
		h.Write([]byte(part))
		h.Write([]byte{0}) // separator: no two part lists hash alike
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
