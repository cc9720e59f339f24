package export_test

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/export"
)

// syntheticEvents makes n events, one every 2.6 s from 2024-01-01 (about
// 1,400 an hour over a month), from 10,000 users with a few properties each.
func syntheticEvents(n int) []event.Event {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	types := []string{"page_view", "login", "purchase", "logout", "search"}
	events := make([]event.Event, n)
	for i := range events {
		user := fmt.Sprintf("user-%05d", i%10000)
		e := event.Event{
			EventType:       event.Str(types[i%len(types)]),
			DeviceID:        event.Str(fmt.Sprintf("device-%05d", (i*7)%10000)),
			Time:            start + int64(i)*2600,
			HasTime:         true,
			InsertID:        fmt.Sprintf("insert-%08d", i),
			EventProperties: map[string]any{"path": "/p/" + user, "n": i % 100},
		}
		if i%3 != 0 {
			e.UserID = &user
		}
		if i%10 == 0 {
			e.UserProperties = map[string]any{"plan": "pro"}
		}
		events[i] = e
	}
	return events
}

// countingWriter counts the bytes of the zip and throws them away.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// heapPeak samples the live heap (as of the last GC) until stopped, without
// stopping the world as runtime.ReadMemStats would. Live, not allocated:
// garbage waiting for the next GC says nothing about what the writer holds.
type heapPeak struct {
	stop chan struct{}
	done sync.WaitGroup
	max  uint64
}

func startHeapPeak() *heapPeak {
	h := &heapPeak{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > h.max {
			h.max = v
		}
	}
	read()
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				read()
				return
			case <-t.C:
				read()
			}
		}
	}()
	return h
}

func (h *heapPeak) Stop() uint64 {
	close(h.stop)
	h.done.Wait()
	return h.max
}

// BenchmarkWriteZip writes a million events to io.Discard and reports the
// rate, the allocations, and two memory figures:
//
//   - heap-sys-growth-MB: how much more heap the process took from the OS
//     during the timed run, garbage included;
//   - peak-heap-MB: the most live heap seen above what the events themselves
//     hold, in a second, untimed run with the GC made eager (GOGC=10) so the
//     live figure is measured often. This is the writer's own footprint,
//     which must not grow with the number of events.
func BenchmarkWriteZip(b *testing.B) {
	const n = 1_000_000
	events := syntheticEvents(n)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	b.ReportAllocs()
	b.ResetTimer()
	var out countingWriter
	for i := 0; i < b.N; i++ {
		out.n = 0
		if err := export.WriteZip(&out, events, export.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(n/sec, "events/s")
	b.ReportMetric(float64(out.n)/sec, "bytes/s")
	b.ReportMetric(float64(out.n)/(1<<20), "zip-MB")
	b.ReportMetric(float64(after.HeapSys-min(after.HeapSys, before.HeapSys))/(1<<20), "heap-sys-growth-MB")
	b.ReportMetric(float64(peakLiveHeap(b, events))/(1<<20), "peak-heap-MB")
}

// peakLiveHeap writes events once more with an eager GC and returns the
// most live heap seen above the live heap before.
func peakLiveHeap(tb testing.TB, events []event.Event) uint64 {
	tb.Helper()
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	base := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(base)
	peak := startHeapPeak()
	if err := export.WriteZip(io.Discard, events, export.Options{}); err != nil {
		tb.Fatal(err)
	}
	max := peak.Stop()
	runtime.KeepAlive(events)
	return max - min(max, base[0].Value.Uint64())
}

// BenchmarkWriteZipBaseline is the floor BenchmarkWriteZip is read against:
// the same events in their plain dataset form, encoded with encoding/json
// into a single gzip stream at the same level, with no row mapping, no ids
// derived and no zip. What WriteZip costs above it is the export format.
func BenchmarkWriteZipBaseline(b *testing.B) {
	const n = 1_000_000
	events := syntheticEvents(n)
	b.ReportAllocs()
	b.ResetTimer()
	var out countingWriter
	for i := 0; i < b.N; i++ {
		out.n = 0
		zw, err := gzip.NewWriterLevel(&out, gzip.BestSpeed)
		if err != nil {
			b.Fatal(err)
		}
		bw := bufio.NewWriterSize(zw, 256<<10)
		enc := json.NewEncoder(bw)
		for j := range events {
			if err := enc.Encode(&events[j]); err != nil {
				b.Fatal(err)
			}
		}
		if err := bw.Flush(); err != nil {
			b.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(n/sec, "events/s")
	b.ReportMetric(float64(out.n)/sec, "bytes/s")
	b.ReportMetric(float64(out.n)/(1<<20), "gz-MB")
}
