package fa

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
	faCoA  = netip.MustParseAddr("203.0.113.1")
	faLink = netip.MustParseAddr("192.168.1.1")
	haAddr = netip.MustParseAddr("198.51.100.1")
	iha    = netip.MustParseAddr("10.1.0.1")
	hoa    = netip.MustParseAddr("10.10.0.5")
	mac1   = MAC{2, 0, 0, 0, 0, 1}
	t0     = time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	mnSA   = &auth.SA{SPI: 1000, Key: auth.Secret("mn-ha key")}
	mnfaSA = &auth.SA{SPI: 1500, Key: auth.Secret("mn-fa key")}
	fahaSA = &auth.SA{SPI: 2000, Key: auth.Secret("fa-ha key")}
)

// world is an FA between a mobile node and two real home agent engines.
type world struct {
	t      *testing.T
	nat    netip.AddrPort // when valid, the NAT in front of the agent
	fa     *Engine
	has    map[netip.Addr]*ha.Engine
	toMN   []Packet
	events []Event
}

func newWorld(t *testing.T, mod func(*Config)) *world {
	cfg := Config{CareOf: faCoA, Addr: faLink, MaxLifetime: 600, ReverseTunnel: true, GRE: true, Revocation: true, BehindNAT: true}
	if mod != nil {
		mod(&cfg)
	}
	sas := auth.NewStore()
	sas.Add(auth.FAHA, auth.PeerAddr(haAddr), fahaSA)
	f, err := New(cfg, sas, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, fa: f, has: map[netip.Addr]*ha.Engine{}}
	for _, a := range []netip.Addr{haAddr, iha} {
		hsas := auth.NewStore()
		if a == haAddr {
			hsas.Add(auth.FAHA, auth.PeerAddr(faCoA), fahaSA)
		}
		h, err := ha.New(ha.Config{Addr: a, HomeNet: netip.MustParsePrefix("10.10.0.0/16"), MaxLifetime: 900, MaxBindings: 1,
			NATTraversal: true, Keepalive: 20, Revocation: true}, hsas, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.AddMobileNode(ha.MobileNode{NAI: "mn@example.net", HomeAddr: hoa, SAs: []*auth.SA{mnSA}}); err != nil {
			t.Fatal(err)
		}
		w.has[a] = h
	}
	return w
}

type rrq struct {
	flags   wire.RequestFlags
	life    uint16
	hoa, ha netip.Addr
	coa     netip.Addr
	id      uint64
	mnfa    bool
	before  []wire.Extension
	fa      []wire.Extension // between MN-HA and MN-FA
	ttl     uint8
	mac     MAC
	src     netip.AddrPort
}

func (r rrq) build() Request {
	if !r.hoa.IsValid() {
		r.hoa = hoa
	}
	if !r.ha.IsValid() {
		r.ha = haAddr
	}
	if !r.coa.IsValid() {
		r.coa = faCoA
	}
	if r.id == 0 {
		r.id = auth.NTPTime(t0)
	}
	if r.ttl == 0 {
		r.ttl = 255
	}
	if r.mac == (MAC{}) {
		r.mac = mac1
	}
	if !r.src.IsValid() {
		r.src = netip.AddrPortFrom(r.hoa, 4343)
	}
	m := wire.RegistrationRequest{Flags: r.flags, Lifetime: r.life, HomeAddr: r.hoa, HomeAgent: r.ha, CareOf: r.coa, ID: r.id,
		Extensions: append([]wire.Extension{&wire.NAI{NAI: "mn@example.net"}}, r.before...)}
	b, _ := m.AppendBinary(nil)
	b = auth.Append(b, auth.MNHA, mnSA)
	for _, x := range r.fa {
		b, _ = x.AppendBinary(b)
	}
	if r.mnfa {
		b = auth.Append(b, auth.MNFA, mnfaSA)
	}
	return Request{Src: r.src, Dst: faLink, TTL: r.ttl, MAC: r.mac, Data: b}
}

func basic() rrq { return rrq{flags: wire.FlagT, life: 300} }

// run sends a request through the FA, delivers what it relays to the
// home agents and their replies back, and returns the FA's first result.
func (w *world) run(r Request, now time.Time) Result {
	w.t.Helper()
	res := w.fa.HandleRequest(r, now)
	w.events = append(w.events, res.Events...)
	for _, p := range res.Send {
		if h := w.has[p.Dst.Addr()]; h != nil {
			src := p.Src
			if w.nat.IsValid() {
				src = w.nat
			}
			hr := h.Handle(ha.Packet{Src: src, Dst: p.Dst, Data: p.Data}, now)
			if hr.Reply == nil {
				w.t.Fatalf("home agent dropped the relayed request: %v", hr.Drop)
			}
			back := w.fa.HandleReply(hr.Reply.Src, hr.Reply.Data, now)
			w.events = append(w.events, back.Events...)
			w.toMN = append(w.toMN, back.Send...)
		} else {
			w.toMN = append(w.toMN, p)
		}
	}
	return res
}

// lastReply decodes the last message sent to the mobile node.
func (w *world) lastReply() (*wire.RegistrationReply, Packet) {
	w.t.Helper()
	if len(w.toMN) == 0 {
		w.t.Fatal("nothing sent to the mobile node")
	}
	p := w.toMN[len(w.toMN)-1]
	var m wire.RegistrationReply
	if err := m.UnmarshalBinary(p.Data); err != nil {
		w.t.Fatalf("reply to the node: %v", err)
	}
	return &m, p
}

func TestRelayAndVisitor(t *testing.T) {
	w := newWorld(t, nil)
	r := basic().build()
	res := w.fa.HandleRequest(r, t0)
	if len(res.Send) != 1 {
		t.Fatalf("relay: %+v", res)
	}
	rel := res.Send[0]
	if rel.Src != netip.AddrPortFrom(faCoA, 434) || rel.Dst != netip.AddrPortFrom(haAddr, 434) {
		t.Fatalf("relay addresses %v -> %v (§3.7.2.2: from the CoA to the HA)", rel.Src, rel.Dst)
	}
	l, _ := wire.ScanRequest(r.Data)
	if !bytes.Equal(rel.Data[:l.AuthEnd], r.Data[:l.AuthEnd]) {
		t.Fatal("the relayed request changed bytes the MN-HA authenticator covers")
	}
	var m wire.RegistrationRequest
	if err := m.UnmarshalBinary(rel.Data); err != nil {
		t.Fatal(err)
	}
	ext := m.Extensions[2:] // after NAI and MN-HA
	if len(ext) != 3 || ext[0].Type() != wire.ExtUDPTunnelRequest || ext[1].Type() != wire.ExtRevocationSupport || ext[2].Type() != wire.ExtFAHAAuth {
		t.Fatalf("FA extensions %v: want UDP tunnel request, revocation support, FA-HA", ext)
	}
	// Through the real home agent and back, the agent behind a NAT.
	w = newWorld(t, nil)
	w.nat = netip.AddrPortFrom(netip.MustParseAddr("198.18.0.9"), 61000)
	w.run(basic().build(), t0)
	rep, p := w.lastReply()
	if rep.Code != wire.CodeAccepted || p.Dst != netip.AddrPortFrom(hoa, 4343) || p.MAC != mac1 || p.Src.Addr() != faLink {
		t.Fatalf("reply %+v to %v (mac %v) from %v", rep, p.Dst, p.MAC, p.Src)
	}
	rl, _ := wire.ScanReply(p.Data)
	if rl.FAHA >= 0 || wire.Find(rep.Extensions, wire.ExtUDPTunnelReply) != nil {
		t.Fatal("the agent's extensions must be removed before relaying to the node (§3.7.3.2)")
	}
	if auth.Verify(p.Data, rl.MNHA, mnSA) != nil {
		t.Fatal("the node's MN-HA no longer verifies")
	}
	vs := w.fa.Visitors()
	if len(vs) != 1 || !vs[0].UDP || vs[0].Keepalive != 20*time.Second || !vs[0].Revocable || !vs[0].ReverseTunnel || vs[0].Lifetime != 300 {
		t.Fatalf("visitors %+v", vs)
	}
	if len(w.events) != 1 || w.events[0].Kind != VisitorAdded {
		t.Fatalf("events %+v", w.events)
	}
	b := w.has[haAddr].Lookup(hoa)
	if len(b) != 1 || b[0].FA != faCoA || b[0].FAEndpoint != w.nat || !b[0].UDP || b[0].Endpoint != w.nat {
		t.Fatalf("HA binding %+v", b)
	}
	// Deregistration removes the visitor.
	d := basic()
	d.life, d.id = 0, auth.NTPTime(t0.Add(time.Second))
	w.run(d.build(), t0.Add(time.Second))
	if len(w.fa.Visitors()) != 0 || w.events[len(w.events)-1].Kind != VisitorRemoved {
		t.Fatal("deregistration did not remove the visitor")
	}
}

// TestParallelRegistrations: one node (one MAC, one home address)
// registers through the agent with two home agents at once, as the RFC
// 5265 §3.3 detection does; both visitor entries live side by side.
func TestParallelRegistrations(t *testing.T) {
	w := newWorld(t, nil)
	w.run(basic().build(), t0)
	i := basic()
	i.ha = iha
	w.run(i.build(), t0)
	vs := w.fa.Visitors()
	if len(vs) != 2 || vs[0].HomeAgent == vs[1].HomeAgent {
		t.Fatalf("visitors %+v", vs)
	}
}

func TestDenials(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		r    func() rrq
		code wire.Code
		life uint16
	}{
		{"reserved bit", nil, func() rrq { r := basic(); r.flags |= wire.Flagx; return r }, wire.CodeFAPoorlyFormedRequest, 300},
		{"TTL not 255 with T", nil, func() rrq { r := basic(); r.ttl = 64; return r }, wire.CodeFATooDistant, 300},
		{"care-of not ours", nil, func() rrq { r := basic(); r.coa = netip.MustParseAddr("203.0.113.99"); return r }, wire.CodeFAInvalidCoA, 300},
		{"home agent is us", nil, func() rrq { r := basic(); r.ha = faLink; return r }, wire.CodeFAInvalidHAAddr, 300},
		{"zero home agent", nil, func() rrq { r := basic(); r.ha = netip.IPv4Unspecified(); return r }, wire.CodeFANonzeroHARequired, 300},
		{"lifetime too long", nil, func() rrq { r := basic(); r.life = 9000; return r }, wire.CodeFALifetimeTooLong, 600},
		{"minimal encapsulation", nil, func() rrq { r := basic(); r.flags |= wire.FlagM; return r }, wire.CodeFAEncapUnavailable, 300},
		{"GRE not offered", func(c *Config) { c.GRE = false }, func() rrq { r := basic(); r.flags |= wire.FlagG; return r }, wire.CodeFAEncapUnavailable, 300},
		{"reverse tunnel mandatory", func(c *Config) { c.ReverseTunnelRequired = true }, func() rrq { r := basic(); r.flags = 0; return r }, wire.CodeFARevTunMandatory, 300},
		{"reverse tunnel unavailable", func(c *Config) { c.ReverseTunnel = false }, func() rrq { return basic() }, wire.CodeFARevTunUnavailable, 300},
		{"encapsulating delivery style", nil, func() rrq { r := basic(); r.fa = []wire.Extension{&wire.DeliveryStyle{}}; return r }, wire.CodeFADeliveryStyle, 300},
		{"zero home address without NAI", nil, func() rrq {
			r := basic()
			r.hoa, r.src = netip.IPv4Unspecified(), netip.AddrPortFrom(netip.IPv4Unspecified(), 4343)
			return r
		}, 0, 300}, // has an NAI: relayed, see below
		{"full", func(c *Config) { c.MaxVisitors = 1 }, nil, wire.CodeFAInsufficient, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.mod)
			if tc.r == nil {
				w.run(basic().build(), t0)
				r := basic()
				r.mac, r.hoa, r.src = MAC{2, 0, 0, 0, 0, 9}, netip.MustParseAddr("10.10.0.9"), netip.AddrPortFrom(netip.MustParseAddr("10.10.0.9"), 4343)
				tc.r = func() rrq { return r }
			}
			res := w.fa.HandleRequest(tc.r().build(), t0)
			if tc.code == 0 {
				if len(res.Send) != 1 || res.Send[0].Dst.Addr() != haAddr {
					t.Fatalf("not relayed: %+v", res)
				}
				return
			}
			w.toMN = res.Send
			m, p := w.lastReply()
			if m.Code != tc.code || res.Code != tc.code || m.Lifetime != tc.life || m.ID != auth.NTPTime(t0) {
				t.Fatalf("reply %+v, want code %d lifetime %d", m, tc.code, tc.life)
			}
			if p.MAC != tc.r().build().MAC {
				t.Fatal("denial not addressed to the node's link-layer address")
			}
			// At most one denial a second to the same node (§3.7.2).
			if again := w.fa.HandleRequest(tc.r().build(), t0.Add(500*time.Millisecond)); len(again.Send) != 0 {
				t.Fatal("second denial within a second")
			}
		})
	}
}

