package proxy

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/wire"
)

var (
	haAddr   = netip.MustParseAddr("198.51.100.1")
	hs1      = netip.MustParseAddr("192.0.2.11") // proxy care-of addresses
	hs2      = netip.MustParseAddr("192.0.2.22")
	natAddr  = netip.MustParseAddr("203.0.113.7")
	poolAddr = netip.MustParseAddr("10.10.9.1")
	static   = netip.MustParseAddr("10.10.0.50")
	t0       = time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	master   = auth.Secret("proxy master secret, shared with the HA")
	laptop   = MAC{0x02, 0, 0, 0, 0, 0x01}
	desktop  = MAC{0x02, 0, 0, 0, 0, 0x02}
	stranger = MAC{0x02, 0, 0, 0, 0, 0x99}
	fa1SA    = &auth.SA{SPI: 500, Key: auth.Secret("hs1 FA-HA key")}
	fa2SA    = &auth.SA{SPI: 500, Key: auth.Secret("hs2 FA-HA key")}
	deskSA   = &auth.SA{SPI: 700, Key: auth.Secret("desktop MN-HA key")}
)

const (
	laptopNAI  = "laptop@example.net"
	desktopNAI = "desktop@example.net"
	guestRealm = "%m@guests.example.net"
)

// lab is a home agent engine and two proxies (hotspots hs1 and hs2) in
// memory. nat, when set for a proxy, rewrites the source of what it sends
// like a NAPT would; the home agent's revocations are delivered to the
// proxy whose address or NAT mapping they are sent to.
type lab struct {
	t       *testing.T
	ha      *ha.Engine
	p       map[netip.Addr]*Engine
	nat     map[netip.Addr]netip.AddrPort
	drop    int // requests to lose before delivering
	events  map[netip.Addr][]Event
	acks    int
	haPkts  int
	lastRev []byte
}

func haConfig() ha.Config {
	return ha.Config{Addr: haAddr, HomeNet: netip.MustParsePrefix("10.10.0.0/16"), MaxLifetime: 600, MaxBindings: 1,
		NATTraversal: true, Keepalive: 20, Revocation: true,
		Pool: ha.PoolRange{First: poolAddr, Last: netip.MustParseAddr("10.10.9.9")}}
}

func proxyConfig(coa netip.Addr, sa *auth.SA) Config {
	return Config{HomeAgent: haAddr, CareOf: coa, SA: sa, Revocation: true, MasterKey: master,
		Clients: []Client{
			{MAC: laptop, NAI: laptopNAI},
			{MAC: desktop, NAI: desktopNAI, HomeAddr: static, SA: deskSA},
		}}
}

func newLab(t *testing.T, mod func(*Config), hmod func(*ha.Config)) *lab {
	t.Helper()
	hc := haConfig()
	if hmod != nil {
		hmod(&hc)
	}
	sas := auth.NewStore()
	sas.Add(auth.FAHA, auth.PeerAddr(hs1), fa1SA)
	sas.Add(auth.FAHA, auth.PeerAddr(hs2), fa2SA)
	h, err := ha.New(hc, sas, nil)
	if err != nil {
		t.Fatal(err)
	}
	derived := &auth.SA{SPI: DefaultKeySPI, Key: DeriveKey(master, laptopNAI)}
	for _, m := range []ha.MobileNode{
		{NAI: laptopNAI, SAs: []*auth.SA{derived}},
		{NAI: desktopNAI, HomeAddr: static, SAs: []*auth.SA{deskSA}},
		{NAI: ExpandPattern(guestRealm, stranger), SAs: []*auth.SA{{SPI: DefaultKeySPI, Key: DeriveKey(master, ExpandPattern(guestRealm, stranger))}}},
	} {
		if err := h.AddMobileNode(m); err != nil {
			t.Fatal(err)
		}
	}
	l := &lab{t: t, ha: h, p: map[netip.Addr]*Engine{}, nat: map[netip.Addr]netip.AddrPort{}, events: map[netip.Addr][]Event{}}
	for coa, sa := range map[netip.Addr]*auth.SA{hs1: fa1SA, hs2: fa2SA} {
		cfg := proxyConfig(coa, sa)
		if mod != nil {
			mod(&cfg)
		}
		e, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.p[coa] = e
	}
	return l
}

// proxyAt finds the proxy an HA packet is addressed to.
func (l *lab) proxyAt(dst netip.AddrPort) (netip.Addr, *Engine) {
	for coa, n := range l.nat {
		if n == dst {
			return coa, l.p[coa]
		}
	}
	return dst.Addr(), l.p[dst.Addr()]
}

// run delivers what proxy coa sent, the home agent's answers and its
// revocations, until nothing is left, and collects every proxy's events.
func (l *lab) run(coa netip.Addr, out Output, now time.Time) {
	l.t.Helper()
	type item struct {
		from netip.Addr
		out  Output
	}
	queue := []item{{coa, out}}
	for n := 0; len(queue) > 0; n++ {
		if n > 100 {
			l.t.Fatal("lab: message loop")
		}
		it := queue[0]
		queue = queue[1:]
		l.events[it.from] = append(l.events[it.from], it.out.Events...)
		for _, p := range it.out.Send {
			if p.Dst != netip.AddrPortFrom(haAddr, wire.Port) {
				l.t.Fatalf("proxy sent to %v", p.Dst)
			}
			src := p.Src
			if n, ok := l.nat[it.from]; ok {
				src = n
			}
			if p.Data[0] == byte(wire.MsgRevocationAck) {
				if l.ha.HandleRevocationAck(ha.Packet{Src: src, Dst: p.Dst, Data: p.Data}) {
					l.acks++
				}
				continue
			}
			if l.drop > 0 {
				l.drop--
				continue
			}
			l.haPkts++
			res := l.ha.Handle(ha.Packet{Src: src, Dst: p.Dst, Data: p.Data}, now)
			if res.Reply != nil {
				to, e := l.proxyAt(res.Reply.Dst)
				queue = append(queue, item{to, e.HandleReply(res.Reply.Src, res.Reply.Data, now)})
			}
			for _, r := range res.Revocations {
				to, e := l.proxyAt(r.Dst)
				if e == nil {
					l.t.Fatalf("revocation to %v: no proxy there", r.Dst)
				}
				l.lastRev = r.Data
				queue = append(queue, item{to, e.HandleRevocation(r.Src, r.Data, now)})
			}
		}
	}
}

// last returns the last event of proxy coa and forgets them all.
func (l *lab) take(coa netip.Addr) []Event {
	ev := l.events[coa]
	l.events[coa] = nil
	return ev
}

func kinds(ev []Event) string {
	var s []string
	for _, e := range ev {
		s = append(s, e.Kind.String())
	}
	return strings.Join(s, ",")
}

