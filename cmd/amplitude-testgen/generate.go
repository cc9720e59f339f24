package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"amplitude-testgen/helpers/dataset"
	"amplitude-testgen/helpers/export"
	"amplitude-testgen/helpers/scenario"
	"amplitude-testgen/helpers/timerange"
)

// Environment variables generate reads. Flags win over them.
const (
	startEnv   = "AMPLITUDE_START_TIME"
	endEnv     = "AMPLITUDE_END_TIME"
	clusterEnv = "AMPLITUDE_CLUSTER"
	apiKeyEnv  = "AMPLITUDE_API_KEY" // only ever tested for presence here
)

// defaultOut is the dataset file's name when --out is not given, the name
// the original Node generator used.
const defaultOut = "amplitude-test-data.json"

// generateOptions is a validated generate command line.
type generateOptions struct {
	out       string
	seed      int64
	rng       timerange.Range
	cluster   string
	dryRun    bool
	exportZip string
	exportDir string
	projectID int64
}

func runGenerate(e *env, args []string) error {
	// One reading of the clock: the window's "now" and generated_at agree.
	now := e.now()
	opts, err := parseGenerate(e, args, now)
	if err != nil {
		return helpResult(err)
	}
	// Only the presence of the key is looked at here: its value goes to the
	// sender and nowhere else, so it cannot leak into output or files. The
	// send settings are checked now, so a bad one leaves no file behind.
	keySet := e.getenv(apiKeyEnv) != ""
	var send *sendConfig
	if keySet && !opts.dryRun {
		cfg, err := sendConfigFromEnv(e, opts.cluster)
		if err != nil {
			return err
		}
		send = &cfg
	}
	d, err := scenario.Generate(scenario.Options{Seed: opts.seed, Range: opts.rng, Cluster: opts.cluster, Now: now})
	if err != nil {
		if errors.Is(err, scenario.ErrWindowTooSmall) {
			return usageErrorf("%v", err)
		}
		return failErrorf("generate: %v", err)
	}
	if err := writeOutputs(d, opts); err != nil {
		return failErrorf("%v", err)
	}
	printSummary(e.stdout, d, opts)

	switch {
	case send != nil:
		fmt.Fprintf(e.stdout, "%s is set: sending %d events to Amplitude (%s cluster)\n", apiKeyEnv, len(d.Events), opts.cluster)
		return sendEvents(e, d.Events, *send)
	case keySet:
		fmt.Fprintf(e.stdout, "%s is set, but --dry-run: not sending\n", apiKeyEnv)
	default:
		fmt.Fprintf(e.stdout, "%s is not set: not sending\n", apiKeyEnv)
	}
	return nil
}

// parseGenerate reads and checks the command line and the environment
// before anything is generated, so a bad input never leaves a file behind.
func parseGenerate(e *env, args []string, now time.Time) (generateOptions, error) {
	c := newCLI(e, "generate", "[flags]",
		"Generate the standard dataset (7 scenarios, 45 events, exactly 30 expected "+
			"$identify events) in a time window and write it to a dataset file. When "+
			apiKeyEnv+" is set and --dry-run is not given, also send it to Amplitude.",
		"Times (--start, --end and their variables) take any of these forms, "+
			"case-insensitive: "+timerange.Forms+". "+
			"A value without a zone is UTC. With neither bound the window is the 24 hours "+
			"ending now; with one bound it is the 24 hours after the start or before the end.")
	c.envVars = [][2]string{
		{startEnv, "start of the window when --start is not given"},
		{endEnv, "end of the window when --end is not given"},
		{clusterEnv, "us or eu when --cluster is not given"},
		{apiKeyEnv, "when set (and no --dry-run), send the dataset; never printed or written"},
		{serverURLEnv, "base URL of an Amplitude-compatible server to send to (see send --help)"},
		{nowEnv, "an RFC 3339 time used as now (reproducible runs, tests)"},
	}
	fs := c.fs
	out := fs.String("out", defaultOut, "write the dataset to `FILE`")
	seed := fs.String("seed", "1", "seed of the random event types, a non-negative `N`")
	fs.String("start", "", "start of the window, a `TIME` (overrides "+startEnv+")")
	fs.String("end", "", "end of the window, a `TIME` (overrides "+endEnv+")")
	fs.String("cluster", "", "the Amplitude cluster, `us|eu` (overrides "+clusterEnv+"; default us)")
	dryRun := fs.Bool("dry-run", false, "write files but never send, even when "+apiKeyEnv+" is set")
	exportZip := fs.String("export", "", "also write the events as an Amplitude Export API zip to `FILE.zip`")
	exportDir := fs.String("export-dir", "", "also write the export's rows as NDJSON files into `DIR`")
	projectID := fs.Int64("project-id", export.DefaultProjectID, "Amplitude project `ID` in the export's entry names and rows")

	pos, err := c.parse(e, args)
	if err != nil {
		return generateOptions{}, err
	}
	if len(pos) > 0 {
		return generateOptions{}, usageErrorf("unexpected argument %q: generate takes flags only; see --help", pos[0])
	}
	opts := generateOptions{out: *out, dryRun: *dryRun, exportZip: *exportZip, exportDir: *exportDir, projectID: *projectID}
	if opts.out == "" {
		return generateOptions{}, usageErrorf("invalid --out \"\": want a file name")
	}
	if opts.seed, err = strconv.ParseInt(*seed, 10, 64); err != nil || opts.seed < 0 {
		return generateOptions{}, usageErrorf("invalid --seed %q: want a non-negative integer", *seed)
	}
	if opts.projectID <= 0 {
		return generateOptions{}, usageErrorf("invalid --project-id %d: want a positive integer", opts.projectID)
	}

	cluster, from := c.fromFlagOrEnv(e, "cluster", clusterEnv)
	switch opts.cluster = strings.ToLower(strings.TrimSpace(cluster)); opts.cluster {
	case "":
		opts.cluster = "us"
	case "us", "eu":
	default:
		return generateOptions{}, usageErrorf("invalid %s %q: want us or eu", from, cluster)
	}

	start, startFrom := c.fromFlagOrEnv(e, "start", startEnv)
	end, endFrom := c.fromFlagOrEnv(e, "end", endEnv)
	if opts.rng, err = timerange.Parse(start, end, now); err != nil {
		// The message names the value; say where it came from when that
		// was the environment, which a user may not remember setting.
		var te *timerange.Error
		if errors.As(err, &te) {
			from := startFrom
			if te.Field == "end" {
				from = endFrom
			}
			if !strings.HasPrefix(from, "--") {
				return generateOptions{}, usageErrorf("%v (from %s)", err, from)
			}
		}
		return generateOptions{}, usageErrorf("%v", err)
	}
	return opts, nil
}

