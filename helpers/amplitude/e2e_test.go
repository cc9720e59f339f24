package amplitude_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/amplitude"
	"amplitude-testgen/helpers/amplitudetest"
	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/export"
	"amplitude-testgen/helpers/exportapi"
)

// TestSendThenExport is the round trip a tester makes against a real
// project: send through the SDK, download the export, read the rows back.
func TestSendThenExport(t *testing.T) {
	const secret = "s3cr3t-0f-th3-f4k3-pr0j3ct"
	upload := time.Date(2024, 1, 16, 9, 45, 0, 0, time.UTC)
	s := newServer(t, amplitudetest.WithSecretKey(secret), amplitudetest.WithClock(func() time.Time { return upload }))
	events := makeEvents(45)

	log := &syncBuffer{}
	sum, err := amplitude.Send(context.Background(), events, fastOptions(s, log))
	require.NoError(t, err)
	require.True(t, sum.OK(), sum.String())

	var zip bytes.Buffer
	_, err = exportapi.Fetch(context.Background(), upload, upload, &zip, exportapi.Options{
		APIKey: testKey, SecretKey: secret, ServerURL: s.URL(),
	})
	require.NoError(t, err)

	var rows []event.Event
	var entries []string
	err = export.ReadZip(bytes.NewReader(zip.Bytes()), int64(zip.Len()), func(entry string, line int, raw []byte) error {
		var e event.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%s line %d: %w", entry, line, err)
		}
		if len(entries) == 0 || entries[len(entries)-1] != entry {
			entries = append(entries, entry)
		}
		rows = append(rows, e)
		return nil
	})
	require.NoError(t, err)

	require.Len(t, rows, len(events))
	if d := diffIDs(events, rows); d != "" {
		t.Errorf("export insert ids mismatch (-sent +exported):\n%s", d)
	}
	sent := byInsertID(t, events)
	for _, r := range rows {
		want := sent[r.InsertID]
		assert.Equal(t, want.Time, r.Time, "time of %s", r.InsertID)
		assert.Equal(t, *want.EventType, *r.EventType, "event_type of %s", r.InsertID)
		assert.Equal(t, want.UserID, r.UserID, "user_id of %s", r.InsertID)
	}
	assert.Equal(t, []string{"187520/187520_2024-01-16_9#0.json.gz"}, entries, "one entry for the upload hour")
	assertNoKey(t, log.String())
	assert.NotContains(t, log.String(), secret)
}

// BenchmarkSend sends 10,000 events through the SDK to the fake and reports
// throughput and the number of HTTP requests it took.
func BenchmarkSend(b *testing.B) {
	events := makeEvents(10000)
	var requests int
	var elapsed time.Duration
	for b.Loop() {
		s := amplitudetest.NewServer(amplitudetest.WithAPIKey(testKey))
		opts := amplitude.Options{APIKey: testKey, ServerURL: s.HTTPAPIURL(), Timeout: time.Minute, Log: &strings.Builder{}}
		begin := time.Now()
		sum, err := amplitude.Send(context.Background(), events, opts)
		elapsed += time.Since(begin)
		requests += s.Requests()
		got := len(s.Events())
		s.Close()
		if err != nil || !sum.OK() || got != len(events) {
			b.Fatalf("Send: %v, %s, %d stored", err, sum, got)
		}
	}
	b.ReportMetric(float64(b.N*len(events))/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
}

// BenchmarkSendBaseline is the floor BenchmarkSend is read against: the
// same 10,000 events posted to the same fake by plain net/http, 200 a
// request (the SDK's batch size), one request at a time, with no SDK, no
// callbacks and no retry machinery.
func BenchmarkSendBaseline(b *testing.B) {
	events := makeEvents(10000)
	const batch = 200
	var requests int
	var elapsed time.Duration
	for b.Loop() {
		s := amplitudetest.NewServer(amplitudetest.WithAPIKey(testKey))
		client := s.Client()
		begin := time.Now()
		for i := 0; i < len(events); i += batch {
			body, err := json.Marshal(map[string]any{"api_key": testKey, "events": events[i:min(i+batch, len(events))]})
			if err != nil {
				b.Fatal(err)
			}
			resp, err := client.Post(s.HTTPAPIURL(), "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
		elapsed += time.Since(begin)
		requests += s.Requests()
		got := len(s.Events())
		s.Close()
		if got != len(events) {
			b.Fatalf("%d stored, want %d", got, len(events))
		}
	}
	b.ReportMetric(float64(b.N*len(events))/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
}
