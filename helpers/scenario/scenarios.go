package scenario

import (
	"strings"
	"time"
)

// step is one event of a scenario, as data.
type step struct {
	user      *string       // nil: anonymous, user_id null
	device    string        // never empty: every event has a device
	eventType string        // "" draws a type from eventTypes
	identify  bool          // whether PostHog must emit an $identify for it
	pair      int           // which user-device pair of the scenario, from 1
	context   string        // the story, written into event_properties
	at        time.Duration // nominal offset from the scenario's first event
}

// definition is one scenario of the standard dataset.
type definition struct {
	name        string
	number      int
	description string
	steps       []step
}

// gapBetweenScenarios separates one scenario's last event from the next
// scenario's first in the nominal schedule.
const gapBetweenScenarios = 30 * time.Minute

// eventTypes are the types drawn for events. session_start is left out on
// purpose: PostHog drops it before identify logic, so a pair whose first
// event were a session_start would identify late or never (SPEC.md §2).
var eventTypes = [...]string{
	"login", "purchase", "page_view", "button_click", "app_open",
	"video_play", "search", "signup", "logout",
}

// loginEventType is the fixed type of scenario 6's identifying event.
const loginEventType = "user_login"

func known(user, device string, pair int, identify bool, context string, at time.Duration) step {
	return step{user: &user, device: device, identify: identify, pair: pair, context: context, at: at}
}

