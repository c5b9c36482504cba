package proxy

import (
	"io"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/wire"
)

// Packet is a message to send from the proxy's registration socket (UDP
// port 434 on the care-of address).
type Packet struct {
	Src  netip.AddrPort
	Dst  netip.AddrPort
	Data []byte
}

// Binding is what the daemon needs to serve one client: the neighbour and
// route toward the client on the link, and the tunnel to the home agent.
type Binding struct {
	MAC       MAC        `json:"mac"`
	NAI       string     `json:"nai"`
	HomeAddr  netip.Addr `json:"home_addr,omitzero"`
	HomeAgent netip.Addr `json:"home_agent"`
	CareOf    netip.Addr `json:"care_of"`
	// Lifetime granted, seconds, and when it runs out.
	Lifetime uint16    `json:"lifetime"`
	Expires  time.Time `json:"expires,omitzero"`
	// UDP: the home agent accepted RFC 3519 UDP tunnelling; Keepalive is
	// the interval it asked for (RFC 3519 §3.2; zero: not UDP).
	UDP       bool          `json:"udp_tunnel"`
	Keepalive time.Duration `json:"keepalive,omitempty"`
	// ReverseTunnel is always true: every packet of a proxied client goes
	// through the home agent (RFC 5563 §4.2.1, §4.2.3; RFC 3024 T bit).
	ReverseTunnel bool `json:"reverse_tunnel"`
	// Revocable: revocation support was negotiated (RFC 3543 §4.2.1).
	Revocable bool `json:"revocable,omitempty"`
}

// EventKind says what happened to a client.
type EventKind uint8

const (
	_ EventKind = iota
	// ClientBound: a registration was accepted and the data plane must
	// serve the binding (first time, or after the home address, care-of
	// address or tunnel changed). DHCP may now answer the client.
	ClientBound
	// ClientRenewed: a renewal was accepted with nothing changed but the
	// lifetime.
	ClientRenewed
	// ClientDenied: the client gets no binding now (Code is the home
	// agent's reply code; 0 when refused locally or timed out). A DHCP
	// exchange waiting for it should be NAKed or dropped.
	ClientDenied
	// ClientReleased: the binding is gone (DHCP release, lease expiry,
	// neighbour loss, not attached, lifetime ran out, shutdown): remove
	// routes, neighbours and data plane entries.
	ClientReleased
	// ClientRevoked: the home agent revoked the binding (RFC 3543): the
	// client registered through another proxy. Remove as for released.
	ClientRevoked
	// ClientConflict: the binding was revoked but the client is still
	// attached here: a MAC in two places (package doc). Reason is
	// "reclaim" or "quarantine".
	ClientConflict
)

func (k EventKind) String() string {
	return [...]string{"", "bound", "renewed", "denied", "released", "revoked", "conflict"}[k]
}

// MarshalText names the kind in status and logs.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Event is a change for the daemon to apply.
type Event struct {
	Kind    EventKind
	Binding Binding
	Code    wire.Code
	Reason  string
}

// Output is what one call decided.
type Output struct {
	Send []Packet
	// Probe lists clients whose attachment the daemon must confirm now
	// (an ARP request to the client's home address from the gateway
	// address, say) and report with ClientPresent or ClientGone (RFC 5563
	// §4.4). No answer is an answer: the engine gives up by itself.
	Probe  []MAC
	Events []Event
}

func (o *Output) merge(p Output) {
	o.Send = append(o.Send, p.Send...)
	o.Probe = append(o.Probe, p.Probe...)
	o.Events = append(o.Events, p.Events...)
}

// State is where one client stands.
type State uint8

const (
	Registering   State = iota // first request in flight
	Bound                      // binding granted
	Confirming                 // renewal due: waiting for the client to prove it is attached
	Renewing                   // renewal in flight; the binding still holds
	Deregistering              // lifetime-0 request in flight; no binding
	Denied                     // refused or timed out; retry after a backoff
	Revoked                    // revoked by the home agent; checking whether the client is here
	Quarantined                // MAC conflict lost: refused until the quarantine ends
)

