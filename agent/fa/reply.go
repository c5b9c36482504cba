package fa

import (
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/wire"
)

// HandleReply processes a Registration Reply from a home agent (§3.7.3):
// it must match a pending request (home address or NAI, and the low 32
// bits of the Identification) and, when this agent shares an SA with the
// home agent, carry exactly one valid FA-HA extension. It is relayed to
// the mobile node without the extensions meant for this agent, and the
// visitor list follows its code.
func (e *Engine) HandleReply(src netip.AddrPort, b []byte, now time.Time) Result {
	e.Counters.Replies.Add(1)
	l, err := wire.ScanReply(b)
	if err != nil {
		return e.drop(DropMalformed)
	}
	v := wire.ReplyView(b)
	idx := e.match(v, l, b)
	if idx < 0 {
		return e.drop(DropNoPending)
	}
	p := e.pending[idx]
	code := v.Code()
	// §3.7.3.1: FA-HA of the reply (required when the lifetime is not 0).
	if sa, ok := e.sas.First(auth.FAHA, auth.PeerAddr(p.ha)); ok && v.Lifetime() != 0 {
		if l.FAHA < 0 || auth.Verify(b, l.FAHA, sa) != nil {
			e.Counters.Drops[DropHAAuth].Add(1)
			e.removePending(idx)
			return e.denyPending(p, wire.CodeFAHAAuthFailed, now) // MUST reject, SHOULD say 68
		}
	}
	// RFC 2794 §3: the reply must echo the NAI and name the HA and HoA.
	// (An accepted reply names the home agent the request did — match
	// requires it — and requests with none are refused with 80, so 98,
	// missing home agent, cannot arise here.)
	if code.Accepted() {
		switch {
		case p.nai != "" && naiOfReply(b, l) != p.nai:
			e.removePending(idx)
			return e.denyPending(p, wire.CodeFAMissingNAI, now)
		case v.HomeAddr().IsUnspecified():
			e.removePending(idx)
			return e.denyPending(p, wire.CodeFAMissingHoA, now)
		}
	}
	e.removePending(idx)
	// §3.7.3.2: keep everything up to MN-HA; drop what follows (ours).
	cut := len(b)
	if l.MNHA >= 0 {
		cut = l.MNHA + extLen(b, l.MNHA)
	}
	out := append(make([]byte, 0, cut+64), b[:cut]...)
	if e.cfg.Challenges {
		ch := wire.Challenge{Kind: wire.ExtMNFAChallenge, Challenge: e.challenges.OfferInReply(p.req.MAC.String())}
		out, _ = ch.AppendBinary(out)
	}
	if p.mnSA != nil {
		out = auth.Append(out, auth.MNFA, p.mnSA)
	}
	e.Counters.Relayed2MN[code].Add(1)
	res := Result{Send: []Packet{e.toMN(p.req, v.HomeAddr(), out)}}
	res.Events = e.updateVisitor(p, v, l, b, now)
	return res
}

// match finds the pending request a reply answers.
func (e *Engine) match(v wire.ReplyView, l wire.Layout, b []byte) int {
	nai := ""
	for i, p := range e.pending {
		if uint32(p.id) != uint32(v.ID()) || p.ha != v.HomeAgent() && !v.Code().ByHomeAgent() {
			continue
		}
		if p.hoa == v.HomeAddr() {
			return i
		}
		if p.hoa.IsUnspecified() {
			if nai == "" {
				nai = naiOfReply(b, l)
			}
			if nai == p.nai {
				return i
			}
		}
	}
	return -1
}

func (e *Engine) removePending(i int) {
	e.pending = append(e.pending[:i], e.pending[i+1:]...)
}

// denyPending sends the node a denial of its relayed request.
func (e *Engine) denyPending(p *pending, code wire.Code, now time.Time) Result {
	delete(e.lastDeny, p.req.Src) // this denial is not rate limited: it answers a relayed request
	return e.deny(p.req, p.mnSA, code, 0, now)
}

