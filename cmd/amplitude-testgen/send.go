package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"amplitude-testgen/helpers/amplitude"
	"amplitude-testgen/helpers/dataset"
	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/exportapi"
)

// serverURLEnv names the variable that points send, generate and
// fetch-export at an Amplitude-compatible server other than Amplitude's
// own hosts: a fake in tests, a proxy in some networks.
const serverURLEnv = "AMPLITUDE_SERVER_URL"

// Paths appended to a server base URL. They are Amplitude's, so one base
// URL serves ingestion and export alike, as the fake does.
const (
	httpAPIPath = "/2/httpapi"
	batchPath   = "/batch"
)

// defaultThrottleWait is how long the SDK waits before resending events that
// Amplitude throttled (429): Amplitude asks clients to wait 30 seconds.
const defaultThrottleWait = 30 * time.Second

// progressStep is how many answered events make a progress line: the SDK's
// batch size, so a line never stands for less than one request's answers.
const progressStep = 200

// sendConfig is everything a send needs besides the events.
type sendConfig struct {
	apiKey       string // never printed: only handed to amplitude.Send
	cluster      string // "us" or "eu"
	serverURL    string // base URL, or "" for Amplitude's hosts
	batch        bool
	timeout      time.Duration
	throttleWait time.Duration
}

func runSend(e *env, args []string) error {
	c := newCLI(e, "send", "[flags] FILE",
		"Send the events of a dataset file (written by generate, or by the original Node "+
			"generator) to an Amplitude project through Amplitude's Go SDK, and say what "+
			"became of every event: accepted, rejected with Amplitude's reason, or "+
			"undelivered when Amplitude did not answer in time. Progress (\"sent N/TOTAL\", "+
			"a line per 200 answers and one at the end) and the summary go to stdout. The "+
			"exit status is 0 only when Amplitude accepted every event.",
		"Every event is sent with its insert_id, so sending a file again, or resending "+
			"after a dropped connection, never stores an event twice: Amplitude ignores a "+
			"repeated insert_id for 7 days. A Node generator file has no insert ids; send "+
			"derives each missing one from the event's position and content (the same file "+
			"always gets the same ids) and says so.",
		"--server-url (or "+serverURLEnv+") is the base URL of an Amplitude-compatible "+
			"server, such as http://127.0.0.1:8080, without a path: events go to "+
			"BASE"+httpAPIPath+" (BASE"+batchPath+" with --batch) and fetch-export reads "+
			"BASE"+exportapi.Path+". Without it, the cluster picks Amplitude's hosts.")
	c.envVars = [][2]string{
		{apiKeyEnv, "the project's API key (required); never printed or written"},
		{clusterEnv, "us or eu when --cluster is not given"},
		{serverURLEnv, "base URL of the server when --server-url is not given"},
	}
	addSendFlags(c)
	batch := c.fs.Bool("batch", false, "use the Batch API instead of HTTP V2 (for large files)")
	pos, err := c.parse(e, args)
	if err != nil {
		return helpResult(err)
	}
	switch {
	case len(pos) == 0:
		return usageErrorf("no dataset file: send takes one FILE; see --help")
	case len(pos) > 1:
		return usageErrorf("unexpected argument %q: send takes one FILE; see --help", pos[1])
	}
	cfg, err := sendConfigFrom(c, e)
	if err != nil {
		return err
	}
	cfg.batch = *batch

	file := pos[0]
	if _, err := os.Stat(file); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return usageErrorf("cannot read %s: %v", file, err)
	}
	d, err := dataset.ReadFile(file)
	if err != nil {
		return usageErrorf("%v", err)
	}
	events := d.Events
	if n := deriveInsertIDs(events); n > 0 {
		fmt.Fprintf(e.stdout, "%s: %s without insert_id (a Node generator file?): using ids derived from each event's position and content, the same on every send\n",
			file, plural(n, "event"))
	}
	fmt.Fprintf(e.stdout, "sending %s from %s to Amplitude (%s)\n", plural(len(events), "event"), file, cfg.describe())
	return sendEvents(e, events, cfg)
}

// addSendFlags declares send's flags for where to send and how long to
// try; generate, which has none of them, gets their defaults from
// sendConfigFromEnv.
func addSendFlags(c *cli) {
	c.fs.String("cluster", "", "the Amplitude cluster, `us|eu` (overrides "+clusterEnv+"; default us)")
	c.fs.String("server-url", "", "base `URL` of an Amplitude-compatible server, overriding the cluster's hosts (overrides "+serverURLEnv+")")
	c.fs.String("timeout", amplitude.DefaultTimeout.String(), "give up on events Amplitude has not answered after `DURATION` (Go syntax: 90s, 2m)")
	c.fs.String("throttle-wait", defaultThrottleWait.String(), "wait `DURATION` before resending events Amplitude throttled (HTTP 429)")
}

