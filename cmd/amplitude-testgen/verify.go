package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"amplitude-testgen/helpers/dataset"
	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/oracle"
	"amplitude-testgen/helpers/posthog"
	"amplitude-testgen/helpers/source"
	"amplitude-testgen/helpers/timerange"
	"amplitude-testgen/helpers/verify"
)

// personalKeyEnv holds the PostHog personal API key for --posthog-host.
// It is read from the environment only, so it never sits in shell history
// or a process listing, and it is never printed.
const personalKeyEnv = "POSTHOG_PERSONAL_API_KEY"

// windowMargin widens a fetch window derived from event times: PostHog
// stores what it was given, but a minute each side costs nothing and
// forgives an identify stamped a little off the triggering event.
const windowMargin = time.Minute

// repeatedPaths is a flag that may be given more than once
// (--expected a.json --expected b.zip); each use adds one path.
type repeatedPaths []string

func (p *repeatedPaths) String() string {
	if p == nil {
		return ""
	}
	return strings.Join(*p, ", ")
}

func (p *repeatedPaths) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty path")
	}
	*p = append(*p, v)
	return nil
}

// verifyOptions is a validated verify command line.
type verifyOptions struct {
	expected   []string
	actual     []string
	events     bool
	json       bool
	team       int
	host       string // "" reads --actual files instead of fetching
	projectID  int
	key        string
	start, end string // as given; "" when not
}

func runVerify(e *env, args []string) error {
	opts, err := parseVerify(e, args)
	if err != nil {
		return helpResult(err)
	}

	exp, err := readExpected(e, opts)
	if err != nil {
		return err
	}

	var actual []posthog.Event
	var actualFrom string
	badActual := 0
	if opts.host == "" {
		bad, err := posthog.Read(opts.actual, func(l posthog.Located) error {
			actual = append(actual, l.Event)
			return nil
		})
		for _, b := range bad {
			fmt.Fprintf(e.stderr, "amplitude-testgen verify: %s\n", b.Error())
		}
		if err != nil {
			return usageErrorf("%v", err)
		}
		badActual = len(bad)
		actualFrom = "from " + plural(len(opts.actual), "file")
	} else {
		window, why, err := fetchWindow(opts, e.now(), exp)
		if err != nil {
			return err
		}
		if actual, err = fetchActual(opts, window); err != nil {
			return err
		}
		actualFrom = fmt.Sprintf("fetched from %s project %d, window %s (%s)", redactedHost(opts.host), opts.projectID, window, why)
	}

	r := verify.Compare(exp.result, exp.events, actual, verify.Options{CheckEvents: opts.events})
	if opts.json {
		err = r.WriteJSON(e.stdout)
	} else {
		fmt.Fprintf(e.stdout, "expected: %s from %s, %s predicted\n",
			plural(len(exp.events), "Amplitude event"), plural(len(opts.expected), "input"),
			plural(exp.result.IdentifyCount, "$identify event"))
		fmt.Fprintf(e.stdout, "actual:   %s %s\n\n", plural(len(actual), "PostHog event"), actualFrom)
		err = r.WriteText(e.stdout)
	}
	if err != nil {
		return failErrorf("write report: %v", err)
	}

	// Bad input outranks a mismatch: a report over a partly read input
	// cannot be trusted either way.
	if n := exp.bad + badActual; n > 0 {
		return usageErrorf("%s skipped (listed above); the report covers the rest", plural(n, "malformed line"))
	}
	if !r.OK() {
		// The report on stdout says what is wrong; nothing to add.
		return &exitError{exitFail, errSilent}
	}
	return nil
}

