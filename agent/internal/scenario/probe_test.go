package scenario

import (
	"testing"
	"time"
)

// stream builds a probe record: one probe every 10 ms for n probes,
// echoed 1 ms later unless lost(i).
func stream(n int, lost func(i int) bool) *Probe {
	p := &Probe{Interval: 10 * time.Millisecond}
	for i := range n {
		sent := time.Duration(i) * 10 * time.Millisecond
		p.sentAt = append(p.sentAt, sent)
		var e time.Duration
		if !lost(i) {
			e = sent + time.Millisecond
		}
		p.echoAt = append(p.echoAt, e)
	}
	return p
}

func TestMeasure(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name      string
		lost      func(i int) bool
		gap       time.Duration
		nlost     int
		recovered bool
	}{
		{"clean", func(int) bool { return false }, 10 * ms, 0, true},
		// probes 50..59 lost: 11 intervals between echoes 49 and 60.
		{"a gap", func(i int) bool { return i >= 50 && i < 60 }, 110 * ms, 10, true},
		// Only the probe in flight at the event came back: not recovered,
		// and the silence counts up to the last lost probe.
		{"dead after the event", func(i int) bool { return i >= 50 }, 499 * ms, 50, false},
		// The stream worked after the event, then died: the silence at
		// the end of the window is a gap too.
		{"dies later", func(i int) bool { return i >= 70 }, 299 * ms, 30, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := stream(100, c.lost)
			h := p.Measure(495*ms, time.Second)
			if h.Gap != c.gap || h.Lost != c.nlost || h.Recovered != c.recovered {
				t.Fatalf("got gap %v lost %d recovered %v, want %v %d %v", h.Gap, h.Lost, h.Recovered, c.gap, c.nlost, c.recovered)
			}
		})
	}
}

func TestTimeline(t *testing.T) {
	ms := time.Millisecond
	p := stream(10, func(i int) bool { return i == 3 || i == 4 })
	tl := p.Timeline()
	if len(tl) != 10 {
		t.Fatalf("%d points, want 10", len(tl))
	}
	for i, pt := range tl {
		lost := i == 3 || i == 4
		if pt.Seq != i || pt.Sent != time.Duration(i)*10*ms || pt.Echoed() == lost {
			t.Fatalf("point %d: %+v (echoed %v)", i, pt, pt.Echoed())
		}
		if want := map[bool]time.Duration{false: ms, true: 0}[lost]; pt.RTT() != want {
			t.Fatalf("point %d: rtt %v, want %v", i, pt.RTT(), want)
		}
	}
	// A copy: the stream's own records are not the caller's.
	tl[0].Echo = 0
	if !p.Timeline()[0].Echoed() {
		t.Fatal("Timeline shares its records with the probe")
	}
}