func TestRegisterBound(t *testing.T) {
	l := newLab(t, nil, nil)
	p := l.p[hs1]
	out := p.Attach(laptop, t0)
	if len(out.Send) != 1 {
		t.Fatalf("attach sent %d packets", len(out.Send))
	}
	pk := out.Send[0]
	if pk.Src != netip.AddrPortFrom(hs1, 434) || pk.Dst != netip.AddrPortFrom(haAddr, 434) {
		t.Fatalf("request %v → %v", pk.Src, pk.Dst)
	}
	var m wire.RegistrationRequest
	if err := m.UnmarshalBinary(pk.Data); err != nil {
		t.Fatal(err)
	}
	// RFC 5563 §7: D = 0; T for the reverse tunnel; zero home address
	// for the pool (§4.1.1 step 3); the proxy's care-of address.
	if m.Flags != wire.FlagT || m.HomeAddr != netip.IPv4Unspecified() || m.CareOf != hs1 || m.HomeAgent != haAddr ||
		m.Lifetime != DefaultLifetime {
		t.Fatalf("request %+v", m)
	}
	var got []wire.ExtType
	for _, x := range m.Extensions {
		got = append(got, x.Type())
	}
	want := []wire.ExtType{wire.ExtMNNAI, wire.ExtMNHAAuth, wire.ExtRevocationSupport, wire.ExtFAHAAuth}
	if !equalTypes(got, want) {
		t.Fatalf("extensions %v, want %v (NAI, MN-HA, then the agent's part)", got, want)
	}
	if nai := m.Extensions[0].(*wire.NAI).NAI; nai != laptopNAI {
		t.Fatalf("NAI %q", nai)
	}
	l.run(hs1, out, t0)
	ev := l.take(hs1)
	if len(ev) != 1 || ev[0].Kind != ClientBound {
		t.Fatalf("events %v", kinds(ev))
	}
	b := ev[0].Binding
	if b.MAC != laptop || b.NAI != laptopNAI || b.HomeAddr != poolAddr || b.HomeAgent != haAddr || b.Lifetime != 300 ||
		b.UDP || !b.ReverseTunnel || !b.Revocable || b.CareOf != hs1 || !b.Expires.Equal(t0.Add(300*time.Second)) {
		t.Fatalf("binding %+v", b)
	}
	hb := l.ha.Lookup(poolAddr)
	if len(hb) != 1 || hb[0].CareOf != hs1 || hb[0].FA != hs1 || !hb[0].Revocable || !hb[0].ReverseTunnel {
		t.Fatalf("HA binding %+v", hb)
	}
	if a, left, ok := p.Lease(laptop[:], t0.Add(10*time.Second)); !ok || a != poolAddr || left != 290*time.Second {
		t.Fatalf("Lease %v %v %v", a, left, ok)
	}
	// Attach again while bound: nothing.
	if o := p.Attach(laptop, t0.Add(time.Second)); len(o.Send)+len(o.Events)+len(o.Probe) != 0 {
		t.Fatalf("second attach: %+v", o)
	}
	// The static client keeps its configured address and its own key.
	out = p.Attach(desktop, t0)
	if wire.RequestView(out.Send[0].Data).HomeAddr() != static {
		t.Fatal("a static home address must be asked for")
	}
	l.run(hs1, out, t0)
	if ev := l.take(hs1); len(ev) != 1 || ev[0].Kind != ClientBound || ev[0].Binding.HomeAddr != static {
		t.Fatalf("desktop events %+v", ev)
	}
}

