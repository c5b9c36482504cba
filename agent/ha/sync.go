package ha

import (
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/internal/order"
)

// Replication between a redundant pair of home agents (the transport is
// package hasync). The unit replicated is a mobile node's whole state, a
// NodeState: its bindings, its replay state (RFC 5944 §5.7) and its pool
// lease (RFC 2794). A record says "this is the node now", so applying it
// twice, or applying an older and then a newer one, ends in the same
// state; and the peer's expiry of a binding (§3.8.2.2, §4.2.3) needs no
// message of its own, because the standby schedules the same expiry.
//
// Which record wins when both home agents changed a node (a split brain:
// both were active, each took registrations, and they meet again), the
// rule ApplyNode implements:
//
//   - the state whose last accepted Identification is newer wins, the
//     Identifications compared as NTP times (§5.7.1 timestamps), so the
//     node's latest registration or deregistration is what both keep;
//   - for a node whose SA uses nonces (§5.7.2), whose Identifications
//     carry no time, the later acceptance time (Updated) decides;
//   - on a tie the record of the active peer wins over a standby's own
//     (an expiry, or a new nonce after a denial, changes no
//     Identification), and an active home agent keeps its own otherwise;
//   - the replay state is the maximum of both whatever wins, so a failover
//     or a merge never accepts an Identification either side refused
//     (§5.7: replays stay refused with 133).

// NodeState is one mobile node's replicated state.
type NodeState struct {
	// Node is the node's identity: its NAI, or its static home address for
	// a node configured without one (the key of State.Replay).
	Node string
	// Replay is the node's replay state, with the Identification of the
	// last request accepted from it (registration or deregistration) and
	// when (Accepted, Updated).
	Replay ReplayRec
	// Lease is the node's pool assignment, if it has one.
	Lease *PoolLease
	// Bindings are the node's bindings (all with the same home address).
	Bindings []Binding
}

// ErrUnknownNode is returned by ApplyNode for a node this home agent is
// not configured to serve (the peers' configurations differ).
var ErrUnknownNode = errors.New("ha: replicated state of an unconfigured mobile node")

// errBadNode is a record that contradicts the node's configuration.
var errBadNode = errors.New("ha: replicated bindings do not belong to the mobile node")

// TrackChanges makes the engine remember which mobile nodes changed, for
// TakeChanges. Off by default (a home agent without a peer pays nothing).
func (e *Engine) TrackChanges(on bool) {
	if on && e.changed == nil {
		e.changed = map[*mobileNode]struct{}{}
	}
	if !on {
		e.changed = nil
	}
}

func (e *Engine) touch(mn *mobileNode) {
	if e.changed != nil && mn != nil {
		e.changed[mn] = struct{}{}
	}
}

// touchAddr marks the node that owns the bindings of hoa.
func (e *Engine) touchAddr(hoa netip.Addr) {
	if e.changed == nil {
		return
	}
	if mn := e.byAddr[hoa]; mn != nil {
		e.touch(mn)
		return
	}
	if nai, ok := e.pool.owner(hoa); ok {
		e.touch(e.byNAI[nai])
	}
}

// TakeChanges returns the state of every node changed since the last call
// (with TrackChanges on), in no particular order.
func (e *Engine) TakeChanges() []NodeState {
	if len(e.changed) == 0 {
		return nil
	}
	out := make([]NodeState, 0, len(e.changed))
	for mn := range e.changed {
		out = append(out, e.nodeState(mn))
	}
	clear(e.changed)
	return out
}

// Nodes returns the state of every node that has any (bindings, replay
// state, a lease): the snapshot a standby receives first.
func (e *Engine) Nodes() []NodeState {
	var out []NodeState
	for _, mn := range e.mobileNodes() {
		if ns := e.nodeState(mn); ns.Replay != (ReplayRec{}) || ns.Lease != nil || len(ns.Bindings) > 0 {
			out = append(out, ns)
		}
	}
	order.By(out, func(a, b NodeState) int {
		switch {
		case a.Node < b.Node:
			return -1
		case a.Node > b.Node:
			return 1
		}
		return 0
	})
	return out
}