// parseVerify reads and checks the command line and the key before any
// input is read, so a usage mistake costs nothing.
func parseVerify(e *env, args []string) (verifyOptions, error) {
	c := newCLI(e, "verify", "--expected SOURCE... (--actual FILE... | --posthog-host URL) [flags]",
		"Compare what PostHog produced from an Amplitude import with what its batch "+
			"import worker must produce. --expected names the Amplitude input the import "+
			"read (a dataset file, an Export API zip, a .json.gz file, newline-delimited "+
			"JSON or a directory of these; repeat the flag for more, read in the order "+
			"given as one import); the oracle predicts its $identify events.",
		"The PostHog side is either files (--actual, repeatable: query or Events API "+
			"results, JSON arrays, JSON lines or CapturedEvent lines) or fetched live with "+
			"--posthog-host and --project-id, using the personal API key in "+personalKeyEnv+
			" (query:read scope). The fetch window is --start/--end when given, else the "+
			"dataset file's time_range, else the expected events' first and last times "+
			"widened by a minute. Only $identify events are fetched unless --events.",
		"Times (--start, --end) take any of these forms, case-insensitive: "+timerange.Forms+".",
		"Exit status: 0 when every expected $identify is there once (duplicates the "+
			"oracle predicts are fine), 1 on any mismatch, worker_dedup duplicates included, or when PostHog refuses the key or the fetch "+
			"fails, 2 on bad usage or unreadable input; malformed lines are listed on "+
			"stderr with file and line, the report covers the rest, and the status is 2.")
	c.envVars = [][2]string{
		{personalKeyEnv, "PostHog personal API key for --posthog-host; never printed"},
		{nowEnv, "an RFC 3339 time used as now (relative --start/--end, tests)"},
	}
	var opts verifyOptions
	var expected, actual repeatedPaths
	c.fs.Var(&expected, "expected", "Amplitude input `SOURCE` the import read (repeatable)")
	c.fs.Var(&actual, "actual", "PostHog output `FILE` (repeatable); excludes --posthog-host")
	c.fs.BoolVar(&opts.events, "events", false, "also check the original events: each imported once, under the right distinct_id")
	c.fs.BoolVar(&opts.json, "json", false, "print the report as one JSON object instead of text")
	c.fs.IntVar(&opts.team, "team", 1, "PostHog team `N` the import ran for, part of the dedup key")
	c.fs.StringVar(&opts.host, "posthog-host", "", "fetch the PostHog side from `URL` (https://us.posthog.com, https://eu.posthog.com, ...)")
	c.fs.IntVar(&opts.projectID, "project-id", 0, "PostHog project `N` to fetch from (with --posthog-host)")
	c.fs.StringVar(&opts.start, "start", "", "start of the fetch window, a `TIME` (with --posthog-host)")
	c.fs.StringVar(&opts.end, "end", "", "end of the fetch window, a `TIME` (with --posthog-host)")

	pos, err := c.parse(e, args)
	if err != nil {
		return verifyOptions{}, err
	}
	opts.expected, opts.actual = expected, actual
	if len(pos) > 0 {
		return verifyOptions{}, usageErrorf("unexpected argument %q: give inputs with --expected and --actual; see --help", pos[0])
	}
	missing := func(msg string) error {
		fmt.Fprintf(e.stderr, "amplitude-testgen verify: %s\n", msg)
		c.usage(e.stderr)
		return usageErrorf("%w", errSilent)
	}
	if len(opts.expected) == 0 {
		return verifyOptions{}, missing("no --expected input: give the Amplitude input the import read")
	}
	if opts.team < 1 {
		return verifyOptions{}, usageErrorf("invalid --team %d: want a positive integer", opts.team)
	}
	if opts.host == "" {
		if len(opts.actual) == 0 {
			return verifyOptions{}, missing("no --actual file: give PostHog's output, or --posthog-host and --project-id to fetch it")
		}
		for _, f := range []string{"project-id", "start", "end"} {
			if c.set(f) {
				return verifyOptions{}, usageErrorf("--%s applies only with --posthog-host", f)
			}
		}
	} else {
		if len(opts.actual) > 0 {
			return verifyOptions{}, usageErrorf("--actual and --posthog-host exclude each other: compare with files or fetch, not both")
		}
		if u, err := url.Parse(opts.host); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return verifyOptions{}, usageErrorf("invalid --posthog-host %q: want a URL such as https://us.posthog.com", opts.host)
		}
		if opts.projectID <= 0 {
			return verifyOptions{}, usageErrorf("invalid --project-id %d: want the positive project number from PostHog's project settings", opts.projectID)
		}
		if opts.key = e.getenv(personalKeyEnv); strings.TrimSpace(opts.key) == "" {
			return verifyOptions{}, usageErrorf("%s is not set: --posthog-host needs a personal API key with the query:read scope", personalKeyEnv)
		}
	}
	// Check every input up front: a missing file should not cost the
	// reading (or the fetch) of the others.
	for _, p := range append(append([]string(nil), opts.expected...), opts.actual...) {
		if _, err := os.Stat(p); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return verifyOptions{}, usageErrorf("cannot read %s: %v", p, err)
		}
	}
	return opts, nil
}

// expectedSide is the Amplitude side: the events, the oracle's result over
// them, and what a fetch window can be derived from.
type expectedSide struct {
	events []event.Event
	result oracle.Result
	bad    int
	// datasetFiles are the dataset files the events came from, in order,
	// and allDataset whether every event came from one.
	datasetFiles []string
	allDataset   bool
}