func equalTypes(a, b []wire.ExtType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func bind(t *testing.T, l *lab, coa netip.Addr, mac MAC, now time.Time) {
	t.Helper()
	l.run(coa, l.p[coa].Attach(mac, now), now)
	ev := l.take(coa)
	if len(ev) == 0 || ev[len(ev)-1].Kind != ClientBound {
		t.Fatalf("bind %v at %v: events %v", mac, coa, kinds(ev))
	}
}

// TestRenewalConfirmsAttachment: RFC 5563 §4.4 — no re-registration
// without proof the client is still here.
func TestRenewalConfirmsAttachment(t *testing.T) {
	l := newLab(t, nil, nil)
	p := l.p[hs1]
	bind(t, l, hs1, laptop, t0)
	renew := t0.Add(225 * time.Second)
	if next := p.NextTimer(); !next.Equal(renew) {
		t.Fatalf("next timer %v, want ¾ of 300 s", next.Sub(t0))
	}
	if o := p.Tick(renew.Add(-time.Millisecond)); len(o.Send)+len(o.Probe) != 0 {
		t.Fatal("early")
	}
	o := p.Tick(renew)
	if len(o.Send) != 0 || len(o.Probe) != 1 || o.Probe[0] != laptop {
		t.Fatalf("at renewal time: %+v, want a probe and no request", o)
	}
	if st, _ := p.ClientState(laptop); st != Confirming {
		t.Fatalf("state %v", st)
	}
	// A lost probe is asked again a second later.
	if o := p.Tick(renew.Add(time.Second)); len(o.Probe) != 1 {
		t.Fatal("probe not repeated")
	}
	o = p.ClientPresent(laptop, renew.Add(1500*time.Millisecond))
	if len(o.Send) != 1 || wire.RequestView(o.Send[0].Data).HomeAddr() != poolAddr {
		t.Fatal("renewal must follow the confirmation, with the assigned home address (§4.1.2)")
	}
	l.run(hs1, o, renew.Add(1500*time.Millisecond))
	if ev := l.take(hs1); kinds(ev) != "renewed" {
		t.Fatalf("events %v", kinds(ev))
	}
	if hb := l.ha.Lookup(poolAddr); len(hb) != 1 || !hb[0].Expires.Equal(renew.Add(1500*time.Millisecond+300*time.Second)) {
		t.Fatalf("HA binding not extended: %+v", hb)
	}

	// Fresh evidence (a DHCP renewal a moment ago) is confirmation enough.
	renew2 := p.NextTimer()
	p.ClientPresent(laptop, renew2.Add(-time.Second))
	o = p.Tick(renew2)
	if len(o.Send) != 1 || len(o.Probe) != 0 {
		t.Fatalf("fresh presence: %+v", o)
	}
	l.run(hs1, o, renew2)
	l.take(hs1)

	// Now the client leaves silently: the probe runs out, the proxy
	// deregisters.
	renew3 := p.NextTimer()
	if o := p.Tick(renew3); len(o.Probe) != 1 {
		t.Fatal("no probe")
	}
	var released Output
	for now := renew3; now.Before(renew3.Add(4 * time.Second)); now = now.Add(500 * time.Millisecond) {
		released.merge(p.Tick(now))
	}
	if kinds(released.Events) != "released" || released.Events[0].Reason != "not attached" || len(released.Send) != 1 ||
		wire.RequestView(released.Send[0].Data).Lifetime() != 0 {
		t.Fatalf("after the probe timeout: %+v", released)
	}
	l.run(hs1, Output{Send: released.Send}, renew3.Add(3*time.Second))
	if l.ha.NumBindings() != 0 || p.NumClients() != 0 {
		t.Fatalf("bindings %d, clients %d", l.ha.NumBindings(), p.NumClients())
	}
	if p.Counters.NotAttached.Load() != 1 {
		t.Fatal("not counted")
	}
}

func TestRelease(t *testing.T) {
	for _, reason := range []string{"dhcp release", "lease expired", "dhcp decline"} {
		l := newLab(t, nil, nil)
		p := l.p[hs1]
		bind(t, l, hs1, laptop, t0)
		o := p.Release(laptop, reason, t0.Add(10*time.Second))
		if kinds(o.Events) != "released" || o.Events[0].Reason != reason || o.Events[0].Binding.HomeAddr != poolAddr {
			t.Fatalf("%s: %+v", reason, o.Events)
		}
		v := wire.RequestView(o.Send[0].Data)
		if v.Lifetime() != 0 || v.HomeAddr() != poolAddr || v.CareOf() != hs1 {
			t.Fatalf("deregistration: life %d hoa %v coa %v", v.Lifetime(), v.HomeAddr(), v.CareOf())
		}
		if _, _, ok := p.Lease(laptop[:], t0.Add(10*time.Second)); ok {
			t.Fatal("lease after release")
		}
		l.run(hs1, o, t0.Add(10*time.Second))
		if l.ha.NumBindings() != 0 || p.NumClients() != 0 {
			t.Fatalf("%s: bindings %d clients %d", reason, l.ha.NumBindings(), p.NumClients())
		}
	}
	// ClientGone is a release too.
	l := newLab(t, nil, nil)
	bind(t, l, hs1, laptop, t0)
	l.run(hs1, l.p[hs1].ClientGone(laptop, t0.Add(time.Second)), t0.Add(time.Second))
	if l.ha.NumBindings() != 0 {
		t.Fatal("ClientGone left the binding")
	}
	// Deregistration retransmits, then gives up.
	l = newLab(t, nil, nil)
	p := l.p[hs1]
	bind(t, l, hs1, laptop, t0)
	p.Release(laptop, "x", t0)
	n := 0
	for now := t0; now.Before(t0.Add(30 * time.Second)); now = now.Add(250 * time.Millisecond) {
		n += len(p.Tick(now).Send)
	}
	if n != deregTries-1 || p.NumClients() != 0 {
		t.Fatalf("deregistration retransmissions %d, clients %d", n, p.NumClients())
	}
}

// TestMoveRevokes: the laptop moves from hs1 to hs2; the HA moves the
// binding and revokes hs1 (RFC 3543, RFC 5563 §4.1.4); hs1 acknowledges,
// drops the client, probes, finds it gone.
func TestMoveRevokes(t *testing.T) {
	l := newLab(t, nil, nil)
	bind(t, l, hs1, laptop, t0)
	now := t0.Add(100 * time.Second)
	l.run(hs2, l.p[hs2].Attach(laptop, now), now)
	if ev := l.take(hs2); kinds(ev) != "bound" || ev[0].Binding.HomeAddr != poolAddr {
		t.Fatalf("hs2 events %v", kinds(ev))
	}
	ev := l.take(hs1)
	if kinds(ev) != "revoked" || ev[0].Binding.HomeAddr != poolAddr || ev[0].Binding.MAC != laptop {
		t.Fatalf("hs1 events %v", kinds(ev))
	}
	if l.acks != 1 || l.ha.PendingRevocations() != 0 {
		t.Fatalf("acks %d, pending %d: the HA must have the acknowledgement", l.acks, l.ha.PendingRevocations())
	}
	if hb := l.ha.Lookup(poolAddr); len(hb) != 1 || hb[0].CareOf != hs2 {
		t.Fatalf("HA binding %+v", hb)
	}
	p1 := l.p[hs1]
	if _, _, ok := p1.Lease(laptop[:], now); ok {
		t.Fatal("hs1 still leases the address")
	}
	// A retransmitted revocation (new identifier) is acknowledged again.
	m := wire.Revocation{Flags: wire.RevocationA, HomeAddr: poolAddr, HomeDomain: haAddr, ForeignDomain: hs1,
		ID: uint32(auth.NTPTime(now.Add(time.Second))>>32) + 1}
	b, _ := m.AppendBinary(nil)
	b = auth.Append(b, auth.FAHA, fa1SA)
	if o := p1.HandleRevocation(netip.AddrPortFrom(haAddr, 434), b, now.Add(time.Second)); len(o.Send) != 1 || len(o.Events) != 0 {
		t.Fatalf("retransmitted revocation: %+v", o)
	}
	// Nobody answers the probe: the normal move, no conflict; the entry
	// leaves after its linger.
	for at := now; at.Before(now.Add(time.Minute)); at = at.Add(500 * time.Millisecond) {
		if o := p1.Tick(at); len(o.Send) != 0 || len(o.Events) != 0 {
			t.Fatalf("hs1 after the revocation: %+v", o)
		}
	}
	if p1.NumClients() != 0 || p1.Counters.Conflicts.Load() != 0 || p1.Counters.Revocations.Load() != 1 {
		t.Fatalf("clients %d conflicts %d revocations %d", p1.NumClients(), p1.Counters.Conflicts.Load(), p1.Counters.Revocations.Load())
	}
	// And back again: hs1 registers anew, hs2 is revoked.
	back := now.Add(2 * time.Minute)
	l.run(hs1, p1.Attach(laptop, back), back)
	if kinds(l.take(hs1)) != "bound" || kinds(l.take(hs2)) != "revoked" {
		t.Fatal("moving back")
	}
}

// TestMoveBackWithinProbe: the laptop moves hs1 → hs2 → hs1 within
// hs1's post-revocation probe window (fast roaming). Its DHCP request at
// hs1 is a new attachment, not proof that it stayed: hs1 registers it
// again — no conflict, no quarantine — and hs2 is revoked.
func TestMoveBackWithinProbe(t *testing.T) {
	l := newLab(t, nil, nil)
	p1, p2 := l.p[hs1], l.p[hs2]
	bind(t, l, hs1, laptop, t0)
	now := t0.Add(10 * time.Second) // a young binding: a conflict would quarantine
	l.run(hs2, p2.Attach(laptop, now), now)
	if kinds(l.take(hs1)) != "revoked" || kinds(l.take(hs2)) != "bound" {
		t.Fatal("the move to hs2")
	}
	back := now.Add(900 * time.Millisecond)
	l.run(hs1, p1.Attach(laptop, back), back)
	if ev := l.take(hs1); kinds(ev) != "bound" {
		t.Fatalf("back at hs1 within the probe: %v, want bound", kinds(ev))
	}
	if kinds(l.take(hs2)) != "revoked" || p1.Counters.Conflicts.Load() != 0 {
		t.Fatalf("hs2 not revoked, or a conflict counted (%d)", p1.Counters.Conflicts.Load())
	}
	if st, _ := p1.ClientState(laptop); st != Bound {
		t.Fatalf("hs1 state %v", st)
	}
}

// TestMACSpoofConflict is the engine's side of the MAC-spoof rule
// (package doc): a client spoofing the laptop's MAC on hs2 while the
// laptop is attached to hs1 gets the binding for a moment; hs1, the
// incumbent, finds its client still here and takes it back; hs2, the
// newcomer, finds its client still there too and quarantines the MAC.
func TestMACSpoofConflict(t *testing.T) {
	l := newLab(t, nil, nil)
	p1, p2 := l.p[hs1], l.p[hs2]
	bind(t, l, hs1, laptop, t0)
	now := t0.Add(120 * time.Second) // the laptop has been bound for 2 min
	l.run(hs2, p2.Attach(laptop, now), now)
	if kinds(l.take(hs2)) != "bound" {
		t.Fatal("the HA cannot tell a spoofer from a move: hs2 gets the binding first")
	}
	ev := l.take(hs1)
	if kinds(ev) != "revoked" {
		t.Fatalf("hs1 %v", kinds(ev))
	}
	// The binding is gone, but the probe still asks for its address.
	if a, ok := p1.ProbeAddr(laptop); !ok || a != poolAddr {
		t.Fatalf("hs1 probes %v %v after the revocation", a, ok)
	}
	// hs1's probe is answered: the laptop never left.
	now = now.Add(200 * time.Millisecond)
	l.run(hs1, p1.ClientPresent(laptop, now), now)
	ev = l.take(hs1)
	if kinds(ev) != "conflict,bound" || ev[0].Reason != "reclaim" {
		t.Fatalf("hs1 after the probe: %v %+v", kinds(ev), ev)
	}
	if hb := l.ha.Lookup(poolAddr); len(hb) != 1 || hb[0].CareOf != hs1 {
		t.Fatalf("binding not taken back: %+v", hb)
	}
	ev = l.take(hs2)
	if kinds(ev) != "revoked" {
		t.Fatalf("hs2 %v", kinds(ev))
	}
	// The spoofer answers hs2's probe too: hs2 is the newcomer and yields.
	now = now.Add(200 * time.Millisecond)
	l.run(hs2, p2.ClientPresent(laptop, now), now)
	ev = l.take(hs2)
	if kinds(ev) != "conflict" || ev[0].Reason != "quarantine" {
		t.Fatalf("hs2 %v %+v", kinds(ev), ev)
	}
	if p2.Admits(laptop[:]) {
		t.Fatal("a quarantined MAC must not be offered DHCP")
	}
	o := p2.Attach(laptop, now.Add(time.Second))
	if len(o.Send) != 0 || kinds(o.Events) != "denied" || o.Events[0].Reason != "quarantined" {
		t.Fatalf("attach in quarantine: %+v", o)
	}
	if st, _ := p2.ClientState(laptop); st != Quarantined {
		t.Fatalf("hs2 state %v", st)
	}
	// The quarantine ends by itself.
	for at := now; !at.After(now.Add(DefaultQuarantine + time.Second)); at = at.Add(30 * time.Second) {
		p2.Tick(at)
	}
	if p2.NumClients() != 0 || !p2.Admits(laptop[:]) {
		t.Fatal("quarantine never ended")
	}
	if p1.Counters.Conflicts.Load() != 1 || p2.Counters.Conflicts.Load() != 1 || p2.Counters.Quarantines.Load() != 1 {
		t.Fatal("conflicts not counted")
	}
	if st := p1.Status(now); st.Clients[0].Counters.Conflicts != 1 || st.Clients[0].State != "bound" {
		t.Fatalf("hs1 status %+v", st.Clients[0])
	}
}

// TestContinuedIsPresence: the spoofer's DHCP REQUEST, continuing the
// exchange hs2 offered from the binding just revoked, answers hs2's probe:
// the newcomer yields at once. Past the probe, the same call is a new
// attachment.
func TestContinuedIsPresence(t *testing.T) {
	l := newLab(t, nil, nil)
	p1, p2 := l.p[hs1], l.p[hs2]
	bind(t, l, hs1, laptop, t0)
	now := t0.Add(120 * time.Second)
	l.run(hs2, p2.Attach(laptop, now), now)
	l.take(hs2)
	l.take(hs1)
	now = now.Add(50 * time.Millisecond)
	l.run(hs1, p1.ClientPresent(laptop, now), now) // reclaim
	if ev := l.take(hs2); kinds(ev) != "revoked" {
		t.Fatalf("hs2 %v", kinds(ev))
	}
	now = now.Add(10 * time.Millisecond)
	l.run(hs2, p2.Continued(laptop, now), now)
	if ev := l.take(hs2); kinds(ev) != "conflict" || ev[0].Reason != "quarantine" {
		t.Fatalf("hs2 after the continued exchange: %v %+v", kinds(ev), ev)
	}
	if c := p1.Counters.Snapshot(); c.Reclaims != 1 {
		t.Fatalf("hs1 %+v", c)
	}
	// Not probing: an attachment.
	l2 := newLab(t, nil, nil)
	q := l2.p[hs1]
	l2.run(hs1, q.Continued(laptop, t0), t0)
	if ev := l2.take(hs1); kinds(ev) != "bound" {
		t.Fatalf("continued with nothing to answer: %v", kinds(ev))
	}
}

// TestConflictNoPingPong: a spoofer on hs2 that ignores hs2's probes looks
// to hs2 like a client that moved away, so it attaches again at once, over
// and over. Each attempt is undone by the incumbent's reclaim — its tenure
// survives the reclaims — until the reclaim budget (MaxReclaims per
// Quarantine) is spent: then hs1 yields, and the binding stops flapping.
func TestConflictNoPingPong(t *testing.T) {
	l := newLab(t, nil, nil)
	p1, p2 := l.p[hs1], l.p[hs2]
	bind(t, l, hs1, laptop, t0)
	now := t0.Add(120 * time.Second)
	for try := 1; try <= DefaultMaxReclaims+1; try++ {
		l.run(hs2, p2.Attach(laptop, now), now)
		if ev := l.take(hs2); kinds(ev) != "bound" {
			t.Fatalf("try %d: hs2 %v", try, kinds(ev))
		}
		if ev := l.take(hs1); kinds(ev) != "revoked" {
			t.Fatalf("try %d: hs1 %v", try, kinds(ev))
		}
		now = now.Add(100 * time.Millisecond)
		l.run(hs1, p1.ClientPresent(laptop, now), now)
		ev := l.take(hs1)
		if try > DefaultMaxReclaims {
			if kinds(ev) != "conflict" || ev[0].Reason != "quarantine" {
				t.Fatalf("try %d, past the budget: hs1 %v %+v", try, kinds(ev), ev)
			}
			if hb := l.ha.Lookup(poolAddr); len(hb) != 1 || hb[0].CareOf != hs2 {
				t.Fatalf("the binding still flaps: %+v", hb)
			}
			break
		}
		if kinds(ev) != "conflict,bound" || ev[0].Reason != "reclaim" {
			t.Fatalf("try %d: hs1 %v %+v", try, kinds(ev), ev)
		}
		if hb := l.ha.Lookup(poolAddr); len(hb) != 1 || hb[0].CareOf != hs1 {
			t.Fatalf("try %d: binding not taken back: %+v", try, hb)
		}
		// hs2 is revoked; its client never answers the probe: "moved".
		if ev := l.take(hs2); kinds(ev) != "revoked" {
			t.Fatalf("try %d: hs2 %v", try, kinds(ev))
		}
		now = now.Add(DefaultProbeTimeout + time.Second)
		l.run(hs2, p2.Tick(now), now)
		l.run(hs1, p1.Tick(now), now)
		l.take(hs2)
		if st, _ := p2.ClientState(laptop); st == Quarantined {
			t.Fatalf("try %d: a client that did not answer was quarantined", try)
		}
	}
	c := p1.Counters.Snapshot()
	if c.Conflicts != DefaultMaxReclaims+1 || c.Reclaims != DefaultMaxReclaims || c.Quarantines != 1 {
		t.Fatalf("hs1 counters %+v", c)
	}
	// hs1 has yielded: it refuses the MAC for the quarantine.
	if st, _ := p1.ClientState(laptop); st != Quarantined {
		t.Fatalf("hs1 state %v", st)
	}
}

func TestUnknownClients(t *testing.T) {
	// Default rule: deny. A flood of random MACs makes no entry and sends
	// nothing.
	l := newLab(t, nil, nil)
	p := l.p[hs1]
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		var m MAC
		v := r.Uint64()
		for j := range m {
			m[j] = byte(v >> (8 * j))
		}
		m[0] &^= 1
		if p.Admits(m[:]) && p.known[m] == nil {
			t.Fatal("admitted a stranger")
		}
		if o := p.Attach(m, t0.Add(time.Duration(i)*time.Millisecond)); len(o.Send) != 0 {
			t.Fatal("registered a stranger")
		}
	}
	if p.NumClients() != 0 || p.Counters.Unknown.Load() != 20000 {
		t.Fatalf("clients %d unknown %d", p.NumClients(), p.Counters.Unknown.Load())
	}

	// Pattern rule: unknown clients are guests, bounded in number and
	// rate; the HA decides which of them it knows.
	l = newLab(t, func(c *Config) { c.UnknownNAI = guestRealm }, nil)
	p = l.p[hs1]
	l.run(hs1, p.Attach(stranger, t0), t0)
	ev := l.take(hs1)
	if kinds(ev) != "bound" || ev[0].Binding.NAI != "020000000099@guests.example.net" {
		t.Fatalf("guest %v %+v", kinds(ev), ev)
	}
	sent := 0
	for i := 0; i < 5000; i++ {
		m := MAC{0x06, byte(i >> 16), byte(i >> 8), byte(i), 1, 2}
		now := t0.Add(time.Duration(i) * time.Millisecond)
		o := p.Attach(m, now)
		sent += len(o.Send)
		l.run(hs1, o, now) // the HA does not know these NAIs: silence
		p.Tick(now)
	}
	// 5 s of flood: at most MaxGuests entries, at most the bucket (16)
	// plus one token a second.
	if n := p.NumClients(); n > DefaultMaxGuests+1 {
		t.Fatalf("%d entries under a guest flood", n)
	}
	if sent > DefaultMaxGuests+5 {
		t.Fatalf("%d registrations under a guest flood", sent)
	}
	if p.Counters.GuestLimited.Load() == 0 {
		t.Fatal("guest limit not counted")
	}
	// Configured clients still get in.
	bind(t, l, hs1, laptop, t0.Add(6*time.Second))
	// The unanswered guests time out and leave.
	for at := t0.Add(6 * time.Second); at.Before(t0.Add(3 * time.Minute)); at = at.Add(time.Second) {
		p.Tick(at)
	}
	if n := p.NumClients(); n != 2 {
		t.Fatalf("%d clients left, want the laptop and the bound guest", n)
	}
}

