// Package timerange parses the dataset's time window (SPEC.md §2 "Time range"):
// the start and end a user gives by flag or environment variable, each an
// absolute timestamp, a date, "now" or "N unit(s) ago", with the defaults that
// apply when one or both are missing.
//
// The clock is always injected: every function takes now as an argument and
// no function reads the wall clock. Every time returned is in UTC.
//
// Calendar arithmetic ("N months ago", "N years ago") does not use
// time.Time.AddDate, which normalises an overflowing day into the next month
// (March 31 minus one month would be March 2 or 3). Users mean "the same day
// last month", so the day is clamped to the last day of the target month
// instead: March 31 minus 1 month is February 28 (29 in a leap year) at the
// same clock time, and February 29 minus 1 year is February 28. All
// arithmetic is on the UTC calendar, whatever zone now is in.
package timerange

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Forms lists the accepted forms of a time expression; error messages end
// with it so a user can fix the value without reading the docs.
const Forms = `RFC 3339 (2024-01-15T10:00:00Z), a date (2024-01-15), "now", ` +
	`or "N unit(s) ago" with unit minute, hour, day, week, month or year`

// DefaultWindow is the length of the window when only one bound, or none,
// is given.
const DefaultWindow = 24 * time.Hour

// ErrEmptyRange is wrapped by the error Parse returns when the start is not
// strictly before the end.
var ErrEmptyRange = errors.New("timerange: start is not before end")

// Error reports a time expression that could not be parsed.
type Error struct {
	// Value is the expression exactly as given, untrimmed.
	Value string
	// Field is "start" or "end" when the value came through Parse, and
	// empty when it came through ParseTime.
	Field string
	// Reason says what is wrong with a value that has an accepted shape
	// but is not a real time (for example "day 30 is out of range for
	// February 2024"); it is empty when the shape itself is wrong.
	Reason string
}

// Error reads like `invalid start time "yesterdayish": want ...`.
func (e *Error) Error() string {
	field := "time"
	if e.Field != "" {
		field = e.Field + " time"
	}
	if e.Reason != "" {
		return fmt.Sprintf("invalid %s %q: %s; want %s", field, e.Value, e.Reason, Forms)
	}
	return fmt.Sprintf("invalid %s %q: want %s", field, e.Value, Forms)
}

// Range is a closed time window [Start, End], both in UTC.
type Range struct {
	Start time.Time
	End   time.Time
}

// Duration is the length of the window.
func (r Range) Duration() time.Duration { return r.End.Sub(r.Start) }

// String renders the window as an ISO 8601 interval of two RFC 3339 times,
// "2024-01-15T10:00:00Z/2024-01-16T10:00:00Z" (fractional seconds only when
// present).
func (r Range) String() string {
	return format(r.Start) + "/" + format(r.End)
}

// ParseTime parses one time expression relative to now. The result is in
// UTC. A failure is an *Error naming the value and the accepted forms.
func ParseTime(expr string, now time.Time) (time.Time, error) {
	t, err := parse(expr, now)
	if err != nil {
		return time.Time{}, err
	}
	// An explicit nil: returning the nil *Error would make a non-nil error.
	return t, nil
}

// Parse parses a start and an end expression ("" means not given) into a
// Range, applying the defaults of SPEC.md §2: neither given is the
// DefaultWindow ending now, only a start is the DefaultWindow after it, and
// only an end is the DefaultWindow before it. A value that is given but blank
// (only spaces) is an error rather than a default, because it is more likely
// a mistake in an environment variable than a request for the default.
//
// Errors: an *Error with Field "start" or "end" for a bad value (the start is
// checked first), or an error wrapping ErrEmptyRange when start is not
// strictly before end.
func Parse(start, end string, now time.Time) (Range, error) {
	var r Range
	switch {
	case start == "" && end == "":
		t, err := parse("now", now)
		if err != nil {
			return Range{}, err
		}
		r = Range{Start: t.Add(-DefaultWindow), End: t}
	case end == "":
		t, err := parseField("start", start, now)
		if err != nil {
			return Range{}, err
		}
		r = Range{Start: t, End: t.Add(DefaultWindow)}
	case start == "":
		t, err := parseField("end", end, now)
		if err != nil {
			return Range{}, err
		}
		r = Range{Start: t.Add(-DefaultWindow), End: t}
	default:
		s, err := parseField("start", start, now)
		if err != nil {
			return Range{}, err
		}
		e, err := parseField("end", end, now)
		if err != nil {
			return Range{}, err
		}
		r = Range{Start: s, End: e}
	}
	// A default bound can fall outside what RFC 3339 can write (a start
	// late on 9999-12-31); say so instead of producing an unprintable range.
	for _, t := range []time.Time{r.Start, r.End} {
		if !representable(t) {
			return Range{}, fmt.Errorf("time range %s: %s is outside years 0000-9999", r, format(t))
		}
	}
	if !r.Start.Before(r.End) {
		return Range{}, &emptyRangeError{start: r.Start, end: r.End}
	}
	return r, nil
}