func TestMNFAAuthentication(t *testing.T) {
	w := newWorld(t, nil)
	w.fa.sas.Add(auth.MNFA, auth.PeerAddr(hoa), mnfaSA)
	// Without MN-FA: 67.
	res := w.fa.HandleRequest(basic().build(), t0)
	w.toMN = res.Send
	if m, _ := w.lastReply(); m.Code != wire.CodeFAMNAuthFailed {
		t.Fatalf("code %v", m.Code)
	}
	// With a valid MN-FA: relayed, and the reply carries MN-FA.
	r := basic()
	r.mnfa, r.id = true, auth.NTPTime(t0.Add(2*time.Second))
	w.run(r.build(), t0.Add(2*time.Second))
	m, p := w.lastReply()
	l, _ := wire.ScanReply(p.Data)
	if m.Code != wire.CodeAccepted || l.MNFA < 0 || auth.Verify(p.Data, l.MNFA, mnfaSA) != nil {
		t.Fatalf("reply %v without a valid MN-FA", m.Code)
	}
}

func TestReplyChecks(t *testing.T) {
	// The home agent answers without FA-HA although we share an SA: 68.
	w := newWorld(t, nil)
	res := w.fa.HandleRequest(basic().build(), t0)
	h := w.has[haAddr]
	hr := h.Handle(ha.Packet{Src: res.Send[0].Src, Dst: res.Send[0].Dst, Data: res.Send[0].Data}, t0)
	stripped := hr.Reply.Data[:len(hr.Reply.Data)-22] // drop FA-HA
	back := w.fa.HandleReply(hr.Reply.Src, stripped, t0)
	w.toMN = back.Send
	if m, _ := w.lastReply(); m.Code != wire.CodeFAHAAuthFailed || len(w.fa.Visitors()) != 0 {
		t.Fatalf("reply without FA-HA: code %v, visitors %d", m.Code, len(w.fa.Visitors()))
	}
	// A reply matching nothing is dropped.
	if r := w.fa.HandleReply(hr.Reply.Src, hr.Reply.Data, t0); r.Drop != DropNoPending {
		t.Fatalf("unmatched reply: %+v", r)
	}
	// Timeout: 78.
	w2 := newWorld(t, nil)
	w2.fa.HandleRequest(basic().build(), t0)
	if r := w2.fa.Expire(t0.Add(6 * time.Second)); len(r.Send) != 0 {
		t.Fatal("timed out early")
	}
	r := w2.fa.Expire(t0.Add(7 * time.Second))
	w2.toMN = r.Send
	if m, _ := w2.lastReply(); m.Code != wire.CodeFATimeout || w2.fa.NumPending() != 0 {
		t.Fatalf("timeout: %v", m.Code)
	}
}

