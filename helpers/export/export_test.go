package export_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/event"
	"amplitude-testgen/helpers/export"
)

// at is a time on 2024-01-15 UTC.
func at(hour, min, sec, ms int) time.Time {
	return time.Date(2024, 1, 15, hour, min, sec, ms*int(time.Millisecond), time.UTC)
}

func ev(typ string, user, device *string, t time.Time, insertID string) event.Event {
	return event.Event{EventType: event.Str(typ), UserID: user, DeviceID: device, Time: t.UnixMilli(), HasTime: true, InsertID: insertID}
}

// hoursEvents span hours 9, 10 and 9 again, in that order.
func hoursEvents() []event.Event {
	e1 := ev("login", event.Str("user-1"), event.Str("device-1"), at(9, 5, 0, 123), "ins-1")
	e1.EventProperties = map[string]any{"plan": "pro", "html": "<b>&</b>"}
	e1.UserProperties = map[string]any{"email": "a@example.com"}
	return []event.Event{
		e1,
		ev("page_view", nil, event.Str("device-2"), at(9, 59, 59, 999), "ins-2"),
		ev("purchase", event.Str("user-3"), event.Str("device-3"), at(10, 0, 0, 0), "ins-3"),
		ev("logout", event.Str("user-1"), event.Str("device-1"), at(9, 30, 0, 1), ""),
	}
}

func writeZip(tb testing.TB, events []event.Event, opts export.Options) []byte {
	tb.Helper()
	var buf bytes.Buffer
	require.NoError(tb, export.WriteZip(&buf, events, opts))
	return buf.Bytes()
}

type entryLine struct {
	Entry string
	Line  int
	Raw   string
}

func readZip(tb testing.TB, data []byte) []entryLine {
	tb.Helper()
	var out []entryLine
	err := export.ReadZip(bytes.NewReader(data), int64(len(data)), func(entry string, line int, raw []byte) error {
		out = append(out, entryLine{entry, line, string(raw)})
		return nil
	})
	require.NoError(tb, err)
	return out
}

// zipNames lists the entries in the zip's own order, the order written.
func zipNames(tb testing.TB, data []byte) []string {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(tb, err)
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	return names
}

func TestWriteZipEntryNames(t *testing.T) {
	tests := []struct {
		name        string
		events      []event.Event
		opts        export.Options
		wantWritten []string
		wantRead    []string // entry of each row, in reading order
	}{
		{
			name:        "hour seen again gets the next number, read in natural order",
			events:      hoursEvents(),
			wantWritten: []string{"187520/187520_2024-01-15_9#0.json.gz", "187520/187520_2024-01-15_10#0.json.gz", "187520/187520_2024-01-15_9#1.json.gz"},
			wantRead: []string{
				"187520/187520_2024-01-15_9#0.json.gz", "187520/187520_2024-01-15_9#0.json.gz",
				"187520/187520_2024-01-15_9#1.json.gz", "187520/187520_2024-01-15_10#0.json.gz",
			},
		},
		{
			name: "midnight starts a new day at hour 0, project id from options",
			events: []event.Event{
				ev("a", event.Str("u1"), nil, time.Date(2024, 1, 15, 23, 59, 0, 0, time.UTC), "i1"),
				ev("b", event.Str("u1"), nil, time.Date(2024, 1, 16, 0, 1, 0, 0, time.UTC), "i2"),
			},
			opts:        export.Options{ProjectID: 42},
			wantWritten: []string{"42/42_2024-01-15_23#0.json.gz", "42/42_2024-01-16_0#0.json.gz"},
			wantRead:    []string{"42/42_2024-01-15_23#0.json.gz", "42/42_2024-01-16_0#0.json.gz"},
		},
		{
			name:        "no events, empty zip",
			events:      nil,
			wantWritten: nil,
			wantRead:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := writeZip(t, tt.events, tt.opts)
			assert.Equal(t, tt.wantWritten, zipNames(t, data))
			var gotRead []string
			for _, l := range readZip(t, data) {
				gotRead = append(gotRead, l.Entry)
			}
			assert.Equal(t, tt.wantRead, gotRead)
		})
	}
}