func (s State) String() string {
	return [...]string{"registering", "bound", "confirming", "renewing", "deregistering", "denied", "revoked",
		"quarantined"}[s]
}

// holdsBinding reports whether the home agent holds a binding the data
// plane serves.
func (s State) holdsBinding() bool { return s == Bound || s == Confirming || s == Renewing }

// client is one entry of the client table.
type client struct {
	mac    MAC
	nai    string
	guest  bool
	static netip.Addr
	sa     *auth.SA
	ids    auth.IDGenerator
	state  State
	hoa    netip.Addr // the home address the home agent gave

	// outstanding request
	pending    []byte
	pendingID  uint64
	lifetime   uint16 // asked for in it
	dereg      bool
	firstSent  time.Time
	nextSend   time.Time
	retransmit time.Duration
	tries      int
	resyncs    int

	// binding
	granted   uint16
	boundAt   time.Time
	expires   time.Time
	renewAt   time.Time
	udp       bool
	keepalive time.Duration
	revocable bool
	revStamp  uint32
	coa       netip.Addr // care-of address of the binding

	// presence
	lastSeen   time.Time
	probing    bool
	probeUntil time.Time
	nextProbe  time.Time

	// denial, revocation, conflict
	retryAt   time.Time
	backoff   time.Duration
	lastCode  wire.Code
	replied   bool
	revokedAt time.Time
	// heldSince is when the client's tenure here began: its first
	// binding, kept across reclaims (package doc, MAC conflicts); tenure
	// is its length when the binding was revoked.
	heldSince time.Time
	tenure    time.Duration
	// reclaiming: the registration in flight takes a binding back.
	// reclaims counts the reclaims since reclaimFrom, within Quarantine.
	reclaiming  bool
	reclaims    int
	reclaimFrom time.Time
	until       time.Time // end of a quarantine or of a revoked entry's linger

	stats ClientCounters
}

// Engine is the proxy mobility agent's registration engine (RFC 5563 §7).
// It is not safe for concurrent use: one goroutine owns it; Counters may
// be read from others.
type Engine struct {
	cfg     Config
	known   map[MAC]*Client
	clients map[MAC]*client
	byID    map[uint32]*client // pending requests by the low 32 bits of their Identification
	rand    io.Reader
	guests  int
	tokens  int
	refill  time.Time
	// revocation replay state (RFC 3543 §3.5)
	lastRevID uint32
	haveRevID bool
	// refused is a 149/150 from the home agent: RFC 5563 §8.1 says not
	// to try again.
	refused  wire.Code
	Counters Counters
}

// New returns a proxy with an empty client table. rand supplies the random
// bits of Identifications (nil: crypto/rand).
func New(cfg Config, rand io.Reader) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	cfg.Clients = slices.Clone(cfg.Clients)
	e := &Engine{cfg: cfg, known: map[MAC]*Client{}, clients: map[MAC]*client{}, byID: map[uint32]*client{},
		rand: rand, tokens: cfg.MaxGuests}
	for i := range e.cfg.Clients {
		e.known[e.cfg.Clients[i].MAC] = &e.cfg.Clients[i]
	}
	return e, nil
}

// Config returns the configuration in use, defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// identity maps a MAC to the NAI and SA to register it with. Unknown
// clients get one only from the UnknownNAI pattern.
func (e *Engine) identity(mac MAC) (nai string, static netip.Addr, sa *auth.SA, guest, ok bool) {
	if c := e.known[mac]; c != nil {
		sa = c.SA
		if sa == nil {
			sa = e.cfg.derivedSA(c.NAI)
		}
		return c.NAI, c.HomeAddr, sa, false, true
	}
	if e.cfg.UnknownNAI == "" {
		return "", netip.Addr{}, nil, false, false
	}
	nai = ExpandPattern(e.cfg.UnknownNAI, mac)
	return nai, netip.Addr{}, e.cfg.derivedSA(nai), true, true
}

