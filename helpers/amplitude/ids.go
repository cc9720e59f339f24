package amplitude

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"amplitude-testgen/helpers/event"
)

// DefaultMinIDLength is Amplitude's minimum user_id and device_id length
// when a request sets no min_id_length option.
const DefaultMinIDLength = 5

// invalidIDs are the ids Amplitude refuses whatever min_id_length says,
// compared case-insensitively (HTTP V2 API docs, "Invalid IDs").
var invalidIDs = []string{
	"anonymous", "nil", "none", "null", "n/a", "na", "undefined", "unknown",
	`""`, "", "00000000-0000-0000-0000-000000000000", "{}", "lmy47d", "0", "-1",
}

// InvalidID reports whether Amplitude refuses id as a user_id or device_id
// when ids must be at least minLength characters long.
func InvalidID(id string, minLength int) bool {
	return idProblem(id, minLength) != ""
}

func idProblem(id string, minLength int) string {
	if slices.Contains(invalidIDs, strings.ToLower(id)) {
		return "is one of Amplitude's invalid ids"
	}
	if utf8.RuneCountInString(id) < minLength {
		return fmt.Sprintf("is shorter than min_id_length %d", minLength)
	}
	return ""
}

// diagnose says why Amplitude would refuse e, or "" when it would not: a
// hint next to Amplitude's own message, which names no field.
func diagnose(e event.Event, minLength int) string {
	var why []string
	if e.EventType == nil || *e.EventType == "" {
		why = append(why, "event_type is missing")
	}
	for _, f := range []struct {
		name string
		id   *string
	}{{"user_id", e.UserID}, {"device_id", e.DeviceID}} {
		// The SDK leaves an empty id out of the request, so "" is absent.
		if f.id == nil || *f.id == "" {
			continue
		}
		if p := idProblem(*f.id, minLength); p != "" {
			why = append(why, fmt.Sprintf("%s %q %s", f.name, *f.id, p))
		}
	}
	if (e.UserID == nil || *e.UserID == "") && (e.DeviceID == nil || *e.DeviceID == "") {
		why = append(why, "neither user_id nor device_id is set")
	}
	return strings.Join(why, "; ")
}