// definitions returns the 7 scenarios of SPEC.md §2, in generation order,
// with their narrative schedules. It builds them afresh on every call so no
// caller can change another's copy.
func definitions() []definition {
	const m, h = time.Minute, time.Hour
	return []definition{
		{
			name: "first_time_combinations", number: 1,
			description: "five new user-device pairs, each identifies",
			// New pairs a couple of minutes apart.
			steps: []step{
				known("first_time_user_alice", "first_time_device_mobile_1", 1, true, "first sighting of the pair", 0),
				known("first_time_user_bob", "first_time_device_laptop_2", 2, true, "first sighting of the pair", 2*m),
				known("first_time_user_charlie", "first_time_device_tablet_3", 3, true, "first sighting of the pair", 4*m),
				known("first_time_user_diana", "first_time_device_desktop_4", 4, true, "first sighting of the pair", 6*m),
				known("first_time_user_eve", "first_time_device_smartwatch_5", 5, true, "first sighting of the pair", 8*m),
			},
		},
		{
			name: "duplicate_combinations", number: 2,
			description: "three pairs seen three times each, only the first event identifies",
			// Each pair's events 5 minutes apart; pairs 20 minutes apart.
			steps: []step{
				known("duplicate_user_frank", "duplicate_device_phone_1", 1, true, "first occurrence", 0),
				known("duplicate_user_frank", "duplicate_device_phone_1", 1, false, "second occurrence", 5*m),
				known("duplicate_user_frank", "duplicate_device_phone_1", 1, false, "third occurrence", 10*m),
				known("duplicate_user_grace", "duplicate_device_computer_2", 2, true, "first occurrence", 20*m),
				known("duplicate_user_grace", "duplicate_device_computer_2", 2, false, "second occurrence", 25*m),
				known("duplicate_user_grace", "duplicate_device_computer_2", 2, false, "third occurrence", 30*m),
				known("duplicate_user_henry", "duplicate_device_ipad_3", 3, true, "first occurrence", 40*m),
				known("duplicate_user_henry", "duplicate_device_ipad_3", 3, false, "second occurrence", 45*m),
				known("duplicate_user_henry", "duplicate_device_ipad_3", 3, false, "third occurrence", 50*m),
			},
		},
		{
			name: "multi_device_users", number: 3,
			description: "one user on four devices, each device identifies",
			// One user's day: phone, then work, then home.
			steps: []step{
				known("multi_device_user_sarah", "multi_dev_phone_morning", 1, true, "morning on the phone", 0),
				known("multi_device_user_sarah", "multi_dev_laptop_work", 2, true, "at work on the laptop", 1*h),
				known("multi_device_user_sarah", "multi_dev_tablet_home", 3, true, "at home on the tablet", 3*h),
				known("multi_device_user_sarah", "multi_dev_smarttv_living", 4, true, "evening on the living room TV", 4*h),
			},
		},
		{
			name: "multi_user_devices", number: 4,
			description: "four users on one shared device, each user identifies",
			// The family tablet changes hands every quarter hour.
			steps: []step{
				known("shared_device_parent_mom", "shared_family_tablet_main", 1, true, "mom on the family tablet", 0),
				known("shared_device_parent_dad", "shared_family_tablet_main", 2, true, "dad on the family tablet", 15*m),
				known("shared_device_child_alice", "shared_family_tablet_main", 3, true, "alice on the family tablet", 30*m),
				known("shared_device_child_bob", "shared_family_tablet_main", 4, true, "bob on the family tablet", 45*m),
			},
		},
		{
			name: "edge_cases", number: 5,
			description: "unusual ids: unicode, punctuation, long, padded, numeric, mixed case; each identifies",
			// One case a minute.
			steps: []step{
				known("edge_unicode_用户", "edge_unicode_设备", 1, true, "unicode user and device", 0),
				known("edge_email_user@test.com", "edge_colon_device:123:abc", 2, true, "email user and colon device", 1*m),
				known("edge_hash_user#123", "edge_dots_device.with.dots", 3, true, "hash user and dotted device", 2*m),
				known("edge_long_"+strings.Repeat("x", 50), "edge_normal_device", 4, true, "very long user id", 3*m),
				known("edge_normal_user", "edge_long_device_"+strings.Repeat("y", 50), 5, true, "very long device id", 4*m),
				// Sent untrimmed: PostHog trims when it builds the identify.
				known("  edge_trimmed_user  ", "  edge_trimmed_device  ", 6, true, "whitespace-padded ids, sent as is", 5*m),
				known("edge_numeric_12345", "edge_numeric_67890", 7, true, "numeric ids", 6*m),
				known("edge_camelCase_User", "edge_kebab-case-device", 8, true, "mixed case ids", 7*m),
			},
		},
		{
			name: "anonymous_to_identified", number: 6,
			description: "a device browses anonymously, then its user logs in (identifies), then acts again",
			// Per pair: browse, log in 2 minutes later, act 3 minutes after
			// that; pairs a quarter hour apart.
			steps: anonymousToIdentified([3][2]string{
				{"anon_device_phone_1", "anon_to_id_user_1"},
				{"anon_device_laptop_2", "anon_to_id_user_2"},
				{"anon_device_tablet_3", "anon_to_id_user_3"},
			}),
		},
		{
			name: "cross_session_journeys", number: 7,
			description: "one user moves between three devices over a day; only new devices identify",
			// The journey steps at 0, 2, 4, 5, 10 and 12 hours. Devices are
			// reused on purpose: a repeat must not identify again.
			steps: []step{
				known("journey_user_alex", "journey_phone_commute", 1, true, "morning commute, new device", 0),
				known("journey_user_alex", "journey_laptop_office", 2, true, "at work, new device", 2*h),
				known("journey_user_alex", "journey_phone_commute", 1, false, "lunch, known device", 4*h),
				known("journey_user_alex", "journey_laptop_office", 2, false, "back to work, known device", 5*h),
				known("journey_user_alex", "journey_tablet_home", 3, true, "evening at home, new device", 10*h),
				known("journey_user_alex", "journey_phone_commute", 1, false, "before sleep, known device", 12*h),
			},
		},
	}
}

// anonymousToIdentified builds scenario 6 from its (device, user) pairs.
func anonymousToIdentified(pairs [3][2]string) []step {
	steps := make([]step, 0, 3*len(pairs))
	for i, p := range pairs {
		device, user := p[0], p[1]
		start := time.Duration(i) * 15 * time.Minute
		login := known(user, device, i+1, true, "login identifies the device", start+2*time.Minute)
		login.eventType = loginEventType
		steps = append(steps,
			step{device: device, pair: i + 1, context: "anonymous, device only", at: start},
			login,
			known(user, device, i+1, false, "identified again, same pair", start+5*time.Minute),
		)
	}
	return steps
}