// updateVisitor applies a relayed reply to the visitor list (§3.7.3.2).
func (e *Engine) updateVisitor(p *pending, v wire.ReplyView, l wire.Layout, b []byte, now time.Time) []Event {
	code := v.Code()
	key := Key{p.req.MAC, p.hoa, p.ha}
	if p.hoa.IsUnspecified() {
		key.HomeAddr = v.HomeAddr()
	}
	old := e.visitors[key]
	switch {
	case !code.Accepted():
		return nil // a denial: the existing entry stays as it was
	case v.Lifetime() == 0 || p.lifetime == 0:
		if old == nil {
			return nil
		}
		delete(e.visitors, key)
		e.challenges.Forget(p.req.MAC.String())
		return []Event{{Kind: VisitorRemoved, Visitor: *old, Reason: "deregistered"}}
	}
	life := min(v.Lifetime(), e.cfg.MaxLifetime)
	nv := &Visitor{MAC: p.req.MAC, HomeAddr: key.HomeAddr, HomeAgent: p.ha, NAI: p.nai, Src: p.req.Src,
		Colocated: p.colocated, ReverseTunnel: p.flags&wire.FlagT != 0, GRE: p.flags&wire.FlagG != 0,
		ID: p.id, Lifetime: life, Since: now, Expires: now.Add(time.Duration(life) * time.Second)}
	if old != nil {
		nv.Since = old.Since
	}
	// The home agent's answers meant for us sit after MN-HA.
	s := wire.ReplyView(b).Extensions()
	for s.Next() {
		x := s.Ext()
		if x.Offset < l.MNHA {
			continue
		}
		switch x.Type {
		case wire.ExtUDPTunnelReply:
			d := x.Data()
			if p.udpAsked && d[0] < 64 {
				nv.UDP = true
				nv.Keepalive = time.Duration(uint16(d[3])<<8|uint16(d[4])) * time.Second
			}
		case wire.ExtRevocationSupport:
			d := x.Data()
			nv.Revocable = p.revAsked
			nv.RevStamp = uint32(d[2])<<24 | uint32(d[3])<<16 | uint32(d[4])<<8 | uint32(d[5])
		}
	}
	e.visitors[key] = nv
	kind := VisitorAdded
	if old != nil {
		kind = VisitorUpdated
	}
	return []Event{{Kind: kind, Visitor: *nv}}
}

func naiOfReply(b []byte, l wire.Layout) string {
	s := wire.ReplyView(b).Extensions()
	for s.Next() {
		x := s.Ext()
		if x.Type == wire.ExtMNNAI && (l.MNHA < 0 || x.Offset < l.MNHA) {
			return string(x.Data())
		}
	}
	return ""
}

// Expire removes visitors whose lifetime ran out and pending requests
// that waited too long; a node whose request timed out is told 78
// (§3.7.1).
func (e *Engine) Expire(now time.Time) Result {
	var res Result
	for k, v := range e.visitors {
		if !now.Before(v.Expires) {
			delete(e.visitors, k)
			e.Counters.Expired.Add(1)
			res.Events = append(res.Events, Event{Kind: VisitorRemoved, Visitor: *v, Reason: "expired"})
		}
	}
	keep := e.pending[:0]
	for _, p := range e.pending {
		if now.Sub(p.sentAt) < e.cfg.PendingTimeout {
			keep = append(keep, p)
			continue
		}
		o := e.denyPending(p, wire.CodeFATimeout, now)
		res.Send = append(res.Send, o.Send...)
	}
	e.pending = keep
	return res
}

// NextTimer is when Expire next has work (zero: never).
func (e *Engine) NextTimer() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, v := range e.visitors {
		consider(v.Expires)
	}
	for _, p := range e.pending {
		consider(p.sentAt.Add(e.cfg.PendingTimeout))
	}
	return next
}

// HandleRevocation processes a Registration Revocation from a home agent
// (RFC 3543 §4.2.2.2): authenticated with the FA-HA SA, sent by a home
// agent (A), newer than the last one from it, for a binding this agent
// holds. The visitor is removed and an acknowledgement sent.
func (e *Engine) HandleRevocation(src netip.AddrPort, b []byte, now time.Time) Result {
	l, err := wire.ScanRevocation(b)
	if err != nil || l.FAHA < 0 {
		return e.drop(DropMalformed)
	}
	var m wire.Revocation
	if m.UnmarshalBinary(b) != nil || !m.ByHomeAgent() || m.HomeDomain.IsUnspecified() {
		return e.drop(DropRevocation)
	}
	ha := src.Addr()
	sa, ok := e.sas.First(auth.FAHA, auth.PeerAddr(ha))
	if !ok || auth.Verify(b, l.FAHA, sa) != nil || m.HomeDomain != ha {
		return e.drop(DropRevocation)
	}
	if last, seen := e.revIDs[ha]; seen && m.ID <= last {
		return e.drop(DropRevocation) // a replay (§3.5)
	}
	var found *Visitor
	for k, v := range e.visitors {
		if v.HomeAddr == m.HomeAddr && v.HomeAgent == ha && v.Revocable && v.RevStamp <= m.ID {
			found = v
			delete(e.visitors, k)
		}
	}
	if found == nil {
		return e.drop(DropRevocation)
	}
	e.revIDs[ha] = m.ID
	e.Counters.Revocations.Add(1)
	ack := wire.RevocationAck{HomeAddr: m.HomeAddr, ID: m.ID}
	out, _ := ack.AppendBinary(make([]byte, 0, 40))
	out = auth.Append(out, auth.FAHA, sa)
	return Result{
		Send:   []Packet{{Src: netip.AddrPortFrom(e.cfg.CareOf, wire.Port), Dst: src, Data: out}},
		Events: []Event{{Kind: VisitorRemoved, Visitor: *found, Reason: "revoked"}},
	}
}