// Admits reports whether the MAC may be offered a binding at all: it is
// configured or the unknown-client rule names it, it is not quarantined,
// and the home agent has not refused proxy registrations. The DHCP server
// asks this before it keeps any state for a client, so a flood of random
// MACs under the default deny rule costs no memory.
func (e *Engine) Admits(h net.HardwareAddr) bool {
	mac, ok := MACFrom(h)
	if !ok || e.refused != 0 {
		return false
	}
	if c := e.clients[mac]; c != nil && c.state == Quarantined {
		return false
	}
	return e.known[mac] != nil || e.cfg.UnknownNAI != ""
}

// Lease returns the client's home address and how long its binding has
// left, for the DHCP server (RFC 5563 §4.1.1 step 5, §6.3).
func (e *Engine) Lease(h net.HardwareAddr, now time.Time) (netip.Addr, time.Duration, bool) {
	mac, ok := MACFrom(h)
	if !ok {
		return netip.Addr{}, 0, false
	}
	c := e.clients[mac]
	if c == nil || !c.state.holdsBinding() || !now.Before(c.expires) {
		return netip.Addr{}, 0, false
	}
	return c.hoa, c.expires.Sub(now), true
}

// Attach reports that a client showed up on the link: a DHCP DISCOVER or
// REQUEST with no binding behind it (RFC 5563 §4.1.1 steps 2–3, §4.1.3).
// A client with an identity gets a registration; one already registering
// or bound costs nothing. A client without an identity is refused without
// an entry in the table.
func (e *Engine) Attach(mac MAC, now time.Time) Output {
	e.Counters.Attaches.Add(1)
	return e.attach(mac, now)
}

// Seen reports the secondary sign of a client (RFC 5563 §4.1: the PMA
// detects attachment by DHCP or other means): the kernel learnt a
// neighbour entry for mac at addr on the clients' link — it sent an ARP
// request or reply. A client that kept its address from the last hotspot
// and never asks DHCP again is registered this way. For a client already
// here it is evidence of presence; for one whose binding was just revoked
// and whose probe runs, it answers the probe when addr is its home address
// (a MAC conflict, as a probe answer would be).
func (e *Engine) Seen(mac MAC, addr netip.Addr, now time.Time) Output {
	e.Counters.Seen.Add(1)
	if c := e.clients[mac]; c != nil {
		switch {
		case c.state == Quarantined:
			return Output{} // refused already; its ARP traffic needs no answer
		case c.state == Revoked && c.probing:
			if addr != c.hoa {
				return Output{}
			}
			c.lastSeen = now
			return e.present(c, now)
		}
	}
	return e.attach(mac, now)
}

func (e *Engine) attach(mac MAC, now time.Time) Output {
	if c := e.clients[mac]; c != nil {
		c.lastSeen = now
		switch c.state {
		case Confirming:
			if c.probing {
				return e.present(c, now)
			}
		case Revoked:
			// A DHCP request after the revocation is the client attaching
			// here again — it moved back, perhaps within the probe's
			// window — not proof that it stayed here while another proxy
			// held it: register again. A MAC in two places at once is
			// caught by a probe answered while the other proxy holds the
			// binding (ClientPresent), and the conflict rule settles it.
			c.probing = false
			return e.register(c, now)
		case Deregistering:
			return e.register(c, now) // back before the deregistration finished
		case Denied:
			if now.Before(c.retryAt) {
				return Output{Events: []Event{e.event(c, ClientDenied, "retry later")}}
			}
			return e.register(c, now)
		case Quarantined:
			return Output{Events: []Event{e.event(c, ClientDenied, "quarantined")}}
		}
		return Output{}
	}
	nai, static, sa, guest, ok := e.identity(mac)
	deny := func(reason string) Output {
		return Output{Events: []Event{{Kind: ClientDenied, Binding: Binding{MAC: mac, NAI: nai, HomeAgent: e.cfg.HomeAgent},
			Reason: reason}}}
	}
	switch {
	case !ok:
		e.Counters.Unknown.Add(1)
		return Output{} // nothing to say to a stranger, nothing kept
	case e.refused != 0:
		return deny("home agent refuses proxy registrations: " + e.refused.String())
	case len(e.clients) >= e.cfg.MaxClients:
		e.Counters.TableFull.Add(1)
		return deny("client table full")
	case guest && (e.guests >= e.cfg.MaxGuests || !e.takeToken(now)):
		e.Counters.GuestLimited.Add(1)
		return deny("too many unknown clients")
	}
	c := &client{mac: mac, nai: nai, guest: guest, static: static, sa: sa, lastSeen: now,
		ids: auth.IDGenerator{Method: auth.Timestamps, Rand: e.rand}}
	e.clients[mac] = c
	if guest {
		e.guests++
	}
	return e.register(c, now)
}

