package fa

import (
	"net/netip"
	"slices"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/wire"
)

// HandleRequest processes a Registration Request from a mobile node on the
// link: it denies it (a reply to the node) or relays it to its home agent.
func (e *Engine) HandleRequest(r Request, now time.Time) Result {
	e.Counters.Requests.Add(1)
	l, err := wire.ScanRequest(r.Data)
	if err != nil {
		if wire.DispositionOf(err) == wire.ReplyPoorlyFormed {
			return e.deny(r, nil, wire.CodeFAPoorlyFormedRequest, 0, now)
		}
		return e.drop(DropMalformed)
	}
	v := wire.RequestView(r.Data)
	flags := v.Flags()
	colocated := flags&wire.FlagD != 0
	nai := naiOf(v, l)
	hoa := v.HomeAddr()

	// §3.7.2.1: MN-FA when we share an SA with the node.
	mnSA := e.mnSA(hoa, nai)
	if mnSA != nil {
		if l.MNFA < 0 {
			e.Counters.Drops[DropMNAuth].Add(1)
			return e.deny(r, nil, wire.CodeFAMNAuthFailed, 0, now) // SHOULD reply 67
		}
		spi, _ := auth.SPIAt(r.Data, l.MNFA)
		if spi != mnSA.SPI || auth.Verify(r.Data, l.MNFA, mnSA) != nil {
			e.Counters.Drops[DropMNAuth].Add(1)
			return e.deny(r, nil, wire.CodeFAMNAuthFailed, 0, now)
		}
	}
	// A request no home agent could authorise (RFC 5944 §3.8.2.1 a) is
	// not worth relaying.
	if l.AuthEnd < 0 {
		return e.drop(DropNoAuth)
	}
	// RFC 4721 §3.2.
	if !auth.ChallengeCovered(l) {
		return e.drop(DropChallengeUncovered)
	}
	if e.cfg.Challenges && v.Lifetime() != 0 {
		var ch []byte
		if l.Challenge >= 0 {
			ch = extData(r.Data, l.Challenge)
		}
		if code := e.challenges.Check(r.MAC.String(), ch, v.ID(), mnSA != nil); code != wire.CodeAccepted {
			return e.deny(r, mnSA, code, 0, now)
		}
	}
	switch {
	case flags&(wire.Flagr|wire.Flagx) != 0:
		return e.deny(r, mnSA, wire.CodeFAPoorlyFormedRequest, 0, now) // §3.7.2.1
	case flags&wire.FlagT != 0 && r.TTL != 255:
		return e.deny(r, mnSA, wire.CodeFATooDistant, 0, now) // RFC 3024 §4.2.1
	case !colocated && v.Lifetime() != 0 && v.CareOf() != e.cfg.CareOf:
		return e.deny(r, mnSA, wire.CodeFAInvalidCoA, 0, now) // §3.7.2.1
	case slices.Contains(e.cfg.Local, v.HomeAgent()) || v.HomeAgent() == e.cfg.CareOf || v.HomeAgent() == e.cfg.Addr:
		return e.deny(r, mnSA, wire.CodeFAInvalidHAAddr, 0, now) // §3.7.2
	case v.HomeAgent().IsUnspecified() || v.HomeAgent() == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return e.deny(r, mnSA, wire.CodeFANonzeroHARequired, 0, now) // RFC 4433 §7: we cannot resolve an HA
	case v.Lifetime() > e.cfg.MaxLifetime:
		return e.deny(r, mnSA, wire.CodeFALifetimeTooLong, e.cfg.MaxLifetime, now) // §3.7.2.3
	case flags&wire.FlagM != 0, flags&wire.FlagG != 0 && !e.cfg.GRE:
		return e.deny(r, mnSA, wire.CodeFAEncapUnavailable, 0, now)
	case flags&wire.FlagT == 0 && e.cfg.ReverseTunnelRequired:
		return e.deny(r, mnSA, wire.CodeFARevTunMandatory, 0, now) // RFC 3024 §4.2.1, RFC 3519 §4.5
	case flags&wire.FlagT != 0 && !e.cfg.ReverseTunnel:
		return e.deny(r, mnSA, wire.CodeFARevTunUnavailable, 0, now)
	case hasExt(r.Data, wire.ExtDeliveryStyle):
		return e.deny(r, mnSA, wire.CodeFADeliveryStyle, 0, now) // direct delivery only (RFC 3024 §5.1)
	case hoa.IsUnspecified() && nai == "":
		return e.deny(r, mnSA, wire.CodeFAMissingNAI, 0, now) // RFC 2794 §3
	}
	// Capacity (§3.7.1: code 66).
	key := Key{r.MAC, hoa, v.HomeAgent()}
	if _, known := e.visitors[key]; !known && len(e.visitors) >= e.cfg.MaxVisitors && v.Lifetime() != 0 {
		return e.deny(r, mnSA, wire.CodeFAInsufficient, 0, now)
	}
	n := 0
	for _, p := range e.pending {
		if p.req.MAC == r.MAC {
			n++
		}
	}
	if n >= e.cfg.MaxPending {
		return e.deny(r, mnSA, wire.CodeFAInsufficient, 0, now)
	}
	return e.relay(r, l, v, mnSA, nai, colocated, now)
}