// TestReplyIdentity: an accepted reply must echo the NAI the node sent
// and name a home address (RFC 2794 §3); otherwise the node is told 97 or
// 99 and no visitor entry is made.
func TestReplyIdentity(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dynamic  bool // the request asks for a home address (0.0.0.0)
		nai      string
		hoa      netip.Addr
		wantCode wire.Code
	}{
		{"NAI not echoed", false, "", hoa, wire.CodeFAMissingNAI},
		{"another NAI", false, "other@example.net", hoa, wire.CodeFAMissingNAI},
		{"no home address given", true, "mn@example.net", netip.IPv4Unspecified(), wire.CodeFAMissingHoA},
		{"home address given", true, "mn@example.net", hoa, wire.CodeAccepted},
		{"static, all there", false, "mn@example.net", hoa, wire.CodeAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			r := basic()
			if tc.dynamic {
				r.hoa, r.src = netip.IPv4Unspecified(), netip.AddrPortFrom(netip.IPv4Unspecified(), 68)
			}
			res := w.fa.HandleRequest(r.build(), t0)
			if len(res.Send) != 1 {
				t.Fatalf("not relayed: %+v", res)
			}
			rep := wire.RegistrationReply{Code: wire.CodeAccepted, Lifetime: 300, HomeAddr: tc.hoa, HomeAgent: haAddr,
				ID: wire.RequestView(res.Send[0].Data).ID()}
			if tc.nai != "" {
				rep.Extensions = []wire.Extension{&wire.NAI{NAI: tc.nai}}
			}
			b, _ := rep.AppendBinary(nil)
			b = auth.Append(b, auth.MNHA, mnSA)
			b = auth.Append(b, auth.FAHA, fahaSA)
			w.toMN = w.fa.HandleReply(netip.AddrPortFrom(haAddr, wire.Port), b, t0).Send
			m, _ := w.lastReply()
			if m == nil || m.Code != tc.wantCode {
				t.Fatalf("reply to the node: %+v, want code %v", m, tc.wantCode)
			}
			if n := len(w.fa.Visitors()); (n == 1) != tc.wantCode.Accepted() {
				t.Fatalf("%d visitors after code %v", n, m.Code)
			}
		})
	}
}

