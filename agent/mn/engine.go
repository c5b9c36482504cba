package mn

import (
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/wire"
)

// Config is a mobile node's setup.
type Config struct {
	// NAI identifies the node (RFC 2794); needed when HomeAddr is zero.
	NAI string
	// HomeAddr is the static home address; invalid or 0.0.0.0 asks the
	// home agent for one.
	HomeAddr netip.Addr
	// HomeNet is the home network; a care-of address inside it means the
	// node is at home.
	HomeNet   netip.Prefix
	HomeAgent netip.Addr
	SA        *auth.SA
	// Lifetime requested, seconds.
	Lifetime uint16
	// ReverseTunnel sets the T bit (RFC 3024); needed to get through
	// networks with ingress filtering, and by the RFC 5265 VPN use.
	ReverseTunnel bool
	// UDPTunnel asks for RFC 3519 tunnelling in every co-located
	// registration (the home agent decides if a NAT makes it needed);
	// ForceUDP sets the F flag.
	UDPTunnel bool
	ForceUDP  bool
	// Keepalive is the default keepalive interval, used when the home
	// agent's reply gives 0 (RFC 3519 §3.2). Zero means 110 s (§4.9).
	Keepalive time.Duration
	// KeepaliveRetries is how many times an unanswered keepalive is sent
	// again, a second apart, before the node concludes the NAT lost its
	// mapping and registers again (RFC 3519 §4.10). Zero means 3.
	KeepaliveRetries int
	// MaxRetransmit caps the retransmission interval. Zero means 8 s.
	MaxRetransmit time.Duration
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case !c.HomeAgent.Is4():
		return errors.New("mn: home agent address must be IPv4")
	case c.SA == nil:
		return errors.New("mn: an MN-HA security association is required")
	case (!c.HomeAddr.IsValid() || c.HomeAddr.IsUnspecified()) && c.NAI == "":
		return errors.New("mn: without a static home address the node needs an NAI to be given one")
	case c.Lifetime == 0:
		return errors.New("mn: lifetime must be at least 1 s")
	}
	return nil
}

const (
	defaultKeepalive   = 110 * time.Second // RFC 3519 §4.9
	minKeepalive       = 10 * time.Second  // RFC 3519 §4.10: MUST NOT be less
	firstRetransmit    = time.Second       // RFC 5944 §3.6.3: at least 1 s
	defaultMaxRetrans  = 8 * time.Second
	deniedRetryInitial = 2 * time.Second
	deniedRetryMax     = 60 * time.Second
)

// Packet is a message to send from the registration socket.
type Packet struct {
	// Src is the address to send from (the care-of address when
	// co-located, RFC 5944 §3.6.1.1); its port is the socket's.
	Src  netip.Addr
	Dst  netip.AddrPort
	Data []byte
	// TTL1 asks for IP TTL 1 (solicitations).
	TTL1 bool
	// TTL255 asks for IP TTL 255: requests to a foreign agent, which
	// checks it (RFC 3024 §4.1.1, §4.2.1).
	TTL255 bool
}

// Tunnel is what the data plane should do. The zero value (Up false) means
// no tunnel: the node is not registered, or is at home.
type Tunnel struct {
	Up       bool
	HomeAddr netip.Addr
	// Local is the care-of address (co-located) the tunnel runs from.
	Local netip.Addr
	// Remote is the home agent: port 434 with UDP tunnelling, else 0.
	Remote netip.AddrPort
	UDP    bool
	// Reverse says packets from the home address go back through the
	// tunnel (T bit granted).
	Reverse bool
	// ViaFA: the care-of address belongs to a foreign agent, which does
	// the tunnelling; the node sends and receives natively on the link.
	ViaFA bool
	// Trusted: the home agent's reply carried the Trusted Networks
	// Configured extension (RFC 5265 §3.4): it saw the request come from
	// one of its trusted (internal) networks.
	Trusted bool
}

// Output is what one call decided.
type Output struct {
	Send []Packet
	// Tunnel is the new tunnel state when it changed, else nil.
	Tunnel *Tunnel
	// Keepalive asks the data plane to send an RFC 3519 keepalive (an ICMP
	// echo request to the home agent inside the tunnel) now.
	Keepalive bool
}

// State names where registration stands.
type State uint8

const (
	Detached    State = iota // no care-of address
	Registering              // request sent, waiting for the reply
	Registered               // binding granted
	Denied                   // last request denied; retrying later
	AtHome                   // on the home network
)

func (s State) String() string {
	return [...]string{"detached", "registering", "registered", "denied", "at-home"}[s]
}