// relay builds the request toward the home agent (§3.7.2.2): the node's
// bytes up to its authorization-enabling extension unchanged, the
// extensions the node meant for us removed, ours appended, then FA-HA.
func (e *Engine) relay(r Request, l wire.Layout, v wire.RequestView, mnSA *auth.SA, nai string, colocated bool, now time.Time) Result {
	cut := l.AuthEnd
	// RFC 4721 §3.2: with MN-AAA the challenge and MN-AAA stay.
	if l.MNAAA >= 0 {
		cut = max(cut, l.MNAAA+extLen(r.Data, l.MNAAA))
	}
	out := append(make([]byte, 0, cut+64), r.Data[:cut]...)
	p := &pending{req: r, mnSA: mnSA, hoa: v.HomeAddr(), nai: nai, ha: v.HomeAgent(), id: v.ID(),
		lifetime: v.Lifetime(), flags: v.Flags(), colocated: colocated, sentAt: now}
	if v.Lifetime() != 0 {
		// RFC 3519 §4.5: an agent behind a NAT asks for UDP tunnelling —
		// but never for a co-located registration relayed because of R.
		if e.cfg.BehindNAT && !colocated {
			u := wire.UDPTunnelRequest{Encapsulation: wire.ProtoIPIP}
			out, _ = u.AppendBinary(out)
			p.udpAsked = true
		}
		if e.cfg.Revocation {
			rs := wire.RevocationSupport{Timestamp: uint32(auth.NTPTime(now) >> 32)}
			out, _ = rs.AppendBinary(out)
			p.revAsked = true
		}
		// §3.7.2.2: FA-HA when we share an SA with the home agent (never
		// on a deregistration, §3.5.4).
		if sa, ok := e.sas.First(auth.FAHA, auth.PeerAddr(v.HomeAgent())); ok {
			out = auth.Append(out, auth.FAHA, sa)
		}
	}
	e.pending = append(e.pending, p)
	e.Counters.Relayed.Add(1)
	return Result{Send: []Packet{{
		Src:  netip.AddrPortFrom(e.cfg.CareOf, wire.Port),
		Dst:  netip.AddrPortFrom(v.HomeAgent(), wire.Port),
		Data: out,
	}}}
}

