package oracle_test

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/oracle"
)

// benchStream builds a deterministic stream of n events over pairs distinct
// (user, device) pairs, in the mix of a real export: mostly repeated pairs,
// some anonymous and session_start events, a few padded ids.
func benchStream(tb testing.TB, n, pairs int) []event.Event {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	users := make([]*string, pairs)
	devices := make([]*string, pairs)
	for p := range pairs {
		u := "bench_user_" + strconv.Itoa(p/2) // two devices per user
		if p%1000 == 0 {
			u = "  " + u + "  "
		}
		users[p] = event.Str(u)
		devices[p] = event.Str("bench_device_" + strconv.Itoa(p))
	}
	types := []*string{event.Str("login"), event.Str("page_view"), event.Str("purchase"), event.Str("session_start")}
	start := time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC).UnixMilli()
	events := make([]event.Event, n)
	for i := range events {
		p := rng.IntN(pairs)
		e := event.Event{EventType: types[rng.IntN(3)], UserID: users[p], DeviceID: devices[p], Time: start + int64(i), HasTime: true, InsertID: "i" + strconv.Itoa(i)}
		switch r := rng.IntN(1000); {
		case r < 30:
			e.UserID = nil
		case r < 40:
			e.EventType = types[3]
		case r < 45:
			e.DeviceID = nil
		}
		events[i] = e
	}
	return events
}

// BenchmarkOracle runs the oracle over 1,000,000 events with 100,000
// pairs; one op is the whole stream. "step" keeps no reasons (a summary
// run), "add" builds every reason without keeping it, "expect" keeps them.
func BenchmarkOracle(b *testing.B) {
	const n, pairs = 1_000_000, 100_000
	events := benchStream(b, n, pairs)
	run := func(name string, f func() oracle.Result) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var res oracle.Result
			start := time.Now()
			for b.Loop() {
				res = f()
			}
			elapsed := time.Since(start)
			if res.Counts.Events != n {
				b.Fatalf("oracle saw %d events, want %d", res.Counts.Events, n)
			}
			b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n*b.N), "ns/event")
			b.ReportMetric(float64(res.IdentifyCount), "identifies")
		})
	}
	run("step", func() oracle.Result {
		o := oracle.New(oracle.Options{})
		for i := range events {
			o.Step(1, events[i])
		}
		return o.Result()
	})
	run("add", func() oracle.Result {
		o := oracle.New(oracle.Options{})
		for i := range events {
			o.Add(events[i])
		}
		return o.Result()
	})
	run("expect", func() oracle.Result { return oracle.Expect(events, oracle.Options{}) })

	// baseline is the floor any implementation pays: one map look-up and
	// insert per event over the same raw (user, device) keys, no rules.
	b.Run("baseline-map", func(b *testing.B) {
		b.ReportAllocs()
		type key struct{ user, device string }
		var seen map[key]int
		start := time.Now()
		for b.Loop() {
			seen = make(map[key]int)
			for i := range events {
				e := &events[i]
				if e.UserID == nil || e.DeviceID == nil {
					continue
				}
				k := key{*e.UserID, *e.DeviceID}
				if _, ok := seen[k]; !ok {
					seen[k] = i
				}
			}
		}
		elapsed := time.Since(start)
		b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "events/s")
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n*b.N), "ns/event")
		b.ReportMetric(float64(len(seen)), "identifies")
	})
}

// TestBenchStreamIsDeterministic guards the benchmark's input: same stream
// every run, and it really exercises the identify path.
func TestBenchStreamIsDeterministic(t *testing.T) {
	a, b := benchStream(t, 10_000, 1_000), benchStream(t, 10_000, 1_000)
	ra, rb := oracle.Expect(a, oracle.Options{}), oracle.Expect(b, oracle.Options{})
	if ra.IdentifyCount != rb.IdentifyCount || ra.Counts != rb.Counts {
		t.Fatalf("benchStream is not deterministic: %+v vs %+v", ra.Counts, rb.Counts)
	}
	if ra.IdentifyCount < 900 || ra.Counts.Duplicate == 0 || ra.Counts.Anonymous == 0 || ra.Counts.DroppedSessionStart == 0 {
		t.Fatalf("benchStream mix is off: %+v", ra.Counts)
	}
}