// writeOutputs writes the dataset file and any export. Each file is written
// atomically; when a later one fails, the files already written by this run
// are removed, so a failed run leaves no output file at all.
func writeOutputs(d *dataset.Dataset, opts generateOptions) (err error) {
	var written []string
	defer func() {
		if err != nil {
			for _, p := range written {
				os.Remove(p)
			}
		}
	}()
	if err := dataset.WriteFile(opts.out, d); err != nil {
		return err
	}
	written = append(written, opts.out)
	eopts := export.Options{ProjectID: opts.projectID}
	if opts.exportZip != "" {
		if err := export.WriteZipFile(opts.exportZip, d.Events, eopts); err != nil {
			return fmt.Errorf("export to %s: %w", opts.exportZip, err)
		}
		written = append(written, opts.exportZip)
	}
	if opts.exportDir != "" {
		if err := export.WriteDir(opts.exportDir, d.Events, eopts); err != nil {
			return fmt.Errorf("export to %s: %w", opts.exportDir, err)
		}
	}
	return nil
}

// printSummary tells the tester what to look for in PostHog: each
// scenario's counts and the exact pairs that must be identified. Ids are
// quoted so that padded ids ("  edge_trimmed_user  ") are visible.
func printSummary(w io.Writer, d *dataset.Dataset, opts generateOptions) {
	for i, s := range d.Metadata.Scenarios {
		fmt.Fprintf(w, "%d. %s: %d events, %d identifies expected\n", i+1, s.Name, s.Events, s.Identifies)
		for _, id := range d.ExpectedIdentifies {
			if id.Scenario != s.Name {
				continue
			}
			fmt.Fprintf(w, "     %q -> %q", id.DistinctID, id.AnonDistinctID)
			// The identify carries trimmed ids; show what is sent when
			// it differs, since the event keeps the untrimmed user_id.
			if user, device, ok := sentIDs(d, id.EventIndex); ok && (user != id.DistinctID || device != id.AnonDistinctID) {
				fmt.Fprintf(w, " (sent as %q, %q)", user, device)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "total: %d events, %d identify events expected\n", len(d.Events), len(d.ExpectedIdentifies))
	fmt.Fprintf(w, "time range: %s to %s (%s)\n", formatTime(opts.rng.Start), formatTime(opts.rng.End), opts.rng.Duration())
	fmt.Fprintf(w, "cluster: %s, seed: %d\n", opts.cluster, opts.seed)
	fmt.Fprintf(w, "wrote %s\n", opts.out)
	if opts.exportZip != "" {
		fmt.Fprintf(w, "wrote export zip %s (project %d)\n", opts.exportZip, opts.projectID)
	}
	if opts.exportDir != "" {
		fmt.Fprintf(w, "wrote export rows into %s (project %d)\n", opts.exportDir, opts.projectID)
	}
}

// formatTime is RFC 3339 in UTC with milliseconds, Amplitude's precision.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// sentIDs returns the user_id and device_id of event i as they are sent.
func sentIDs(d *dataset.Dataset, i int) (user, device string, ok bool) {
	if i < 0 || i >= len(d.Events) || d.Events[i].UserID == nil || d.Events[i].DeviceID == nil {
		return "", "", false
	}
	return *d.Events[i].UserID, *d.Events[i].DeviceID, true
}