func TestVisitorExpiry(t *testing.T) {
	w := newWorld(t, nil)
	w.run(basic().build(), t0)
	if next := w.fa.NextTimer(); !next.Equal(t0.Add(300 * time.Second)) {
		t.Fatalf("next timer %v", next)
	}
	res := w.fa.Expire(t0.Add(300 * time.Second))
	if len(res.Events) != 1 || res.Events[0].Kind != VisitorRemoved || res.Events[0].Reason != "expired" {
		t.Fatalf("expiry %+v", res.Events)
	}
}

// TestRevocation: the node moves to another agent; the home agent revokes
// the old registration here (RFC 3543); the agent removes the visitor and
// acknowledges, and the home agent accepts the acknowledgement.
func TestRevocation(t *testing.T) {
	w := newWorld(t, nil)
	w.nat = netip.AddrPortFrom(netip.MustParseAddr("198.18.0.9"), 61000) // the agent is behind a NAT
	w.run(basic().build(), t0)
	h := w.has[haAddr]
	// The node re-registers from elsewhere (another FA, no FA-HA SA there).
	other := netip.MustParseAddr("203.0.113.77")
	m := wire.RegistrationRequest{Flags: wire.FlagT, Lifetime: 300, HomeAddr: hoa, HomeAgent: haAddr, CareOf: other,
		ID: auth.NTPTime(t0.Add(5 * time.Second)), Extensions: []wire.Extension{&wire.NAI{NAI: "mn@example.net"}}}
	b, _ := m.AppendBinary(nil)
	b = auth.Append(b, auth.MNHA, mnSA)
	hr := h.Handle(ha.Packet{Src: netip.AddrPortFrom(other, 434), Dst: netip.AddrPortFrom(haAddr, 434), Data: b}, t0.Add(5*time.Second))
	if hr.Code != wire.CodeAccepted || len(hr.Revocations) != 1 {
		t.Fatalf("move: code %v, %d revocations", hr.Code, len(hr.Revocations))
	}
	rev := hr.Revocations[0]
	if rev.Dst != w.nat {
		t.Fatalf("revocation sent to %v, want the agent's NAT mapping %v", rev.Dst, w.nat)
	}
	res := w.fa.HandleRevocation(rev.Src, rev.Data, t0.Add(5*time.Second))
	if len(res.Events) != 1 || res.Events[0].Reason != "revoked" || len(w.fa.Visitors()) != 0 || len(res.Send) != 1 {
		t.Fatalf("revocation: %+v", res)
	}
	// The acknowledgement reaches the HA through the NAT.
	if !h.HandleRevocationAck(ha.Packet{Src: w.nat, Dst: res.Send[0].Dst, Data: res.Send[0].Data}) {
		t.Fatal("the home agent refused the acknowledgement")
	}
	// A replay is refused.
	if r := w.fa.HandleRevocation(rev.Src, rev.Data, t0.Add(6*time.Second)); r.Drop != DropRevocation {
		t.Fatalf("replayed revocation: %+v", r)
	}
}

