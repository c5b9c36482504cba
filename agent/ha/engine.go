package ha

import (
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/internal/order"
	"github.com/mip4d/mip4d/agent/wire"
)

// Packet is a registration message with the addresses it travelled with.
type Packet struct {
	Src, Dst netip.AddrPort // IP and UDP addresses
	Data     []byte
}

// Result is what Handle decided about one request.
type Result struct {
	// Reply to send from UDP port 434, or nil if the request was silently
	// discarded (Drop says why).
	Reply *Packet
	// Code is the reply code (meaningless when Reply is nil).
	Code wire.Code
	Drop Drop
	// Events are binding changes to apply to the data plane, in order.
	Events []Event
	// Revocations are RFC 3543 messages to send to foreign agents whose
	// bindings this request moved away.
	Revocations []Packet
}

// Engine is a home agent. It is not safe for concurrent use: one goroutine
// owns it and the counters may be read from others.
type Engine struct {
	cfg      Config
	sas      *auth.Store
	byNAI    map[string]*mobileNode
	byAddr   map[netip.Addr]*mobileNode // static home addresses
	bindings map[netip.Addr][]*Binding  // by home address
	pool     *pool
	rand     io.Reader
	revoke   *revoker
	expiries expiries
	count    int // bindings held, all home addresses together
	// changed are the nodes whose state changed since TakeChanges, when
	// TrackChanges is on (replication to a standby); nil otherwise.
	changed  map[*mobileNode]struct{}
	Counters Counters
}

type mobileNode struct {
	cfg    MobileNode
	replay auth.ReplayState
	// lastID and updated are the Identification and time of the last
	// accepted request (the split-brain merge rule, sync.go).
	lastID  uint64
	updated time.Time
}

// New returns an engine for cfg. sas must hold the FA-HA associations with
// foreign agents (peer = the FA's address); AddMobileNode adds the MN-HA
// ones. rand is the source for nonces and revocation identifiers (nil:
// crypto/rand).
func New(cfg Config, sas *auth.Store, rand io.Reader) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sas == nil {
		sas = auth.NewStore()
	}
	e := &Engine{
		cfg: cfg, sas: sas, rand: rand,
		byNAI: map[string]*mobileNode{}, byAddr: map[netip.Addr]*mobileNode{},
		bindings: map[netip.Addr][]*Binding{},
		pool:     newPool(cfg.Pool, time.Duration(cfg.PoolHold)*time.Second),
		revoke:   newRevoker(),
	}
	e.pool.reclaimed = func(nai string) { e.touch(e.byNAI[nai]) }
	return e, nil
}

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// AddMobileNode authorises a mobile node and installs its SAs.
func (e *Engine) AddMobileNode(m MobileNode) error {
	if err := m.Validate(&e.cfg); err != nil {
		return err
	}
	if m.NAI != "" {
		if _, dup := e.byNAI[m.NAI]; dup {
			return errors.New("ha: mobile node " + m.NAI + " configured twice")
		}
	}
	if m.HomeAddr.IsValid() {
		if _, dup := e.byAddr[m.HomeAddr]; dup {
			return errors.New("ha: home address " + m.HomeAddr.String() + " configured twice")
		}
		if e.pool.contains(m.HomeAddr) {
			return errors.New("ha: static home address " + m.HomeAddr.String() + " is inside the pool")
		}
	}
	mn := &mobileNode{cfg: m}
	if m.NAI != "" {
		e.byNAI[m.NAI] = mn
	}
	if m.HomeAddr.IsValid() {
		e.byAddr[m.HomeAddr] = mn
	}
	for _, sa := range m.SAs {
		e.sas.Add(auth.MNHA, m.peer(), sa)
	}
	return nil
}

// reqInfo is what the checks learn about a request on the way.
type reqInfo struct {
	pkt    Packet
	now    time.Time
	v      wire.RequestView
	layout wire.Layout
	mn     *mobileNode
	sa     *auth.SA   // the MN-HA SA that verified the request
	faSA   *auth.SA   // FA-HA SA with the sender, if any
	faPeer netip.Addr // the relaying agent's identity: its source, or its care-of address behind a NAT
	nai    string
	// extensions of interest
	udpReq     *wire.UDPTunnelRequest
	udpReqByFA bool // placed after MN-HA (RFC 3519 §4.5)
	revSupport bool // Revocation Support from the FA (after MN-HA)
	greKey     *wire.GREKey
	challenge  []byte // MN-FA Challenge to echo (RFC 4721 §3.4)
}