// emptyRangeError names both resolved times, so that a user who wrote
// "now" and "1 hour ago" sees the times that were compared.
type emptyRangeError struct{ start, end time.Time }

func (e *emptyRangeError) Error() string {
	return fmt.Sprintf("end time %s is not after start time %s", format(e.end), format(e.start))
}

func (e *emptyRangeError) Unwrap() error { return ErrEmptyRange }

func parseField(field, expr string, now time.Time) (time.Time, error) {
	t, err := parse(expr, now)
	if err != nil {
		err.Field = field
		return time.Time{}, err
	}
	return t, nil
}

// parse returns a concrete *Error so that parseField can set the field;
// callers must not return a nil *Error as an error interface.
func parse(expr string, now time.Time) (time.Time, *Error) {
	// Round(0) drops a monotonic clock reading (time.Now() carries one), so
	// results are plain wall-clock values that compare and print alike.
	now = now.Round(0).UTC()
	// Collapse internal runs of whitespace so "3   days ago" and
	// "2024-01-15  10:00:00" read like their single-spaced forms.
	norm := strings.ToLower(strings.Join(strings.Fields(expr), " "))

	var (
		t      time.Time
		reason string
		ok     bool
	)
	switch {
	case norm == "now":
		t, ok = now, true
	case strings.HasSuffix(norm, " ago"):
		t, reason, ok = parseAgo(norm, now)
	default:
		// Timestamps are matched upper-case so that "t" and "z" work.
		t, reason, ok = parseAbsolute(strings.ToUpper(norm))
	}
	if ok && !representable(t) {
		reason, ok = fmt.Sprintf("%s is outside years 0000-9999", format(t)), false
	}
	if !ok {
		return time.Time{}, &Error{Value: expr, Reason: reason}
	}
	return t, nil
}

// representable reports whether RFC 3339 can write t (a four-digit year).
func representable(t time.Time) bool {
	y := t.Year()
	return y >= 0 && y <= 9999
}

