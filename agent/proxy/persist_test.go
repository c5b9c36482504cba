package proxy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestRestore: a restarted proxy takes back the bindings it saved — served
// at once, confirmed at once (RFC 5563 §4.4): a client still here is
// registered again, one gone is released. What no longer applies (run
// out, another care-of address, a MAC the configuration maps elsewhere)
// is left behind. The saved state holds no key.
func TestRestore(t *testing.T) {
	l := newLab(t, nil, nil)
	bind(t, l, hs1, laptop, t0)
	bind(t, l, hs1, desktop, t0)
	saved := l.p[hs1].Save()
	b, err := json.Marshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "key") || strings.Contains(string(b), string(master)) {
		t.Fatalf("a key in the saved state: %s", b)
	}
	var back Saved
	if err := json.Unmarshal(b, &back); err != nil || len(back.Clients) != 2 {
		t.Fatalf("round trip: %v %+v", err, back)
	}

	// The daemon restarts 10 s later.
	now := t0.Add(10 * time.Second)
	p, err := New(proxyConfig(hs1, fa1SA), nil)
	if err != nil {
		t.Fatal(err)
	}
	l.p[hs1] = p
	out, n := p.Restore(back, now)
	if n != 2 || kinds(out.Events) != "bound,bound" || out.Events[0].Reason != "restored" || len(out.Probe) != 2 {
		t.Fatalf("restore: %d, %v %+v probes %v", n, kinds(out.Events), out.Events, out.Probe)
	}
	if out.Events[0].Binding.HomeAddr != poolAddr || out.Events[1].Binding.HomeAddr != static {
		t.Fatalf("restored bindings %+v", out.Events)
	}
	// The laptop answers: registered again. The desktop does not: released.
	l.run(hs1, p.ClientPresent(laptop, now.Add(100*time.Millisecond)), now)
	if ev := l.take(hs1); kinds(ev) != "renewed" {
		t.Fatalf("laptop after its probe: %v", kinds(ev))
	}
	later := now.Add(DefaultProbeTimeout + time.Second)
	l.run(hs1, p.Tick(later), later)
	if ev := l.take(hs1); kinds(ev) != "released" {
		t.Fatalf("desktop after an unanswered probe: %v", kinds(ev))
	}
	if hb := l.ha.Lookup(static); len(hb) != 0 {
		t.Fatalf("desktop still bound at the home agent: %+v", hb)
	}
	if st, _ := p.ClientState(laptop); st != Bound {
		t.Fatalf("laptop %v", st)
	}

	// What no longer applies stays behind.
	for name, tc := range map[string]struct {
		cfg func() Config
		at  time.Time
	}{
		"run out":         {func() Config { return proxyConfig(hs1, fa1SA) }, t0.Add(301 * time.Second)},
		"another care-of": {func() Config { return proxyConfig(hs2, fa2SA) }, now},
		"MAC mapped elsewhere": {func() Config {
			c := proxyConfig(hs1, fa1SA)
			c.Clients = []Client{{MAC: laptop, NAI: "someone-else@example.net"}}
			return c
		}, now},
	} {
		p, err := New(tc.cfg(), nil)
		if err != nil {
			t.Fatal(err)
		}
		saved := back
		saved.Clients = back.Clients[:1] // the laptop
		if out, n := p.Restore(saved, tc.at); n != 0 || len(out.Events)+len(out.Probe)+len(out.Send) != 0 {
			t.Errorf("%s: restored %d: %+v", name, n, out)
		}
	}
}