// readExpected reads every expected input as one import and runs the
// oracle over it. Bad lines are printed at once, so they come before the
// report.
func readExpected(e *env, opts verifyOptions) (expectedSide, error) {
	// Compare checks events against the oracle's outcomes; keeping them
	// saves it running the rules a second time.
	o := oracle.New(oracle.Options{Team: opts.team, KeepOutcomes: opts.events})
	side := expectedSide{allDataset: true}
	seen := map[string]bool{}
	bad, err := source.Read(opts.expected, func(l source.Located) error {
		o.Add(l.Event)
		side.events = append(side.events, l.Event)
		// A dataset file's events are array records: no line, no entry.
		if l.Line != 0 || l.Entry != "" {
			side.allDataset = false
		} else if !seen[l.File] {
			seen[l.File] = true
			side.datasetFiles = append(side.datasetFiles, l.File)
		}
		return nil
	})
	for _, b := range bad {
		fmt.Fprintf(e.stderr, "amplitude-testgen verify: %s\n", b.Error())
	}
	if err != nil {
		return expectedSide{}, usageErrorf("%v", err)
	}
	side.bad = len(bad)
	side.result = o.Result()
	return side, nil
}

// fetchWindow chooses the window to fetch and says where it came from:
// --start/--end, else the dataset files' time_range, else the events' first
// and last times widened by windowMargin.
func fetchWindow(opts verifyOptions, now time.Time, exp expectedSide) (timerange.Range, string, error) {
	if opts.start != "" || opts.end != "" {
		r, err := timerange.Parse(opts.start, opts.end, now)
		if err != nil {
			return timerange.Range{}, "", usageErrorf("%v", err)
		}
		return r, "--start/--end", nil
	}
	var lo, hi time.Time
	for _, ev := range exp.events {
		if !ev.HasTime && ev.Time == 0 {
			continue // PostHog stamps it with the import time: no clue
		}
		t := ev.Timestamp()
		if lo.IsZero() || t.Before(lo) {
			lo = t
		}
		if hi.IsZero() || t.After(hi) {
			hi = t
		}
	}
	if exp.allDataset && len(exp.datasetFiles) > 0 {
		if r, ok := datasetWindow(exp.datasetFiles); ok {
			// A hand-edited file may hold events outside its own
			// time_range; the window must still cover them.
			if !lo.IsZero() && lo.Before(r.Start) {
				r.Start = lo.Add(-windowMargin)
			}
			if !hi.IsZero() && hi.After(r.End) {
				r.End = hi.Add(windowMargin)
			}
			return r, "the dataset's time_range", nil
		}
	}
	if lo.IsZero() {
		return timerange.Range{}, "", usageErrorf("cannot choose a fetch window: no expected event has a time; give --start and --end")
	}
	return timerange.Range{Start: lo.Add(-windowMargin), End: hi.Add(windowMargin)},
		"the expected events' times, widened by a minute", nil
}

// datasetWindow is the union of the dataset files' time ranges; ok is
// false when one cannot be read (a gzipped dataset, a Node file without
// one), and the caller falls back to the event times.
func datasetWindow(files []string) (timerange.Range, bool) {
	var r timerange.Range
	for _, f := range files {
		d, err := dataset.ReadFile(f)
		if err != nil {
			return timerange.Range{}, false
		}
		start, err1 := time.Parse(time.RFC3339Nano, d.Metadata.TimeRange.Start)
		end, err2 := time.Parse(time.RFC3339Nano, d.Metadata.TimeRange.End)
		if err1 != nil || err2 != nil || !start.Before(end) {
			return timerange.Range{}, false
		}
		if r.Start.IsZero() || start.Before(r.Start) {
			r.Start = start.UTC()
		}
		if r.End.IsZero() || end.After(r.End) {
			r.End = end.UTC()
		}
	}
	return r, true
}

// fetchActual reads the PostHog side over the API. Every error message is
// scrubbed of the key, whatever the library already does.
func fetchActual(opts verifyOptions, window timerange.Range) ([]posthog.Event, error) {
	names := []string{"$identify"}
	if opts.events {
		names = nil // every event
	}
	var out []posthog.Event
	err := posthog.FetchEvents(context.Background(), posthog.ClientOptions{
		Host: opts.host, ProjectID: opts.projectID, PersonalAPIKey: opts.key,
	}, window.Start, window.End, names, func(ev posthog.Event) error {
		out = append(out, ev)
		return nil
	})
	if err == nil {
		return out, nil
	}
	msg := strings.ReplaceAll(err.Error(), opts.key, "[redacted]")
	if errors.Is(err, posthog.ErrAuth) {
		return nil, failErrorf("%s (the key comes from %s)", msg, personalKeyEnv)
	}
	return nil, failErrorf("%s", msg)
}

// redactedHost prints the host URL without any password in it.
func redactedHost(host string) string {
	u, err := url.Parse(host)
	if err != nil {
		return host
	}
	return u.Redacted()
}
