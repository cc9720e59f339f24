//go:build live

package amplitudetestgen_test

// The live tests talk to a real Amplitude project: `go test -tags live
// -run Live .` (or `make live`). Without the variables they need they skip,
// saying which are missing. Keys are read from the environment and never
// logged. Every top-level name here starts with "live": the root test
// package is shared with the other acceptance tests.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/amplitude"
	"amplitude-testgen/helpers/exportapi"
	"amplitude-testgen/helpers/oracle"
	"amplitude-testgen/helpers/scenario"
	"amplitude-testgen/helpers/source"
	"amplitude-testgen/helpers/timerange"
)

// liveRequire returns the named variables, or skips the test naming every
// one that is not set.
func liveRequire(tb testing.TB, names ...string) map[string]string {
	tb.Helper()
	vals := map[string]string{}
	var missing []string
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			vals[n] = v
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		tb.Skipf("live test against real Amplitude: set %s to run it", strings.Join(missing, ", "))
	}
	return vals
}

// liveCluster is AMPLITUDE_CLUSTER, us by default.
func liveCluster(tb testing.TB) string {
	tb.Helper()
	switch c := strings.ToLower(strings.TrimSpace(os.Getenv("AMPLITUDE_CLUSTER"))); c {
	case "":
		return "us"
	case "us", "eu":
		return c
	default:
		tb.Fatalf("invalid AMPLITUDE_CLUSTER %q: want us or eu", c)
		return ""
	}
}

// TestLiveSend sends the standard dataset, laid into the 24 hours ending
// now, to the project of AMPLITUDE_API_KEY and requires Amplitude to accept
// every event.
func TestLiveSend(t *testing.T) {
	vars := liveRequire(t, "AMPLITUDE_API_KEY")
	cluster := liveCluster(t)
	// The wall clock is the point here: Amplitude drops events dated too
	// far from their upload, and each run gets a window of its own.
	now := time.Now().UTC()
	d, err := scenario.Generate(scenario.Options{
		Seed:    1,
		Range:   timerange.Range{Start: now.Add(-timerange.DefaultWindow), End: now},
		Cluster: cluster,
		Now:     now,
	})
	require.NoError(t, err)
	require.Len(t, d.Events, 45)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	uploadStart := time.Now()
	sum, err := amplitude.Send(ctx, d.Events, amplitude.Options{
		APIKey:  vars["AMPLITUDE_API_KEY"],
		Cluster: cluster,
		Timeout: 2 * time.Minute,
	})
	require.NoError(t, err, "send to the %s cluster", cluster)
	for _, r := range sum.Rejected {
		t.Errorf("event %d (insert_id %s) rejected: %s (code %d) %s", r.Index, r.InsertID, r.Reason, r.Code, r.Hint)
	}
	if len(sum.Undelivered) > 0 {
		t.Errorf("%d events undelivered: %s", len(sum.Undelivered), sum.LastError)
	}
	assert.True(t, sum.OK(), "Amplitude must accept every event: %s", sum)

	from, to := exportapi.Range(uploadStart, time.Now())
	t.Logf("%s; uploaded in hours %s..%s UTC. In about two hours check the export with "+
		"AMPLITUDE_SECRET_KEY set and AMPLITUDE_EXPORT_START=%s AMPLITUDE_EXPORT_END=%s",
		sum, from, to, uploadStart.UTC().Truncate(time.Hour).Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339))
}

// TestLiveExport downloads the export of AMPLITUDE_EXPORT_START through
// AMPLITUDE_EXPORT_END (upload times) and requires the oracle to predict the
// standard dataset's 30 identifies. Several sends of the dataset in the
// window still make 30: the ids are the same every time, and PostHog
// identifies each (user, device) pair once.
func TestLiveExport(t *testing.T) {
	vars := liveRequire(t, "AMPLITUDE_API_KEY", "AMPLITUDE_SECRET_KEY", "AMPLITUDE_EXPORT_START", "AMPLITUDE_EXPORT_END")
	rng, err := timerange.Parse(vars["AMPLITUDE_EXPORT_START"], vars["AMPLITUDE_EXPORT_END"], time.Now())
	require.NoError(t, err, "AMPLITUDE_EXPORT_START / AMPLITUDE_EXPORT_END")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	zip := filepath.Join(t.TempDir(), "export.zip")
	n, err := exportapi.FetchFile(ctx, rng.Start, rng.End, zip, exportapi.Options{
		APIKey:    vars["AMPLITUDE_API_KEY"],
		SecretKey: vars["AMPLITUDE_SECRET_KEY"],
		Cluster:   liveCluster(t),
	})
	require.NoError(t, err)
	from, to := exportapi.Range(rng.Start, rng.End)
	t.Logf("downloaded %d bytes for hours %s..%s", n, from, to)

	o := oracle.New(oracle.Options{})
	bad, err := source.Read([]string{zip}, func(l source.Located) error {
		o.Add(l.Event)
		return nil
	})
	require.NoError(t, err)
	assert.Empty(t, bad, "malformed export lines")
	res := o.Result()
	t.Logf("%d events, %d identifies, %d import errors", res.Counts.Events, res.IdentifyCount, res.ImportErrors)
	assert.GreaterOrEqual(t, res.Counts.Events, 45, "the window should hold at least one standard dataset")
	assert.Equal(t, 30, res.IdentifyCount, "identifies predicted from the export")
	assert.Zero(t, res.ImportErrors, "import errors predicted from the export")
}