func TestAdvertisements(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.Challenges = true })
	var prev uint16
	for i := 0; i < 3; i++ {
		b := w.fa.Advertisement(netip.AddrPort{})
		var m wire.AgentAdvertisement
		if err := m.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		maa := m.MobilityAgent()
		if maa == nil || maa.Validate() != nil || maa.CareOf[0] != faCoA || maa.RegLifetime != 600 ||
			maa.Flags != wire.AdvF|wire.AdvG|wire.AdvT|wire.AdvU|wire.AdvX || m.Routers[0].Addr != faLink {
			t.Fatalf("advertisement %+v / %+v", m, maa)
		}
		if i == 0 && maa.Sequence != 0 || i > 0 && maa.Sequence != prev+1 {
			t.Fatalf("sequence %d after %d (§2.3.2)", maa.Sequence, prev)
		}
		prev = maa.Sequence
		if wire.Find(m.Extensions, wire.AdvExtChallenge) == nil || m.Len()%2 != 0 {
			t.Fatal("challenge missing or odd ICMP length")
		}
	}
	w.fa.seq = 0xffff
	var m wire.AgentAdvertisement
	m.UnmarshalBinary(w.fa.Advertisement(netip.AddrPort{}))
	if m.MobilityAgent().Sequence != 256 {
		t.Fatal("0xffff must be followed by 256")
	}
	sol, _ := (&wire.AgentSolicitation{}).MarshalBinary()
	if !IsSolicitation(sol) || IsSolicitation([]byte{9, 0}) {
		t.Fatal("IsSolicitation")
	}
}