// Engine is one mobile node. It is not safe for concurrent use.
type Engine struct {
	cfg Config
	ids auth.IDGenerator

	state   State
	hoa     netip.Addr // current home address (static, or learnt from the HA)
	coa     netip.Addr // co-located care-of address, or the FA's
	fa      netip.Addr // foreign agent we register through (FA mode)
	faLife  uint16     // registration lifetime the FA advertised
	advDue  time.Time  // when the FA's advertisement lifetime runs out
	lastSeq uint16
	haveSeq bool

	// outstanding request
	pending    []byte
	pendingID  uint64
	pendingAt  time.Time
	retransmit time.Duration
	nextSend   time.Time
	lifetime   uint16 // asked for in the pending request
	dereg      bool

	// granted binding
	granted     uint16
	expires     time.Time
	renewAt     time.Time
	tunnel      Tunnel
	keepalive   time.Duration
	nextKA      time.Time // next keepalive (or retry) due
	lastKAReply time.Time
	kaSentAt    time.Time // the unanswered keepalive's first send; zero if none
	kaRetries   int
	lastCode    wire.Code

	Counters Counters
}

// New returns a detached mobile node. rand supplies Identification bits
// (nil: crypto/rand).
func New(cfg Config, rand io.Reader) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxRetransmit <= 0 {
		cfg.MaxRetransmit = defaultMaxRetrans
	}
	if cfg.KeepaliveRetries <= 0 {
		cfg.KeepaliveRetries = 3
	}
	e := &Engine{cfg: cfg, ids: auth.IDGenerator{Method: cfg.SA.Replay, Rand: rand}}
	if cfg.HomeAddr.IsValid() && !cfg.HomeAddr.IsUnspecified() {
		e.hoa = cfg.HomeAddr
	}
	return e, nil
}

// State returns where registration stands.
func (e *Engine) State() State { return e.state }

// HomeAddr is the current home address (zero until the home agent assigns
// one when none is configured).
func (e *Engine) HomeAddr() netip.Addr { return e.hoa }

// CareOf is the current care-of address.
func (e *Engine) CareOf() netip.Addr { return e.coa }

// ForeignAgent is the agent the node registers through (its address on
// the link), or the zero Addr when co-located.
func (e *Engine) ForeignAgent() netip.Addr { return e.fa }

// Tunnel is the current tunnel state.
func (e *Engine) Tunnel() Tunnel { return e.tunnel }

// SetCareOf reports the node's co-located care-of address (from netlink:
// the address DHCP gave on the uplink). An invalid address means the node
// lost its attachment. A new address is a move: the node registers at once
// (RFC 5944 §2.4.2). An address inside the home network means it is home:
// it deregisters (§2.4.3).
func (e *Engine) SetCareOf(coa netip.Addr, now time.Time) Output {
	if coa == e.coa && e.fa == (netip.Addr{}) {
		return Output{}
	}
	e.coa, e.fa = coa, netip.Addr{}
	switch {
	case !coa.IsValid():
		e.state = Detached
		e.pending = nil
		return e.setTunnel(Tunnel{})
	case e.cfg.HomeNet.IsValid() && e.cfg.HomeNet.Contains(coa):
		e.state = AtHome
		out := e.setTunnel(Tunnel{})
		e.merge(&out, e.register(now, true))
		return out
	}
	if e.state == AtHome {
		e.state = Detached // left home
	}
	e.Counters.Moves.Add(1)
	return e.register(now, false)
}

// HandleAdvertisement processes an Agent Advertisement (an ICMP message)
// heard from src. A foreign agent's advertisement with a care-of address
// makes the node register through it when it has no co-located address;
// a sequence number that went back below 256 means the agent rebooted
// and lost its visitor list, so the node registers again (§2.4.4).
func (e *Engine) HandleAdvertisement(src netip.Addr, b []byte, now time.Time) Output {
	var adv wire.AgentAdvertisement
	if err := adv.UnmarshalBinary(b); err != nil {
		e.Counters.BadAdvertisements.Add(1)
		return Output{}
	}
	maa := adv.MobilityAgent()
	if maa == nil || maa.Validate() != nil || maa.Flags&wire.AdvF == 0 || maa.Flags&wire.AdvB != 0 {
		return Output{} // not a usable foreign agent
	}
	coa := maa.CareOf[0]
	e.advDue = now.Add(time.Duration(adv.Lifetime) * time.Second)
	if coa == e.coa && src == e.fa {
		rebooted := e.haveSeq && wire.AgentRebooted(e.lastSeq, maa.Sequence)
		e.lastSeq, e.haveSeq = maa.Sequence, true
		if rebooted {
			return e.register(now, false)
		}
		return Output{}
	}
	if e.coa.IsValid() && !e.fa.IsValid() && e.state != AtHome {
		return Output{} // a co-located address is in use; keep it
	}
	e.coa, e.fa, e.faLife = coa, src, maa.RegLifetime
	e.lastSeq, e.haveSeq = maa.Sequence, true
	e.Counters.Moves.Add(1)
	return e.register(now, false)
}