// takeToken spends one of the guests' registration tokens, refilled one
// per GuestInterval up to MaxGuests.
func (e *Engine) takeToken(now time.Time) bool {
	if e.refill.IsZero() {
		e.refill = now
	}
	if n := int(now.Sub(e.refill) / e.cfg.GuestInterval); n > 0 {
		e.tokens = min(e.cfg.MaxGuests, e.tokens+n)
		e.refill = e.refill.Add(time.Duration(n) * e.cfg.GuestInterval)
	}
	if e.tokens == 0 {
		return false
	}
	e.tokens--
	return true
}

// ClientPresent reports that the client answered a probe or otherwise
// showed it is attached (a DHCP renewal, a reachable neighbour).
func (e *Engine) ClientPresent(mac MAC, now time.Time) Output {
	c := e.clients[mac]
	if c == nil {
		return Output{}
	}
	c.lastSeen = now
	if c.probing {
		return e.present(c, now)
	}
	return Output{}
}

// Continued reports a DHCP REQUEST that continues the exchange whose
// OFFER came from the client's binding, after that binding was taken away
// (dhcpserve's Continued: same transaction ID). While the revocation's
// probe runs it is the probe's answer — the client never left, a MAC
// conflict — otherwise a new attachment.
func (e *Engine) Continued(mac MAC, now time.Time) Output {
	if c := e.clients[mac]; c != nil && c.state == Revoked && c.probing {
		c.lastSeen = now
		return e.present(c, now)
	}
	return e.Attach(mac, now)
}

// present acts on a confirmed attachment while probing.
func (e *Engine) present(c *client, now time.Time) Output {
	c.probing = false
	if c.state == Revoked {
		return e.conflict(c, now)
	}
	return e.register(c, now) // Confirming: RFC 5563 §4.4 satisfied, renew
}

// ClientGone reports that the client left the link (its neighbour entry
// failed, a probe was answered by nobody, the link went down). Its binding
// is deregistered (RFC 5563 §4.1.4, §6.3).
func (e *Engine) ClientGone(mac MAC, now time.Time) Output {
	return e.Release(mac, "not attached", now)
}

// Release deregisters a client (lifetime 0, RFC 5944 §3.6.1.2) and drops
// its state: DHCP RELEASE or DECLINE, lease expiry, neighbour loss (RFC
// 5563 §6.3: "the AR sends PMIPv4 de-registration to the HA").
func (e *Engine) Release(mac MAC, reason string, now time.Time) Output {
	c := e.clients[mac]
	if c == nil {
		return Output{}
	}
	c.probing = false
	switch c.state {
	case Registering, Bound, Confirming, Renewing:
		return e.deregister(c, reason, now)
	case Denied:
		e.remove(c)
	case Revoked:
		// Already gone from the home agent; linger only for re-acks.
	}
	return Output{}
}

// deregister sends a lifetime-0 request and reports the binding gone.
func (e *Engine) deregister(c *client, reason string, now time.Time) Output {
	ev := e.event(c, ClientReleased, reason)
	e.Counters.Deregistrations.Add(1)
	out := e.sendRequest(c, now, 0, true)
	c.state = Deregistering
	c.reclaiming = false
	out.Events = append(out.Events, ev)
	return out
}

// register sends a registration (first, renewal or reclaim).
func (e *Engine) register(c *client, now time.Time) Output {
	if e.refused != 0 {
		return Output{}
	}
	out := e.sendRequest(c, now, e.cfg.Lifetime, false)
	if c.state.holdsBinding() {
		c.state = Renewing
	} else {
		c.state = Registering
	}
	return out
}

