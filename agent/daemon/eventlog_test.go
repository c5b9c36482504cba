package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestEventLog: the status keeps the last error and the recent warnings
// and errors whatever the log level, passes every record on to the log as
// before, and keeps the attributes (those added with With and groups too).
func TestEventLog(t *testing.T) {
	var out bytes.Buffer
	h := newEventLog(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError}))
	log := slog.New(h).With("role", "ha")

	if last, evs := h.snapshot(); last != nil || len(evs) != 0 {
		t.Fatalf("fresh: last %v, events %v", last, evs)
	}
	log.Info("registration accepted", "home", "10.10.0.5")
	log.Warn("registration denied", "code", 131)
	if last, evs := h.snapshot(); last != nil || len(evs) != 1 || evs[0].Msg != "registration denied" || evs[0].Level != "WARN" {
		t.Fatalf("after a warning: last %v, events %+v", last, evs)
	}
	if out.Len() != 0 {
		t.Errorf("log_level error, yet the log has %q", out.String())
	}
	log.WithGroup("plane").Error("data plane refused a binding", "err", errors.New("no room left"), "home", "10.10.0.5")
	last, evs := h.snapshot()
	if last == nil || last.Msg != "data plane refused a binding" || last.Level != "ERROR" || last.Time.IsZero() {
		t.Fatalf("last error %+v", last)
	}
	if want := `role=ha plane.err="no room left" plane.home=10.10.0.5`; last.Detail != want {
		t.Errorf("detail %q, want %q", last.Detail, want)
	}
	if len(evs) != 2 || !strings.Contains(out.String(), "data plane refused a binding") {
		t.Errorf("events %+v; log %q", evs, out.String())
	}

	// The ring holds the newest eventRing; the last error stays.
	for i := range eventRing + 5 {
		log.Warn(fmt.Sprintf("warning %d", i))
	}
	last, evs = h.snapshot()
	if len(evs) != eventRing || evs[0].Msg != "warning 5" || evs[eventRing-1].Msg != fmt.Sprintf("warning %d", eventRing+4) {
		t.Errorf("ring: %d events, first %q, last %q", len(evs), evs[0].Msg, evs[len(evs)-1].Msg)
	}
	if last == nil || last.Msg != "data plane refused a binding" {
		t.Errorf("last error after the warnings: %+v", last)
	}

	// In the status JSON: absent without events, present with them.
	var o Options
	b, _ := json.Marshal(o.withEvents(Status{Role: "ha"}))
	if strings.Contains(string(b), "last_error") || strings.Contains(string(b), "log_events") {
		t.Errorf("a daemon without events: %s", b)
	}
	o.events = h
	b, _ = json.Marshal(o.withEvents(Status{Role: "ha"}))
	var st struct {
		LastError struct{ Time, Msg string } `json:"last_error"`
		LogEvents []LogEvent                 `json:"log_events"`
	}
	if err := json.Unmarshal(b, &st); err != nil || st.LastError.Msg == "" || st.LastError.Time == "" || len(st.LogEvents) != eventRing {
		t.Errorf("status %s (%v)", b, err)
	}
}