// Handle processes one Registration Request received at now.
func (e *Engine) Handle(p Packet, now time.Time) Result {
	e.Counters.Received.Add(1)
	r := &reqInfo{pkt: p, now: now, v: wire.RequestView(p.Data)}
	var err error
	r.layout, err = wire.ScanRequest(p.Data)
	if errors.Is(err, wire.ErrWrongType) {
		return e.drop(DropNotRequest)
	}
	if err != nil {
		if wire.DispositionOf(err) == wire.ReplyPoorlyFormed {
			// The fixed part is intact; answer 134 if we can authenticate
			// the reply to a node we know by its home address.
			if mn := e.byAddr[r.v.HomeAddr()]; mn != nil {
				r.mn, r.sa = mn, mn.cfg.SAs[0]
				return e.deny(r, wire.CodeHAPoorlyFormedRequest)
			}
		}
		return e.drop(DropMalformed)
	}
	if !auth.ChallengeCovered(r.layout) {
		return e.drop(DropChallengeUncovered)
	}
	if r.layout.MNHA < 0 {
		return e.drop(DropNoAuth) // §3.8.2.1 a: silently discard
	}
	if d := e.readExtensions(r); d != DropNone {
		return e.drop(d)
	}
	// Who is it? The NAI if present, else the home address.
	if r.nai != "" {
		r.mn = e.byNAI[r.nai]
	} else {
		r.mn = e.byAddr[r.v.HomeAddr()]
		if r.mn == nil {
			if nai, ok := e.pool.owner(r.v.HomeAddr()); ok {
				r.mn = e.byNAI[nai]
			}
		}
	}
	if r.mn == nil {
		return e.drop(DropUnknownMN)
	}
	// §3.8.2.1 a: the MN-HA authenticator.
	spi, _ := auth.SPIAt(p.Data, r.layout.MNHA)
	peer := r.mn.cfg.peer()
	sa, ok := e.sas.Lookup(auth.MNHA, peer, spi)
	if !ok {
		// An SPI we do not know for a node we do know: that is an
		// authentication failure, answered with an SA it likely has.
		r.sa = r.mn.cfg.SAs[0]
		return e.deny(r, wire.CodeHAMNAuthFailed)
	}
	r.sa = sa
	if auth.Verify(p.Data, r.layout.MNHA, sa) != nil {
		return e.deny(r, wire.CodeHAMNAuthFailed)
	}
	// §3.8.2.1 c–d: FA-HA. The SA is found by the request's source
	// (§3.5.4); for a foreign agent behind a NAT (RFC 3519 §4.5) the source
	// is the NAT's, so the care-of address the agent offers names it
	// instead — its key still has to verify.
	src := p.Src.Addr()
	if !e.sas.Has(auth.FAHA, auth.PeerAddr(src)) && r.v.Flags()&wire.FlagD == 0 && e.sas.Has(auth.FAHA, auth.PeerAddr(r.v.CareOf())) {
		src = r.v.CareOf()
	}
	r.faPeer = src
	hasFASA := e.sas.Has(auth.FAHA, auth.PeerAddr(src))
	switch {
	case r.layout.FAHA >= 0 && !hasFASA:
		return e.drop(DropUnexpectedFAHA)
	case hasFASA && r.v.Lifetime() != 0:
		if r.layout.FAHA < 0 {
			return e.deny(r, wire.CodeHAFAAuthFailed)
		}
		fspi, _ := auth.SPIAt(p.Data, r.layout.FAHA)
		fsa, ok := e.sas.Lookup(auth.FAHA, auth.PeerAddr(src), fspi)
		if !ok || auth.Verify(p.Data, r.layout.FAHA, fsa) != nil {
			return e.deny(r, wire.CodeHAFAAuthFailed)
		}
		r.faSA = fsa
	case hasFASA && r.layout.FAHA >= 0:
		// A deregistration may carry FA-HA; check it when it does.
		fspi, _ := auth.SPIAt(p.Data, r.layout.FAHA)
		if fsa, ok := e.sas.Lookup(auth.FAHA, auth.PeerAddr(src), fspi); ok && auth.Verify(p.Data, r.layout.FAHA, fsa) == nil {
			r.faSA = fsa
		}
	}
	// A retransmission of the request we accepted last (§3.8.2.2,
	// duplicates): answer it again without extending the lifetime.
	if b := e.duplicate(r); b != nil {
		return e.accept(r, b, nil)
	}
	// §3.8.2.1 b / §5.7: Identification.
	if !r.mn.replay.Check(sa, r.v.ID(), now) {
		return e.deny(r, wire.CodeHAIDMismatch)
	}
	return e.decide(r)
}