// sendRequest builds a Proxy Registration Request (RFC 5563 §4.1.1 step 3,
// §7) and makes it the client's pending request:
//
//   - D = 0 (§7: always zero; the proxy is the client's foreign agent),
//     T = 1 (RFC 3024: all the client's traffic goes through the home
//     agent, RFC 5563 §4.2.1);
//   - Home Address: the static one, the one the home agent gave, or 0.0.0.0
//     to be assigned one (§4.1.1 step 3, §4.1.2); Care-of Address: this
//     proxy;
//   - Identification: a timestamp (§4.4), new for every transmission;
//   - MN-NAI (RFC 2794), PMIPv4 Device ID (optional, §5.3), then the
//     client's MN-HA authentication (per-MN SA, §4.3);
//   - as the client's foreign agent, after MN-HA: UDP Tunnel Request
//     (RFC 3519 §4.5), Revocation Support (RFC 3543 §3.2), then FA-HA
//     with the proxy's own SA (per-node SA, RFC 5563 §4.3, RFC 5944
//     §3.7.2.2).
//
// No PMIPv4 Per-Node Authentication Method extension is sent: it is for
// requests authenticated by the per-node SA *instead of* MN-HA (§5.1),
// and these carry both.
func (e *Engine) sendRequest(c *client, now time.Time, life uint16, dereg bool) Output {
	e.forgetPending(c)
	c.lifetime, c.dereg = life, dereg
	c.firstSent, c.tries, c.resyncs = now, 0, 0
	c.retransmit = firstRetransmit
	return e.transmit(c, now)
}

// transmit (re)builds the pending request with a new Identification.
func (e *Engine) transmit(c *client, now time.Time) Output {
	e.forgetPending(c)
	c.tries++
	c.nextSend = now.Add(c.retransmit)
	coa := e.cfg.CareOf
	if !coa.IsValid() {
		return Output{} // no uplink address yet; the timer tries again
	}
	hoa := c.hoa
	if !hoa.IsValid() {
		hoa = c.static
	}
	if !hoa.IsValid() {
		hoa = netip.IPv4Unspecified()
	}
	id := c.ids.Next(now)
	for e.byID[uint32(id)] != nil {
		id = c.ids.Next(now) // another client's request has these low bits
	}
	m := wire.RegistrationRequest{Flags: wire.FlagT, Lifetime: c.lifetime, HomeAddr: hoa, HomeAgent: e.cfg.HomeAgent,
		CareOf: coa, ID: id}
	b, err := m.AppendBinary(make([]byte, 0, 160))
	if err != nil {
		return Output{}
	}
	b, _ = (&wire.NAI{NAI: c.nai}).AppendBinary(b)
	if e.cfg.DeviceID {
		b, _ = (&wire.PMIPIdentifier{SubType: wire.PMIPDeviceID, IDType: wire.PMIPDeviceMAC, ID: c.mac[:]}).AppendBinary(b)
	}
	b = auth.Append(b, auth.MNHA, c.sa)
	if !c.dereg {
		if e.cfg.UDPTunnel {
			u := wire.UDPTunnelRequest{Encapsulation: wire.ProtoIPIP}
			if e.cfg.ForceUDP {
				u.Flags |= wire.UDPTunnelReqF
			}
			b, _ = u.AppendBinary(b)
		}
		if e.cfg.Revocation {
			b, _ = (&wire.RevocationSupport{Timestamp: uint32(auth.NTPTime(now) >> 32)}).AppendBinary(b)
		}
	}
	if e.cfg.SA != nil {
		b = auth.Append(b, auth.FAHA, e.cfg.SA)
	}
	c.pending, c.pendingID = b, id
	e.byID[uint32(id)] = c
	e.Counters.Requests.Add(1)
	c.stats.Requests++
	return Output{Send: []Packet{{
		Src:  netip.AddrPortFrom(coa, wire.Port),
		Dst:  netip.AddrPortFrom(e.cfg.HomeAgent, wire.Port),
		Data: b,
	}}}
}

func (e *Engine) forgetPending(c *client) {
	if c.pending != nil && e.byID[uint32(c.pendingID)] == c {
		delete(e.byID, uint32(c.pendingID))
	}
	c.pending = nil
}