func TestTableFull(t *testing.T) {
	l := newLab(t, func(c *Config) { c.MaxClients, c.MaxGuests = 1, 1 }, nil)
	p := l.p[hs1]
	bind(t, l, hs1, laptop, t0)
	o := p.Attach(desktop, t0)
	if len(o.Send) != 0 || kinds(o.Events) != "denied" || p.Counters.TableFull.Load() != 1 {
		t.Fatalf("full table: %+v", o)
	}
}

func TestDenials(t *testing.T) {
	// A client whose key the HA does not share: the HA's 131 cannot be
	// authenticated with the client's (wrong) key, so it is ignored and
	// the registration times out.
	l := newLab(t, func(c *Config) { c.Clients[1].SA = &auth.SA{SPI: 700, Key: auth.Secret("wrong")} }, nil)
	p := l.p[hs1]
	var all Output
	all.merge(p.Attach(desktop, t0))
	for at := t0; at.Before(t0.Add(11 * time.Second)); at = at.Add(500 * time.Millisecond) {
		l.run(hs1, all, at)
		all = p.Tick(at)
	}
	l.run(hs1, all, t0.Add(11*time.Second))
	if ev := l.take(hs1); kinds(ev) != "denied" || ev[0].Code != 0 || p.Counters.BadReplies.Load() == 0 {
		t.Fatalf("wrong key: events %v, bad replies %d", kinds(ev), p.Counters.BadReplies.Load())
	}
	// A static home address the HA does not give this NAI: 129.
	l = newLab(t, func(c *Config) { c.Clients[1].HomeAddr = netip.MustParseAddr("10.10.0.51") }, nil)
	p = l.p[hs1]
	l.run(hs1, p.Attach(desktop, t0), t0)
	ev := l.take(hs1)
	if kinds(ev) != "denied" || ev[0].Code != wire.CodeHAProhibited {
		t.Fatalf("events %v %+v", kinds(ev), ev)
	}
	if st, _ := p.ClientState(desktop); st != Denied {
		t.Fatalf("state %v", st)
	}
	// Until the backoff ends, attaching again sends nothing.
	if o := p.Attach(desktop, t0.Add(time.Second)); len(o.Send) != 0 || kinds(o.Events) != "denied" {
		t.Fatalf("attach during backoff: %+v", o)
	}
	o := p.Attach(desktop, t0.Add(2*time.Second))
	if len(o.Send) != 1 {
		t.Fatal("no retry after the backoff")
	}
	l.run(hs1, o, t0.Add(2*time.Second))
	l.take(hs1)
	if o := p.Attach(desktop, t0.Add(5*time.Second)); len(o.Send) != 0 {
		t.Fatal("backoff must double (4 s)")
	}
	// The proxy's own FA-HA key is wrong: 132.
	l = newLab(t, func(c *Config) { c.SA = &auth.SA{SPI: 500, Key: auth.Secret("not the HA's")} }, nil)
	l.run(hs1, l.p[hs1].Attach(laptop, t0), t0)
	if ev := l.take(hs1); kinds(ev) != "denied" || ev[0].Code != wire.CodeHAFAAuthFailed {
		t.Fatalf("wrong FA-HA key: %v", kinds(ev))
	}
	// A home agent that refuses proxy registrations (RFC 5563 §8.1: 149
	// unsupported, 150 disallowed): no more tries.
	for _, code := range []wire.Code{wire.CodeHAPMIPUnsupported, wire.CodeHAPMIPDisallowed} {
		l = newLab(t, nil, nil)
		p = l.p[hs1]
		out := p.Attach(laptop, t0)
		id := wire.RequestView(out.Send[0].Data).ID()
		rep := wire.RegistrationReply{Code: code, HomeAddr: netip.IPv4Unspecified(), HomeAgent: haAddr, ID: id,
			Extensions: []wire.Extension{&wire.NAI{NAI: laptopNAI}}}
		b, _ := rep.AppendBinary(nil)
		b = auth.Append(b, auth.MNHA, &auth.SA{SPI: DefaultKeySPI, Key: DeriveKey(master, laptopNAI)})
		o = p.HandleReply(netip.AddrPortFrom(haAddr, 434), b, t0)
		if kinds(o.Events) != "denied" || p.Admits(laptop[:]) || p.Status(t0).Refused != code.String() {
			t.Fatalf("%d: %+v", code, o)
		}
		if o := p.Attach(desktop, t0.Add(time.Minute)); len(o.Send) != 0 {
			t.Fatalf("registered after %d", code)
		}
	}
}