// readExtensions picks out the extensions the HA acts on.
func (e *Engine) readExtensions(r *reqInfo) Drop {
	s := r.v.Extensions()
	for s.Next() {
		x := s.Ext()
		afterMNHA := x.Offset > r.layout.MNHA
		switch x.Type {
		case wire.ExtMNNAI:
			if !afterMNHA && r.nai == "" {
				r.nai = string(x.Data())
			}
		case wire.ExtUDPTunnelRequest:
			var u wire.UDPTunnelRequest
			d := x.Data()
			u = wire.UDPTunnelRequest{SubType: x.SubType(), Reserved1: d[0], Flags: d[1], Encapsulation: d[2],
				Reserved3: uint16(d[3])<<8 | uint16(d[4])}
			r.udpReq, r.udpReqByFA = &u, afterMNHA
		case wire.ExtRevocationSupport:
			r.revSupport = afterMNHA || r.revSupport
		case wire.ExtGREKey:
			d := x.Data()
			r.greKey = &wire.GREKey{SubType: x.SubType(), Key: uint32(d[0])<<24 | uint32(d[1])<<16 | uint32(d[2])<<8 | uint32(d[3])}
		case wire.ExtMNFAChallenge:
			r.challenge = x.Data()
		}
	}
	return DropNone
}

// duplicate returns the binding a retransmitted request was accepted into:
// same home address, care-of address and Identification.
func (e *Engine) duplicate(r *reqInfo) *Binding {
	if r.v.Lifetime() == 0 {
		return nil
	}
	hoa := r.v.HomeAddr()
	if !hoa.IsUnspecified() {
		for _, b := range e.bindings[hoa] {
			if b.CareOf == r.v.CareOf() && b.ID == r.v.ID() {
				return b
			}
		}
	}
	return nil
}