func (e *Engine) remove(c *client) {
	e.forgetPending(c)
	if e.clients[c.mac] == c {
		delete(e.clients, c.mac)
		if c.guest {
			e.guests--
		}
	}
}

// binding describes the client for an event.
func (e *Engine) binding(c *client) Binding {
	b := Binding{MAC: c.mac, NAI: c.nai, HomeAddr: c.hoa, HomeAgent: e.cfg.HomeAgent, CareOf: c.coa,
		ReverseTunnel: true, UDP: c.udp, Keepalive: c.keepalive, Revocable: c.revocable}
	if c.state.holdsBinding() {
		b.Lifetime, b.Expires = c.granted, c.expires
	}
	if !b.CareOf.IsValid() {
		b.CareOf = e.cfg.CareOf
	}
	return b
}

func (e *Engine) event(c *client, k EventKind, reason string) Event {
	return Event{Kind: k, Binding: e.binding(c), Code: c.lastCode, Reason: reason}
}

// probe starts (or repeats) a presence check.
func (e *Engine) probe(c *client, now time.Time, start bool) Output {
	if start {
		c.probing = true
		c.probeUntil = now.Add(e.cfg.ProbeTimeout)
	}
	c.nextProbe = now.Add(probeInterval)
	e.Counters.Probes.Add(1)
	c.stats.Probes++
	return Output{Probe: []MAC{c.mac}}
}

// confirm is the step before every re-registration: RFC 5563 §4.4 (an
// integrated PMA MUST confirm the device is still attached before sending
// a request). Evidence younger than the probe timeout counts; otherwise
// the daemon is asked to probe.
func (e *Engine) confirm(c *client, now time.Time) Output {
	c.state = Confirming
	if !c.lastSeen.IsZero() && now.Sub(c.lastSeen) < e.cfg.ProbeTimeout {
		return e.register(c, now)
	}
	return e.probe(c, now, true)
}

// SetCareOf changes the proxy's care-of address (its uplink address moved,
// say by DHCP on the WAN). Bound clients register again from the new one,
// each after confirming it is still attached.
func (e *Engine) SetCareOf(coa netip.Addr, now time.Time) Output {
	if coa == e.cfg.CareOf {
		return Output{}
	}
	e.cfg.CareOf = coa
	return e.Refresh(now)
}

// Refresh re-registers every bound client now (after confirming each is
// attached): the daemon calls it when RFC 3519 keepalives to the home agent
// go unanswered, so the NAT's new mapping is learnt (RFC 3519 §4.10). A
// first registration still in flight is sent again at once.
func (e *Engine) Refresh(now time.Time) Output {
	var out Output
	for _, c := range e.sorted() {
		switch {
		case c.state.holdsBinding():
			out.merge(e.confirm(c, now))
		case c.state == Registering:
			c.retransmit = firstRetransmit
			out.merge(e.transmit(c, now))
		}
	}
	return out
}

// Stop deregisters every client (shutdown).
func (e *Engine) Stop(now time.Time) Output {
	var out Output
	for _, c := range e.sorted() {
		c.probing = false
		if c.state.holdsBinding() || c.state == Registering {
			out.merge(e.deregister(c, "shutdown", now))
		}
	}
	return out
}

// sorted returns the clients in MAC order, so outputs are deterministic.
func (e *Engine) sorted() []*client {
	cs := make([]*client, 0, len(e.clients))
	for _, c := range e.clients {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b *client) int { return slices.Compare(a.mac[:], b.mac[:]) })
	return cs
}

// Tick runs the timers due at now.
func (e *Engine) Tick(now time.Time) Output {
	var out Output
	for _, c := range e.sorted() {
		out.merge(e.tick(c, now))
	}
	return out
}