func format(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// agoLimit bounds N per unit to about ten thousand years, so that N times
// the unit never overflows; anything larger could not land inside years
// 0000-9999 anyway. known is false for a word that is not a unit.
func agoLimit(unit string) (limit int64, known bool) {
	switch unit {
	case "minute":
		return 10000 * 366 * 24 * 60, true
	case "hour":
		return 10000 * 366 * 24, true
	case "day":
		return 10000 * 366, true
	case "week":
		return 10000 * 53, true
	case "month":
		return 10000 * 12, true
	case "year":
		return 10000, true
	}
	return 0, false
}

// parseAgo parses "N unit(s) ago", already lower-cased and single-spaced.
func parseAgo(norm string, now time.Time) (time.Time, string, bool) {
	f := strings.Split(norm, " ")
	if len(f) != 3 || f[2] != "ago" || !allDigits(f[0]) {
		return time.Time{}, "", false
	}
	// Singular and plural are both accepted whatever N is ("1 days ago").
	unit := strings.TrimSuffix(f[1], "s")
	limit, known := agoLimit(unit)
	if !known {
		return time.Time{}, "", false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n > limit {
		return time.Time{}, fmt.Sprintf("%s %ss is too far back", f[0], unit), false
	}
	// Minutes and hours are split into whole days plus a remainder because
	// time.Duration only spans about 292 years. UTC has no DST, so a
	// calendar day from AddDate is always exactly 24 hours.
	switch unit {
	case "minute":
		return now.AddDate(0, 0, -int(n/(24*60))).Add(-time.Duration(n%(24*60)) * time.Minute), "", true
	case "hour":
		return now.AddDate(0, 0, -int(n/24)).Add(-time.Duration(n%24) * time.Hour), "", true
	case "day":
		return now.AddDate(0, 0, -int(n)), "", true
	case "week":
		return now.AddDate(0, 0, -7*int(n)), "", true
	case "month":
		return monthsBefore(now, int(n)), "", true
	default: // year
		return monthsBefore(now, 12*int(n)), "", true
	}
}

// monthsBefore steps back n calendar months, clamping the day to the last
// day of the target month (see the package doc) and keeping the clock time.
func monthsBefore(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	months := y*12 + int(m-1) - n // months since January of year 0
	ty := floorDiv(months, 12)
	tm := time.Month(months-ty*12) + time.January
	d = min(d, daysIn(ty, tm))
	hh, mm, ss := t.Clock()
	return time.Date(ty, tm, d, hh, mm, ss, t.Nanosecond(), time.UTC)
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func daysIn(y int, m time.Month) int {
	// Day 0 of the next month is the last day of this one.
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseAbsolute parses, upper-cased and single-spaced,
//
//	YYYY-MM-DD
//	YYYY-MM-DD[T| ]hh:mm:ss[.fraction][Z|±hh:mm]
//
// A value without a zone is UTC. The shape is checked by hand rather than
// with time.Parse, which accepts one-digit hours in non-RFC 3339 layouts and
// reports calendar errors less precisely.
func parseAbsolute(s string) (time.Time, string, bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' ||
		!allDigits(s[0:4]) || !allDigits(s[5:7]) || !allDigits(s[8:10]) {
		return time.Time{}, "", false
	}
	year, month, day := atoi(s[0:4]), time.Month(atoi(s[5:7])), atoi(s[8:10])
	var hour, minute, sec, nsec int
	loc := time.UTC
	if rest := s[10:]; rest != "" {
		if len(rest) < 9 || (rest[0] != 'T' && rest[0] != ' ') || rest[3] != ':' || rest[6] != ':' ||
			!allDigits(rest[1:3]) || !allDigits(rest[4:6]) || !allDigits(rest[7:9]) {
			return time.Time{}, "", false
		}
		hour, minute, sec = atoi(rest[1:3]), atoi(rest[4:6]), atoi(rest[7:9])
		rest = rest[9:]
		if strings.HasPrefix(rest, ".") {
			i := 1
			for i < len(rest) && isDigit(rest[i]) {
				i++
			}
			frac := rest[1:i]
			if frac == "" {
				return time.Time{}, "", false
			}
			if len(frac) > 9 {
				return time.Time{}, "fractional seconds finer than nanoseconds", false
			}
			nsec = atoi(frac + strings.Repeat("0", 9-len(frac)))
			rest = rest[i:]
		}
		switch {
		case rest == "" || rest == "Z":
		case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
			allDigits(rest[1:3]) && allDigits(rest[4:6]):
			oh, om := atoi(rest[1:3]), atoi(rest[4:6])
			if oh > 23 || om > 59 {
				return time.Time{}, fmt.Sprintf("zone offset %s is out of range", rest), false
			}
			off := oh*3600 + om*60
			if rest[0] == '-' {
				off = -off
			}
			loc = time.FixedZone(rest, off)
		default:
			return time.Time{}, "", false
		}
	}
	switch {
	case month < 1 || month > 12:
		return time.Time{}, fmt.Sprintf("month %02d is out of range", int(month)), false
	case day < 1 || day > daysIn(year, month):
		return time.Time{}, fmt.Sprintf("day %02d is out of range for %s %04d", day, month, year), false
	case hour > 23:
		return time.Time{}, fmt.Sprintf("hour %02d is out of range", hour), false
	case minute > 59:
		return time.Time{}, fmt.Sprintf("minute %02d is out of range", minute), false
	case sec > 59:
		// RFC 3339 allows a leap second 60, but Go's time cannot hold one.
		return time.Time{}, fmt.Sprintf("second %02d is out of range", sec), false
	}
	return time.Date(year, month, day, hour, minute, sec, nsec, loc).UTC(), "", true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// atoi converts a string already checked by allDigits and short enough not
// to overflow.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
