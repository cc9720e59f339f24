package oracle

import (
	"slices"
	"strconv"
	"strings"
)

// findings derives the Findings from what apply remembered. Their order is
// fixed: import errors first (they stop the import), then identical
// identifies, split persons and unknown timestamps, each by event index.
func (o *Oracle) findings() []Finding {
	out := []Finding{}
	if len(o.importErrors) > 0 {
		out = append(out, importErrorFinding(o.importErrors))
	}
	out = append(out, o.identicalFindings()...)
	for _, p := range o.padded {
		out = append(out, splitFinding(p))
	}
	if len(o.untimed) > 0 {
		out = append(out, Finding{
			Kind: FindingTimestampUnknown,
			Message: countNoun(len(o.untimed), "identify comes", "identifies come") + " from " + indexList(o.untimed) +
				", which " + pick(len(o.untimed), "has", "have") + " no parsable time: PostHog stamps " +
				pick(len(o.untimed), "it", "them") + " with the time of the import, so the timestamp cannot be predicted",
			EventIndexes: slices.Clone(o.untimed),
		})
	}
	return out
}

// maxListed caps how many events a message names, so a finding over a huge
// stream stays readable; EventIndexes still lists them all.
const maxListed = 20

func importErrorFinding(errs []importError) Finding {
	var b strings.Builder
	b.WriteString(countNoun(len(errs), "event fails", "events fail"))
	b.WriteString(" the import: ")
	idx := make([]int, len(errs))
	for i, e := range errs {
		idx[i] = e.index
		if i == maxListed {
			b.WriteString("; and " + strconv.Itoa(len(errs)-maxListed) + " more")
			continue
		}
		if i > maxListed {
			continue
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString("event " + strconv.Itoa(e.index) + " (user_id " + strconv.Quote(e.user) +
			", device_id " + strconv.Quote(e.device) + "): " + strconv.Quote(e.msg))
	}
	b.WriteString(". The worker fails on a new (user_id, device_id) pair whose id is empty after trimming; " +
		"in current versions the whole chunk fails and the import pauses until the data is fixed")
	return Finding{Kind: FindingImportError, Message: b.String(), EventIndexes: idx}
}

// identicalFindings finds raw keys that differ only by whitespace. Two such
// keys are two dedup keys to the worker, yet both identifies carry the same
// trimmed ids. At least one of them is padded, so grouping the padded
// identifies by trimmed key and adding the unpadded key's identify (if any)
// finds every group.
func (o *Oracle) identicalFindings() []Finding {
	type member struct {
		index        int
		user, device string
	}
	groups := map[key][]member{}
	var order []key
	for _, p := range o.padded {
		k := key{team: p.team, user: p.tu, device: p.td}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
			if first, ok := o.seen[k]; ok {
				groups[k] = []member{{first, p.tu, p.td}}
			}
		}
		groups[k] = append(groups[k], member{p.index, p.user, p.device})
	}
	var out []Finding
	for _, k := range order {
		ms := groups[k]
		if len(ms) < 2 {
			continue
		}
		slices.SortFunc(ms, func(a, b member) int { return a.index - b.index })
		idx := make([]int, len(ms))
		pairs := make([]string, len(ms))
		for i, m := range ms {
			idx[i] = m.index
			pairs[i] = strconv.Quote(m.user) + "/" + strconv.Quote(m.device)
		}
		out = append(out, Finding{
			Kind: FindingIdenticalIdentifies,
			Message: indexList(idx) + " carry ids that differ only by whitespace (" + strings.Join(pairs, ", ") +
				"): the worker sees " + strconv.Itoa(len(ms)) + " different keys but trims them to one pair, so PostHog emits " +
				strconv.Itoa(len(ms)) + " identical $identify events for distinct_id " + strconv.Quote(k.user) +
				" and $anon_distinct_id " + strconv.Quote(k.device),
			EventIndexes:   idx,
			Team:           k.team,
			DistinctID:     k.user,
			AnonDistinctID: k.device,
		})
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return a.EventIndexes[0] - b.EventIndexes[0] })
	return out
}

// splitFinding explains why a padded id splits a person: the identify uses
// the trimmed id while the original events keep the untrimmed one (rule 7).
// A padded user_id splits for sure (its own event goes to the padded id); a
// padded device_id splits only device-only events of that id, if any come.
func splitFinding(p padded) Finding {
	var does, but []string
	if p.user != p.tu {
		does = append(does, "goes to distinct_id "+strconv.Quote(p.tu)+" (user_id "+strconv.Quote(p.user)+" trimmed)")
		but = append(but, "the events of user_id "+strconv.Quote(p.user)+" go to distinct_id "+strconv.Quote(p.user)+
			": two different persons in PostHog")
	}
	if p.device != p.td {
		does = append(does, "merges $anon_distinct_id "+strconv.Quote(p.td)+" (device_id "+strconv.Quote(p.device)+" trimmed)")
		but = append(but, "device-only events of device_id "+strconv.Quote(p.device)+", if any, go to distinct_id "+
			strconv.Quote(p.device)+", which no identify merges: a separate person")
	}
	return Finding{
		Kind: FindingSplitPerson,
		Message: "the identify of event " + strconv.Itoa(p.index) + " " + strings.Join(does, " and ") + ", but " +
			strings.Join(but, "; and "),
		EventIndexes:   []int{p.index},
		Team:           p.team,
		DistinctID:     p.tu,
		AnonDistinctID: p.td,
		UserID:         p.user,
		DeviceID:       p.device,
	}
}

// indexList names events: "event 3", "events 3 and 8", "events 3, 5 and 8".
func indexList(idx []int) string {
	if len(idx) == 1 {
		return "event " + strconv.Itoa(idx[0])
	}
	shown := idx
	if len(shown) > maxListed {
		shown = shown[:maxListed]
	}
	s := make([]string, len(shown))
	for i, v := range shown {
		s[i] = strconv.Itoa(v)
	}
	if len(idx) > maxListed {
		return "events " + strings.Join(s, ", ") + " and " + strconv.Itoa(len(idx)-maxListed) + " more"
	}
	return "events " + strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func countNoun(n int, one, many string) string {
	return strconv.Itoa(n) + " " + pick(n, one, many)
}

func pick(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