// decide applies the content checks and, if they pass, the binding update
// of §3.8.2.2.
func (e *Engine) decide(r *reqInfo) Result {
	v := r.v
	flags := v.Flags()
	// §3.8.2.3: reserved bits.
	if flags&(wire.Flagr|wire.Flagx) != 0 {
		return e.deny(r, wire.CodeHAPoorlyFormedRequest)
	}
	// §3.8.3.2: the Home Agent field must be ours.
	if v.HomeAgent() != e.cfg.Addr {
		return e.deny(r, wire.CodeHAUnknownHA)
	}
	// Home address: the node's own, or one from the pool by NAI.
	hoa := v.HomeAddr()
	switch {
	case hoa.IsUnspecified():
		if r.mn.cfg.HomeAddr.IsValid() {
			hoa = r.mn.cfg.HomeAddr
		} else if v.Lifetime() == 0 {
			a, ok := e.pool.lookup(r.mn.cfg.NAI)
			if !ok {
				return e.deny(r, wire.CodeHAProhibited)
			}
			hoa = a
		} else {
			a, ok := e.pool.acquire(r.mn.cfg.NAI, r.now)
			if !ok {
				return e.deny(r, wire.CodeHAInsufficient)
			}
			hoa = a
			e.touch(r.mn)
		}
	case r.mn.cfg.HomeAddr.IsValid():
		if hoa != r.mn.cfg.HomeAddr {
			return e.deny(r, wire.CodeHAProhibited)
		}
	default:
		if a, ok := e.pool.lookup(r.mn.cfg.NAI); !ok || a != hoa {
			return e.deny(r, wire.CodeHAProhibited)
		}
	}
	r.pkt.Data = nil // nothing below reads the bytes again
	if v.Lifetime() == 0 {
		return e.deregister(r, hoa)
	}

	b := &Binding{HomeAddr: hoa, CareOf: v.CareOf(), NAI: r.mn.cfg.NAI, ReverseTunnel: flags&wire.FlagT != 0,
		ID: v.ID(), Registered: r.now}
	// Encapsulation (RFC 5944 §3.3, RFC 3024 §3.4 code 139).
	switch {
	case flags&wire.FlagM != 0 && flags&wire.FlagG != 0:
		return e.deny(r, wire.CodeHAEncapUnavailable)
	case flags&wire.FlagG != 0:
		if !e.cfg.GRE {
			return e.deny(r, wire.CodeHAEncapUnavailable)
		}
		b.Encap = EncapGRE
	case flags&wire.FlagM != 0:
		if !e.cfg.MinimalEncap {
			return e.deny(r, wire.CodeHAEncapUnavailable)
		}
		b.Encap = EncapMinimal
	}
	if r.greKey != nil {
		if !e.cfg.GRE {
			return e.deny(r, wire.CodeHAEncapUnavailable) // RFC 6245 §4.2
		}
		b.GREKey, b.HasGREKey = r.greKey.Key, true
	}
	// Reverse tunnelling (RFC 3024 §3.4).
	if e.cfg.ReverseTunnelRequired && !b.ReverseTunnel {
		return e.deny(r, wire.CodeHARevTunMandatory)
	}
	// NAT traversal (RFC 3519 §4.6).
	b.Endpoint = netip.AddrPortFrom(v.CareOf(), 0)
	src := r.pkt.Src
	colocated := flags&wire.FlagD != 0
	if !colocated {
		b.FA, b.FAEndpoint = r.faPeer, src
		b.Revocable = r.revSupport && e.cfg.Revocation
	}
	natSeen := src.Addr() != v.CareOf()
	if u := r.udpReq; u != nil {
		switch {
		case u.Reserved3 != 0,
			!r.udpReqByFA && !colocated,
			r.udpReqByFA && colocated:
			return e.deny(r, wire.CodeHAPoorlyFormedRequest) // RFC 3519 §4.6.1
		}
		if u.Encapsulation != 0 {
			switch u.Encapsulation {
			case wire.ProtoIPIP:
				b.Encap = EncapIPIP
			case wire.ProtoGRE:
				if !e.cfg.GRE {
					return e.deny(r, wire.CodeHAUDPEncapUnavailable)
				}
				b.Encap = EncapGRE
			case wire.ProtoMinEnc:
				if !e.cfg.MinimalEncap {
					return e.deny(r, wire.CodeHAUDPEncapUnavailable)
				}
				b.Encap = EncapMinimal
			default:
				return e.deny(r, wire.CodeHAUDPEncapUnavailable)
			}
		}
		switch {
		case natSeen && !e.cfg.NATTraversal:
			return e.deny(r, wire.CodeHAProhibited)
		case !natSeen && u.Force() && !e.cfg.AllowForce:
			return e.deny(r, wire.CodeHAProhibited)
		case natSeen || u.Force():
			b.UDP = true
			b.Endpoint = src
		}
	}
	// Lifetime (§3.8.3.2): never more than asked, never more than policy.
	b.Lifetime = min(v.Lifetime(), e.cfg.MaxLifetime)
	b.Expires = r.now.Add(time.Duration(b.Lifetime) * time.Second)

	// §3.8.2.2: add the binding; drop the others unless S (and supported).
	existing := e.bindings[hoa]
	keep := flags&wire.FlagS != 0 && e.cfg.MaxBindings > 1
	var events []Event
	var revs []Packet
	replaced := -1
	for i, old := range existing {
		if old.CareOf == b.CareOf {
			replaced = i
		}
	}
	if keep && replaced < 0 && len(existing) >= e.cfg.MaxBindings {
		return e.deny(r, wire.CodeHATooManyBindings)
	}
	r.mn.replay.Accept(r.sa, v.ID())
	r.mn.lastID, r.mn.updated = v.ID(), r.now
	e.touch(r.mn)
	var next []*Binding
	for i, old := range existing {
		switch {
		case i == replaced:
			kind := BindingRenewed
			if old.Endpoint != b.Endpoint || old.Encap != b.Encap || old.UDP != b.UDP || old.GREKey != b.GREKey || old.ReverseTunnel != b.ReverseTunnel {
				kind = BindingMoved
			}
			events = append(events, Event{Kind: kind, Binding: *b})
		case keep:
			next = append(next, old)
		default:
			events = append(events, Event{Kind: BindingRemoved, Binding: *old, Reason: "replaced"})
			revs = append(revs, e.revokeFor(old, b, r.now)...)
		}
	}
	next = append(next, b)
	if replaced < 0 {
		events = append(events, Event{Kind: BindingAdded, Binding: *b})
	}
	e.setBindings(hoa, next, r.now)
	e.schedule(b)
	e.Counters.Accepted.Add(1)
	res := e.accept(r, b, events)
	res.Revocations = revs
	return res
}