func TestResync133(t *testing.T) {
	l := newLab(t, nil, nil)
	p := l.p[hs1]
	skew := -100 * time.Second // the proxy's clock is behind the HA's
	out := p.Attach(laptop, t0.Add(skew))
	res := l.ha.Handle(ha.Packet{Src: out.Send[0].Src, Dst: out.Send[0].Dst, Data: out.Send[0].Data}, t0)
	if res.Code != wire.CodeHAIDMismatch {
		t.Fatalf("code %v", res.Code)
	}
	o := p.HandleReply(res.Reply.Src, res.Reply.Data, t0.Add(skew))
	if len(o.Send) != 1 {
		t.Fatal("no new request after 133")
	}
	l.run(hs1, o, t0)
	if kinds(l.take(hs1)) != "bound" {
		t.Fatal("not bound after resynchronisation")
	}
}

func TestRetransmissionAndTimeout(t *testing.T) {
	l := newLab(t, nil, nil)
	p := l.p[hs1]
	l.drop = 2
	out := p.Attach(laptop, t0)
	l.run(hs1, out, t0)
	ids := []uint64{wire.RequestView(out.Send[0].Data).ID()}
	at := t0
	for _, gap := range []time.Duration{1, 2} {
		if next := p.NextTimer(); !next.Equal(at.Add(gap * time.Second)) {
			t.Fatalf("retransmission after %v, want %v", next.Sub(at), gap*time.Second)
		}
		at = at.Add(gap * time.Second)
		o := p.Tick(at)
		if len(o.Send) != 1 {
			t.Fatal("no retransmission")
		}
		id := wire.RequestView(o.Send[0].Data).ID()
		if id <= ids[len(ids)-1] {
			t.Fatal("each retransmission needs a new, larger Identification (RFC 5944 §3.6.3)")
		}
		ids = append(ids, id)
		l.run(hs1, o, at)
	}
	if kinds(l.take(hs1)) != "bound" {
		t.Fatal("the third request got through: bound")
	}
	// A home agent that never answers: denied after the timeout.
	l.drop = 1000
	var all Output
	all.merge(p.Attach(desktop, t0))
	for at := t0; at.Before(t0.Add(12 * time.Second)); at = at.Add(100 * time.Millisecond) {
		all.merge(p.Tick(at))
	}
	if n := len(all.Send); n < 4 || n > 5 {
		t.Fatalf("%d requests in 10 s (1, 2, 4, 8 s backoff)", n)
	}
	if kinds(all.Events) != "denied" || all.Events[0].Reason != "no reply from the home agent" {
		t.Fatalf("events %v", kinds(all.Events))
	}
}

