package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// LogEvent is a warning or error the daemon logged, as `mip4d status`
// shows it: the last error ("last_error") and a few recent warnings and
// errors ("log_events"). Detail is the record's attributes as the text
// log has them; keys are never logged, so they are never here either.
type LogEvent struct {
	Time   time.Time `json:"time"`
	Level  string    `json:"level"`
	Msg    string    `json:"msg"`
	Detail string    `json:"detail,omitempty"`
}

// eventRing is how many recent warnings and errors the status keeps.
const eventRing = 16

// eventLog is a slog.Handler in front of the daemon's log handler: it
// passes every record on as before and keeps the warnings and errors
// (whatever log_level says) for the status. What the daemon logs at error
// level are failures of its own (sockets, netlink, the data plane, the
// state file, a rejected reload); a peer's denied registration is info or,
// for an authentication failure, a warning, never an error.
type eventLog struct {
	next   slog.Handler
	prefix string      // group prefix of the attributes added by WithAttrs/WithGroup
	attrs  []slog.Attr // with prefix already applied
	shared *eventStore
}

type eventStore struct {
	mu     sync.Mutex
	ring   [eventRing]LogEvent
	n      int // events recorded in all
	last   LogEvent
	hasErr bool
}

func newEventLog(next slog.Handler) *eventLog {
	return &eventLog{next: next, shared: &eventStore{}}
}

func (h *eventLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *eventLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.record(r)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *eventLog) record(r slog.Record) {
	var b strings.Builder
	var add func(prefix string, a slog.Attr)
	add = func(prefix string, a slog.Attr) {
		v := a.Value.Resolve()
		if v.Kind() == slog.KindGroup {
			p := prefix
			if a.Key != "" {
				p += a.Key + "."
			}
			for _, g := range v.Group() {
				add(p, g)
			}
			return
		}
		if a.Key == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		s := v.String()
		if s == "" || strings.ContainsAny(s, " \t\n\"=") {
			s = fmt.Sprintf("%q", s)
		}
		b.WriteString(prefix + a.Key + "=" + s)
	}
	for _, a := range h.attrs {
		add("", a)
	}
	r.Attrs(func(a slog.Attr) bool { add(h.prefix, a); return true })
	ev := LogEvent{Time: r.Time, Level: r.Level.String(), Msg: r.Message, Detail: b.String()}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	s := h.shared
	s.mu.Lock()
	s.ring[s.n%eventRing] = ev
	s.n++
	if r.Level >= slog.LevelError {
		s.last, s.hasErr = ev, true
	}
	s.mu.Unlock()
}

func (h *eventLog) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		a.Key = h.prefix + a.Key
		c.attrs = append(c.attrs, a)
	}
	return &c
}

func (h *eventLog) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.next = h.next.WithGroup(name)
	c.prefix = h.prefix + name + "."
	return &c
}

// snapshot returns the last error (nil: none since the start) and the
// recent warnings and errors, oldest first.
func (h *eventLog) snapshot() (*LogEvent, []LogEvent) {
	if h == nil {
		return nil, nil
	}
	s := h.shared
	s.mu.Lock()
	defer s.mu.Unlock()
	var last *LogEvent
	if s.hasErr {
		e := s.last
		last = &e
	}
	k := min(s.n, eventRing)
	evs := make([]LogEvent, 0, k)
	for i := s.n - k; i < s.n; i++ {
		evs = append(evs, s.ring[i%eventRing])
	}
	return last, evs
}

// withEvents puts the daemon's last error and recent warnings and errors
// into a status.
func (o *Options) withEvents(s Status) Status {
	s.LastError, s.LogEvents = o.events.snapshot()
	return s
}