// deregister handles Lifetime 0 (§3.8.2.2): CoA = HoA removes every
// binding of the node, otherwise only the one with that care-of address.
func (e *Engine) deregister(r *reqInfo, hoa netip.Addr) Result {
	coa := r.v.CareOf()
	var events []Event
	var keep []*Binding
	for _, b := range e.bindings[hoa] {
		if coa == hoa || coa == b.CareOf {
			events = append(events, Event{Kind: BindingRemoved, Binding: *b, Reason: "deregistered"})
		} else {
			keep = append(keep, b)
		}
	}
	e.setBindings(hoa, keep, r.now)
	r.mn.replay.Accept(r.sa, r.v.ID())
	r.mn.lastID, r.mn.updated = r.v.ID(), r.now
	e.touch(r.mn)
	e.Counters.Deregistered.Add(1)
	res := e.reply(r, wire.CodeAccepted, hoa, 0, nil)
	res.Events = events
	return res
}

// setBindings stores a node's bindings, releasing a pool address when the
// last one goes.
func (e *Engine) setBindings(hoa netip.Addr, bs []*Binding, now time.Time) {
	e.count += len(bs) - len(e.bindings[hoa])
	if len(bs) > 0 {
		e.bindings[hoa] = bs
		return
	}
	delete(e.bindings, hoa)
	if nai, ok := e.pool.owner(hoa); ok {
		e.pool.release(nai, now)
	}
}

func (e *Engine) drop(d Drop) Result {
	e.Counters.Drops[d].Add(1)
	return Result{Drop: d}
}

// deny builds a denial. For 133 the Identification carries the
// resynchronisation value of §5.7.
func (e *Engine) deny(r *reqInfo, code wire.Code) Result {
	hoa := r.v.HomeAddr()
	if hoa.IsUnspecified() && r.mn != nil && r.mn.cfg.HomeAddr.IsValid() {
		hoa = r.mn.cfg.HomeAddr
	}
	return e.reply(r, code, hoa, 0, nil)
}

// accept builds the reply for an accepted request (or its retransmission).
func (e *Engine) accept(r *reqInfo, b *Binding, events []Event) Result {
	code := wire.CodeAccepted
	if r.v.Flags()&wire.FlagS != 0 && e.cfg.MaxBindings == 1 {
		code = wire.CodeAcceptedNoSimult
	}
	res := e.reply(r, code, b.HomeAddr, b.Remaining(r.now), b)
	res.Events = events
	return res
}

