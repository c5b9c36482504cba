package ha

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/wire"
)

// replicate applies every change of from to to, as a standby would.
func replicate(t *testing.T, from, to *Engine, peerActive bool, now time.Time) []Event {
	t.Helper()
	var evs []Event
	for _, ns := range from.TakeChanges() {
		e, _, err := to.ApplyNode(ns, peerActive, now)
		if err != nil {
			t.Fatalf("apply %s: %v", ns.Node, err)
		}
		evs = append(evs, e...)
	}
	return evs
}

func sameBindings(t *testing.T, a, b *Engine) {
	t.Helper()
	x, y := a.Bindings(), b.Bindings()
	if len(x) != len(y) {
		t.Fatalf("bindings differ:\n%+v\n%+v", x, y)
	}
	for i := range x {
		if !sameBinding(&x[i], &y[i]) {
			t.Fatalf("binding %d differs:\n%+v\n%+v", i, x[i], y[i])
		}
	}
}

// TestReplicateToStandby: what the active accepts, the standby holds, with
// the replay state, so after a failover an old Identification is refused
// with 133 (RFC 5944 §5.7) and the binding expires on the standby by itself.
func TestReplicateToStandby(t *testing.T) {
	act, sby := newEngine(t, nil), newEngine(t, nil)
	act.TrackChanges(true)
	r := colocated()
	r.id = auth.NTPTime(t0)
	checkReply(t, act.Handle(r.packet(t), t0), mn1SA, wire.CodeAccepted)
	evs := replicate(t, act, sby, true, t0)
	if len(evs) != 1 || evs[0].Kind != BindingAdded || evs[0].Binding.CareOf != coa1 {
		t.Fatalf("standby events %+v", evs)
	}
	sameBindings(t, act, sby)
	if act.TakeChanges() != nil {
		t.Fatal("changes taken twice")
	}
	// A retransmission on the standby after failover is still recognised.
	res := sby.Handle(r.packet(t), t0.Add(time.Second))
	checkReply(t, res, mn1SA, wire.CodeAccepted)
	if len(res.Events) != 0 {
		t.Fatalf("a retransmission changed the binding: %+v", res.Events)
	}
	// An older Identification than the active accepted: 133.
	old := colocated()
	old.id = auth.NTPTime(t0.Add(-2 * time.Second))
	checkReply(t, sby.Handle(old.packet(t), t0.Add(time.Second)), mn1SA, wire.CodeHAIDMismatch)
	// Expiry on the standby's own clock.
	if evs := sby.Expire(t0.Add(600 * time.Second)); len(evs) != 1 || evs[0].Reason != "expired" {
		t.Fatalf("standby expiry %+v", evs)
	}
	// A deregistration on the active removes it on the standby.
	sby2 := newEngine(t, nil)
	for _, ns := range act.Nodes() {
		if _, _, err := sby2.ApplyNode(ns, true, t0); err != nil {
			t.Fatal(err)
		}
	}
	sameBindings(t, act, sby2)
	d := colocated()
	d.life, d.coa, d.id = 0, mn1HoA, auth.NTPTime(t0.Add(3*time.Second))
	checkReply(t, act.Handle(d.packet(t), t0.Add(3*time.Second)), mn1SA, wire.CodeAccepted)
	evs = replicate(t, act, sby2, true, t0.Add(3*time.Second))
	if len(evs) != 1 || evs[0].Kind != BindingRemoved || sby2.NumBindings() != 0 {
		t.Fatalf("deregistration on the standby: %+v", evs)
	}
}

// TestReplicatePoolAndNonce: a pool lease and a nonce (RFC 5944 §5.7.2)
// travel too.
func TestReplicatePoolAndNonce(t *testing.T) {
	act, sby := newEngine(t, nil), newEngine(t, nil)
	act.TrackChanges(true)
	r := req{flags: wire.FlagD, life: 300, hoa: netip.IPv4Unspecified(), nai: "laptop@corp", sa: poolSA}
	checkReply(t, act.Handle(r.packet(t), t0), poolSA, wire.CodeAccepted)
	replicate(t, act, sby, true, t0)
	sameBindings(t, act, sby)
	if _, used := sby.PoolUsage(); used != 1 {
		t.Fatalf("standby pool used %d", used)
	}
	// The node's state keeps the lease after its binding expires: the
	// standby's own expiry starts the hold, and the same NAI gets the same
	// address on the standby.
	sby.Expire(t0.Add(301 * time.Second))
	if a, ok := sby.pool.lookup("laptop@corp"); !ok || a != act.Bindings()[0].HomeAddr {
		t.Fatalf("standby lease %v %v", a, ok)
	}

	// Nonces: a denied first request draws a nonce; the standby must ask
	// for the same one.
	n := req{flags: wire.FlagD, life: 300, hoa: netip.MustParseAddr("10.10.0.6"), sa: mn2SA}
	m := checkReply(t, act.Handle(n.packet(t), t0), mn2SA, wire.CodeHAIDMismatch)
	replicate(t, act, sby, true, t0)
	n.id = m.ID&^0xffffffff | 77
	checkReply(t, sby.Handle(n.packet(t), t0), mn2SA, wire.CodeAccepted)
}

