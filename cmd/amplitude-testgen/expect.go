package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"amplitude-testgen/helpers/oracle"
	"amplitude-testgen/helpers/source"
)

// expectReport is the --json output: one object, stable key order.
type expectReport struct {
	Events        int               `json:"events"`
	IdentifyCount int               `json:"identify_count"`
	ImportErrors  int               `json:"import_errors"`
	Counts        map[string]int    `json:"counts"`
	Identifies    []oracle.Identify `json:"identifies"`
	Outcomes      []locatedOutcome  `json:"outcomes"`
	Findings      []oracle.Finding  `json:"findings"`
	BadLines      []string          `json:"bad_lines"`
}

// locatedOutcome is an event's outcome and where the event was read.
type locatedOutcome struct {
	oracle.EventResult
	Source string `json:"source"`
}

func runExpect(e *env, args []string) error {
	c := newCLI(e, "expect", "[flags] FILE...",
		"Predict the $identify events PostHog's batch import must produce for the "+
			"Amplitude events in FILE..., read in the order given as one import. A FILE "+
			"is a dataset file (ours or the Node generator's), an Export API zip, a "+
			".json.gz file, newline-delimited JSON, or a directory of these.",
		"Prints the count of each outcome, the expected $identify events and the "+
			"findings a tester must know about. Malformed lines are reported on stderr "+
			"with file and line, the rest is still read, and the exit status is 2. "+
			"Import errors are part of the prediction, not a failure: the exit status is 0.")
	asJSON := c.fs.Bool("json", false, "print one JSON object instead of text")
	team := c.fs.Int("team", 1, "PostHog team `N` the import runs for, part of the dedup key")
	paths, err := c.parse(e, args)
	if err != nil {
		return helpResult(err)
	}
	if len(paths) == 0 {
		fmt.Fprintln(e.stderr, "amplitude-testgen expect: no input files")
		c.usage(e.stderr)
		return usageErrorf("%w", errSilent)
	}
	if *team < 1 {
		return usageErrorf("invalid --team %d: want a positive integer", *team)
	}
	// Check every input up front: a missing second file should not cost
	// the reading of a large first one, nor print half a prediction.
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return usageErrorf("cannot read %s: %v", p, err)
		}
	}

	// Every event's outcome is kept only for --json, which lists them; the
	// text report needs the import errors alone, kept here with where the
	// event was read, so a long stream costs little memory.
	o := oracle.New(oracle.Options{Team: *team, KeepOutcomes: *asJSON})
	var sources []string
	var importErrors []locatedOutcome
	bad, err := source.Read(paths, func(l source.Located) error {
		r := o.Add(l.Event)
		if *asJSON {
			sources = append(sources, locationOf(l))
		}
		if r.Outcome == oracle.OutcomeImportError {
			importErrors = append(importErrors, locatedOutcome{r, locationOf(l)})
		}
		return nil
	})
	badLines := make([]string, len(bad))
	for i, b := range bad {
		badLines[i] = b.Error()
		fmt.Fprintf(e.stderr, "amplitude-testgen expect: %s\n", badLines[i])
	}
	if err != nil {
		return usageErrorf("%v", err)
	}

	res := o.Result()
	rep := expectReport{
		Events:        res.Counts.Events,
		IdentifyCount: res.IdentifyCount,
		ImportErrors:  res.ImportErrors,
		Counts:        map[string]int{},
		Identifies:    res.Identifies,
		Findings:      res.Findings,
		BadLines:      badLines,
		Outcomes:      make([]locatedOutcome, len(res.Outcomes)),
	}
	for _, oc := range oracle.AllOutcomes() {
		rep.Counts[string(oc)] = res.Count(oc)
	}
	for i, r := range res.Outcomes {
		// Outcomes come in the order events were added, as sources do.
		rep.Outcomes[i] = locatedOutcome{EventResult: r, Source: sources[i]}
	}
	// Empty lists print as [] rather than null, so consumers can iterate.
	if rep.Identifies == nil {
		rep.Identifies = []oracle.Identify{}
	}
	if rep.Findings == nil {
		rep.Findings = []oracle.Finding{}
	}

	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return failErrorf("write JSON: %v", err)
		}
	} else {
		printExpect(e.stdout, rep, importErrors, len(paths))
	}
	if len(bad) > 0 {
		return usageErrorf("%s skipped (listed above); the prediction covers the rest",
			plural(len(bad), "malformed line"))
	}
	return nil
}

// locationOf renders where an event was read, as source.LineError does:
// "file:line" for a line of a file, "file:entry:line" inside a zip, and
// "file:events[i]" for the i-th event of a dataset file's array.
func locationOf(l source.Located) string {
	switch {
	case l.Line == 0:
		return fmt.Sprintf("%s:events[%d]", l.File, l.Record)
	case l.Entry != "":
		return fmt.Sprintf("%s:%s:%d", l.File, l.Entry, l.Line)
	default:
		return fmt.Sprintf("%s:%d", l.File, l.Line)
	}
}

// printExpect writes the human report.
func printExpect(w io.Writer, rep expectReport, importErrors []locatedOutcome, files int) {
	fmt.Fprintf(w, "events: %d (from %s)\n", rep.Events, plural(files, "input"))
	fmt.Fprintln(w, "outcomes:")
	for _, oc := range oracle.AllOutcomes() {
		fmt.Fprintf(w, "  %-22s %d\n", oc, rep.Counts[string(oc)])
	}

	fmt.Fprintf(w, "expected $identify events: %d\n", rep.IdentifyCount)
	// One self-labelled line each: ids can be long or padded, and a table
	// sized to the longest one would be wider than a terminal.
	for _, id := range rep.Identifies {
		ts := "unknown (PostHog uses the import time)"
		if id.TimestampKnown {
			ts = formatTime(id.Timestamp)
		}
		fmt.Fprintf(w, "  event %d: distinct_id %q, $anon_distinct_id %q, timestamp %s\n",
			id.EventIndex, id.DistinctID, id.Properties.AnonDistinctID, ts)
	}

	if rep.ImportErrors > 0 {
		fmt.Fprintf(w, "import errors: %d (each fails its chunk and pauses the import)\n", rep.ImportErrors)
		for _, r := range importErrors {
			fmt.Fprintf(w, "  event %d (%s): %s\n", r.Index, r.Source, r.Reason)
		}
	}

	if len(rep.Findings) == 0 {
		fmt.Fprintln(w, "findings: none")
		return
	}
	fmt.Fprintf(w, "findings: %d\n", len(rep.Findings))
	for _, f := range rep.Findings {
		idx := make([]string, len(f.EventIndexes))
		for i, n := range f.EventIndexes {
			idx[i] = fmt.Sprint(n)
		}
		fmt.Fprintf(w, "  - %s: %s", f.Kind, f.Message)
		if len(idx) > 0 {
			fmt.Fprintf(w, " (events %s)", strings.Join(idx, ", "))
		}
		fmt.Fprintln(w)
	}
}