// normalize makes events comparable after a round trip: absent and empty
// property maps are alike in the export.
func normalize(e event.Event) event.Event {
	if len(e.EventProperties) == 0 {
		e.EventProperties = nil
	}
	if len(e.UserProperties) == 0 {
		e.UserProperties = nil
	}
	return e
}

func TestZipRoundTrip(t *testing.T) {
	events := hoursEvents()
	anon := ev("signup", event.Str("user-no-device"), nil, at(11, 0, 0, 7), "ins-5")
	events = append(events, anon)
	data := writeZip(t, events, export.Options{})

	var got []event.Event
	for _, l := range readZip(t, data) {
		var e event.Event
		require.NoError(t, json.Unmarshal([]byte(l.Raw), &e), l.Raw)
		got = append(got, normalize(e))
	}
	// Reading order is natural entry order: 9#0, 9#1, 10#0, 11#0.
	filled := anon
	filled.DeviceID = event.Str(export.DeviceIDForUser("user-no-device"))
	want := []event.Event{events[0], events[1], events[3], events[2], filled}
	for i := range want {
		want[i] = normalize(want[i])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadZip(WriteZip(events)) mismatch (-want +got):\n%s", diff)
	}
}

func TestZipRowFields(t *testing.T) {
	data := writeZip(t, append(hoursEvents(), ev("x", event.Str("u9"), nil, at(12, 0, 0, 0), "")), export.Options{})
	timeRE := regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$`)
	never := []string{"amplitude_id", "app", "event_id", "session_id", "event_properties", "user_properties", "data", "groups", "group_properties"}
	times := []string{"event_time", "client_event_time", "server_upload_time", "server_received_time", "client_upload_time", "processed_time"}
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

	lines := readZip(t, data)
	require.Len(t, lines, 5)
	uuids := map[string]bool{}
	for _, l := range lines {
		var row map[string]any
		require.NoError(t, json.Unmarshal([]byte(l.Raw), &row))
		for _, k := range never {
			v, ok := row[k]
			assert.True(t, ok && v != nil, "%s: %s is null or missing in %s", l.Entry, k, l.Raw)
		}
		for _, k := range times {
			s, _ := row[k].(string)
			assert.Regexp(t, timeRE, s, "%s in %s", k, l.Raw)
		}
		assert.Regexp(t, uuidRE, row["uuid"])
		assert.False(t, uuids[row["uuid"].(string)], "uuid %v repeated", row["uuid"])
		uuids[row["uuid"].(string)] = true
		assert.EqualValues(t, export.DefaultProjectID, row["app"])
		assert.EqualValues(t, export.NoSession, row["session_id"])
		assert.Equal(t, export.Library, row["library"])
		assert.NotContains(t, l.Raw, `\u003c`, "HTML must not be escaped")
	}
	// The first row has properties, the second none: {} not null.
	assert.Contains(t, lines[0].Raw, `"event_properties":{"html":"<b>&</b>","plan":"pro"}`)
	assert.Contains(t, lines[1].Raw, `"event_properties":{},"user_properties":{}`)
	assert.Contains(t, lines[1].Raw, `"user_id":null`)
	assert.Contains(t, lines[1].Raw, `"event_time":"2024-01-15 09:59:59.999000"`)
	assert.Contains(t, lines[1].Raw, `"$insert_id":"ins-2"`)
}

func TestZipWriterUploadTime(t *testing.T) {
	var buf bytes.Buffer
	zw := export.NewZipWriter(&buf, export.Options{})
	e := ev("late", event.Str("u1"), event.Str("d1"), at(8, 15, 0, 250), "i1")
	require.NoError(t, zw.Write(e, at(10, 0, 0, 5)))
	require.NoError(t, zw.Close())
	require.NoError(t, zw.Close(), "a second Close is harmless")
	require.Error(t, zw.Write(e, at(10, 0, 0, 5)), "Write after Close")

	lines := readZip(t, buf.Bytes())
	require.Len(t, lines, 1)
	assert.Equal(t, "187520/187520_2024-01-15_10#0.json.gz", lines[0].Entry, "the upload hour names the entry")
	var row export.Row
	require.NoError(t, json.Unmarshal([]byte(lines[0].Raw), &row))
	assert.Equal(t, "2024-01-15 08:15:00.250000", row.EventTime)
	assert.Equal(t, "2024-01-15 08:15:00.250000", row.ClientEventTime)
	for _, s := range []string{row.ServerUploadTime, row.ServerReceivedTime, row.ClientUploadTime, row.ProcessedTime} {
		assert.Equal(t, "2024-01-15 10:00:00.005000", s)
	}
}

func TestDeviceIDFill(t *testing.T) {
	tests := []struct {
		name       string
		user       *string
		device     *string
		wantDevice *string
	}{
		{"user without device gets a hashed device", event.Str("user-7"), nil, event.Str(export.DeviceIDForUser("user-7"))},
		{"device kept as given", event.Str("user-7"), event.Str("dev"), event.Str("dev")},
		{"anonymous event keeps its device", nil, event.Str("dev"), event.Str("dev")},
		{"no ids stay absent", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := writeZip(t, []event.Event{ev("x", tt.user, tt.device, at(9, 0, 0, 0), "i")}, export.Options{})
			lines := readZip(t, data)
			require.Len(t, lines, 1)
			var row export.Row
			require.NoError(t, json.Unmarshal([]byte(lines[0].Raw), &row))
			assert.Equal(t, tt.wantDevice, row.DeviceID)
			assert.Equal(t, tt.user, row.UserID)
			assert.NotZero(t, row.AmplitudeID)
		})
	}
	assert.Equal(t, export.DeviceIDForUser("a"), export.DeviceIDForUser("a"), "stable")
	assert.NotEqual(t, export.DeviceIDForUser("a"), export.DeviceIDForUser("b"))
}

func TestWriteZipIsByteStable(t *testing.T) {
	a := writeZip(t, hoursEvents(), export.Options{})
	b := writeZip(t, hoursEvents(), export.Options{})
	assert.Equal(t, a, b)
}

func TestNegativeProjectID(t *testing.T) {
	err := export.WriteZip(io.Discard, hoursEvents(), export.Options{ProjectID: -3})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "project id -3")
}

func TestEveryEntryIsOneGzipStream(t *testing.T) {
	data := writeZip(t, hoursEvents(), export.Options{})
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	require.Len(t, zr.File, 3)
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		body, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())

		br := bytes.NewReader(body)
		gz, err := gzip.NewReader(br)
		require.NoError(t, err, f.Name)
		gz.Multistream(false)
		plain, err := io.ReadAll(gz)
		require.NoError(t, err, f.Name)
		assert.True(t, bytes.HasSuffix(plain, []byte("\n")), "%s ends with a newline", f.Name)
		// bytes.Reader is a ByteReader, so gzip read exactly its member.
		assert.Zero(t, br.Len(), "%s: bytes after the first gzip member", f.Name)
	}
}

func TestNaturalLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"187520_2024-01-15_9#0.json.gz", "187520_2024-01-15_10#0.json.gz", true},
		{"187520_2024-01-15_10#0.json.gz", "187520_2024-01-15_9#0.json.gz", false},
		{"x_9#0", "x_9#1", true},
		{"x_9#1", "x_10#0", true},
		{"x_9#10", "x_9#2", false},
		{"a", "b", true},
		{"a", "a", false},
		{"a", "a1", true},
		{"file2", "file10", true},
		{"007", "7", true}, // equal numbers fall back to plain order
		{"7", "007", false},
		{"2024-01-15_23", "2024-01-16_0", true},
	}
	for _, tt := range tests {
		t.Run(tt.a+" < "+tt.b, func(t *testing.T) {
			assert.Equal(t, tt.want, export.NaturalLess(tt.a, tt.b))
		})
	}
	names := []string{"p_10#0", "p_9#1", "p_2#0", "p_9#0", "p_1#0"}
	sort.Slice(names, func(i, j int) bool { return export.NaturalLess(names[i], names[j]) })
	assert.Equal(t, []string{"p_1#0", "p_2#0", "p_9#0", "p_9#1", "p_10#0"}, names)
}

// buildZip makes a zip with the given raw entry bodies, in order.
func buildZip(tb testing.TB, entries ...[2]string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.Create(e[0])
		require.NoError(tb, err)
		_, err = w.Write([]byte(e[1]))
		require.NoError(tb, err)
	}
	require.NoError(tb, zw.Close())
	return buf.Bytes()
}

func gz(tb testing.TB, s string) string {
	tb.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write([]byte(s))
	require.NoError(tb, err)
	require.NoError(tb, w.Close())
	return buf.String()
}

func TestReadZipErrors(t *testing.T) {
	good := gz(t, "{\"event_type\":\"a\"}\n")
	badChecksum := []byte(gz(t, "{\"event_type\":\"a\"}\n"))
	badChecksum[len(badChecksum)-8] ^= 0xff // the CRC-32 in the gzip trailer
	truncated := good[:len(good)-10]

	tests := []struct {
		name string
		data []byte
		want []string // substrings of the error
	}{
		{"not a zip", []byte("this is not a zip file at all"), []string{"read export zip"}},
		{"entry is not gzip", buildZip(t, [2]string{"p/p_2024-01-15_9#0.json.gz", good}, [2]string{"p/p_2024-01-15_10#0.json.gz", "plain text"}), []string{"p/p_2024-01-15_10#0.json.gz", "gzip"}},
		{"gzip checksum wrong", buildZip(t, [2]string{"p/p_2024-01-15_9#0.json.gz", string(badChecksum)}), []string{"p/p_2024-01-15_9#0.json.gz", "checksum"}},
		{"gzip truncated", buildZip(t, [2]string{"p/p_2024-01-15_3#0.json.gz", truncated}), []string{"p/p_2024-01-15_3#0.json.gz", "unexpected EOF"}},
		{"line too long", buildZip(t, [2]string{"p/p_2024-01-15_4#0.json.gz", gz(t, "{}\n"+strings.Repeat("x", export.MaxLineBytes+1)+"\n")}), []string{"p/p_2024-01-15_4#0.json.gz", "line 2", "longer than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := export.ReadZip(bytes.NewReader(tt.data), int64(len(tt.data)), func(string, int, []byte) error { return nil })
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestReadZipCorruptZipEntry(t *testing.T) {
	data := writeZip(t, hoursEvents(), export.Options{})
	// Damage the compressed bytes of the first entry, after its local header.
	name := "187520/187520_2024-01-15_9#0.json.gz"
	i := bytes.Index(data, []byte(name))
	require.Positive(t, i)
	bad := bytes.Clone(data)
	for j := i + len(name) + 40; j < i+len(name)+60; j++ {
		bad[j] ^= 0x55
	}
	err := export.ReadZip(bytes.NewReader(bad), int64(len(bad)), func(string, int, []byte) error { return nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), name)
}

func TestReadZipSkipsOtherEntriesAndReadsFirstMemberOnly(t *testing.T) {
	twoMembers := gz(t, "{\"n\":1}\n") + gz(t, "{\"n\":2}\n")
	data := buildZip(t,
		[2]string{"p/readme.txt", "ignored"},
		[2]string{"p/p_2024-01-15_10#0.json.gz", gz(t, "{\"n\":3}\r\n\n{\"n\":4}")},
		[2]string{"p/p_2024-01-15_9#0.json.gz", twoMembers},
		[2]string{"p/p_2024-01-15_9#0.json", "{\"n\":5}\n"},
	)
	got := readZip(t, data)
	want := []entryLine{
		{"p/p_2024-01-15_9#0.json.gz", 1, `{"n":1}`},
		{"p/p_2024-01-15_10#0.json.gz", 1, `{"n":3}`},
		{"p/p_2024-01-15_10#0.json.gz", 3, `{"n":4}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadZip mismatch (-want +got):\n%s", diff)
	}
}

