package ha

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// pool assigns home addresses by NAI (RFC 2794 §2; RFC 5944 §3.8.3.2: the
// HA selects a home address when the request's is zero). Assignments are
// sticky: an NAI keeps its address while bound and for hold afterwards,
// and gets the same one back whenever it is still free.
type pool struct {
	first, last uint32
	hold        time.Duration
	byNAI       map[string]*lease
	byAddr      map[uint32]*lease
	cursor      uint32
	// reclaimed is told of an NAI whose held address went to another.
	reclaimed func(nai string)
}

type lease struct {
	nai  string
	addr uint32
	// released is when the last binding went away; zero while bound.
	released time.Time
}

func newPool(r PoolRange, hold time.Duration) *pool {
	p := &pool{hold: hold, byNAI: map[string]*lease{}, byAddr: map[uint32]*lease{}}
	if r.First.IsValid() {
		p.first, p.last = u32addr(r.First), u32addr(r.Last)
		p.cursor = p.first
	}
	return p
}

func u32addr(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

func addrU32(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func (p *pool) enabled() bool { return p.first != 0 }

// contains reports whether a is in the pool's range.
func (p *pool) contains(a netip.Addr) bool {
	v := u32addr(a)
	return p.enabled() && v >= p.first && v <= p.last
}

// owner returns the NAI that holds a, if any.
func (p *pool) owner(a netip.Addr) (string, bool) {
	l, ok := p.byAddr[u32addr(a)]
	if !ok {
		return "", false
	}
	return l.nai, true
}

// lookup returns nai's current assignment without creating one.
func (p *pool) lookup(nai string) (netip.Addr, bool) {
	l, ok := p.byNAI[nai]
	if !ok {
		return netip.Addr{}, false
	}
	return addrU32(l.addr), true
}

// acquire returns nai's address, assigning a free one if it has none. It
// fails only when every address is bound or held for another NAI.
func (p *pool) acquire(nai string, now time.Time) (netip.Addr, bool) {
	if l, ok := p.byNAI[nai]; ok {
		l.released = time.Time{}
		return addrU32(l.addr), true
	}
	if !p.enabled() {
		return netip.Addr{}, false
	}
	n := p.last - p.first + 1
	for i := uint32(0); i < n; i++ {
		v := p.cursor
		if p.cursor++; p.cursor > p.last {
			p.cursor = p.first
		}
		if l, ok := p.byAddr[v]; ok {
			if l.released.IsZero() || now.Sub(l.released) < p.hold {
				continue
			}
			delete(p.byNAI, l.nai) // the hold ran out: reclaim
			if p.reclaimed != nil {
				p.reclaimed(l.nai)
			}
		}
		l := &lease{nai: nai, addr: v}
		p.byNAI[nai], p.byAddr[v] = l, l
		return addrU32(v), true
	}
	return netip.Addr{}, false
}

// restore re-creates an assignment read from the state file.
func (p *pool) restore(nai string, a netip.Addr, released time.Time) {
	if !p.contains(a) {
		return
	}
	l := &lease{nai: nai, addr: u32addr(a), released: released}
	p.byNAI[nai], p.byAddr[l.addr] = l, l
}

// release starts nai's hold period.
func (p *pool) release(nai string, now time.Time) {
	if l, ok := p.byNAI[nai]; ok {
		l.released = now
	}
}

// size is the number of addresses in the pool; used is how many are bound
// or held.
func (p *pool) size() int {
	if !p.enabled() {
		return 0
	}
	return int(p.last - p.first + 1)
}
func (p *pool) used() int { return len(p.byAddr) }