// homeOf is where a node's bindings are: its static home address or its
// lease.
func (e *Engine) homeOf(mn *mobileNode) (netip.Addr, bool) {
	if mn.cfg.HomeAddr.IsValid() {
		return mn.cfg.HomeAddr, true
	}
	if mn.cfg.NAI != "" {
		return e.pool.lookup(mn.cfg.NAI)
	}
	return netip.Addr{}, false
}

func (e *Engine) nodeState(mn *mobileNode) NodeState {
	ns := NodeState{Node: mn.cfg.peer().String(), Replay: ReplayRec{Last: mn.replay.Last, Nonce: mn.replay.Nonce,
		Accepted: mn.lastID, Updated: mn.updated}}
	if mn.cfg.NAI != "" {
		if l, ok := e.pool.byNAI[mn.cfg.NAI]; ok {
			ns.Lease = &PoolLease{NAI: mn.cfg.NAI, Addr: addrU32(l.addr), Released: l.released}
		}
	}
	if hoa, ok := e.homeOf(mn); ok {
		for _, b := range e.bindings[hoa] {
			ns.Bindings = append(ns.Bindings, *b)
		}
	}
	return ns
}

// node finds a configured node by its identity string.
func (e *Engine) node(id string) *mobileNode {
	if a, err := netip.ParseAddr(id); err == nil {
		if mn := e.byAddr[a]; mn != nil && mn.cfg.NAI == "" {
			return mn
		}
		return nil
	}
	return e.byNAI[id]
}

// remoteWins is the merge rule of the package comment.
func (e *Engine) remoteWins(mn *mobileNode, ns *NodeState, peerActive bool, now time.Time) bool {
	if mn.cfg.SAs[0].Replay == auth.Timestamps && mn.lastID != ns.Replay.Accepted {
		switch {
		case ns.Replay.Accepted == 0:
			return false
		case mn.lastID == 0:
			return true
		}
		l, r := auth.NTPToTime(mn.lastID, now), auth.NTPToTime(ns.Replay.Accepted, now)
		if !l.Equal(r) {
			return r.After(l)
		}
	}
	if !mn.updated.Equal(ns.Replay.Updated) {
		return ns.Replay.Updated.After(mn.updated)
	}
	return peerActive
}