func TestReadZipStopsOnCallbackError(t *testing.T) {
	data := writeZip(t, hoursEvents(), export.Options{})
	stop := errors.New("stop here")
	calls := 0
	err := export.ReadZip(bytes.NewReader(data), int64(len(data)), func(string, int, []byte) error {
		calls++
		return stop
	})
	require.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)
}

func TestScanLines(t *testing.T) {
	long := strings.Repeat("y", export.MaxLineBytes+5)
	exact := strings.Repeat("z", export.MaxLineBytes)
	tests := []struct {
		name string
		in   string
		want []string // "n:text" or "n:error"
	}{
		{"plain lines", "a\nb\n", []string{"1:a", "2:b"}},
		{"no final newline", "a\nb", []string{"1:a", "2:b"}},
		{"CRLF and blank lines", "a\r\n\r\n\nb\r\n", []string{"1:a", "2:", "3:", "4:b"}},
		{"empty input", "", nil},
		{"line over the limit is an error, reading goes on", "a\n" + long + "\nc\n", []string{"1:a", "2:error", "3:c"}},
		{"over-long last line without newline", "a\n" + long, []string{"1:a", "2:error"}},
		{"line at the limit is read", exact + "\n", []string{"1:" + exact}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := export.ScanLines(strings.NewReader(tt.in), func(line int, raw []byte, err error) error {
				if err != nil {
					assert.ErrorIs(t, err, export.ErrLineTooLong)
					got = append(got, strconv.Itoa(line)+":error")
					return nil
				}
				got = append(got, strconv.Itoa(line)+":"+string(raw))
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestWriteDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out", "export")
	events := hoursEvents()
	require.NoError(t, export.WriteDir(dir, events, export.Options{}))

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"187520_2024-01-15_9#0.json", "187520_2024-01-15_10#0.json", "187520_2024-01-15_9#1.json"}, names, "no temporary files left")

	// Each file holds exactly the rows of the zip entry of the same name.
	byEntry := map[string]string{}
	for _, l := range readZip(t, writeZip(t, events, export.Options{})) {
		byEntry[strings.TrimSuffix(filepath.Base(l.Entry), ".gz")] += l.Raw + "\n"
	}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, byEntry[name], string(b), name)
	}
}