// reply encodes and signs a Registration Reply (§3.8.3).
func (e *Engine) reply(r *reqInfo, code wire.Code, hoa netip.Addr, lifetime uint16, b *Binding) Result {
	v := r.v
	id := v.ID()
	if r.mn != nil && r.sa != nil {
		nonce := r.mn.replay.Nonce
		id = r.mn.replay.ReplyID(r.sa, v.ID(), code != wire.CodeHAIDMismatch, r.now, e.rand)
		if r.mn.replay.Nonce != nonce {
			e.touch(r.mn) // §5.7.2: the next request must carry the new nonce
		}
	}
	ha := v.HomeAgent()
	if ha != e.cfg.Addr {
		ha = e.cfg.Addr // §3.8.3.2: our unicast address, and code 136
	}
	m := wire.RegistrationReply{Code: code, Lifetime: lifetime, HomeAddr: hoa, HomeAgent: ha, ID: id}
	if !code.Accepted() {
		m.Lifetime = 0
	}
	// (b) extensions for the mobile node.
	if r.nai != "" {
		m.Extensions = append(m.Extensions, &wire.NAI{NAI: r.nai}) // RFC 2794 §3
	}
	if b != nil && r.udpReq != nil && !r.udpReqByFA {
		m.Extensions = append(m.Extensions, e.udpReply(b, r))
	}
	if code.Accepted() && e.trusted(r.pkt.Src.Addr()) {
		m.Extensions = append(m.Extensions, &wire.TrustedNetworks{})
	}
	out := make([]byte, 0, 128)
	out, err := m.AppendBinary(out)
	if err != nil {
		// Only an invalid address could get here; nothing sane to send.
		return e.drop(DropMalformed)
	}
	// (c) MN-HA.
	sa := r.sa
	if sa == nil {
		sa = r.mn.cfg.SAs[0]
	}
	out = auth.Append(out, auth.MNHA, sa)
	// (d) extensions for the foreign agent, then (e) FA-HA.
	var fa []wire.Extension
	if b != nil && r.udpReq != nil && r.udpReqByFA {
		fa = append(fa, e.udpReply(b, r))
	}
	if b != nil && b.Revocable {
		fa = append(fa, &wire.RevocationSupport{Timestamp: uint32(auth.NTPTime(r.now) >> 32)})
	}
	if b != nil && b.HasGREKey {
		fa = append(fa, &wire.GREKey{Key: b.GREKey})
	}
	if r.challenge != nil {
		fa = append(fa, &wire.Challenge{Kind: wire.ExtMNFAChallenge, Challenge: r.challenge})
	}
	for _, x := range fa {
		out, _ = x.AppendBinary(out)
	}
	if r.faSA != nil {
		out = auth.Append(out, auth.FAHA, r.faSA)
	}
	e.Counters.Replies[code].Add(1)
	src := r.pkt.Dst.Addr()
	if !src.IsValid() || src.IsMulticast() || src == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || src.IsUnspecified() {
		src = e.cfg.Addr // §3.8.3.1
	}
	return Result{Code: code, Reply: &Packet{
		Src:  netip.AddrPortFrom(src, r.pkt.Dst.Port()),
		Dst:  r.pkt.Src,
		Data: out,
	}}
}

func (e *Engine) udpReply(b *Binding, r *reqInfo) *wire.UDPTunnelReply {
	rep := &wire.UDPTunnelReply{Code: wire.UDPTunnelDeclined, Keepalive: e.cfg.Keepalive}
	if b.UDP {
		rep.Code = wire.UDPTunnelWillTunnel
		if r.udpReq.Force() && r.pkt.Src.Addr() == r.v.CareOf() {
			rep.Flags = wire.UDPTunnelReplyF
		}
	}
	return rep
}

func (e *Engine) trusted(a netip.Addr) bool {
	for _, p := range e.cfg.TrustedNetworks {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// NumBindings is the number of bindings held.
func (e *Engine) NumBindings() int { return e.count }

// Bindings returns copies of all bindings, sorted by home address.
func (e *Engine) Bindings() []Binding {
	var out []Binding
	for _, bs := range e.bindings {
		for _, b := range bs {
			out = append(out, *b)
		}
	}
	order.By(out, func(a, b Binding) int {
		if c := a.HomeAddr.Compare(b.HomeAddr); c != 0 {
			return c
		}
		return a.CareOf.Compare(b.CareOf)
	})
	return out
}

// Lookup returns the bindings of a home address.
func (e *Engine) Lookup(hoa netip.Addr) []Binding {
	var out []Binding
	for _, b := range e.bindings[hoa] {
		out = append(out, *b)
	}
	return out
}

// PoolUsage is the pool's size and how many addresses are bound or held.
func (e *Engine) PoolUsage() (size, used int) { return e.pool.size(), e.pool.used() }
