// Package timerange parses the dataset's time window (SPEC.md §2 "Time range").
package timerange

import (
	"errors"
	"time"
)

// Range is a closed time window [Start, End], both in UTC.
type Range struct {
	Start time.Time
	End   time.Time
}

// ParseTime parses one time expression relative to now. STUB: replace.
func ParseTime(expr string, now time.Time) (time.Time, error) {
	return time.Time{}, errors.New("timerange: not implemented")
}

// Parse parses a start and an end expression ("" means not given) into a
// Range, applying the defaults of SPEC.md §2. STUB: replace.
func Parse(start, end string, now time.Time) (Range, error) {
	return Range{}, errors.New("timerange: not implemented")
}
