package dataplane

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/mip4d/mip4d/agent/encap"
	"github.com/mip4d/mip4d/agent/ha"
)

// The binding table is read by every packet goroutine without a lock and
// written by one goroutine (the daemon's engine, through HA.Apply). It is
// copy-on-write per shard: a change copies the one shard map it touches
// and publishes it with an atomic pointer store, so a change costs
// O(bindings/numShards) and readers never wait. Renewals, the bulk of
// registrations, change nothing here.
const (
	shardBits = 8
	numShards = 1 << shardBits
)

type homeShard map[netip.Addr][]*route   // by home address: the forward path
type epShard map[netip.AddrPort][]*route // by endpoint: the reverse path

type bindingKey struct{ home, careOf netip.Addr }

type table struct {
	home [numShards]atomic.Pointer[homeShard]
	ep   [numShards]atomic.Pointer[epShard]

	mu  sync.Mutex // serialises writers (there should be one)
	all map[bindingKey]*route
	n   atomic.Int64
}

func newTable() *table { return &table{all: map[bindingKey]*route{}} }

// fib is 2^32 / φ: Fibonacci hashing spreads consecutive addresses (a
// home address pool) over the shards.
const fib = 0x9e3779b1

func homeShardOf(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:]) * fib >> (32 - shardBits)
}

func epShardOf(ap netip.AddrPort) uint32 {
	b := ap.Addr().As4()
	return (binary.BigEndian.Uint32(b[:]) ^ uint32(ap.Port())<<16) * fib >> (32 - shardBits)
}

// lookupHome returns the routes of home address a (nil if none).
func (t *table) lookupHome(a netip.Addr) []*route {
	if !a.Is4() {
		return nil
	}
	m := t.home[homeShardOf(a)].Load()
	if m == nil {
		return nil
	}
	return (*m)[a]
}

// lookupEndpoint returns the routes whose endpoint is ap: several when
// mobile nodes share a foreign agent's care-of address, or a NAT address
// with RFC 3519 (then the port tells them apart).
func (t *table) lookupEndpoint(ap netip.AddrPort) []*route {
	if !ap.Addr().Is4() {
		return nil
	}
	m := t.ep[epShardOf(ap)].Load()
	if m == nil {
		return nil
	}
	return (*m)[ap]
}

// careOfAt returns a UDP route whose endpoint is ep and whose registered
// care-of address is coa: a foreign agent behind a NAT speaking for its
// visitors (nil if none).
func (t *table) careOfAt(ep netip.AddrPort, coa netip.Addr) *route {
	for _, r := range t.lookupEndpoint(ep) {
		if r.careOf == coa && r.kind == kindUDP {
			return r
		}
	}
	return nil
}

// reverse applies RFC 3024 §4.3.2 to a tunnelled datagram received from
// outer source ep (port 0 for raw sockets) with encapsulation next (4 or
// 47; gre is its GRE header when next is 47) and inner source src: there
// must be a binding whose endpoint is ep and whose home address is src,
// and the packet must use the encapsulation that binding negotiated
// (RFC 3519 §3.3 for the Next Header, RFC 6245 for the GRE key).
func (t *table) reverse(ep netip.AddrPort, udp bool, next uint8, gre *encap.GREHeader, src netip.Addr) (*route, Drop) {
	rs := t.lookupEndpoint(ep)
	if len(rs) == 0 {
		if len(t.lookupHome(src)) != 0 {
			return nil, DropOuterSourceMismatch
		}
		return nil, DropNoBinding
	}
	var r *route
	for _, x := range rs {
		if x.home == src {
			r = x
			break
		}
	}
	switch {
	case r == nil:
		return nil, DropInnerSourceMismatch
	case (r.kind == kindUDP) != udp, !udp && r.next != next, r.unsupported:
		return nil, DropWrongEncapsulation
	case udp && r.next != next:
		return nil, DropWrongNextHeader
	case next == protoGRE && (gre.KeyPresent != r.hasKey || gre.KeyPresent && gre.Key != r.key):
		return nil, DropGREKeyMismatch
	}
	return r, DropNone
}

// apply changes the table for one binding event. BindingRenewed changes
// nothing unless the tunnel differs (or the binding is unknown, as after
// a restart); BindingMoved replaces the binding with the same (home
// address, care-of address); BindingRemoved deletes it.
func (t *table) apply(ev ha.Event, mk func(*ha.Binding) (*route, error)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := &ev.Binding
	key := bindingKey{b.HomeAddr, b.CareOf}
	old := t.all[key]
	if ev.Kind == ha.BindingRemoved {
		if old != nil {
			delete(t.all, key)
			t.n.Add(-1)
			t.unlink(old)
		}
		return nil
	}
	r, err := mk(b)
	if err != nil {
		return err
	}
	if old != nil {
		if old.same(r) {
			return nil
		}
		t.unlink(old)
	} else {
		t.n.Add(1)
	}
	t.all[key] = r
	t.link(r)
	return nil
}

func (t *table) link(r *route) {
	t.editHome(r.home, func(rs []*route) []*route { return append(rs[:len(rs):len(rs)], r) })
	t.editEndpoint(r.ep, func(rs []*route) []*route { return append(rs[:len(rs):len(rs)], r) })
}

func (t *table) unlink(r *route) {
	t.editHome(r.home, func(rs []*route) []*route { return without(rs, r) })
	t.editEndpoint(r.ep, func(rs []*route) []*route { return without(rs, r) })
}

// without returns a new slice of rs without r (rs itself may be read
// concurrently and is never modified).
func without(rs []*route, r *route) []*route {
	out := make([]*route, 0, len(rs))
	for _, x := range rs {
		if x != r {
			out = append(out, x)
		}
	}
	return out
}

func (t *table) editHome(a netip.Addr, f func([]*route) []*route) {
	p := &t.home[homeShardOf(a)]
	var n homeShard
	if old := p.Load(); old != nil {
		n = make(homeShard, len(*old)+1)
		for k, v := range *old {
			n[k] = v
		}
	} else {
		n = homeShard{}
	}
	if rs := f(n[a]); len(rs) > 0 {
		n[a] = rs
	} else {
		delete(n, a)
	}
	p.Store(&n)
}

func (t *table) editEndpoint(ap netip.AddrPort, f func([]*route) []*route) {
	p := &t.ep[epShardOf(ap)]
	var n epShard
	if old := p.Load(); old != nil {
		n = make(epShard, len(*old)+1)
		for k, v := range *old {
			n[k] = v
		}
	} else {
		n = epShard{}
	}
	if rs := f(n[ap]); len(rs) > 0 {
		n[ap] = rs
	} else {
		delete(n, ap)
	}
	p.Store(&n)
}

// checkBinding rejects bindings the plane cannot index.
func checkBinding(b *ha.Binding) error {
	switch {
	case !b.HomeAddr.Is4():
		return fmt.Errorf("dataplane: binding home address %v is not IPv4", b.HomeAddr)
	case !b.Endpoint.Addr().Is4():
		return fmt.Errorf("dataplane: binding endpoint %v of %v is not IPv4", b.Endpoint, b.HomeAddr)
	case b.UDP && b.Endpoint.Port() == 0:
		return fmt.Errorf("dataplane: UDP binding of %v has no endpoint port", b.HomeAddr)
	}
	return nil
}