// TestUDPBehindNAT: RFC 3519 through a NAT; the revocation reaches the
// proxy at its NAT mapping.
func TestUDPBehindNAT(t *testing.T) {
	l := newLab(t, func(c *Config) { c.UDPTunnel = true }, nil)
	l.nat[hs1] = netip.AddrPortFrom(natAddr, 40001)
	out := l.p[hs1].Attach(laptop, t0)
	var m wire.RegistrationRequest
	_ = m.UnmarshalBinary(out.Send[0].Data)
	var got []wire.ExtType
	for _, x := range m.Extensions {
		got = append(got, x.Type())
	}
	if !equalTypes(got, []wire.ExtType{wire.ExtMNNAI, wire.ExtMNHAAuth, wire.ExtUDPTunnelRequest, wire.ExtRevocationSupport, wire.ExtFAHAAuth}) {
		t.Fatalf("extensions %v: the UDP Tunnel Request goes after MN-HA (RFC 3519 §4.5)", got)
	}
	l.run(hs1, out, t0)
	ev := l.take(hs1)
	if kinds(ev) != "bound" || !ev[0].Binding.UDP || ev[0].Binding.Keepalive != 20*time.Second {
		t.Fatalf("events %v %+v", kinds(ev), ev)
	}
	if hb := l.ha.Lookup(poolAddr)[0]; !hb.UDP || hb.Endpoint != l.nat[hs1] || hb.FA != hs1 {
		t.Fatalf("HA binding %+v", hb)
	}
	now := t0.Add(time.Minute)
	l.run(hs2, l.p[hs2].Attach(laptop, now), now)
	if kinds(l.take(hs1)) != "revoked" || l.acks != 1 {
		t.Fatal("revocation through the NAT")
	}
}