func TestWriteDirFailsWithoutPartialOutput(t *testing.T) {
	parent := t.TempDir()
	blocker := filepath.Join(parent, "file")
	require.NoError(t, os.WriteFile(blocker, []byte("x"), 0o644))
	err := export.WriteDir(filepath.Join(blocker, "sub"), hoursEvents(), export.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), blocker)

	dir := filepath.Join(parent, "dir")
	err = export.WriteDir(dir, hoursEvents(), export.Options{ProjectID: -1})
	require.Error(t, err)
	entries, rerr := os.ReadDir(dir)
	require.NoError(t, rerr)
	assert.Empty(t, entries, "a failed WriteDir leaves no files")
}

func TestWriteZipFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "export.zip")
	require.NoError(t, export.WriteZipFile(path, hoursEvents(), export.Options{}))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, writeZip(t, hoursEvents(), export.Options{}), got)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	// A failure leaves neither the target nor a temporary file.
	bad := filepath.Join(dir, "bad.zip")
	require.Error(t, export.WriteZipFile(bad, hoursEvents(), export.Options{ProjectID: -1}))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "export.zip", entries[0].Name())

	err = export.WriteZipFile(filepath.Join(dir, "missing", "x.zip"), hoursEvents(), export.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing")
}

// TestStandardToolsAcceptZip runs unzip and gunzip, when installed, on a
// written zip: the format must not be one only our reader understands.
func TestStandardToolsAcceptZip(t *testing.T) {
	unzip, err := exec.LookPath("unzip")
	if err != nil {
		t.Skip("unzip not on PATH; cannot check the zip with a standard tool")
	}
	gunzip, err := exec.LookPath("gunzip")
	if err != nil {
		t.Skip("gunzip not on PATH; cannot check the entries with a standard tool")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "export.zip")
	require.NoError(t, export.WriteZipFile(path, hoursEvents(), export.Options{}))

	out, err := exec.Command(unzip, "-l", path).CombinedOutput()
	require.NoError(t, err, string(out))
	for _, name := range []string{"187520/187520_2024-01-15_9#0.json.gz", "187520/187520_2024-01-15_10#0.json.gz", "187520/187520_2024-01-15_9#1.json.gz"} {
		assert.Contains(t, string(out), name)
	}
	out, err = exec.Command(unzip, "-tq", path).CombinedOutput()
	require.NoError(t, err, "unzip -t: %s", out)

	// unzip -p writes an entry to stdout; gunzip must decompress it.
	raw, err := exec.Command(unzip, "-p", path, "187520/187520_2024-01-15_9#0.json.gz").Output()
	require.NoError(t, err)
	cmd := exec.Command(gunzip, "-c")
	cmd.Stdin = bytes.NewReader(raw)
	plain, err := cmd.Output()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[0], `"$insert_id":"ins-1"`)
	assert.Contains(t, lines[1], `"$insert_id":"ins-2"`)
}