// Solicit returns an Agent Solicitation to send (RFC 5944 §2.4).
func (e *Engine) Solicit() Packet {
	b, _ := (&wire.AgentSolicitation{}).AppendBinary(nil)
	return Packet{Dst: netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), 0), Data: b, TTL1: true}
}

// register builds and sends a new request (deregister: lifetime 0).
func (e *Engine) register(now time.Time, deregister bool) Output {
	life := e.cfg.Lifetime
	if e.fa.IsValid() && e.faLife != 0 && life > e.faLife {
		life = e.faLife // §3.6.1.2: not more than the FA advertised
	}
	if deregister {
		life = 0
	}
	return e.sendRequest(now, life, deregister)
}

func (e *Engine) sendRequest(now time.Time, life uint16, deregister bool) Output {
	if !e.coa.IsValid() {
		return Output{}
	}
	hoa := e.hoa
	if !hoa.IsValid() {
		hoa = netip.IPv4Unspecified()
	}
	coa, colocated := e.coa, !e.fa.IsValid()
	if deregister && e.state == AtHome {
		coa = hoa // §3.8.2.2: CoA = HoA removes all bindings
	}
	m := wire.RegistrationRequest{Lifetime: life, HomeAddr: hoa, HomeAgent: e.cfg.HomeAgent, CareOf: coa}
	if colocated && e.state != AtHome {
		m.Flags |= wire.FlagD
	}
	if e.cfg.ReverseTunnel {
		m.Flags |= wire.FlagT
	}
	m.ID = e.ids.Next(now)
	if e.cfg.NAI != "" {
		m.Extensions = append(m.Extensions, &wire.NAI{NAI: e.cfg.NAI})
	}
	if colocated && e.cfg.UDPTunnel && !deregister {
		u := &wire.UDPTunnelRequest{Encapsulation: wire.ProtoIPIP}
		if e.cfg.ForceUDP {
			u.Flags |= wire.UDPTunnelReqF
		}
		m.Extensions = append(m.Extensions, u)
	}
	b, err := m.AppendBinary(make([]byte, 0, 96))
	if err != nil {
		return Output{}
	}
	b = auth.Append(b, auth.MNHA, e.cfg.SA)
	e.pending, e.pendingID, e.pendingAt, e.lifetime, e.dereg = b, m.ID, now, life, deregister
	e.retransmit = firstRetransmit
	e.nextSend = now.Add(e.retransmit)
	if e.state != AtHome {
		e.state = Registering
	}
	e.Counters.Requests.Add(1)
	return Output{Send: []Packet{e.requestPacket()}}
}

// requestPacket addresses the pending request (§3.6.1.1).
func (e *Engine) requestPacket() Packet {
	p := Packet{Data: e.pending, Dst: netip.AddrPortFrom(e.cfg.HomeAgent, wire.Port), Src: e.coa}
	if e.fa.IsValid() {
		p.Dst = netip.AddrPortFrom(e.fa, wire.Port)
		p.TTL255 = true
		p.Src = e.hoa // the home address, or 0.0.0.0 before one is known
		if !p.Src.IsValid() {
			p.Src = netip.IPv4Unspecified()
		}
	} else if e.state == AtHome {
		p.Src = e.hoa
	}
	return p
}

// HandleReply processes a Registration Reply.
func (e *Engine) HandleReply(b []byte, now time.Time) Output {
	l, err := wire.ScanReply(b)
	if err != nil || e.pending == nil {
		e.Counters.BadReplies.Add(1)
		return Output{}
	}
	v := wire.ReplyView(b)
	if !auth.MatchReply(e.pendingID, v.ID()) {
		e.Counters.BadReplies.Add(1) // §3.6.2.1: not for our request
		return Output{}
	}
	code := v.Code()
	// §3.6.2.1: replies from the home agent must carry a valid MN-HA; an
	// FA's own denial (64–127) has none.
	if l.MNHA >= 0 {
		if auth.Verify(b, l.MNHA, e.cfg.SA) != nil {
			e.Counters.BadReplies.Add(1)
			return Output{}
		}
	} else if !code.ByForeignAgent() {
		e.Counters.BadReplies.Add(1)
		return Output{}
	}
	e.lastCode = code
	e.Counters.Replies[code].Add(1)
	if l.MNHA >= 0 {
		if err := e.ids.Learn(e.pendingID, v.ID(), code == wire.CodeHAIDMismatch, now); err != nil {
			return Output{}
		}
	}
	switch {
	case code.Accepted():
		return e.accepted(b, v, l, now)
	case code == wire.CodeHAIDMismatch:
		// Resynchronised: send a new request at once (§3.6.2.3).
		return e.sendRequest(now, e.lifetime, e.dereg)
	case code == wire.CodeFALifetimeTooLong && v.Lifetime() != 0 && v.Lifetime() < e.lifetime:
		e.faLife = v.Lifetime()
		return e.sendRequest(now, v.Lifetime(), e.dereg)
	}
	// Denied: try again later, backing off.
	e.pending = nil
	e.state = Denied
	e.retransmit = max(deniedRetryInitial, min(e.retransmit*2, deniedRetryMax))
	e.nextSend = now.Add(e.retransmit)
	return e.setTunnel(Tunnel{})
}