// sendConfigFrom reads the send flags and variables. Bad values are usage
// errors naming the flag or variable they came from.
func sendConfigFrom(c *cli, e *env) (sendConfig, error) {
	cfg := sendConfig{apiKey: e.getenv(apiKeyEnv)}
	if cfg.apiKey == "" {
		return sendConfig{}, usageErrorf("%s is not set: sending needs the Amplitude project's API key", apiKeyEnv)
	}
	var err error
	if cfg.cluster, err = clusterFrom(c, e); err != nil {
		return sendConfig{}, err
	}
	if cfg.serverURL, err = serverURLFrom(c, e); err != nil {
		return sendConfig{}, err
	}
	if cfg.timeout, err = durationFlag(c, "timeout"); err != nil {
		return sendConfig{}, err
	}
	if cfg.throttleWait, err = durationFlag(c, "throttle-wait"); err != nil {
		return sendConfig{}, err
	}
	return cfg, nil
}

// sendConfigFromEnv is sendConfigFrom for generate, which has no send
// flags: the variables and the defaults decide, and generate has already
// checked the cluster.
func sendConfigFromEnv(e *env, cluster string) (sendConfig, error) {
	cfg := sendConfig{
		apiKey:       e.getenv(apiKeyEnv),
		cluster:      cluster,
		timeout:      amplitude.DefaultTimeout,
		throttleWait: defaultThrottleWait,
	}
	if cfg.apiKey == "" {
		return sendConfig{}, usageErrorf("%s is not set: sending needs the Amplitude project's API key", apiKeyEnv)
	}
	var err error
	cfg.serverURL, err = parseServerURL(e.getenv(serverURLEnv), serverURLEnv)
	return cfg, err
}

// clusterFrom returns "us" or "eu" from --cluster or AMPLITUDE_CLUSTER.
func clusterFrom(c *cli, e *env) (string, error) {
	v, from := c.fromFlagOrEnv(e, "cluster", clusterEnv)
	switch cl := strings.ToLower(strings.TrimSpace(v)); cl {
	case "":
		return "us", nil
	case "us", "eu":
		return cl, nil
	default:
		return "", usageErrorf("invalid %s %q: want us or eu", from, v)
	}
}

// serverURLFrom returns the base URL from --server-url or
// AMPLITUDE_SERVER_URL; see parseServerURL.
func serverURLFrom(c *cli, e *env) (string, error) {
	return parseServerURL(c.fromFlagOrEnv(e, "server-url", serverURLEnv))
}

// parseServerURL checks a server base URL that came from the named flag or
// variable and returns it without a trailing slash, or "" (not given) for
// Amplitude's own hosts. An endpoint URL is refused rather than guessed at:
// one value must serve ingestion and export, whose paths differ.
func parseServerURL(v, from string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err == nil && u.User != nil {
		// The value is not echoed: it holds a password.
		return "", usageErrorf("invalid %s: want a URL without a user or password (keys come from %s and the like)", from, apiKeyEnv)
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", usageErrorf("invalid %s %q: want the http(s) base URL of an Amplitude-compatible server, such as http://127.0.0.1:8080", from, v)
	}
	path := strings.TrimRight(u.Path, "/")
	for _, p := range []string{httpAPIPath, batchPath, exportapi.Path} {
		if strings.HasSuffix(path, p) {
			return "", usageErrorf("invalid %s %q: want the base URL without the endpoint path %s (the paths %s, %s and %s are added to it)",
				from, v, p, httpAPIPath, batchPath, exportapi.Path)
		}
	}
	return strings.TrimRight(v, "/"), nil
}

// durationFlag parses a positive Go duration flag.
func durationFlag(c *cli, name string) (time.Duration, error) {
	v := c.fs.Lookup(name).Value.String()
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, usageErrorf("invalid --%s %q: want a positive Go duration such as 30s or 2m", name, v)
	}
	return d, nil
}

// endpoint is the SDK's ServerURL: the full endpoint under the base URL,
// or "" to let the cluster choose.
func (cfg sendConfig) endpoint() string {
	switch {
	case cfg.serverURL == "":
		return ""
	case cfg.batch:
		return cfg.serverURL + batchPath
	default:
		return cfg.serverURL + httpAPIPath
	}
}