// TestSplitBrainMerge: both home agents were active and took registrations
// of the same node; when they meet, each applies the other's snapshot, and
// both keep the state of the newer accepted Identification (compared as
// NTP time) and the higher replay state.
func TestSplitBrainMerge(t *testing.T) {
	a, b := newEngine(t, nil), newEngine(t, nil)
	ra := colocated()
	ra.id = auth.NTPTime(t0)
	checkReply(t, a.Handle(ra.packet(t), t0), mn1SA, wire.CodeAccepted)
	rb := colocated()
	rb.coa, rb.id = coa2, auth.NTPTime(t0.Add(5*time.Second))
	rb.src = netip.AddrPortFrom(coa2, 49152)
	checkReply(t, b.Handle(rb.packet(t), t0.Add(5*time.Second)), mn1SA, wire.CodeAccepted)
	// A node only one side knows (a pool laptop registered on a).
	rp := req{flags: wire.FlagD, life: 300, hoa: netip.IPv4Unspecified(), nai: "laptop@corp", sa: poolSA}
	checkReply(t, a.Handle(rp.packet(t), t0), poolSA, wire.CodeAccepted)

	now := t0.Add(6 * time.Second)
	na, nb := a.Nodes(), b.Nodes()
	for _, ns := range nb {
		if _, _, err := a.ApplyNode(ns, true, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range na {
		if _, _, err := b.ApplyNode(ns, true, now); err != nil {
			t.Fatal(err)
		}
	}
	sameBindings(t, a, b)
	if got := a.Lookup(mn1HoA); len(got) != 1 || got[0].CareOf != coa2 {
		t.Fatalf("merged binding %+v, want the newer registration's care-of %v", got, coa2)
	}
	for _, e := range []*Engine{a, b} {
		if e.byNAI["mn1@example.net"].replay.Last != rb.id {
			t.Fatal("replay state is not the maximum of both")
		}
		// Neither accepts the older side's Identification again.
		checkReply(t, e.Handle(ra.packet(t), now), mn1SA, wire.CodeHAIDMismatch)
	}
	// A newer deregistration beats an older registration.
	d := colocated()
	d.life, d.coa, d.id = 0, mn1HoA, auth.NTPTime(t0.Add(7*time.Second))
	checkReply(t, a.Handle(d.packet(t), t0.Add(7*time.Second)), mn1SA, wire.CodeAccepted)
	for _, ns := range a.Nodes() {
		b.ApplyNode(ns, false, t0.Add(8*time.Second))
	}
	if b.NumBindings() != 1 || len(b.Lookup(mn1HoA)) != 0 {
		t.Fatalf("the newer deregistration did not win: %+v", b.Bindings())
	}
	// And an older state from the peer does not undo it, active or not.
	for _, ns := range nb {
		if _, won, _ := b.ApplyNode(ns, true, t0.Add(8*time.Second)); won && ns.Node == "mn1@example.net" {
			t.Fatal("an older registration won over a newer deregistration")
		}
	}
}

// TestApplyNodeRefuses: records that do not fit the configuration change
// nothing.
func TestApplyNodeRefuses(t *testing.T) {
	e := newEngine(t, nil)
	if _, _, err := e.ApplyNode(NodeState{Node: "stranger@x"}, true, t0); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("unknown node: %v", err)
	}
	bad := NodeState{Node: "mn1@example.net", Replay: ReplayRec{Last: auth.NTPTime(t0), Accepted: auth.NTPTime(t0)},
		Bindings: []Binding{{HomeAddr: netip.MustParseAddr("10.10.9.9"), CareOf: coa1, NAI: "mn1@example.net",
			Lifetime: 300, Expires: t0.Add(time.Minute)}}}
	if _, _, err := e.ApplyNode(bad, true, t0); err == nil {
		t.Fatal("a binding at another node's home address was applied")
	}
	if e.NumBindings() != 0 || e.byNAI["mn1@example.net"].replay.Last != 0 {
		t.Fatal("a refused record changed the engine")
	}
	// Expired already: the record's replay state counts, its binding not.
	bad.Bindings[0].HomeAddr = mn1HoA
	bad.Bindings[0].Expires = t0
	if evs, won, err := e.ApplyNode(bad, true, t0); err != nil || !won || len(evs) != 0 || e.NumBindings() != 0 {
		t.Fatalf("expired binding: %v %v %+v", won, err, evs)
	}
}