func (e *Engine) accepted(b []byte, v wire.ReplyView, l wire.Layout, now time.Time) Output {
	e.pending = nil
	if e.dereg {
		e.granted = 0
		if e.state != AtHome {
			e.state = Detached
		}
		return e.setTunnel(Tunnel{})
	}
	if hoa := v.HomeAddr(); !hoa.IsUnspecified() {
		e.hoa = hoa
	}
	// §3.4: the lifetime is the smaller of asked and granted.
	life := min(v.Lifetime(), e.lifetime)
	e.granted = life
	e.state = Registered
	e.expires = now.Add(time.Duration(life) * time.Second)
	// Renew at three quarters of the lifetime, leaving a quarter for
	// retransmissions (§3.6.3 caps them at the lifetime anyway).
	e.renewAt = now.Add(time.Duration(life) * time.Second * 3 / 4)
	if life == 0xffff {
		e.renewAt = time.Time{}
	}
	t := Tunnel{Up: true, HomeAddr: e.hoa, Local: e.coa, Remote: netip.AddrPortFrom(e.cfg.HomeAgent, 0),
		Reverse: e.cfg.ReverseTunnel, ViaFA: e.fa.IsValid()}
	e.keepalive = 0
	s := wire.ReplyView(b).Extensions()
	for s.Next() {
		x := s.Ext()
		if x.Type == wire.ExtTrustedNetworks && x.Offset < l.MNHA {
			t.Trusted = true
		}
		if x.Type == wire.ExtUDPTunnelReply && x.Offset < l.MNHA {
			d := x.Data()
			if d[0] < 64 { // assent (RFC 3519 §3.2.1)
				t.UDP = true
				t.Remote = netip.AddrPortFrom(e.cfg.HomeAgent, wire.Port)
				e.keepalive = time.Duration(uint16(d[3])<<8|uint16(d[4])) * time.Second
			}
		}
	}
	if t.UDP {
		if e.keepalive == 0 {
			e.keepalive = e.cfg.Keepalive
			if e.keepalive == 0 {
				e.keepalive = defaultKeepalive
			}
		}
		e.keepalive = max(e.keepalive, minKeepalive)
		e.nextKA = now.Add(e.keepalive)
		e.lastKAReply = now
		e.kaSentAt, e.kaRetries = time.Time{}, 0
	}
	e.Counters.Registrations.Add(1)
	return e.setTunnel(t)
}

// KeepaliveAnswered tells the engine the home agent answered a keepalive
// (or any tunnelled packet arrived, which proves the mapping too).
func (e *Engine) KeepaliveAnswered(now time.Time) {
	e.lastKAReply = now
	if !e.kaSentAt.IsZero() {
		e.kaSentAt, e.kaRetries = time.Time{}, 0
		e.nextKA = now.Add(e.keepalive)
	}
}