func TestBadReplies(t *testing.T) {
	l := newLab(t, nil, nil)
	p := l.p[hs1]
	out := p.Attach(laptop, t0)
	res := l.ha.Handle(ha.Packet{Src: out.Send[0].Src, Dst: out.Send[0].Dst, Data: out.Send[0].Data}, t0)
	good := res.Reply.Data
	lay, _ := wire.ScanReply(good)
	tampered := bytes.Clone(good)
	tampered[lay.MNHA+10] ^= 1
	badFAHA := bytes.Clone(good)
	badFAHA[len(badFAHA)-1] ^= 1
	noFAHA := bytes.Clone(good[:lay.FAHA])
	otherID := bytes.Clone(good)
	otherID[19] ^= 1
	from := netip.AddrPortFrom(haAddr, 434)
	cases := []struct {
		name string
		src  netip.AddrPort
		b    []byte
	}{
		{"bad MN-HA", from, tampered},
		{"bad FA-HA", from, badFAHA},
		{"no FA-HA", from, noFAHA},
		{"other Identification", from, otherID},
		{"from elsewhere", netip.AddrPortFrom(hs2, 434), good},
		{"garbage", from, []byte{3, 0, 1}},
		{"a request", from, out.Send[0].Data},
	}
	for _, c := range cases {
		if o := p.HandleReply(c.src, c.b, t0); len(o.Events)+len(o.Send) != 0 {
			t.Fatalf("%s accepted: %+v", c.name, o)
		}
		if st, _ := p.ClientState(laptop); st != Registering {
			t.Fatalf("%s changed the state to %v", c.name, st)
		}
	}
	if n := p.Counters.BadReplies.Load(); n != int64(len(cases)) {
		t.Fatalf("bad replies %d, want %d", n, len(cases))
	}
	if o := p.HandleReply(from, good, t0); kinds(o.Events) != "bound" {
		t.Fatal("the genuine reply was refused")
	}
	// The same reply again (a replay) matches nothing now.
	if o := p.HandleReply(from, good, t0); len(o.Events) != 0 {
		t.Fatal("replayed reply accepted")
	}
}

func TestBadRevocations(t *testing.T) {
	l := newLab(t, nil, nil)
	p := l.p[hs1]
	bind(t, l, hs1, laptop, t0)
	now := t0.Add(10 * time.Second)
	id := uint32(auth.NTPTime(now) >> 32)
	mk := func(mod func(*wire.Revocation), sa *auth.SA) []byte {
		m := wire.Revocation{Flags: wire.RevocationA, HomeAddr: poolAddr, HomeDomain: haAddr, ForeignDomain: hs1, ID: id}
		if mod != nil {
			mod(&m)
		}
		b, _ := m.AppendBinary(nil)
		return auth.Append(b, auth.FAHA, sa)
	}
	from := netip.AddrPortFrom(haAddr, 434)
	stale := uint32(auth.NTPTime(t0)>>32) - 10
	cases := []struct {
		name string
		src  netip.AddrPort
		b    []byte
	}{
		{"wrong key", from, mk(nil, fa2SA)},
		{"A bit 0 (a reflection)", from, mk(func(m *wire.Revocation) { m.Flags = 0 }, fa1SA)},
		{"not from the HA", netip.AddrPortFrom(hs2, 434), mk(nil, fa1SA)},
		{"other home domain", from, mk(func(m *wire.Revocation) { m.HomeDomain = hs2 }, fa1SA)},
		{"unknown home address", from, mk(func(m *wire.Revocation) { m.HomeAddr = static }, fa1SA)},
		{"other foreign domain", from, mk(func(m *wire.Revocation) { m.ForeignDomain = hs2 }, fa1SA)},
		{"older than the registration", from, mk(func(m *wire.Revocation) { m.ID = stale }, fa1SA)},
		{"unauthenticated", from, mk(nil, fa1SA)[:wire.RevocationHeaderLen]},
		{"garbage", from, []byte{7, 0}},
	}
	for _, c := range cases {
		if o := p.HandleRevocation(c.src, c.b, now); len(o.Send)+len(o.Events) != 0 {
			t.Fatalf("%s accepted", c.name)
		}
	}
	if st, _ := p.ClientState(laptop); st != Bound || p.Counters.BadRevocations.Load() != int64(len(cases)) {
		t.Fatalf("state %v, bad %d", st, p.Counters.BadRevocations.Load())
	}
	good := mk(nil, fa1SA)
	if o := p.HandleRevocation(from, good, now); len(o.Send) != 1 || kinds(o.Events) != "revoked" {
		t.Fatal("genuine revocation refused")
	}
	if o := p.HandleRevocation(from, good, now); len(o.Send) != 0 {
		t.Fatal("a replayed revocation must be discarded (RFC 3543 §3.5)")
	}
	// Without an FA-HA SA the proxy cannot authenticate revocations.
	q, _ := New(Config{HomeAgent: haAddr, CareOf: hs1, MasterKey: master, Clients: []Client{{MAC: laptop, NAI: laptopNAI}}}, nil)
	if o := q.HandleRevocation(from, good, now); len(o.Send) != 0 {
		t.Fatal("revocation accepted without an SA")
	}
}

