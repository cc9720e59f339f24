// Package amplitudetestgen proves an Amplitude to PostHog migration right.
//
// The tests in this directory are the product's acceptance suite:
// scenarios_test.go checks the standard dataset (7 scenarios, 45 events,
// exactly 30 expected $identify events) and identify_oracle_test.go checks the
// oracle that predicts, for any Amplitude event stream, the $identify events
// PostHog's batch import worker must produce. Golden outputs live in golden/
// and are refreshed with `go test ./... -update`.
//
// The library lives under helpers/, the command line tool under
// cmd/amplitude-testgen.
package amplitudetestgen