// Tick runs the timers due at now.
func (e *Engine) Tick(now time.Time) Output {
	var out Output
	switch {
	case e.pending != nil && !now.Before(e.nextSend):
		// §3.6.3: retransmit, doubling, capped. With timestamps each
		// retransmission is a new request with a new Identification; with
		// nonces the same bytes go again.
		e.Counters.Retransmissions.Add(1)
		if e.cfg.SA.Replay == auth.Timestamps {
			next := min(e.retransmit*2, e.cfg.MaxRetransmit)
			o := e.sendRequest(now, e.lifetime, e.dereg)
			e.retransmit = next
			e.nextSend = now.Add(next)
			e.merge(&out, o)
		} else {
			e.retransmit = min(e.retransmit*2, e.cfg.MaxRetransmit)
			e.nextSend = now.Add(e.retransmit)
			out.Send = append(out.Send, e.requestPacket())
		}
	case e.state == Denied && !now.Before(e.nextSend):
		retry := e.retransmit
		e.merge(&out, e.register(now, false))
		e.retransmit = retry // keep backing off across denials
		e.nextSend = now.Add(firstRetransmit)
	case e.state == Registered && !e.renewAt.IsZero() && !now.Before(e.renewAt):
		e.merge(&out, e.register(now, false))
	}
	if e.state == Registered && e.tunnel.UDP && !now.Before(e.nextKA) {
		// RFC 3519 §4.9–4.10: a keepalive every interval; an unanswered
		// one is sent again each second; after the retries the NAT has
		// probably lost our mapping, and registering again tells the home
		// agent the new one.
		switch {
		case e.kaSentAt.IsZero():
			e.kaSentAt = now
			out.Keepalive = true
			e.Counters.Keepalives.Add(1)
			e.nextKA = now.Add(time.Second)
		case e.kaRetries < e.cfg.KeepaliveRetries:
			e.kaRetries++
			out.Keepalive = true
			e.Counters.Keepalives.Add(1)
			e.nextKA = now.Add(time.Second)
		default:
			e.Counters.KeepaliveFailures.Add(1)
			e.kaSentAt, e.kaRetries = time.Time{}, 0
			e.nextKA = now.Add(e.keepalive)
			e.merge(&out, e.register(now, false))
		}
	}
	if e.fa.IsValid() && !e.advDue.IsZero() && !now.Before(e.advDue) {
		// §2.4.2: the agent's advertisement expired; solicit a new one.
		e.advDue = time.Time{}
		out.Send = append(out.Send, e.Solicit())
	}
	return out
}

// Resend sends the pending request again now and restarts its backoff:
// the path to the home agent has just become usable (a VPN finished
// coming up, say), so waiting out the retransmission timer would only
// lengthen the outage. With timestamps the request gets a new
// Identification, as every retransmission does (§3.6.3).
func (e *Engine) Resend(now time.Time) Output {
	if e.pending == nil {
		return Output{}
	}
	if e.cfg.SA.Replay == auth.Timestamps {
		return e.sendRequest(now, e.lifetime, e.dereg)
	}
	e.retransmit = firstRetransmit
	e.nextSend = now.Add(e.retransmit)
	return Output{Send: []Packet{e.requestPacket()}}
}

// Stop deregisters (on shutdown).
func (e *Engine) Stop(now time.Time) Output {
	if e.state != Registered && e.state != Registering {
		return Output{}
	}
	out := e.setTunnel(Tunnel{})
	e.merge(&out, e.register(now, true))
	return out
}

// NextTimer is when Tick next has work (zero: never).
func (e *Engine) NextTimer() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if e.pending != nil || e.state == Denied {
		consider(e.nextSend)
	}
	if e.state == Registered {
		consider(e.renewAt)
		if e.tunnel.UDP {
			consider(e.nextKA)
		}
	}
	if e.fa.IsValid() {
		consider(e.advDue)
	}
	return next
}

func (e *Engine) setTunnel(t Tunnel) Output {
	if t == e.tunnel {
		return Output{}
	}
	e.tunnel = t
	return Output{Tunnel: &t}
}

func (e *Engine) merge(dst *Output, o Output) {
	dst.Send = append(dst.Send, o.Send...)
	if o.Tunnel != nil {
		dst.Tunnel = o.Tunnel
	}
	dst.Keepalive = dst.Keepalive || o.Keepalive
}

// Status is a snapshot for the control socket.
type Status struct {
	State     string     `json:"state"`
	HomeAddr  netip.Addr `json:"home_addr,omitzero"`
	CareOf    netip.Addr `json:"care_of,omitzero"`
	FA        netip.Addr `json:"foreign_agent,omitzero"`
	HomeAgent netip.Addr `json:"home_agent"`
	Lifetime  uint16     `json:"lifetime"`
	Expires   time.Time  `json:"expires,omitzero"`
	UDP       bool       `json:"udp_tunnel"`
	LastCode  string     `json:"last_reply,omitempty"`
}

// Status reports the current state.
func (e *Engine) Status() Status {
	s := Status{State: e.state.String(), HomeAddr: e.hoa, CareOf: e.coa, FA: e.fa, HomeAgent: e.cfg.HomeAgent,
		Lifetime: e.granted, UDP: e.tunnel.UDP}
	if e.state == Registered {
		s.Expires = e.expires
	}
	if e.Counters.Requests.Load() > 0 && e.state != Registering {
		s.LastCode = e.lastCode.String()
	}
	return s
}
