package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"amplitude-testgen/helpers/exportapi"
	"amplitude-testgen/helpers/timerange"
)

// secretKeyEnv names the project's secret key, the Export API's password.
const secretKeyEnv = "AMPLITUDE_SECRET_KEY"

// defaultFetchTimeout bounds a whole fetch-export, retries included. Exports
// of a test project are small; a large one can raise it.
const defaultFetchTimeout = 10 * time.Minute

func runFetchExport(e *env, args []string) error {
	c := newCLI(e, "fetch-export", "--start TIME --end TIME --out FILE.zip [flags]",
		"Download the Amplitude Export API zip of the events Amplitude received from "+
			"--start to --end, write it to FILE.zip (atomically: a failed download leaves "+
			"no file), then predict the $identify events PostHog's batch import must "+
			"produce for it, exactly as 'amplitude-testgen expect FILE.zip' does (same text, "+
			"same --json). Progress goes to stderr, so stdout is the prediction alone.",
		"The window is of upload times (when Amplitude received the events), not event "+
			"times, and whole UTC hours: the hour of --start through the hour of --end, "+
			"both included. For a dataset sent an hour ago: --start '2 hours ago' --end now. "+
			"Both bounds are required and take the forms of generate: "+timerange.Forms+".",
		"Amplitude answers 404 until data is exportable, about two hours after "+
			"ingestion. Rate limiting (429, with its Retry-After), server errors and dropped "+
			"connections are retried a few times; bad keys (401, 403) and a bad range (400) "+
			"are not. Every failure exits 1 with what to do.",
		"--server-url (or "+serverURLEnv+") is the base URL of an Amplitude-compatible "+
			"server: the export is read from BASE"+exportapi.Path+".")
	c.envVars = [][2]string{
		{apiKeyEnv, "the project's API key (required); never printed or written"},
		{secretKeyEnv, "the project's secret key (required); never printed or written"},
		{clusterEnv, "us or eu when --cluster is not given"},
		{serverURLEnv, "base URL of the server when --server-url is not given"},
		{nowEnv, "an RFC 3339 time used as now, for relative times"},
	}
	fs := c.fs
	start := fs.String("start", "", "first upload `TIME` of the window; its hour is included (required)")
	end := fs.String("end", "", "last upload `TIME` of the window; its hour is included (required)")
	out := fs.String("out", "", "write the export zip to `FILE.zip` (required)")
	fs.String("cluster", "", "the Amplitude cluster, `us|eu` (overrides "+clusterEnv+"; default us)")
	fs.String("server-url", "", "base `URL` of an Amplitude-compatible server, overriding the cluster's host (overrides "+serverURLEnv+")")
	fs.String("timeout", defaultFetchTimeout.String(), "give up after `DURATION`, retries included (Go syntax: 90s, 10m)")
	asJSON := fs.Bool("json", false, "print the prediction as one JSON object, as expect --json does")
	team := fs.Int("team", 1, "PostHog team `N` the import runs for, as in expect")

	pos, err := c.parse(e, args)
	if err != nil {
		return helpResult(err)
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q: fetch-export takes flags only; see --help", pos[0])
	}
	for _, f := range []struct{ name, value string }{{"start", *start}, {"end", *end}, {"out", *out}} {
		if f.value == "" {
			return usageErrorf("--%s is required; see --help", f.name)
		}
	}
	if !strings.HasSuffix(strings.ToLower(*out), ".zip") {
		return usageErrorf("invalid --out %q: want a file name ending in .zip, which expect reads as an export zip", *out)
	}
	if *team < 1 {
		return usageErrorf("invalid --team %d: want a positive integer", *team)
	}
	opts := exportapi.Options{APIKey: e.getenv(apiKeyEnv), SecretKey: e.getenv(secretKeyEnv)}
	for _, k := range []struct{ name, value string }{{apiKeyEnv, opts.APIKey}, {secretKeyEnv, opts.SecretKey}} {
		if k.value == "" {
			return usageErrorf("%s is not set: the Export API needs the Amplitude project's API key and secret key", k.name)
		}
	}
	if opts.Cluster, err = clusterFrom(c, e); err != nil {
		return err
	}
	if opts.ServerURL, err = serverURLFrom(c, e); err != nil {
		return err
	}
	timeout, err := durationFlag(c, "timeout")
	if err != nil {
		return err
	}
	rng, err := timerange.Parse(*start, *end, e.now())
	if err != nil {
		return usageErrorf("%v", err)
	}

	from, to := exportapi.Range(rng.Start, rng.End)
	where := opts.Cluster + " cluster"
	if opts.ServerURL != "" {
		where = opts.ServerURL
	}
	fmt.Fprintf(e.stderr, "requesting hours %s..%s (UTC, both included) from Amplitude (%s)\n", from, to, where)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n, err := exportapi.FetchFile(ctx, rng.Start, rng.End, *out, opts)
	switch {
	case errors.Is(err, exportapi.ErrNoData):
		// The library's message says exports lag; add which hours were
		// empty, since a window of event times is the usual mistake.
		return failErrorf("%v (hours %s..%s are of upload time, not event time)", err, from, to)
	case errors.Is(err, context.DeadlineExceeded):
		return failErrorf("%v: no complete export within --timeout %v", err, timeout)
	case err != nil:
		return failErrorf("%v", err)
	}
	fmt.Fprintf(e.stderr, "wrote %s (%d bytes)\n", *out, n)

	// The prediction is expect's own code path, so the two commands can
	// never disagree about a zip.
	expectArgs := []string{"--team", strconv.Itoa(*team)}
	if *asJSON {
		expectArgs = append(expectArgs, "--json")
	}
	return runExpect(e, append(expectArgs, "--", *out))
}
