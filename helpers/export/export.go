// Package export writes and reads Amplitude's Export API format (SPEC.md §4),
// the zip that PostHog's batch import worker downloads from Amplitude: one
// gzip file of newline-delimited event rows per server upload hour, named
// <project_id>/<project_id>_<YYYY-MM-DD>_<H>#<n>.json.gz.
//
// The writers stream: rows go into the zip as they are made, so a dataset of
// any size costs the memory of one row and the compressors. The reader reads
// a zip as PostHog does: only the entries ending .json.gz, in natural order,
// and only the first gzip member of each.
package export

import (
	"archive/zip"
	"compress/flate"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"amplitude-testgen/helpers/event"
)

// Options configure the writers.
type Options struct {
	ProjectID int64 // in entry names and rows; 0 means DefaultProjectID
}

// DefaultProjectID is the fixed test project id.
const DefaultProjectID = 187520

// Library is the row's library field: it tells a reader of PostHog's output
// that the event came from this tool rather than a real SDK.
const Library = "amplitude-testgen"

// NoSession is Amplitude's session_id for an event sent without a session.
// Our events carry no session, and PostHog rejects a null session_id.
const NoSession = -1

// Row is one line of an export entry. The field order is fixed, and maps are
// encoded with sorted keys, so the same events always give the same bytes.
//
// PostHog fails a whole chunk on an explicit null in amplitude_id, app,
// event_id, session_id, event_properties, user_properties, data, groups or
// group_properties, so those fields are never pointers or nil maps here. The
// device and location fields are null because the events do not carry them,
// as in Amplitude's own exports of server-side events; writing made-up values
// would add $set properties PostHog's output would then be checked against.
type Row struct {
	InsertID           *string        `json:"$insert_id"` // null when the event has none, as Amplitude writes it
	UUID               string         `json:"uuid"`
	AmplitudeID        int64          `json:"amplitude_id"`
	EventID            int64          `json:"event_id"`
	SessionID          int64          `json:"session_id"`
	App                int64          `json:"app"`
	UserID             *string        `json:"user_id"`
	DeviceID           *string        `json:"device_id"`
	EventType          *string        `json:"event_type"`
	EventTime          string         `json:"event_time"`
	ClientEventTime    string         `json:"client_event_time"`
	ServerUploadTime   string         `json:"server_upload_time"`
	ServerReceivedTime string         `json:"server_received_time"`
	ClientUploadTime   string         `json:"client_upload_time"`
	ProcessedTime      string         `json:"processed_time"`
	EventProperties    map[string]any `json:"event_properties"`
	UserProperties     map[string]any `json:"user_properties"`
	Groups             struct{}       `json:"groups"`
	GroupProperties    struct{}       `json:"group_properties"`
	Data               struct{}       `json:"data"`
	Library            string         `json:"library"`
	Platform           *string        `json:"platform"`
	OSName             *string        `json:"os_name"`
	Country            *string        `json:"country"`
	City               *string        `json:"city"`
	Region             *string        `json:"region"`
	IPAddress          *string        `json:"ip_address"`
	Language           *string        `json:"language"`
	DeviceType         *string        `json:"device_type"`
	Paying             *bool          `json:"paying"`
	VersionName        *string        `json:"version_name"`
}

// rowBuilder turns events into rows, numbering them as it goes.
type rowBuilder struct {
	app     int64
	appText string         // app in decimal, for the uuids
	seq     int64          // the last event_id handed out
	empty   map[string]any // shared {} for absent properties; never written to
	ids     idHasher

	// The row's string pointers point here, so a row costs no allocation
	// for them; a row is therefore valid only until the next one is built.
	insertID, deviceID string
}

func newRowBuilder(projectID int64) rowBuilder {
	return rowBuilder{app: projectID, appText: strconv.FormatInt(projectID, 10), empty: map[string]any{}}
}

