package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// workerDedupExplained is printed under a report with worker_dedup
// duplicates, so nobody takes them for a silent pass or a mystery.
const workerDedupExplained = `worker_dedup: a known limitation of PostHog's batch import worker. Its identify dedup is
best effort: the cache of seen (user_id, device_id) pairs is in memory with a TTL, and the
events of a chunk are transformed in parallel, so a pair seen again (in the same chunk,
after the TTL, or after a restart) can produce another $identify. They link the same device
to the same user again, but the import promised exactly one $identify per pair, so they
fail the verdict.`

// WriteText writes the report for people: the verdict, one count line per
// check, a table with one row per issue naming the exact pair, and the
// oracle's notes.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "verdict: %s\n", strings.ToUpper(r.Verdict))
	s := r.Identifies
	fmt.Fprintf(&b, "identifies: %d of %d found, %d missing, %d wrong, %d unexpected, %s",
		s.Found, s.Expected, s.Missing, s.Wrong, s.Unexpected, plural(s.Duplicates.Total, "duplicate", "duplicates"))
	if d := s.Duplicates; d.Total > 0 {
		fmt.Fprintf(&b, " (%d predicted, %d worker_dedup, %d unexplained)", d.Predicted, d.WorkerDedup, d.Unexplained)
	}
	b.WriteString("\n")
	if e := r.Events; e != nil {
		fmt.Fprintf(&b, "events: %d of %d found, %d missing, %d unexpected, %s, %d session_start\n",
			e.Found, e.Expected, e.Missing, e.Unexpected, plural(e.Duplicates, "duplicate", "duplicates"), e.SessionStart)
	}
	b.WriteString("\n")
	if len(r.Issues) == 0 {
		b.WriteString("no issues\n")
	} else {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tISSUE\tPAIR / EVENT\tTIME\tEVENT#\tDETAIL")
		for _, is := range r.Issues {
			idx := "-"
			if is.EventIndex != nil {
				idx = strconv.Itoa(*is.EventIndex)
			}
			ts := is.Timestamp
			if ts == "" {
				ts = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", is.Severity, issueName(is), subject(is), ts, idx, detail(is))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if s.Duplicates.WorkerDedup > 0 {
		b.WriteString("\n" + workerDedupExplained + "\n")
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nnotes from the oracle:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s: %s\n", n.Kind, n.Message)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as indented JSON with a trailing newline.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func issueName(is Issue) string {
	name := strings.ReplaceAll(string(is.Kind), "_", " ")
	if is.Class != "" {
		name += " (" + string(is.Class) + ")"
	}
	return name
}

// subject names the exact pair, or the event, an issue is about.
func subject(is Issue) string {
	if is.Event != "" {
		return fmt.Sprintf("event %q distinct_id %q", is.Event, is.DistinctID)
	}
	if is.Kind == KindEventsNotChecked {
		return "-"
	}
	return fmt.Sprintf("distinct_id %q / $anon_distinct_id %q", is.DistinctID, is.AnonDistinctID)
}

func detail(is Issue) string {
	if len(is.Differences) == 0 {
		return is.Message
	}
	parts := make([]string, len(is.Differences))
	for i, d := range is.Differences {
		parts[i] = fmt.Sprintf("%s: want %s, got %s", d.Field, d.Want, d.Got)
	}
	return is.Message + ": " + strings.Join(parts, "; ")
}
