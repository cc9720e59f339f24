package export

import (
	"crypto/sha1"
	"encoding/hex"
)

// namespace is the UUID namespace of every id this package derives
// (RFC 4122's URL namespace, 6ba7b811-9dad-11d1-80b4-00c04fd430c8): fixed,
// so the ids are the same on every run.
const namespace = "\x6b\xa7\xb8\x11\x9d\xad\x11\xd1\x80\xb4\x00\xc0\x4f\xd4\x30\xc8"

// idHasher derives name-based (version 5) UUIDs, reusing one buffer.
type idHasher struct{ buf []byte }

// uuid5 is the version 5 UUID of name, in its usual text form.
func (h *idHasher) uuid5(name ...string) string {
	h.buf = append(h.buf[:0], namespace...)
	h.buf = append(h.buf, "amplitude-testgen"...)
	for _, part := range name {
		h.buf = append(h.buf, ':')
		h.buf = append(h.buf, part...)
	}
	sum := sha1.Sum(h.buf)
	sum[6] = sum[6]&0x0f | 0x50 // version 5
	sum[8] = sum[8]&0x3f | 0x80 // RFC 4122 variant
	var out [36]byte
	hex.Encode(out[0:8], sum[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], sum[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], sum[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], sum[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], sum[10:16])
	return string(out[:])
}

// eventUUID is a row's uuid: PostHog keeps it as the event's uuid, so it must
// be a valid UUID and the same for the same event on every run.
func (h *idHasher) eventUUID(projectID, kind, value string) string {
	return h.uuid5("event", projectID, kind, value)
}

func (h *idHasher) deviceIDForUser(userID string) string {
	return h.uuid5("device", userID)
}

// DeviceIDForUser is the device_id the writers give an event that has a
// user_id but no device_id. Amplitude fills a missing device_id on ingest
// with a hash of the user_id; its exact hash is not documented, so this is a
// version 5 UUID of the user id: stable, and a function of the user id alone.
// An oracle predicting PostHog's identifies from an export must use it too:
// PostHog sees the filled device_id and identifies the user with it.
func DeviceIDForUser(userID string) string {
	var h idHasher
	return h.deviceIDForUser(userID)
}

// amplitudeID stands in for the id Amplitude gives each user: a hash of the
// user_id, or of the device_id for an anonymous event. It is positive, never
// 0 (which PostHog reads as absent), and below 2^47 like Amplitude's ids.
func amplitudeID(userID, deviceID *string) int64 {
	// FNV-1a, inline: hash/fnv's interface would allocate for every row.
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= prime64
		}
	}
	switch {
	case userID != nil && *userID != "":
		add("user:")
		add(*userID)
	case deviceID != nil:
		add("device:")
		add(*deviceID)
	}
	id := int64(h & (1<<47 - 1))
	if id == 0 {
		id = 1
	}
	return id
}
