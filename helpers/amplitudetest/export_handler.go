package amplitudetest

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"amplitude-testgen/helpers/export"
)

// ExportHourLayout is the Export API's start/end parameter layout: a UTC hour.
const ExportHourLayout = "20060102T15"

// MaxExportRange is the longest range the fake exports; Amplitude refuses
// larger ranges with 400.
const MaxExportRange = 365 * 24 * time.Hour

// export serves GET /api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH: the
// events whose upload hour is in [start, end], both inclusive.
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.exportRequests++
	s.mu.Unlock()

	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed: use GET", http.StatusMethodNotAllowed)
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || !equal(user, s.cfg.apiKey) || !equal(pass, s.cfg.secretKey) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Amplitude"`)
		http.Error(w, "invalid API key or secret key", http.StatusUnauthorized)
		return
	}
	start, err := parseHour(r, "start")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	end, err := parseHour(r, "end")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if end.Before(start) {
		http.Error(w, "end is before start", http.StatusBadRequest)
		return
	}
	if end.Sub(start) > MaxExportRange {
		http.Error(w, fmt.Sprintf("export range too large: at most %d days", int(MaxExportRange/(24*time.Hour))), http.StatusBadRequest)
		return
	}
	events := s.exportable(start, end.Add(time.Hour))
	if len(events) == 0 {
		http.Error(w, "no data in the requested range", http.StatusNotFound)
		return
	}
	// Build the zip first, so a failure is a 500 rather than half a 200.
	var buf bytes.Buffer
	zw := export.NewZipWriter(&buf, export.Options{ProjectID: s.cfg.projectID})
	for _, st := range events {
		if err := zw.Write(st.Event, st.UploadTime); err != nil {
			http.Error(w, "write export: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if err := zw.Close(); err != nil {
		http.Error(w, "write export: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = buf.WriteTo(w)
}

func parseHour(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, fmt.Errorf("missing %s: want YYYYMMDDTHH", name)
	}
	t, err := time.Parse(ExportHourLayout, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid %s %q: want YYYYMMDDTHH", name, v)
	}
	return t, nil
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