// describe says where and how events go, for the tester's log. The server
// URL is printed: it names a host, never a key.
func (cfg sendConfig) describe() string {
	where := cfg.cluster + " cluster"
	if cfg.serverURL != "" {
		where = cfg.serverURL
	}
	api := "HTTP V2 API"
	if cfg.batch {
		api = "Batch API"
	}
	return fmt.Sprintf("%s, %s, timeout %v", where, api, cfg.timeout)
}

// sendEvents sends events and reports on e.stdout: progress, then the fate
// of every event. It is the one send path of send and generate. The result
// is nil only when Amplitude accepted every event.
func sendEvents(e *env, events []event.Event, cfg sendConfig) error {
	// Ctrl-C ends the wait early but still reports what was delivered.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	firstUpload := e.now()
	printed := 0
	sum, err := amplitude.Send(ctx, events, amplitude.Options{
		APIKey:                 cfg.apiKey,
		Cluster:                cfg.cluster,
		ServerURL:              cfg.endpoint(),
		UseBatch:               cfg.batch,
		Timeout:                cfg.timeout,
		RetryThrottledInterval: cfg.throttleWait,
		// Called on Send's goroutine, one call per answered event: print
		// at most one line per batch's worth of answers, and the last.
		Progress: func(acked, total int) {
			if acked == total || acked-printed >= progressStep {
				fmt.Fprintf(e.stdout, "sent %d/%d\n", acked, total)
				printed = acked
			}
		},
	})
	if errors.Is(err, amplitude.ErrAPIKeyRejected) {
		// Every event carries the same refusal: one line says it all.
		fmt.Fprintln(e.stdout, sum.String())
		return failErrorf("%v", err)
	}
	if err != nil && sum.Total == 0 {
		// Refused before sending: bad options or events.
		return usageErrorf("%v", err)
	}
	printSendSummary(e.stdout, sum)
	if err != nil {
		return failErrorf("%v", err)
	}
	if !sum.OK() {
		return failErrorf("not every event was accepted: %s", sum)
	}
	// Exports select by upload time, which a tester cannot see anywhere
	// else: name the window that holds this send.
	from, to := exportapi.Range(firstUpload, e.now())
	fmt.Fprintf(e.stdout, "uploaded in hours %s..%s UTC: fetch-export them in about two hours (exports lag ingestion)\n", from, to)
	return nil
}

// printSendSummary writes what became of every event.
func printSendSummary(w io.Writer, sum amplitude.Summary) {
	fmt.Fprintf(w, "accepted: %d of %d\n", sum.Accepted, sum.Total)
	fmt.Fprintf(w, "rejected: %d\n", len(sum.Rejected))
	for _, r := range sum.Rejected {
		fmt.Fprintf(w, "  event %d, insert_id %q: Amplitude said %q (code %d)", r.Index, r.InsertID, r.Reason, r.Code)
		if r.Hint != "" {
			fmt.Fprintf(w, "; likely because %s", r.Hint)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "undelivered: %d", len(sum.Undelivered))
	if len(sum.Undelivered) > 0 {
		fmt.Fprintf(w, " (events %s): %s", indexRanges(sum.Undelivered), sum.LastError)
	}
	fmt.Fprintln(w)
	if len(sum.Undelivered) == 0 && sum.LastError != "" {
		fmt.Fprintf(w, "resent after: %s (insert ids keep Amplitude from storing any event twice)\n", sum.LastError)
	}
}

// indexRanges renders sorted indexes compactly: "0-3, 7, 9-10".
func indexRanges(idx []int) string {
	var parts []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(idx[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", idx[i], idx[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// deriveInsertIDs gives every event without an insert_id one derived from
// its index and its content, and returns how many it filled. The index
// keeps two identical events apart (Amplitude would store only one); the
// content keeps files apart. The same file always yields the same ids, so
// resending it is deduplicated like a generated dataset.
func deriveInsertIDs(events []event.Event) int {
	n := 0
	for i := range events {
		if events[i].InsertID != "" {
			continue
		}
		// encoding/json sorts map keys: the bytes depend only on the event.
		content, err := json.Marshal(events[i])
		if err != nil {
			// Unreachable for events read from JSON; fall back to the
			// position alone rather than sending without an id.
			content = nil
		}
		h := sha256.New()
		fmt.Fprintf(h, "amplitude-testgen derived insert_id\x00%d\x00", i)
		h.Write(content)
		events[i].InsertID = "derived-" + hex.EncodeToString(h.Sum(nil)[:16])
		n++
	}
	return n
}
