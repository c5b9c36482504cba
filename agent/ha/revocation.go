package ha

import (
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/wire"
)

// Registration revocation toward foreign agents and proxies, RFC 3543
// §4.2.2.1: when a binding that was negotiated with revocation support is
// taken away from a foreign agent (the mobile node moved elsewhere), the HA
// tells that agent with a Registration Revocation message, authenticated
// with the FA-HA SA, and retransmits with exponential backoff until a
// Revocation Acknowledgement arrives, at most once a second, never past the
// revoked binding's lifetime, with a fresh timestamp each time.

const (
	revFirstRetry = time.Second
	revMaxTries   = 5
)

type revKey struct {
	fa, hoa netip.Addr
}

type pendingRev struct {
	hoa, fa  netip.Addr
	dst      netip.AddrPort // the agent's endpoint
	sa       *auth.SA
	id       uint32
	tries    int
	next     time.Time
	deadline time.Time // the revoked binding's expiry
}

type revoker struct {
	pending map[revKey]*pendingRev
	lastID  uint32
}

func newRevoker() *revoker { return &revoker{pending: map[revKey]*pendingRev{}} }

// revokeFor returns the revocation to send when old is replaced by b.
func (e *Engine) revokeFor(old, b *Binding, now time.Time) []Packet {
	if !e.cfg.Revocation || !old.Revocable || !old.FA.IsValid() || old.FA == b.FA {
		return nil
	}
	sa := e.faSA(old.FA)
	if sa == nil {
		return nil
	}
	dst := old.FAEndpoint
	if !dst.IsValid() {
		dst = netip.AddrPortFrom(old.FA, wire.Port)
	}
	p := &pendingRev{hoa: old.HomeAddr, fa: old.FA, dst: dst, sa: sa, deadline: old.Expires}
	e.revoke.pending[revKey{old.FA, old.HomeAddr}] = p
	e.Counters.Revocations.Add(1)
	return []Packet{e.sendRevocation(p, now)}
}

// faSA returns an FA-HA SA shared with the agent at a.
func (e *Engine) faSA(a netip.Addr) *auth.SA {
	sa, _ := e.sas.First(auth.FAHA, auth.PeerAddr(a))
	return sa
}

// sendRevocation (re)builds the message with a current identifier.
func (e *Engine) sendRevocation(p *pendingRev, now time.Time) Packet {
	id := uint32(auth.NTPTime(now) >> 32)
	if id <= e.revoke.lastID {
		id = e.revoke.lastID + 1 // identifiers never repeat or go back
	}
	e.revoke.lastID = id
	p.id = id
	p.tries++
	p.next = now.Add(revFirstRetry << (p.tries - 1))
	m := wire.Revocation{Flags: wire.RevocationA, HomeAddr: p.hoa, HomeDomain: e.cfg.Addr, ForeignDomain: p.fa, ID: id}
	b, _ := m.AppendBinary(make([]byte, 0, wire.RevocationHeaderLen+22))
	b = auth.Append(b, auth.FAHA, p.sa)
	return Packet{
		Src:  netip.AddrPortFrom(e.cfg.Addr, wire.Port),
		Dst:  p.dst,
		Data: b,
	}
}

// RevocationsDue returns the revocations to retransmit at now and forgets
// the ones that ran out of tries or past their binding's lifetime.
func (e *Engine) RevocationsDue(now time.Time) []Packet {
	var out []Packet
	for k, p := range e.revoke.pending {
		if now.Before(p.next) {
			continue
		}
		if p.tries >= revMaxTries || !now.Before(p.deadline) {
			delete(e.revoke.pending, k)
			continue
		}
		out = append(out, e.sendRevocation(p, now))
	}
	return out
}

// HandleRevocationAck processes a Revocation Acknowledgement: it must be
// authenticated by the FA-HA SA of its sender and match the home address
// and identifier of a revocation in flight (RFC 3543 §3.5). It reports
// whether the acknowledgement was accepted.
func (e *Engine) HandleRevocationAck(p Packet) bool {
	e.Counters.Received.Add(1)
	l, err := wire.ScanRevocationAck(p.Data)
	if err != nil || l.FAHA < 0 {
		e.Counters.Drops[DropMalformed].Add(1)
		return false
	}
	from := p.Src.Addr()
	hoa := netip.AddrFrom4([4]byte(p.Data[4:8]))
	id := uint32(p.Data[8])<<24 | uint32(p.Data[9])<<16 | uint32(p.Data[10])<<8 | uint32(p.Data[11])
	var key revKey
	var pr *pendingRev
	for k, c := range e.revoke.pending {
		if k.hoa == hoa && (k.fa == from || c.dst.Addr() == from) && c.id == id {
			key, pr = k, c
		}
	}
	if pr == nil || auth.Verify(p.Data, l.FAHA, pr.sa) != nil {
		e.Counters.Drops[DropNoSA].Add(1)
		return false
	}
	delete(e.revoke.pending, key)
	e.Counters.RevAcks.Add(1)
	return true
}

// PendingRevocations is the number of revocations awaiting an
// acknowledgement.
func (e *Engine) PendingRevocations() int { return len(e.revoke.pending) }

// nextRevocation is the earliest retransmission time, or zero.
func (e *Engine) nextRevocation() time.Time {
	var next time.Time
	for _, p := range e.revoke.pending {
		if next.IsZero() || p.next.Before(next) {
			next = p.next
		}
	}
	return next
}