// row builds the next row into r. event_id counts from 1 because PostHog treats 0
// as absent.
//
// A missing device_id is filled with DeviceIDForUser(user_id), as Amplitude
// fills it on ingest: the exported row then has both ids, and PostHog will
// identify the user with that device.
func (b *rowBuilder) row(r *Row, e *event.Event, upload time.Time) {
	b.seq++
	eventTime := event.FormatExportTime(e.Timestamp())
	uploadTime := event.FormatExportTime(upload)
	*r = Row{
		EventID:            b.seq,
		SessionID:          NoSession,
		App:                b.app,
		UserID:             e.UserID,
		DeviceID:           e.DeviceID,
		EventType:          e.EventType,
		EventTime:          eventTime,
		ClientEventTime:    eventTime,
		ServerUploadTime:   uploadTime,
		ServerReceivedTime: uploadTime,
		ClientUploadTime:   uploadTime,
		ProcessedTime:      uploadTime,
		EventProperties:    e.EventProperties,
		UserProperties:     e.UserProperties,
		Library:            Library,
	}
	if r.EventProperties == nil {
		r.EventProperties = b.empty
	}
	if r.UserProperties == nil {
		r.UserProperties = b.empty
	}
	if r.DeviceID == nil && r.UserID != nil {
		b.deviceID = b.ids.deviceIDForUser(*r.UserID)
		r.DeviceID = &b.deviceID
	}
	if e.InsertID != "" {
		b.insertID = e.InsertID
		r.InsertID = &b.insertID
		r.UUID = b.ids.eventUUID(b.appText, "insert_id", e.InsertID)
	} else {
		// Without an insert id the position in the stream is what is
		// stable: the same events in the same order give the same uuids.
		r.UUID = b.ids.eventUUID(b.appText, "event_id", strconv.FormatInt(b.seq, 10))
	}
	r.AmplitudeID = amplitudeID(r.UserID, r.DeviceID)
}

// hourly splits a stream of rows into entries by upload hour: a new entry
// whenever the hour changes, numbered #0, #1, ... per hour, since Amplitude
// also numbers further files of an hour it has already written.
type hourly struct {
	projectID int64
	seen      map[int64]int // hour (unix seconds) -> entries opened so far
	cur       int64
	open      bool
}

// next reports whether upload starts a new entry, and if so its base name
// (<project_id>_<YYYY-MM-DD>_<H>#<n>, no extension) and its hour.
func (h *hourly) next(upload time.Time) (base string, hour time.Time, isNew bool) {
	hour = upload.UTC().Truncate(time.Hour)
	key := hour.Unix()
	if h.open && key == h.cur {
		return "", hour, false
	}
	n := h.seen[key]
	h.seen[key] = n + 1
	h.cur, h.open = key, true
	return fmt.Sprintf("%d_%s_%d#%d", h.projectID, hour.Format("2006-01-02"), hour.Hour(), n), hour, true
}

// sink receives the entries of a stream, one open at a time.
type sink interface {
	open(base string, hour time.Time) (io.Writer, error)
	close() error
}

// switchWriter lets one json.Encoder write into whichever entry is open.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// stream writes rows into a sink, entry by entry.
type stream struct {
	rows  rowBuilder
	hours hourly
	sink  sink
	out   switchWriter
	enc   *json.Encoder
	row   Row   // reused: encoding a local would move it to the heap each time
	err   error // sticky: after a failure every call returns it
}

func newStream(opts Options, s sink) *stream {
	pid := opts.ProjectID
	if pid == 0 {
		pid = DefaultProjectID
	}
	st := &stream{
		rows:  newRowBuilder(pid),
		hours: hourly{projectID: pid, seen: map[int64]int{}},
		sink:  s,
	}
	if pid < 0 {
		st.err = fmt.Errorf("project id %d: want a positive Amplitude project id", pid)
	}
	st.enc = json.NewEncoder(&st.out)
	st.enc.SetEscapeHTML(false) // property values are data, not HTML
	return st
}

