// Package scenario holds the 7 scenarios of the standard dataset and the
// generator that lays them out in a time window (SPEC.md §2). STUB: replace.
package scenario

import (
	"errors"
	"time"

	"amplitude-testgen/helpers/dataset"
	"amplitude-testgen/helpers/timerange"
)

// Options control generation. Same options, same bytes.
type Options struct {
	Seed    int64           // seeds the random source for event types
	Range   timerange.Range // every event time falls inside it
	Cluster string          // "us" or "eu", recorded in metadata
	Now     time.Time       // the injected clock: generated_at
}

// Generate builds the standard dataset: 45 events, 30 expected identifies.
func Generate(opts Options) (*dataset.Dataset, error) {
	return nil, errors.New("scenario: not implemented")
}