// TestChallenges: with challenges on, a request must echo a challenge the
// agent offered (RFC 4721): missing 105, unknown 104, reused 106.
func TestChallenges(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.Challenges = true })
	var m wire.AgentAdvertisement
	m.UnmarshalBinary(w.fa.Advertisement(netip.AddrPort{}))
	ch := wire.Find(m.Extensions, wire.AdvExtChallenge).(*wire.Challenge).Challenge
	aaa := &auth.SA{SPI: 3000, Key: auth.Secret("aaa")}
	build := func(c []byte, id time.Duration) Request {
		rm := wire.RegistrationRequest{Flags: wire.FlagT, Lifetime: 300, HomeAddr: hoa, HomeAgent: haAddr, CareOf: faCoA,
			ID: auth.NTPTime(t0.Add(id)), Extensions: []wire.Extension{&wire.NAI{NAI: "mn@example.net"}}}
		if c != nil {
			rm.Extensions = append(rm.Extensions, &wire.Challenge{Kind: wire.ExtMNFAChallenge, Challenge: c})
		}
		b, _ := rm.AppendBinary(nil)
		b = auth.Append(b, auth.MNHA, mnSA)
		b = auth.Append(b, auth.MNAAA, aaa)
		return Request{Src: netip.AddrPortFrom(hoa, 4343), Dst: faLink, TTL: 255, MAC: mac1, Data: b}
	}
	for _, tc := range []struct {
		name string
		req  Request
		at   time.Duration
		code wire.Code
	}{
		{"missing", build(nil, 0), 0, wire.CodeFAMissingChallenge},
		{"unknown", build([]byte("not ours"), time.Second), 2 * time.Second, wire.CodeFAUnknownChallenge},
		{"fresh", build(ch, 2*time.Second), 4 * time.Second, 0},
		{"reused", build(ch, 3*time.Second), 6 * time.Second, wire.CodeFAStaleChallenge},
	} {
		res := w.fa.HandleRequest(tc.req, t0.Add(tc.at))
		if res.Code != tc.code {
			t.Errorf("%s: code %v, want %v", tc.name, res.Code, tc.code)
		}
		if tc.code == 0 {
			// Relayed with the challenge and MN-AAA kept (RFC 4721 §3.2).
			l, err := wire.ScanRequest(res.Send[0].Data)
			if err != nil || l.Challenge < 0 || l.MNAAA < 0 {
				t.Errorf("relayed request lost its challenge or MN-AAA: %+v %v", l, err)
			}
		}
	}
}

