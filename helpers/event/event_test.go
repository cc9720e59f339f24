package event_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/event"
)

func TestUnmarshalForms(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		user     *string
		device   *string
		time     int64
		hasTime  bool
		insertID string
	}{
		{"dataset form", `{"event_type":"login","user_id":"u1","device_id":"d1","time":1705312800123,"insert_id":"i1"}`, event.Str("u1"), event.Str("d1"), 1705312800123, true, "i1"},
		{"null user is absent", `{"event_type":"login","user_id":null,"device_id":"d1","time":1}`, nil, event.Str("d1"), 1, true, ""},
		{"missing user is absent", `{"event_type":"login","device_id":"d1","time":1}`, nil, event.Str("d1"), 1, true, ""},
		{"empty user is present", `{"event_type":"login","user_id":"","device_id":"d1","time":1}`, event.Str(""), event.Str("d1"), 1, true, ""},
		{"export form", `{"event_type":"login","user_id":"u1","device_id":"d1","event_time":"2024-01-15 10:00:00.123000","$insert_id":"i2"}`, event.Str("u1"), event.Str("d1"), 1705312800123, true, "i2"},
		{"export time without fraction", `{"event_type":"x","event_time":"2024-01-15 10:00:00"}`, nil, nil, 1705312800000, true, ""},
		{"ISO event_time falls back to client_event_time", `{"event_type":"x","event_time":"2024-01-15T10:00:00Z","client_event_time":"2024-01-15 10:00:01.000000"}`, nil, nil, 1705312801000, true, ""},
		{"no parsable time", `{"event_type":"x","event_time":"yesterday"}`, nil, nil, 0, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e event.Event
			require.NoError(t, json.Unmarshal([]byte(tt.in), &e))
			assert.Equal(t, tt.user, e.UserID)
			assert.Equal(t, tt.device, e.DeviceID)
			assert.Equal(t, tt.time, e.Time)
			assert.Equal(t, tt.hasTime, e.HasTime)
			assert.Equal(t, tt.insertID, e.InsertID)
		})
	}
}

func TestUnmarshalBadTime(t *testing.T) {
	var e event.Event
	err := json.Unmarshal([]byte(`{"event_type":"x","time":"soon"}`), &e)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"soon"`)
}

func TestMarshalDatasetForm(t *testing.T) {
	e := event.Event{EventType: event.Str("login"), DeviceID: event.Str("d1"), Time: 5, InsertID: "i"}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	assert.Equal(t, `{"event_type":"login","user_id":null,"device_id":"d1","time":5,"insert_id":"i"}`, string(b))
}