func TestStatusHasNoKeys(t *testing.T) {
	l := newLab(t, func(c *Config) { c.UDPTunnel = true }, nil)
	p := l.p[hs1]
	bind(t, l, hs1, laptop, t0)
	bind(t, l, hs1, desktop, t0)
	st := p.Status(t0.Add(30 * time.Second))
	if len(st.Clients) != 2 {
		t.Fatalf("status %+v", st)
	}
	c := st.Clients[0]
	if c.MAC != laptop || c.NAI != laptopNAI || c.HomeAddr != poolAddr || c.State != "bound" || c.BindingAge != 30 ||
		c.LifetimeLeft != 270 || c.Lifetime != 300 || c.Counters.Registrations != 1 || c.Counters.Requests != 1 || c.LastReply == "" {
		t.Fatalf("client status %+v", c)
	}
	js, err := json.Marshal(struct {
		S Status
		C Snapshot
		E Event
	}{st, p.Counters.Snapshot(), Event{Kind: ClientBound}})
	if err != nil {
		t.Fatal(err)
	}
	// The configuration itself prints redacted, whatever the verb.
	cfg := p.Config()
	js = append(js, fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg.Clients)...)
	for _, secret := range [][]byte{master, DeriveKey(master, laptopNAI), deskSA.Key, fa1SA.Key} {
		if bytes.Contains(js, secret) || bytes.Contains(js, []byte(hex.EncodeToString(secret))) {
			t.Fatalf("status leaks a key: %s", js)
		}
	}
	for _, want := range []string{`"mac":"02:00:00:00:00:01"`, `"nai":"laptop@example.net"`, `"home_addr":"10.10.9.1"`,
		`"binding_age":30`, `"lifetime_left":270`, `"state":"bound"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("status JSON lacks %s: %s", want, js)
		}
	}
}

func TestCareOfChangeAndRefresh(t *testing.T) {
	l := newLab(t, nil, nil)
	p := l.p[hs1]
	bind(t, l, hs1, laptop, t0)
	now := t0.Add(10 * time.Second)
	// The proxy's uplink address changes: confirm, then register from it.
	hs1b := netip.MustParseAddr("192.0.2.111")
	o := p.SetCareOf(hs1b, now)
	if len(o.Probe) != 1 || len(o.Send) != 0 {
		t.Fatalf("care-of change: %+v", o)
	}
	o = p.ClientPresent(laptop, now)
	if len(o.Send) != 1 || wire.RequestView(o.Send[0].Data).CareOf() != hs1b || o.Send[0].Src.Addr() != hs1b {
		t.Fatal("not registered from the new care-of address")
	}
	// Refresh with fresh presence: the renewal goes at once.
	o = p.Refresh(now.Add(time.Second))
	if len(o.Send) != 1 {
		t.Fatalf("refresh: %+v", o)
	}
	// Stop deregisters everything.
	l2 := newLab(t, nil, nil)
	bind(t, l2, hs1, laptop, t0)
	bind(t, l2, hs1, desktop, t0)
	o = l2.p[hs1].Stop(now)
	if len(o.Send) != 2 || kinds(o.Events) != "released,released" {
		t.Fatalf("stop: %+v", o)
	}
	l2.run(hs1, o, now)
	if l2.ha.NumBindings() != 0 {
		t.Fatal("bindings left after Stop")
	}
}

func TestLifetimeRunsOut(t *testing.T) {
	l := newLab(t, nil, nil)
	p := l.p[hs1]
	bind(t, l, hs1, laptop, t0)
	p.Tick(t0.Add(225 * time.Second))
	o := p.ClientPresent(laptop, t0.Add(225*time.Second))
	if len(o.Send) != 1 {
		t.Fatal("no renewal")
	}
	// The home agent is unreachable: retransmissions until the binding
	// expires, then released.
	var all Output
	for at := t0.Add(225 * time.Second); !at.After(t0.Add(301 * time.Second)); at = at.Add(time.Second) {
		all.merge(p.Tick(at))
	}
	if kinds(all.Events) != "released" || all.Events[0].Reason != "lifetime expired" || p.NumClients() != 0 {
		t.Fatalf("events %v", kinds(all.Events))
	}
}

func TestConfigValidation(t *testing.T) {
	ok := Config{HomeAgent: haAddr, MasterKey: master}
	for name, mod := range map[string]func(*Config){
		"no home agent":          func(c *Config) { c.HomeAgent = netip.Addr{} },
		"revocation without SA":  func(c *Config) { c.Revocation = true },
		"reserved SPI":           func(c *Config) { c.KeySPI = 100 },
		"pattern without %m":     func(c *Config) { c.UnknownNAI = "guest@example.net" },
		"pattern twice %m":       func(c *Config) { c.UnknownNAI = "%m%m@example.net" },
		"pattern not an NAI":     func(c *Config) { c.UnknownNAI = "%m" },
		"pattern bad escape":     func(c *Config) { c.UnknownNAI = "%x%m@example.net" },
		"pattern without master": func(c *Config) { c.UnknownNAI, c.MasterKey = guestRealm, nil },
		"multicast MAC":          func(c *Config) { c.Clients = []Client{{MAC: MAC{1}, NAI: "a@b"}} },
		"duplicate MAC":          func(c *Config) { c.Clients = []Client{{MAC: laptop, NAI: "a@b"}, {MAC: laptop, NAI: "c@d"}} },
		"duplicate NAI":          func(c *Config) { c.Clients = []Client{{MAC: laptop, NAI: "a@b"}, {MAC: desktop, NAI: "a@b"}} },
		"no NAI":                 func(c *Config) { c.Clients = []Client{{MAC: laptop}} },
		"no key":                 func(c *Config) { c.MasterKey = nil; c.Clients = []Client{{MAC: laptop, NAI: "a@b"}} },
		"nonces": func(c *Config) {
			c.Clients = []Client{{MAC: laptop, NAI: "a@b", SA: &auth.SA{SPI: 300, Key: auth.Secret("k"), Replay: auth.Nonces}}}
		},
		"guests over the clients": func(c *Config) { c.MaxClients, c.MaxGuests = 2, 3 },
	} {
		c := ok
		mod(&c)
		if _, err := New(c, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(ok, nil); err != nil {
		t.Fatal(err)
	}
	if got := ExpandPattern("100%%-%m@x", laptop); got != "100%-020000000001@x" {
		t.Fatalf("pattern gives %q", got)
	}
	if m, err := ParseMAC("02-00-00-00-00-01"); err != nil || m != laptop {
		t.Fatal("ParseMAC")
	}
}

// TestSeen: a neighbour entry learnt on the link (the client ARPed) is the
// proxy's secondary sign of a client (RFC 5563 §4.1). A configured client
// that kept its address and never asks DHCP is registered by it; a
// stranger makes no entry; for a client whose binding was just revoked and
// whose probe runs, it is the probe's answer — for its home address only.
func TestSeen(t *testing.T) {
	l := newLab(t, nil, nil)
	p1, p2 := l.p[hs1], l.p[hs2]
	if o := p1.Seen(stranger, netip.MustParseAddr("10.10.0.99"), t0); len(o.Send)+len(o.Events) != 0 || p1.NumClients() != 0 {
		t.Fatalf("a stranger: %+v", o)
	}
	l.run(hs1, p1.Seen(laptop, poolAddr, t0), t0)
	if ev := l.take(hs1); kinds(ev) != "bound" {
		t.Fatalf("laptop seen: %v", kinds(ev))
	}
	// Seen again while bound: nothing to do.
	if o := p1.Seen(laptop, poolAddr, t0.Add(time.Second)); len(o.Send)+len(o.Events)+len(o.Probe) != 0 {
		t.Fatalf("seen while bound: %+v", o)
	}
	// Moved to hs2, where it is seen too; hs1 is revoked and probes.
	now := t0.Add(2 * time.Minute)
	l.run(hs2, p2.Seen(laptop, poolAddr, now), now)
	if kinds(l.take(hs2)) != "bound" || kinds(l.take(hs1)) != "revoked" {
		t.Fatal("the move to hs2")
	}
	// A neighbour at hs1 with another address answers nothing.
	if o := p1.Seen(laptop, netip.MustParseAddr("192.0.2.7"), now); len(o.Send)+len(o.Events)+len(o.Probe) != 0 {
		t.Fatalf("another address during the probe: %+v", o)
	}
	// With its home address it is the laptop still at hs1: a conflict.
	now = now.Add(200 * time.Millisecond)
	l.run(hs1, p1.Seen(laptop, poolAddr, now), now)
	if ev := l.take(hs1); kinds(ev) != "conflict,bound" || ev[0].Reason != "reclaim" {
		t.Fatalf("seen during the probe: %v %+v", kinds(ev), ev)
	}
	if c := p1.Counters.Snapshot(); c.Seen != 5 || c.Attaches != 0 {
		t.Fatalf("counters %+v", c)
	}
}
