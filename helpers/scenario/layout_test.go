package scenario

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/timerange"
)

// TestScheduleShape checks what layout relies on: within each scenario the
// nominal offsets start at 0 and strictly increase, and the whole schedule
// fits in a day; an identifying step has a user (so the default 24 h window keeps the real spacing, and the
// compression arithmetic cannot overflow).
func TestScheduleShape(t *testing.T) {
	var total time.Duration
	for _, d := range definitions() {
		t.Run(d.name, func(t *testing.T) {
			require.NotEmpty(t, d.steps)
			assert.Zero(t, d.steps[0].at, "first event at the scenario's start")
			for i, s := range d.steps {
				assert.NotEmpty(t, s.device, "step %d device", i+1)
				if s.identify {
					assert.NotNil(t, s.user, "step %d identifies, so it needs a user", i+1)
				}
			}
			for i := 1; i < len(d.steps); i++ {
				assert.Greater(t, d.steps[i].at, d.steps[i-1].at, "step %d after step %d", i+1, i)
			}
		})
		total += d.steps[len(d.steps)-1].at + gapBetweenScenarios
	}
	assert.Less(t, total, 24*time.Hour)
}

func TestLayout(t *testing.T) {
	base := time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	tests := []struct {
		name    string
		offsets []int64
		r       timerange.Range
		want    []int64 // ms after base
	}{
		{"fits: real spacing from the start", []int64{0, 10, 25}, timerange.Range{Start: base, End: base.Add(100 * ms)}, []int64{0, 10, 25}},
		{"exact fit", []int64{0, 10, 25}, timerange.Range{Start: base, End: base.Add(25 * ms)}, []int64{0, 10, 25}},
		{"compressed to the window's ends", []int64{0, 1000, 2000}, timerange.Range{Start: base, End: base.Add(100 * ms)}, []int64{0, 50, 100}},
		{"one ms each when the window is just big enough", []int64{0, 1, 1000, 1001}, timerange.Range{Start: base, End: base.Add(3 * ms)}, []int64{0, 1, 2, 3}},
		{"rounding never merges neighbours", []int64{0, 1, 2, 3, 100000}, timerange.Range{Start: base, End: base.Add(10 * ms)}, []int64{0, 1, 2, 3, 10}},
		{"sub-millisecond start rounds up, end rounds down",
			[]int64{0, 1000},
			timerange.Range{Start: base.Add(500 * time.Microsecond), End: base.Add(4*ms + 900*time.Microsecond)},
			[]int64{1, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := layout(tt.offsets, tt.r)
			require.NoError(t, err)
			want := make([]int64, len(tt.want))
			for i, w := range tt.want {
				want[i] = base.UnixMilli() + w
			}
			assert.Equal(t, want, got)
		})
	}
}

func TestLayoutTooSmall(t *testing.T) {
	base := time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		r    timerange.Range
		want string
	}{
		{"two ms for three events", timerange.Range{Start: base, End: base.Add(time.Millisecond)}, "holds 2 distinct milliseconds, need at least 3"},
		{"inside one ms", timerange.Range{Start: base.Add(100 * time.Microsecond), End: base.Add(900 * time.Microsecond)}, "holds 0 distinct milliseconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := layout([]int64{0, 1, 2}, tt.r)
			require.ErrorIs(t, err, ErrWindowTooSmall)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "2024-01-15T00:00:00")
		})
	}
}
