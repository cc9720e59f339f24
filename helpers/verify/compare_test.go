package verify_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/oracle"
	"amplitude-testgen/helpers/posthog"
	"amplitude-testgen/helpers/verify"
)

func TestCompareClassifies(t *testing.T) {
	s := event.Str
	events := []event.Event{
		{EventType: s("login"), UserID: s("u1"), DeviceID: s("d1"), Time: at(0).UnixMilli(), HasTime: true},
		{EventType: s("login"), UserID: nil, DeviceID: s(""), Time: at(1).UnixMilli(), HasTime: true},
		{EventType: s("login"), UserID: s("u1"), DeviceID: s("d1"), Time: at(2).UnixMilli(), HasTime: true},
	}
	expected := oracle.Expect(events, oracle.Options{})
	good := applySpec(events)
	require.Len(t, good, 4, "one identify and three events")

	tests := []struct {
		name       string
		actual     []posthog.Event
		wantOK     bool
		want       verify.IdentifySummary
		wantEvents verify.EventSummary
		wantKinds  []verify.Kind
	}{
		{
			name: "all there, a random distinct_id included", actual: good, wantOK: true,
			want:       verify.IdentifySummary{Expected: 1, Found: 1},
			wantEvents: verify.EventSummary{Expected: 3, Found: 3},
		},
		{
			name:       "identify under another distinct_id at the same time is wrong",
			actual:     edit(good, isIdentifyOf("u1"), func(e *posthog.Event) { e.DistinctID = "U1" }),
			want:       verify.IdentifySummary{Expected: 1, Wrong: 1},
			wantEvents: verify.EventSummary{Expected: 3, Found: 3},
			wantKinds:  []verify.Kind{verify.KindWrongIdentify},
		},
		{
			name:       "identify at another time and pair is missing plus unexpected",
			actual:     plus(without(good, isIdentifyOf("u1")), identify("x", "y", at(9), "xy")),
			want:       verify.IdentifySummary{Expected: 1, Missing: 1, Unexpected: 1},
			wantEvents: verify.EventSummary{Expected: 3, Found: 3},
			wantKinds:  []verify.Kind{verify.KindMissingIdentify, verify.KindUnexpectedIdentify},
		},
		{
			name:       "the repeat of a pair identifying again is the worker's dedup, and fails",
			actual:     plus(good, identify("u1", "d1", at(2), "again")),
			wantOK:     false,
			want:       verify.IdentifySummary{Expected: 1, Found: 1, Duplicates: verify.Duplicates{Total: 1, WorkerDedup: 1}},
			wantEvents: verify.EventSummary{Expected: 3, Found: 3},
			wantKinds:  []verify.Kind{verify.KindDuplicateIdentify},
		},
		{
			name: "random distinct_id event missing",
			actual: without(good, func(e posthog.Event) bool {
				return e.Event == "login" && e.Timestamp.Equal(time.UnixMilli(at(1).UnixMilli()).UTC())
			}),
			want:       verify.IdentifySummary{Expected: 1, Found: 1},
			wantEvents: verify.EventSummary{Expected: 3, Found: 2, Missing: 1},
			wantKinds:  []verify.Kind{verify.KindMissingEvent},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := verify.Compare(expected, events, tt.actual, verify.Options{CheckEvents: true})
			assert.Equal(t, tt.wantOK, r.OK())
			assert.Equal(t, tt.want, r.Identifies)
			require.NotNil(t, r.Events)
			assert.Equal(t, tt.wantEvents, *r.Events)
			var kinds []verify.Kind
			for _, is := range r.Issues {
				kinds = append(kinds, is.Kind)
			}
			assert.Equal(t, tt.wantKinds, kinds)
		})
	}
}
