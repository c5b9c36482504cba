package proxy

import (
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/wire"
)

// HandleReply processes a Proxy Registration Reply (RFC 5563 §4.1.1 step
// 4) received from src. It must answer a pending request (the low 32 bits
// of the Identification, RFC 5944 §3.6.2.1), come from the home agent,
// carry the client's valid MN-HA authenticator, echo the client's NAI
// (RFC 2794 §3), and — when it grants a lifetime and the proxy has an SA
// with the home agent — a valid FA-HA authenticator (RFC 5944 §3.7.3.1).
// Anything else is dropped and counted, and changes nothing.
func (e *Engine) HandleReply(src netip.AddrPort, b []byte, now time.Time) Output {
	l, err := wire.ScanReply(b)
	if err != nil {
		return e.badReply()
	}
	v := wire.ReplyView(b)
	c := e.byID[uint32(v.ID())]
	switch {
	case c == nil || c.pending == nil || !auth.MatchReply(c.pendingID, v.ID()):
		return e.badReply()
	case src.IsValid() && src.Addr() != e.cfg.HomeAgent:
		return e.badReply()
	case l.MNHA < 0 || auth.Verify(b, l.MNHA, c.sa) != nil:
		return e.badReply()
	case replyNAI(b, l) != c.nai:
		return e.badReply()
	}
	code := v.Code()
	if e.cfg.SA != nil && code.Accepted() && v.Lifetime() != 0 {
		if l.FAHA < 0 || auth.Verify(b, l.FAHA, e.cfg.SA) != nil {
			return e.badReply()
		}
	}
	if c.ids.Learn(c.pendingID, v.ID(), code == wire.CodeHAIDMismatch, now) != nil {
		return e.badReply()
	}
	e.Counters.Replies[code].Add(1)
	c.lastCode, c.replied = code, true
	switch {
	case c.dereg:
		if code == wire.CodeHAIDMismatch && c.resyncs < maxResyncs {
			c.resyncs++
			return e.transmit(c, now)
		}
		e.remove(c) // deregistered, or refused: the binding expires there
		return Output{}
	case code.Accepted():
		return e.accepted(c, v, l, b, now)
	case code == wire.CodeHAIDMismatch:
		// RFC 5944 §3.6.2.3, RFC 5563 §4.4: the home agent's clock is
		// now learnt; send a new request at once. Another proxy may have
		// registered this NAI within the same tick of that clock: after
		// a couple of immediate tries the retransmission timer goes on
		// (with a later timestamp) until the registration timeout.
		if c.resyncs < maxResyncs {
			c.resyncs++
			return e.transmit(c, now)
		}
		return Output{}
	case code == wire.CodeHAPMIPUnsupported || code == wire.CodeHAPMIPDisallowed:
		// RFC 5563 §8.1: SHOULD NOT retry with this home agent.
		e.refused = code
	}
	return e.denied(c, code, "denied: "+code.String(), now)
}

func (e *Engine) badReply() Output {
	e.Counters.BadReplies.Add(1)
	return Output{}
}

// replyNAI returns the MN-NAI before MN-HA ("" if none). A home agent
// that got an NAI must echo it (RFC 2794 §3); ours always sends one.
func replyNAI(b []byte, l wire.Layout) string {
	s := wire.ReplyView(b).Extensions()
	for s.Next() {
		x := s.Ext()
		if x.Type == wire.ExtMNNAI && x.Offset < l.MNHA {
			return string(x.Data())
		}
	}
	return ""
}

// accepted applies a granted registration: the home address the home
// agent gave (RFC 5563 §4.1.1 step 4), the lifetime (the smaller of asked
// and granted, RFC 5944 §3.6.2.2), and the agent-side answers after MN-HA:
// RFC 3519 UDP Tunnel Reply with its keepalive interval, RFC 3543
// Revocation Support with the home agent's timestamp.
func (e *Engine) accepted(c *client, v wire.ReplyView, l wire.Layout, b []byte, now time.Time) Output {
	hoa := v.HomeAddr()
	life := min(v.Lifetime(), c.lifetime)
	if !hoa.Is4() || hoa.IsUnspecified() || life == 0 {
		return e.denied(c, v.Code(), "accepted without a home address or lifetime", now)
	}
	udp, ka, revocable, stamp := false, time.Duration(0), false, uint32(0)
	s := v.Extensions()
	for s.Next() {
		x := s.Ext()
		if x.Offset < l.MNHA {
			continue
		}
		d := x.Data()
		switch x.Type {
		case wire.ExtUDPTunnelReply:
			if e.cfg.UDPTunnel && d[0] < 64 { // assent, RFC 3519 §3.2
				udp = true
				ka = time.Duration(uint16(d[3])<<8|uint16(d[4])) * time.Second
			}
		case wire.ExtRevocationSupport:
			revocable = e.cfg.Revocation
			stamp = uint32(d[2])<<24 | uint32(d[3])<<16 | uint32(d[4])<<8 | uint32(d[5])
		}
	}
	changed := !c.state.holdsBinding() || c.hoa != hoa || c.udp != udp || c.keepalive != ka || c.coa != e.cfg.CareOf
	e.forgetPending(c)
	if !c.state.holdsBinding() {
		c.boundAt = now
		if !c.reclaiming {
			c.heldSince = now
		}
		c.reclaiming = false
	}
	c.state = Bound
	c.hoa, c.udp, c.keepalive, c.revocable, c.revStamp = hoa, udp, ka, revocable, stamp
	c.coa = e.cfg.CareOf
	c.granted = life
	c.expires = now.Add(time.Duration(life) * time.Second)
	// Renew at three quarters of the lifetime, leaving a quarter for the
	// presence check and retransmissions.
	c.renewAt = now.Add(time.Duration(life) * time.Second * 3 / 4)
	if life == wire.InfiniteLife {
		c.renewAt = time.Time{}
		c.expires = now.Add(100 * 365 * 24 * time.Hour)
	}
	c.backoff = 0
	e.Counters.Registrations.Add(1)
	c.stats.Registrations++
	kind := ClientRenewed
	if changed {
		kind = ClientBound
	}
	return Output{Events: []Event{e.event(c, kind, "")}}
}