// deny answers a request with a denial (§3.7.2.3): Home Address, Home
// Agent and Identification copied, Lifetime copied (or our maximum for
// 69), MN-FA when we share an SA. At most one denial a second per node.
func (e *Engine) deny(r Request, mnSA *auth.SA, code wire.Code, life uint16, now time.Time) Result {
	if t, ok := e.lastDeny[r.Src]; ok && now.Sub(t) < time.Second {
		return e.drop(DropRateLimited)
	}
	e.lastDeny[r.Src] = now
	if len(e.lastDeny) > 4*e.cfg.MaxVisitors {
		for k, t := range e.lastDeny {
			if now.Sub(t) >= time.Second {
				delete(e.lastDeny, k)
			}
		}
	}
	if len(r.Data) < wire.RequestHeaderLen {
		return e.drop(DropMalformed)
	}
	v := wire.RequestView(r.Data)
	if code != wire.CodeFALifetimeTooLong {
		life = v.Lifetime()
	}
	m := wire.RegistrationReply{Code: code, Lifetime: life, HomeAddr: v.HomeAddr(), HomeAgent: v.HomeAgent(), ID: v.ID()}
	b, err := m.AppendBinary(make([]byte, 0, 64))
	if err != nil {
		return e.drop(DropMalformed)
	}
	if e.cfg.Challenges {
		ch := wire.Challenge{Kind: wire.ExtMNFAChallenge, Challenge: e.challenges.OfferInReply(r.MAC.String())}
		b, _ = ch.AppendBinary(b)
	}
	if mnSA != nil {
		b = auth.Append(b, auth.MNFA, mnSA)
	}
	e.Counters.Denied[code].Add(1)
	return Result{Code: code, Send: []Packet{e.toMN(r, v.HomeAddr(), b)}}
}

// toMN addresses a reply to a mobile node (§3.7.2.3): from the address the
// request was sent to (ours when it went to a multicast address), to the
// home address (the node's source when it has none), to its UDP port and
// link-layer address.
func (e *Engine) toMN(r Request, hoa netip.Addr, b []byte) Packet {
	src := r.Dst
	if !src.IsValid() || src.IsMulticast() || src == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		src = e.cfg.Addr
	}
	dst := hoa
	if !dst.IsValid() || dst.IsUnspecified() {
		dst = r.Src.Addr()
		if dst.IsUnspecified() {
			dst = netip.AddrFrom4([4]byte{255, 255, 255, 255})
		}
	}
	return Packet{Src: netip.AddrPortFrom(src, wire.Port), Dst: netip.AddrPortFrom(dst, r.Src.Port()), MAC: r.MAC, Data: b}
}

func (e *Engine) drop(d Drop) Result {
	e.Counters.Drops[d].Add(1)
	return Result{Drop: d}
}

// mnSA finds an MN-FA SA for the node, by home address or NAI.
func (e *Engine) mnSA(hoa netip.Addr, nai string) *auth.SA {
	if hoa.IsValid() && !hoa.IsUnspecified() {
		if sa, ok := e.sas.First(auth.MNFA, auth.PeerAddr(hoa)); ok {
			return sa
		}
	}
	if nai != "" {
		if sa, ok := e.sas.First(auth.MNFA, auth.PeerNAI(nai)); ok {
			return sa
		}
	}
	return nil
}

// naiOf returns the MN-NAI extension's value before the authorization-
// enabling extension.
func naiOf(v wire.RequestView, l wire.Layout) string {
	s := v.Extensions()
	for s.Next() {
		x := s.Ext()
		if x.Type == wire.ExtMNNAI && (l.AuthEnd < 0 || x.Offset < l.AuthEnd) {
			return string(x.Data())
		}
	}
	return ""
}

func hasExt(msg []byte, t wire.ExtType) bool {
	s := wire.NewExtScanner(msg, wire.RequestHeaderLen, wire.SpaceRegistration)
	for s.Next() {
		if s.Ext().Type == t {
			return true
		}
	}
	return false
}

// extData returns the data of the (already validated) extension at off.
func extData(msg []byte, off int) []byte {
	s := wire.NewExtScanner(msg, off, wire.SpaceRegistration)
	if s.Next() {
		return s.Ext().Data()
	}
	return nil
}

// extLen returns the length of the (already validated) extension at off.
func extLen(msg []byte, off int) int {
	s := wire.NewExtScanner(msg, off, wire.SpaceRegistration)
	if s.Next() {
		return len(s.Ext().Raw)
	}
	return 0
}
