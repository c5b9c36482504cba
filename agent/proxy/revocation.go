package proxy

import (
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/wire"
)

// HandleRevocation processes a Registration Revocation from src (RFC 3543
// §4.2.2.2, the foreign agent's part, which the proxy plays: RFC 5563
// §4.1.4). It is accepted only when
//
//   - it carries a valid FA-HA authenticator of the proxy's SA (§3.3),
//   - the A bit says a home agent sent it (no reflection, §3.5), from the
//     home agent and naming it as Home Domain Address,
//   - its Revocation Identifier is newer than the last one accepted from
//     the home agent (§3.5),
//   - it names a binding this proxy holds with revocation negotiated,
//     granted no later than the revocation (§4.2.2.2), for this proxy's
//     care-of address (or, behind a NAT, any: the home agent may know the
//     proxy by its NAT's address).
//
// The client's binding is then removed (a ClientRevoked event), a
// Revocation Acknowledgement goes back to the source (I bit 0: the proxy
// never offered the I bit), and the client is probed: gone is the normal
// move; still here is a MAC conflict (package doc). A retransmitted
// revocation of a binding already revoked is acknowledged again.
func (e *Engine) HandleRevocation(src netip.AddrPort, b []byte, now time.Time) Output {
	if e.cfg.SA == nil {
		return e.badRevocation()
	}
	l, err := wire.ScanRevocation(b)
	if err != nil || l.FAHA < 0 {
		return e.badRevocation()
	}
	var m wire.Revocation
	if m.UnmarshalBinary(b) != nil || !m.ByHomeAgent() {
		return e.badRevocation()
	}
	if src.Addr() != e.cfg.HomeAgent || m.HomeDomain != e.cfg.HomeAgent {
		return e.badRevocation()
	}
	if spi, _ := auth.SPIAt(b, l.FAHA); spi != e.cfg.SA.SPI || auth.Verify(b, l.FAHA, e.cfg.SA) != nil {
		return e.badRevocation()
	}
	if e.haveRevID && m.ID <= e.lastRevID {
		return e.badRevocation() // a replay
	}
	var c *client
	for _, x := range e.clients {
		if x.hoa != m.HomeAddr || !x.revocable {
			continue
		}
		if x.state == Revoked || x.state.holdsBinding() && x.revStamp <= m.ID &&
			(m.ForeignDomain == x.coa || x.udp) {
			c = x
			break
		}
	}
	if c == nil {
		return e.badRevocation()
	}
	e.lastRevID, e.haveRevID = m.ID, true
	ack := wire.RevocationAck{HomeAddr: m.HomeAddr, ID: m.ID}
	data, _ := ack.AppendBinary(make([]byte, 0, wire.RevocationAckHeaderLen+2+wire.AuthSPILen+auth.AuthenticatorLen))
	data = auth.Append(data, auth.FAHA, e.cfg.SA)
	out := Output{Send: []Packet{{Src: netip.AddrPortFrom(e.cfg.CareOf, wire.Port), Dst: src, Data: data}}}
	if c.state == Revoked {
		return out // a retransmission: acknowledged again, nothing else
	}
	e.Counters.Revocations.Add(1)
	c.stats.Revocations++
	out.Events = append(out.Events, e.event(c, ClientRevoked, "revoked by the home agent"))
	e.forgetPending(c)
	c.tenure = now.Sub(c.heldSince)
	c.state = Revoked
	c.revokedAt = now
	c.until = now.Add(revokeLinger)
	c.granted, c.expires, c.renewAt = 0, time.Time{}, time.Time{}
	out.merge(e.probe(c, now, true))
	return out
}

func (e *Engine) badRevocation() Output {
	e.Counters.BadRevocations.Add(1)
	return Output{}
}

// conflict applies the MAC-conflict rule to a revoked client that proved
// it is still attached here (package doc): an incumbent — here at least
// ConflictWindow before the revocation, its tenure kept across reclaims —
// registers again and takes the binding back, at most MaxReclaims times
// within a Quarantine period; a newcomer, or an incumbent past that
// budget, yields: the MAC is quarantined.
func (e *Engine) conflict(c *client, now time.Time) Output {
	e.Counters.Conflicts.Add(1)
	c.stats.Conflicts++
	if c.reclaimFrom.IsZero() || now.Sub(c.reclaimFrom) >= e.cfg.Quarantine {
		c.reclaims, c.reclaimFrom = 0, now
	}
	if c.tenure >= e.cfg.ConflictWindow && c.reclaims < e.cfg.MaxReclaims {
		c.reclaims++
		e.Counters.Reclaims.Add(1)
		out := Output{Events: []Event{e.event(c, ClientConflict, "reclaim")}}
		out.merge(e.register(c, now))
		c.reclaiming = true
		return out
	}
	e.Counters.Quarantines.Add(1)
	c.state = Quarantined
	c.until = now.Add(e.cfg.Quarantine)
	return Output{Events: []Event{e.event(c, ClientConflict, "quarantine")}}
}