// ApplyNode merges a node's state received from the peer (see the merge
// rule above); peerActive says the peer is the active home agent. It
// returns the binding changes for the data plane (which a standby does not
// install) and whether the peer's state won. Bindings already expired at
// now are dropped; the others expire here on their own.
func (e *Engine) ApplyNode(ns NodeState, peerActive bool, now time.Time) ([]Event, bool, error) {
	mn := e.node(ns.Node)
	if mn == nil {
		return nil, false, ErrUnknownNode
	}
	// Check the record before changing anything.
	hoa := mn.cfg.HomeAddr
	if !hoa.IsValid() {
		if ns.Lease != nil {
			hoa = ns.Lease.Addr
		}
		if ns.Lease != nil && (ns.Lease.NAI != mn.cfg.NAI || !e.pool.contains(hoa)) {
			return nil, false, errBadNode
		}
	} else if ns.Lease != nil {
		return nil, false, errBadNode
	}
	for i := range ns.Bindings {
		b := &ns.Bindings[i]
		if !hoa.IsValid() || b.HomeAddr != hoa || b.NAI != mn.cfg.NAI || !b.CareOf.Is4() {
			return nil, false, errBadNode
		}
	}
	// The replay state never goes back, whoever wins (RFC 5944 §5.7).
	win := e.remoteWins(mn, &ns, peerActive, now)
	mn.replay.Last = max(mn.replay.Last, ns.Replay.Last)
	if win || mn.replay.Nonce == 0 {
		if ns.Replay.Nonce != 0 {
			mn.replay.Nonce = ns.Replay.Nonce
		}
	}
	if !win {
		return nil, false, nil
	}
	mn.lastID, mn.updated = ns.Replay.Accepted, ns.Replay.Updated

	var events []Event
	// Bindings at a home address the node no longer holds go first.
	if old, ok := e.homeOf(mn); ok && old != hoa {
		for _, b := range e.bindings[old] {
			events = append(events, Event{Kind: BindingRemoved, Binding: *b, Reason: "replicated"})
		}
		e.setBindings(old, nil, now)
	}
	// The lease.
	if mn.cfg.NAI != "" && !mn.cfg.HomeAddr.IsValid() {
		if ns.Lease == nil {
			if l, ok := e.pool.byNAI[mn.cfg.NAI]; ok {
				delete(e.pool.byAddr, l.addr)
				delete(e.pool.byNAI, mn.cfg.NAI)
			}
		} else {
			a := u32addr(ns.Lease.Addr)
			if other, ok := e.pool.byAddr[a]; ok && other.nai != mn.cfg.NAI {
				// The peer gave this address to our node; whoever held
				// it here loses it (its own record follows).
				if onm := e.byNAI[other.nai]; onm != nil {
					for _, b := range e.bindings[ns.Lease.Addr] {
						events = append(events, Event{Kind: BindingRemoved, Binding: *b, Reason: "replicated"})
					}
					e.count -= len(e.bindings[ns.Lease.Addr])
					delete(e.bindings, ns.Lease.Addr)
				}
				delete(e.pool.byNAI, other.nai)
				delete(e.pool.byAddr, a)
			}
			if l, ok := e.pool.byNAI[mn.cfg.NAI]; ok && l.addr != a {
				delete(e.pool.byAddr, l.addr)
			}
			l := &lease{nai: mn.cfg.NAI, addr: a, released: ns.Lease.Released}
			e.pool.byNAI[mn.cfg.NAI], e.pool.byAddr[a] = l, l
		}
	}
	if !hoa.IsValid() {
		return events, true, nil
	}
	// The bindings: the peer's, minus those already expired.
	existing := e.bindings[hoa]
	var next []*Binding
	for i := range ns.Bindings {
		b := ns.Bindings[i]
		if !b.Infinite() && !now.Before(b.Expires) {
			continue
		}
		next = append(next, &b)
	}
	for _, old := range existing {
		if !slices.ContainsFunc(next, func(b *Binding) bool { return b.CareOf == old.CareOf }) {
			events = append(events, Event{Kind: BindingRemoved, Binding: *old, Reason: "replicated"})
		}
	}
	for _, b := range next {
		i := slices.IndexFunc(existing, func(o *Binding) bool { return o.CareOf == b.CareOf })
		switch {
		case i < 0:
			events = append(events, Event{Kind: BindingAdded, Binding: *b})
		case sameBinding(existing[i], b):
			continue
		case existing[i].Endpoint != b.Endpoint || existing[i].Encap != b.Encap || existing[i].UDP != b.UDP ||
			existing[i].GREKey != b.GREKey || existing[i].ReverseTunnel != b.ReverseTunnel:
			events = append(events, Event{Kind: BindingMoved, Binding: *b})
		default:
			events = append(events, Event{Kind: BindingRenewed, Binding: *b})
		}
		e.schedule(b)
	}
	// setBindings without the pool release: the lease is the peer's.
	e.count += len(next) - len(existing)
	if len(next) > 0 {
		e.bindings[hoa] = next
	} else {
		delete(e.bindings, hoa)
	}
	return events, true, nil
}

// DataPlaneEvents returns a BindingAdded event for every binding held (a
// standby taking over installs them), or BindingRemoved with reason when
// remove is set (an active stepping down takes them out).
func (e *Engine) DataPlaneEvents(remove bool, reason string) []Event {
	bs := e.Bindings()
	evs := make([]Event, 0, len(bs))
	for _, b := range bs {
		if remove {
			evs = append(evs, Event{Kind: BindingRemoved, Binding: b, Reason: reason})
		} else {
			evs = append(evs, Event{Kind: BindingAdded, Binding: b})
		}
	}
	return evs
}

// sameBinding compares two bindings, times by instant (a decoded time has
// no monotonic reading and may have another location).
func sameBinding(a, b *Binding) bool {
	x, y := *a, *b
	if !x.Registered.Equal(y.Registered) || !x.Expires.Equal(y.Expires) {
		return false
	}
	x.Registered, x.Expires, y.Registered, y.Expires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return x == y
}