func (s *stream) write(e event.Event, upload time.Time) error {
	if s.err != nil {
		return s.err
	}
	if base, hour, isNew := s.hours.next(upload); isNew {
		if s.out.w != nil {
			if err := s.sink.close(); err != nil {
				s.err = err
				return err
			}
			s.out.w = nil
		}
		w, err := s.sink.open(base, hour)
		if err != nil {
			s.err = err
			return err
		}
		s.out.w = w
	}
	s.rows.row(&s.row, &e, upload)
	if err := s.enc.Encode(&s.row); err != nil {
		s.err = fmt.Errorf("write export row for event_id %d: %w", s.row.EventID, err)
		return s.err
	}
	return nil
}

// finish closes the last entry.
func (s *stream) finish() error {
	if s.err != nil {
		return s.err
	}
	if s.out.w != nil {
		s.out.w = nil
		if err := s.sink.close(); err != nil {
			s.err = err
			return err
		}
	}
	return nil
}

// ZipWriter streams rows into an export zip, one gzip entry per upload hour.
type ZipWriter struct {
	st     *stream
	zip    *zipSink
	closed bool
}

// zipSink makes each entry a single gzip stream inside a zip entry. The
// compressors are reused from entry to entry: they are the big allocations.
type zipSink struct {
	projectID int64
	zw        *zip.Writer
	gz        *gzip.Writer
	fw        *flate.Writer
	name      string
}

// NewZipWriter starts an export zip on w. Call Close to finish it; w itself
// is not closed.
func NewZipWriter(w io.Writer, opts Options) *ZipWriter {
	gz, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed) // a valid level: never fails
	zs := &zipSink{zw: zip.NewWriter(w), gz: gz}
	// The entries hold gzip data already, which deflate cannot shrink;
	// stored deflate blocks keep the zip standard (unlike zip.Store with a
	// data descriptor, which some readers refuse) at no compression cost.
	zs.zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		if zs.fw == nil {
			fw, err := flate.NewWriter(out, flate.NoCompression)
			if err != nil {
				return nil, err
			}
			zs.fw = fw
			return fw, nil
		}
		zs.fw.Reset(out)
		return zs.fw, nil
	})
	st := newStream(opts, zs)
	zs.projectID = st.rows.app
	return &ZipWriter{st: st, zip: zs}
}

func (z *zipSink) open(base string, hour time.Time) (io.Writer, error) {
	z.name = fmt.Sprintf("%d/%s.json.gz", z.projectID, base)
	// The entry's modified time is its hour, not the clock, so the zip's
	// bytes depend on the events alone.
	w, err := z.zw.CreateHeader(&zip.FileHeader{Name: z.name, Method: zip.Deflate, Modified: hour})
	if err != nil {
		return nil, fmt.Errorf("start export entry %s: %w", z.name, err)
	}
	z.gz.Reset(w)
	return z.gz, nil
}

func (z *zipSink) close() error {
	if err := z.gz.Close(); err != nil {
		return fmt.Errorf("finish export entry %s: %w", z.name, err)
	}
	return nil
}

// Write adds one event, uploaded at uploadTime: the upload hour picks the
// entry, and the row's server and upload times are uploadTime. Events are
// written in the order given; an hour seen before, after another hour, gets
// a new entry with the next #n.
func (z *ZipWriter) Write(e event.Event, uploadTime time.Time) error {
	if z.closed {
		return fmt.Errorf("write export event: zip writer already closed")
	}
	return z.st.write(e, uploadTime)
}

// Close finishes the last entry and the zip.
func (z *ZipWriter) Close() error {
	if z.closed {
		return nil
	}
	z.closed = true
	if err := z.st.finish(); err != nil {
		return err
	}
	if err := z.zip.zw.Close(); err != nil {
		return fmt.Errorf("finish export zip: %w", err)
	}
	return nil
}

// WriteZip writes events as an export zip, each uploaded at its own time
// (event.Timestamp()), as if sent the moment it happened.
func WriteZip(w io.Writer, events []event.Event, opts Options) error {
	zw := NewZipWriter(w, opts)
	for i, e := range events {
		if err := zw.Write(e, e.Timestamp()); err != nil {
			return fmt.Errorf("export event %d: %w", i, err)
		}
	}
	return zw.Close()
}
