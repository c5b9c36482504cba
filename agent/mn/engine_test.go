package mn

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/wire"
)

var (
	haAddr = netip.MustParseAddr("198.51.100.1")
	hoa    = netip.MustParseAddr("10.10.0.5")
	coa1   = netip.MustParseAddr("192.168.1.10")
	coa2   = netip.MustParseAddr("192.168.2.10")
	nat1   = netip.MustParseAddr("203.0.113.1")
	t0     = time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	sa     = &auth.SA{SPI: 1000, Key: auth.Secret("mn-ha shared key")}
)

const mnPort = 434

// lab pairs a mobile node with a real home agent engine; nat, when set,
// rewrites the source of what the node sends like a NAPT would.
type lab struct {
	t   *testing.T
	mn  *Engine
	ha  *ha.Engine
	nat netip.AddrPort
	// drop counts requests to lose before delivering.
	drop   int
	events []ha.Event
}

func newLab(t *testing.T, mod func(*Config), hmod func(*ha.Config)) *lab {
	hc := ha.Config{Addr: haAddr, HomeNet: netip.MustParsePrefix("10.10.0.0/16"), MaxLifetime: 600, MaxBindings: 1,
		NATTraversal: true, Keepalive: 20,
		Pool: ha.PoolRange{First: netip.MustParseAddr("10.10.9.1"), Last: netip.MustParseAddr("10.10.9.9")}}
	if hmod != nil {
		hmod(&hc)
	}
	h, err := ha.New(hc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddMobileNode(ha.MobileNode{NAI: "mn@example.net", HomeAddr: hoa, SAs: []*auth.SA{sa}}); err != nil {
		t.Fatal(err)
	}
	if err := h.AddMobileNode(ha.MobileNode{NAI: "pool@example.net", SAs: []*auth.SA{sa}}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{NAI: "mn@example.net", HomeAddr: hoa, HomeNet: hc.HomeNet, HomeAgent: haAddr, SA: sa, Lifetime: 300,
		ReverseTunnel: true, UDPTunnel: true}
	if mod != nil {
		mod(&cfg)
	}
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &lab{t: t, mn: m, ha: h}
}

// deliver carries what the node sent to the home agent and the replies
// back, and returns the last Output of the node.
func (l *lab) deliver(out Output, now time.Time) Output {
	l.t.Helper()
	last := out
	for len(out.Send) > 0 {
		var next Output
		for _, p := range out.Send {
			if p.Dst.Addr() != haAddr {
				continue
			}
			if l.drop > 0 {
				l.drop--
				continue
			}
			src := netip.AddrPortFrom(p.Src, mnPort)
			if l.nat.IsValid() {
				src = l.nat
			}
			res := l.ha.Handle(ha.Packet{Src: src, Dst: p.Dst, Data: p.Data}, now)
			l.events = append(l.events, res.Events...)
			if res.Reply == nil {
				continue
			}
			o := l.mn.HandleReply(res.Reply.Data, now)
			l.mn.merge(&next, o)
			if o.Tunnel != nil || len(o.Send) > 0 {
				last = o
			}
		}
		out = next
	}
	return last
}

func TestRegisterColocated(t *testing.T) {
	l := newLab(t, func(c *Config) { c.UDPTunnel = false }, nil)
	out := l.mn.SetCareOf(coa1, t0)
	if len(out.Send) != 1 || out.Send[0].Src != coa1 || out.Send[0].Dst != netip.AddrPortFrom(haAddr, 434) {
		t.Fatalf("request %+v (RFC 5944 §3.6.1.1: source = co-located CoA)", out.Send)
	}
	var m wire.RegistrationRequest
	if err := m.UnmarshalBinary(out.Send[0].Data); err != nil {
		t.Fatal(err)
	}
	if m.Flags != wire.FlagD|wire.FlagT || m.CareOf != coa1 || m.HomeAddr != hoa || m.Lifetime != 300 {
		t.Fatalf("request %+v", m)
	}
	out = l.deliver(out, t0)
	if out.Tunnel == nil || !out.Tunnel.Up || out.Tunnel.UDP || out.Tunnel.Local != coa1 || out.Tunnel.HomeAddr != hoa || !out.Tunnel.Reverse {
		t.Fatalf("tunnel %+v", out.Tunnel)
	}
	if l.mn.State() != Registered || l.ha.NumBindings() != 1 {
		t.Fatal("not registered")
	}
	// Renewal at 3/4 of the lifetime, not before.
	if next := l.mn.NextTimer(); !next.Equal(t0.Add(225 * time.Second)) {
		t.Fatalf("renewal at %v", next)
	}
	if o := l.mn.Tick(t0.Add(224 * time.Second)); len(o.Send) != 0 {
		t.Fatal("renewed early")
	}
	o := l.mn.Tick(t0.Add(225 * time.Second))
	if len(o.Send) != 1 {
		t.Fatal("no renewal")
	}
	l.deliver(o, t0.Add(225*time.Second))
	if b := l.ha.Lookup(hoa); len(b) != 1 || !b[0].Expires.Equal(t0.Add(525*time.Second)) {
		t.Fatalf("renewed binding %+v", b)
	}
}

func TestNATKeepaliveAndRecovery(t *testing.T) {
	l := newLab(t, nil, nil)
	l.nat = netip.AddrPortFrom(nat1, 40001)
	out := l.deliver(l.mn.SetCareOf(coa1, t0), t0)
	if out.Tunnel == nil || !out.Tunnel.UDP || out.Tunnel.Remote != netip.AddrPortFrom(haAddr, 434) {
		t.Fatalf("tunnel %+v: want RFC 3519 UDP", out.Tunnel)
	}
	if b := l.ha.Lookup(hoa)[0]; !b.UDP || b.Endpoint != l.nat {
		t.Fatalf("HA binding %+v", b)
	}
	// Keepalives every 20 s (the HA's interval), answered.
	now, answered := t0, t0
	for i := 1; i <= 3; i++ {
		now = l.mn.NextTimer()
		if d := now.Sub(answered); d != 20*time.Second {
			t.Fatalf("keepalive %d due %v after the last answer, want 20s", i, d)
		}
		o := l.mn.Tick(now)
		if !o.Keepalive || len(o.Send) != 0 {
			t.Fatalf("keepalive %d: %+v", i, o)
		}
		answered = now.Add(10 * time.Millisecond)
		l.mn.KeepaliveAnswered(answered)
	}
	// The NAT reboots (conntrack -F): a new mapping, keepalives die. The
	// keepalive is sent again three times a second apart, then the node
	// registers again.
	l.nat = netip.AddrPortFrom(nat1, 40777)
	now = l.mn.NextTimer()
	if o := l.mn.Tick(now); !o.Keepalive {
		t.Fatal("no keepalive")
	}
	for i := 1; i <= 3; i++ {
		now = l.mn.NextTimer()
		if o := l.mn.Tick(now); !o.Keepalive || len(o.Send) != 0 {
			t.Fatalf("retry %d: %+v", i, o)
		}
	}
	now = l.mn.NextTimer()
	reg := l.mn.Tick(now)
	if len(reg.Send) != 1 {
		t.Fatal("no re-registration after the keepalive retries")
	}
	l.deliver(reg, now)
	if b := l.ha.Lookup(hoa)[0]; b.Endpoint != l.nat {
		t.Fatalf("binding not moved to the new NAT mapping: %+v", b)
	}
	if l.mn.Counters.KeepaliveFailures.Load() != 1 {
		t.Fatal("keepalive failure not counted")
	}
}

func TestRetransmission(t *testing.T) {
	l := newLab(t, nil, nil)
	l.drop = 3
	out := l.mn.SetCareOf(coa1, t0)
	l.deliver(out, t0)
	ids := []uint64{wire.RequestView(out.Send[0].Data).ID()}
	at := t0
	for _, gap := range []time.Duration{1, 2, 4} {
		if next := l.mn.NextTimer(); !next.Equal(at.Add(gap * time.Second)) {
			t.Fatalf("retransmission at %v, want %v later", next.Sub(at), gap*time.Second)
		}
		at = at.Add(gap * time.Second)
		o := l.mn.Tick(at)
		if len(o.Send) != 1 {
			t.Fatal("no retransmission")
		}
		id := wire.RequestView(o.Send[0].Data).ID()
		if id <= ids[len(ids)-1] {
			t.Fatal("with timestamps every retransmission needs a new, larger Identification (§3.6.3)")
		}
		ids = append(ids, id)
		l.deliver(o, at)
	}
	if l.mn.State() != Registered {
		t.Fatalf("state %v after the 4th request got through", l.mn.State())
	}
	if l.mn.Counters.Retransmissions.Load() != 3 {
		t.Fatal("retransmissions not counted")
	}
}

func TestResync133(t *testing.T) {
	l := newLab(t, nil, nil)
	// The node's clock is 100 s behind the HA's.
	skew := -100 * time.Second
	out := l.mn.SetCareOf(coa1, t0.Add(skew))
	res := l.ha.Handle(ha.Packet{Src: netip.AddrPortFrom(coa1, 434), Dst: out.Send[0].Dst, Data: out.Send[0].Data}, t0)
	if res.Code != wire.CodeHAIDMismatch {
		t.Fatalf("code %v", res.Code)
	}
	o := l.mn.HandleReply(res.Reply.Data, t0.Add(skew))
	if len(o.Send) != 1 {
		t.Fatal("no immediate new request after 133")
	}
	l.deliver(o, t0)
	if l.mn.State() != Registered {
		t.Fatalf("not registered after resync: %v", l.mn.State())
	}
}

func TestMoveAndHome(t *testing.T) {
	l := newLab(t, nil, nil)
	l.deliver(l.mn.SetCareOf(coa1, t0), t0)
	out := l.deliver(l.mn.SetCareOf(coa2, t0.Add(time.Second)), t0.Add(time.Second))
	if out.Tunnel == nil || out.Tunnel.Local != coa2 {
		t.Fatalf("tunnel after move %+v", out.Tunnel)
	}
	if b := l.ha.Lookup(hoa); len(b) != 1 || b[0].CareOf != coa2 {
		t.Fatalf("HA after move %+v", b)
	}
	// Same address again: nothing to do.
	if o := l.mn.SetCareOf(coa2, t0.Add(2*time.Second)); len(o.Send) != 0 {
		t.Fatal("re-registered without moving")
	}
	// Back home: deregister with CoA = HoA from the home address.
	o := l.mn.SetCareOf(netip.MustParseAddr("10.10.0.200"), t0.Add(3*time.Second))
	if o.Tunnel == nil || o.Tunnel.Up || len(o.Send) != 1 {
		t.Fatalf("at home: %+v", o)
	}
	v := wire.RequestView(o.Send[0].Data)
	if v.Lifetime() != 0 || v.CareOf() != hoa || o.Send[0].Src != hoa {
		t.Fatalf("home deregistration: life %d coa %v src %v", v.Lifetime(), v.CareOf(), o.Send[0].Src)
	}
	l.deliver(o, t0.Add(3*time.Second))
	if l.ha.NumBindings() != 0 || l.mn.State() != AtHome {
		t.Fatalf("bindings %d, state %v", l.ha.NumBindings(), l.mn.State())
	}
}

func TestStopDeregisters(t *testing.T) {
	l := newLab(t, nil, nil)
	l.deliver(l.mn.SetCareOf(coa1, t0), t0)
	o := l.mn.Stop(t0.Add(time.Second))
	if len(o.Send) != 1 || wire.RequestView(o.Send[0].Data).Lifetime() != 0 {
		t.Fatal("Stop must send a deregistration")
	}
	l.deliver(o, t0.Add(time.Second))
	if l.ha.NumBindings() != 0 {
		t.Fatal("binding left after deregistration")
	}
}

func TestPoolAddress(t *testing.T) {
	l := newLab(t, func(c *Config) { c.NAI, c.HomeAddr = "pool@example.net", netip.Addr{} }, nil)
	out := l.mn.SetCareOf(coa1, t0)
	if wire.RequestView(out.Send[0].Data).HomeAddr() != netip.IPv4Unspecified() {
		t.Fatal("first request must carry a zero home address")
	}
	o := l.deliver(out, t0)
	if l.mn.HomeAddr() != netip.MustParseAddr("10.10.9.1") || o.Tunnel.HomeAddr != l.mn.HomeAddr() {
		t.Fatalf("home address %v", l.mn.HomeAddr())
	}
	o = l.mn.Tick(t0.Add(225 * time.Second))
	if wire.RequestView(o.Send[0].Data).HomeAddr() != l.mn.HomeAddr() {
		t.Fatal("renewal must use the assigned home address")
	}
}

func TestRejectedReplies(t *testing.T) {
	l := newLab(t, nil, nil)
	out := l.mn.SetCareOf(coa1, t0)
	res := l.ha.Handle(ha.Packet{Src: netip.AddrPortFrom(coa1, 434), Dst: out.Send[0].Dst, Data: out.Send[0].Data}, t0)
	good := res.Reply.Data
	tampered := bytes.Clone(good)
	tampered[len(tampered)-1] ^= 1
	other := bytes.Clone(good)
	other[19] ^= 1 // low bits of the Identification
	for name, b := range map[string][]byte{"bad MN-HA": tampered, "other Identification": other, "garbage": {3, 0, 1}} {
		if o := l.mn.HandleReply(b, t0); o.Tunnel != nil || l.mn.State() != Registering {
			t.Fatalf("%s accepted", name)
		}
	}
	if l.mn.Counters.BadReplies.Load() != 3 {
		t.Fatal("bad replies not counted")
	}
	if o := l.mn.HandleReply(good, t0); o.Tunnel == nil || !o.Tunnel.Up {
		t.Fatal("the genuine reply was refused")
	}
}

func TestDeniedBacksOff(t *testing.T) {
	// The HA wants reverse tunnelling; this node does not ask for it.
	l := newLab(t, func(c *Config) { c.ReverseTunnel = false }, func(c *ha.Config) { c.ReverseTunnelRequired = true })
	l.deliver(l.mn.SetCareOf(coa1, t0), t0)
	if l.mn.State() != Denied || l.mn.Status().LastCode != wire.CodeHARevTunMandatory.String() {
		t.Fatalf("state %v, status %+v", l.mn.State(), l.mn.Status())
	}
	if next := l.mn.NextTimer(); !next.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("retry at %v", next)
	}
	o := l.mn.Tick(t0.Add(2 * time.Second))
	l.deliver(o, t0.Add(2*time.Second))
	if next := l.mn.NextTimer(); next.Sub(t0.Add(2*time.Second)) < 4*time.Second {
		t.Fatalf("second retry after %v, want backoff ≥ 4 s", next.Sub(t0.Add(2*time.Second)))
	}
}

func TestLifetimeTooLongFromFA(t *testing.T) {
	l := newLab(t, nil, nil)
	out := l.mn.SetCareOf(coa1, t0)
	id := wire.RequestView(out.Send[0].Data).ID()
	// An FA's denial (no MN-HA): 69 with its maximum lifetime.
	m := wire.RegistrationReply{Code: wire.CodeFALifetimeTooLong, Lifetime: 120, HomeAddr: hoa, HomeAgent: haAddr, ID: id}
	b, _ := m.AppendBinary(nil)
	o := l.mn.HandleReply(b, t0)
	if len(o.Send) != 1 || wire.RequestView(o.Send[0].Data).Lifetime() != 120 {
		t.Fatal("69 must be retried with the lifetime the FA offered")
	}
}

func TestNoncesRetransmitUnchanged(t *testing.T) {
	nsa := &auth.SA{SPI: 1000, Key: sa.Key, Replay: auth.Nonces}
	l := newLab(t, func(c *Config) { c.SA = nsa }, nil)
	out := l.mn.SetCareOf(coa1, t0)
	o := l.mn.Tick(t0.Add(time.Second))
	if len(o.Send) != 1 || !bytes.Equal(o.Send[0].Data, out.Send[0].Data) {
		t.Fatal("with nonces a retransmission is the same request (§3.6.3)")
	}
}

func TestForeignAgentMode(t *testing.T) {
	l := newLab(t, func(c *Config) { c.UDPTunnel = false }, nil)
	fa := netip.MustParseAddr("192.168.3.1")
	faCoA := netip.MustParseAddr("203.0.113.50")
	adv := func(seq uint16) []byte {
		m := wire.AgentAdvertisement{Lifetime: 30, Routers: []wire.RouterAddress{{Addr: fa}}, Extensions: []wire.Extension{
			&wire.MobilityAgentAdv{Sequence: seq, RegLifetime: 200, Flags: wire.AdvF | wire.AdvT, CareOf: []netip.Addr{faCoA}}}}
		b, _ := m.MarshalBinary()
		return b
	}
	o := l.mn.HandleAdvertisement(fa, adv(300), t0)
	if len(o.Send) != 1 {
		t.Fatal("no registration through the FA")
	}
	p := o.Send[0]
	v := wire.RequestView(p.Data)
	if p.Dst != netip.AddrPortFrom(fa, 434) || p.Src != hoa || !p.TTL255 || v.CareOf() != faCoA || v.Flags()&wire.FlagD != 0 || v.Lifetime() != 200 {
		t.Fatalf("FA registration: dst %v src %v coa %v flags %v life %d", p.Dst, p.Src, v.CareOf(), v.Flags(), v.Lifetime())
	}
	if o := l.mn.HandleAdvertisement(fa, adv(301), t0.Add(time.Second)); len(o.Send) != 0 {
		t.Fatal("re-registered on an ordinary advertisement")
	}
	if o := l.mn.HandleAdvertisement(fa, adv(2), t0.Add(2*time.Second)); len(o.Send) != 1 {
		t.Fatal("the agent rebooted (sequence < 256): must register again (§2.4.4)")
	}
	o = l.mn.Tick(t0.Add(32 * time.Second))
	var sol bool
	for _, p := range o.Send {
		sol = sol || (p.TTL1 && p.Data[0] == wire.ICMPTypeRouterSolicitation)
	}
	if !sol {
		t.Fatal("advertisement lifetime ran out without a solicitation")
	}
	if o := l.mn.HandleAdvertisement(fa, []byte{9, 0, 1}, t0); len(o.Send) != 0 || l.mn.Counters.BadAdvertisements.Load() != 1 {
		t.Fatal("malformed advertisement")
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{
		{HomeAddr: hoa, SA: sa, Lifetime: 1},
		{HomeAgent: haAddr, HomeAddr: hoa, Lifetime: 1},
		{HomeAgent: haAddr, SA: sa, Lifetime: 1},
		{HomeAgent: haAddr, HomeAddr: hoa, SA: sa},
	} {
		if _, err := New(c, nil); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

// TestLeaveHome: after deregistering at home, a foreign address makes the
// node register again as a co-located node (D bit, UDP request).
func TestLeaveHome(t *testing.T) {
	l := newLab(t, nil, nil)
	l.deliver(l.mn.SetCareOf(coa1, t0), t0)
	l.deliver(l.mn.SetCareOf(netip.MustParseAddr("10.10.0.200"), t0.Add(time.Second)), t0.Add(time.Second))
	out := l.mn.SetCareOf(coa2, t0.Add(2*time.Second))
	if len(out.Send) != 1 || wire.RequestView(out.Send[0].Data).Flags()&wire.FlagD == 0 {
		t.Fatal("registration after leaving home must be co-located (D)")
	}
	if o := l.deliver(out, t0.Add(2*time.Second)); o.Tunnel == nil || !o.Tunnel.Up || l.mn.State() != Registered {
		t.Fatalf("not registered after leaving home: %v", l.mn.State())
	}
}

// TestTrustedNetworks: a reply with the Trusted Networks Configured
// extension (an i-HA that saw us inside) is reported on the tunnel.
func TestTrustedNetworks(t *testing.T) {
	l := newLab(t, func(c *Config) { c.UDPTunnel = false }, func(c *ha.Config) {
		c.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}
	})
	out := l.deliver(l.mn.SetCareOf(coa1, t0), t0)
	if out.Tunnel == nil || !out.Tunnel.Trusted {
		t.Fatalf("tunnel %+v: want Trusted", out.Tunnel)
	}
	out = l.deliver(l.mn.SetCareOf(coa2, t0.Add(time.Second)), t0.Add(time.Second))
	if out.Tunnel == nil || out.Tunnel.Trusted {
		t.Fatalf("tunnel %+v from an untrusted network", out.Tunnel)
	}
}

func TestResendWhenPathReady(t *testing.T) {
	l := newLab(t, nil, nil)
	if o := l.mn.Resend(t0); len(o.Send) != 0 {
		t.Fatal("Resend with nothing pending sent something")
	}
	l.drop = 2
	out := l.mn.SetCareOf(coa1, t0)
	l.deliver(out, t0)
	first := wire.RequestView(out.Send[0].Data).ID()
	o := l.mn.Tick(t0.Add(time.Second)) // backoff now 2 s
	l.deliver(o, t0.Add(time.Second))
	at := t0.Add(1500 * time.Millisecond)
	o = l.mn.Resend(at)
	if len(o.Send) != 1 || wire.RequestView(o.Send[0].Data).ID() <= first {
		t.Fatal("Resend: want one request with a new, larger Identification")
	}
	if next := l.mn.NextTimer(); !next.Equal(at.Add(time.Second)) {
		t.Fatalf("backoff not restarted: next timer %v after Resend, want 1s", next.Sub(at))
	}
	l.deliver(o, at)
	if l.mn.State() != Registered {
		t.Fatalf("state %v after the resent request got through", l.mn.State())
	}
	if o := l.mn.Resend(at); len(o.Send) != 0 {
		t.Fatal("Resend once registered sent something")
	}

	nsa := &auth.SA{SPI: 1000, Key: sa.Key, Replay: auth.Nonces}
	n := newLab(t, func(c *Config) { c.SA = nsa }, nil)
	out = n.mn.SetCareOf(coa1, t0)
	o = n.mn.Resend(t0.Add(300 * time.Millisecond))
	if len(o.Send) != 1 || !bytes.Equal(o.Send[0].Data, out.Send[0].Data) {
		t.Fatal("with nonces Resend sends the same request")
	}
}