func TestMalformed(t *testing.T) {
	w := newWorld(t, nil)
	r := basic().build()
	if res := w.fa.HandleRequest(Request{Src: r.Src, Data: r.Data[:10]}, t0); res.Drop != DropMalformed {
		t.Fatal("truncated request")
	}
	bad := append(bytes.Clone(r.Data[:24]), byte(wire.ExtGREKey), 0, 0, 5, 1, 2, 3, 4, 5)
	res := w.fa.HandleRequest(Request{Src: r.Src, Dst: faLink, TTL: 255, MAC: mac1, Data: bad}, t0)
	w.toMN = res.Send
	if m, _ := w.lastReply(); m.Code != wire.CodeFAPoorlyFormedRequest {
		t.Fatalf("poorly formed: %v", m.Code)
	}
}

func FuzzHandleRequest(f *testing.F) {
	f.Add(basic().build().Data)
	f.Fuzz(func(t *testing.T, b []byte) {
		w := newWorld(t, nil)
		res := w.fa.HandleRequest(Request{Src: netip.AddrPortFrom(hoa, 1), Dst: faLink, TTL: 255, MAC: mac1, Data: b}, t0)
		for _, p := range res.Send {
			if p.Data[0] == byte(wire.MsgRegistrationRequest) {
				// What we relay must itself be a well-formed request.
				if _, err := wire.ScanRequest(p.Data); err != nil {
					t.Fatalf("relayed a malformed request: %v", err)
				}
			}
		}
		w.fa.HandleReply(netip.AddrPortFrom(haAddr, 434), b, t0)
		w.fa.HandleRevocation(netip.AddrPortFrom(haAddr, 434), b, t0)
	})
}

func TestMACText(t *testing.T) {
	m := MAC{2, 0, 0x5e, 0, 0x53, 1}
	b, err := m.MarshalText()
	if err != nil || string(b) != "02:00:5e:00:53:01" {
		t.Fatalf("%s %v", b, err)
	}
	var back MAC
	if err := back.UnmarshalText(b); err != nil || back != m {
		t.Fatalf("%v %v", back, err)
	}
	if back.UnmarshalText([]byte("02:00")) == nil {
		t.Fatal("a short MAC accepted")
	}
}