func (e *Engine) tick(c *client, now time.Time) Output {
	// A binding whose lifetime ran out is gone whatever else is pending.
	if c.state.holdsBinding() && !now.Before(c.expires) {
		ev := e.event(c, ClientReleased, "lifetime expired")
		e.remove(c)
		return Output{Events: []Event{ev}}
	}
	switch c.state {
	case Registering, Renewing, Deregistering:
		if c.state == Registering && !now.Before(c.firstSent.Add(e.cfg.RegistrationTimeout)) {
			e.Counters.Timeouts.Add(1)
			return e.denied(c, 0, "no reply from the home agent", now)
		}
		if now.Before(c.nextSend) {
			return Output{}
		}
		switch {
		case c.state == Deregistering && c.tries >= deregTries:
			e.remove(c) // the binding expires at the home agent
			return Output{}
		}
		e.Counters.Retransmissions.Add(1)
		c.stats.Retransmissions++
		// RFC 5944 §3.6.3: doubling, capped; with timestamps every
		// retransmission is a new request with a new Identification.
		c.retransmit = min(c.retransmit*2, e.cfg.MaxRetransmit)
		return e.transmit(c, now)
	case Bound:
		if !c.renewAt.IsZero() && !now.Before(c.renewAt) {
			return e.confirm(c, now)
		}
	case Confirming, Revoked:
		if !c.probing {
			if c.state == Revoked && !now.Before(c.until) {
				e.remove(c)
			}
			return Output{}
		}
		if !now.Before(c.probeUntil) {
			c.probing = false
			e.Counters.NotAttached.Add(1)
			if c.state == Confirming {
				return e.deregister(c, "not attached", now)
			}
			return Output{} // revoked and gone: the client moved, as it should
		}
		if !now.Before(c.nextProbe) {
			return e.probe(c, now, false)
		}
	case Denied:
		if !now.Before(c.retryAt.Add(denyLinger)) {
			e.remove(c)
		}
	case Quarantined:
		if !now.Before(c.until) {
			e.remove(c)
		}
	}
	return Output{}
}

// NextTimer is when Tick next has work (zero: never).
func (e *Engine) NextTimer() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, c := range e.clients {
		if c.state.holdsBinding() {
			consider(c.expires)
		}
		switch c.state {
		case Registering, Renewing, Deregistering:
			consider(c.nextSend)
			if c.state == Registering {
				consider(c.firstSent.Add(e.cfg.RegistrationTimeout))
			}
		case Bound:
			consider(c.renewAt)
		case Confirming, Revoked:
			if c.probing {
				consider(c.nextProbe)
				consider(c.probeUntil)
			} else if c.state == Revoked {
				consider(c.until)
			}
		case Denied:
			consider(c.retryAt.Add(denyLinger))
		case Quarantined:
			consider(c.until)
		}
	}
	return next
}

// denied ends a registration attempt without a binding.
func (e *Engine) denied(c *client, code wire.Code, reason string, now time.Time) Output {
	var out Output
	if c.state.holdsBinding() {
		out.Events = append(out.Events, e.event(c, ClientReleased, reason))
	}
	e.forgetPending(c)
	c.lastCode = code
	e.Counters.Denials.Add(1)
	c.stats.Denials++
	c.state = Denied
	c.reclaiming = false
	c.probing = false
	c.granted, c.expires, c.renewAt = 0, time.Time{}, time.Time{}
	c.backoff = max(denyFirst, min(c.backoff*2, denyMax))
	c.retryAt = now.Add(c.backoff)
	out.Events = append(out.Events, e.event(c, ClientDenied, reason))
	return out
}

// NumClients is the size of the client table.
func (e *Engine) NumClients() int { return len(e.clients) }

// ClientState returns a client's state (ok false: no entry).
func (e *Engine) ClientState(mac MAC) (State, bool) {
	c := e.clients[mac]
	if c == nil {
		return 0, false
	}
	return c.state, true
}

// ProbeAddr is the address a presence probe of mac asks for: the home
// address it was last bound to, kept after a revocation so that the
// probe that tells a move from a MAC conflict can be sent and its answer
// recognised (false: no such client, or none yet).
func (e *Engine) ProbeAddr(mac MAC) (netip.Addr, bool) {
	c := e.clients[mac]
	if c == nil || !c.hoa.IsValid() || c.hoa.IsUnspecified() {
		return netip.Addr{}, false
	}
	return c.hoa, true
}
