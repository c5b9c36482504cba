package hasync

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/ha"
)

var (
	t0  = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	key = bytes.Repeat([]byte{0x5a}, 32)
)

type chachaReader struct{ r *rand.ChaCha8 }

func (c chachaReader) Read(p []byte) (int, error) { return c.r.Read(p) }

func seeded(n byte) chachaReader {
	var s [32]byte
	s[0] = n
	return chachaReader{rand.NewChaCha8(s)}
}

func node(i int, now time.Time) ha.NodeState {
	hoa := netip.AddrFrom4([4]byte{10, 10, byte(i >> 8), byte(i)})
	nai := "mn" + string(rune('a'+i%26)) + "@example.net"
	return ha.NodeState{Node: nai,
		Replay: ha.ReplayRec{Last: uint64(i) << 32, Accepted: uint64(i) << 32, Updated: now},
		Lease:  &ha.PoolLease{NAI: nai, Addr: hoa},
		Bindings: []ha.Binding{{HomeAddr: hoa, CareOf: netip.MustParseAddr("192.0.2.10"), NAI: nai,
			Endpoint: netip.MustParseAddrPort("203.0.113.7:61000"), UDP: true, Encap: ha.EncapGRE, GREKey: 7, HasGREKey: true,
			ReverseTunnel: true, FA: netip.MustParseAddr("203.0.113.1"), FAEndpoint: netip.MustParseAddrPort("203.0.113.1:434"),
			Revocable: true, ID: uint64(i)<<32 | 9, Lifetime: 300, Registered: now, Expires: now.Add(300 * time.Second)}}}
}

func equalNode(a, b ha.NodeState) bool {
	if a.Node != b.Node || a.Replay.Last != b.Replay.Last || a.Replay.Nonce != b.Replay.Nonce ||
		a.Replay.Accepted != b.Replay.Accepted || !a.Replay.Updated.Equal(b.Replay.Updated) ||
		(a.Lease == nil) != (b.Lease == nil) || len(a.Bindings) != len(b.Bindings) {
		return false
	}
	if a.Lease != nil && (*a.Lease != *b.Lease && (a.Lease.Addr != b.Lease.Addr || !a.Lease.Released.Equal(b.Lease.Released))) {
		return false
	}
	for i := range a.Bindings {
		x, y := a.Bindings[i], b.Bindings[i]
		if !x.Registered.Equal(y.Registered) || !x.Expires.Equal(y.Expires) {
			return false
		}
		x.Registered, x.Expires, y.Registered, y.Expires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if x != y {
			return false
		}
	}
	return true
}

func TestNodeRoundTrip(t *testing.T) {
	for _, ns := range []ha.NodeState{
		node(3, t0),
		{Node: "10.10.0.6", Replay: ha.ReplayRec{Nonce: 0xdeadbeef, Updated: t0}},
		{Node: "x@y", Lease: &ha.PoolLease{NAI: "x@y", Addr: netip.MustParseAddr("10.10.1.1"), Released: t0}},
	} {
		b, err := AppendNode(nil, &ns)
		if err != nil {
			t.Fatal(err)
		}
		want := 1 + len(ns.Node) + 1 + 28 + 1 + len(ns.Bindings)*bindingLen
		if ns.Lease != nil {
			want += 12
		}
		if len(b) != want {
			t.Errorf("%s: %d octets, want %d", ns.Node, len(b), want)
		}
		got, rest, err := ParseNode(b)
		if err != nil || len(rest) != 0 || !equalNode(got, ns) {
			t.Fatalf("%s: round trip %v\n%+v\n%+v", ns.Node, err, got, ns)
		}
		// Every truncation is malformed, never a panic.
		for i := range b {
			if _, _, err := ParseNode(b[:i]); err == nil {
				t.Fatalf("%s: truncated to %d parsed", ns.Node, i)
			}
		}
	}
	// A binding of another node is not encoded.
	bad := node(1, t0)
	bad.Bindings[0].NAI = "other@x"
	if _, err := AppendNode(nil, &bad); err == nil {
		t.Fatal("binding of another node encoded")
	}
}

// pair is two sessions wired back to back through a fake link.
type pair struct {
	t    *testing.T
	a, b *Session
	ca   *Counters
	cb   *Counters
	now  time.Time
	// got are what each side received, by side.
	gotA, gotB []ha.NodeState
	snapA      int
	snapB      int
}

var seed byte

func newPair(t *testing.T) *pair {
	p := &pair{t: t, ca: &Counters{}, cb: &Counters{}, now: t0}
	var err error
	seed += 2
	if p.a, err = NewSession(key, RoleMaster, p.ca, seeded(seed), t0); err != nil {
		t.Fatal(err)
	}
	if p.b, err = NewSession(key, RoleBackup, p.cb, seeded(seed+1), t0); err != nil {
		t.Fatal(err)
	}
	return p
}

// pump moves frames both ways until neither side has anything to send;
// it returns the frames a sent to b.
func (p *pair) pump() (ab [][]byte) {
	for range 10000 {
		moved := false
		for f := p.a.Next(p.now); f != nil; f = p.a.Next(p.now) {
			ab = append(ab, f)
			p.deliver(p.b, f, &p.gotB, &p.snapB)
			moved = true
		}
		for f := p.b.Next(p.now); f != nil; f = p.b.Next(p.now) {
			p.deliver(p.a, f, &p.gotA, &p.snapA)
			moved = true
		}
		if !moved {
			return ab
		}
	}
	p.t.Fatal("sessions never went quiet")
	return nil
}

func (p *pair) deliver(s *Session, f []byte, got *[]ha.NodeState, snaps *int) {
	r, err := s.Receive(f, p.now)
	if err != nil {
		p.t.Fatalf("receive %v: %v", Type(f[1]), err)
	}
	*got = append(*got, r.Nodes...)
	if r.SnapshotEnd {
		*snaps++
	}
	if s.NeedSnapshot() {
		s.SendSnapshot(nil, p.now)
	}
}

// TestSessionSnapshotThenUpdates: the handshake, a snapshot each way, then
// the active's updates, acknowledged, with the lag back to zero.
func TestSessionSnapshotThenUpdates(t *testing.T) {
	p := newPair(t)
	p.pump()
	if !p.a.Established() || !p.b.Established() || p.a.PeerRole() != RoleBackup || p.b.PeerRole() != RoleMaster {
		t.Fatal("handshake did not complete")
	}
	if p.snapA != 1 || p.snapB != 1 || p.ca.SnapshotsSent.Load() != 1 || p.cb.SnapshotsApplied.Load() != 1 {
		t.Fatalf("snapshots %d %d", p.snapA, p.snapB)
	}
	var sent []ha.NodeState
	for i := range 1500 {
		sent = append(sent, node(i, p.now))
	}
	p.a.Enqueue(sent[:1000], p.now)
	p.a.Enqueue(sent[1000:], p.now)
	p.now = p.now.Add(3 * time.Millisecond)
	if n, age := p.a.Lag(p.now); n != 1500 || age != 3*time.Millisecond {
		t.Fatalf("lag before sending %d %v", n, age)
	}
	frames := p.pump()
	if len(frames) != 3 { // 512 records a frame
		t.Fatalf("%d frames for 1500 records", len(frames))
	}
	if len(p.gotB) != 1500 {
		t.Fatalf("standby got %d records", len(p.gotB))
	}
	for i := range sent {
		if !equalNode(sent[i], p.gotB[i]) {
			t.Fatalf("record %d differs", i)
		}
	}
	if n, age := p.a.Lag(p.now); n != 0 || age != 0 || p.ca.Sent.Load() != 1500 || p.ca.Acked.Load() != 1500 {
		t.Fatalf("lag after ack %d %v, sent %d acked %d", n, age, p.ca.Sent.Load(), p.ca.Acked.Load())
	}
}

// TestSessionRejects: a frame with a bad HMAC, a replayed one (same seq,
// or from an earlier connection) and malformed ones change nothing and are
// counted.
func TestSessionRejects(t *testing.T) {
	p := newPair(t)
	p.pump()
	p.a.Enqueue([]ha.NodeState{node(1, p.now)}, p.now)
	f := p.a.Next(p.now)
	if Type(f[1]) != TypeRecords {
		t.Fatalf("frame %v", Type(f[1]))
	}
	// Tampered: the HMAC fails.
	bad := bytes.Clone(f)
	bad[HeaderLen+5] ^= 1
	if _, err := p.b.Receive(bad, p.now); !errors.Is(err, ErrAuth) {
		t.Fatalf("tampered: %v", err)
	}
	// Another key.
	other := newSealer(bytes.Repeat([]byte{1}, 32))
	forged := other.seal(nil, TypeRecords, 99, p.b.nonce, f[HeaderLen:len(f)-MACLen])
	if _, err := p.b.Receive(forged, p.now); !errors.Is(err, ErrAuth) {
		t.Fatalf("forged: %v", err)
	}
	// The real one is applied once; again, it is a replay.
	r, err := p.b.Receive(f, p.now)
	if err != nil || len(r.Nodes) != 1 {
		t.Fatalf("genuine: %v", err)
	}
	if r, err := p.b.Receive(f, p.now); !errors.Is(err, ErrReplay) || len(r.Nodes) != 0 {
		t.Fatalf("replayed: %v", err)
	}
	// A frame recorded from this connection, replayed into a new one: its
	// session is not the new one's nonce.
	r2 := newPair(t)
	r2.pump()
	if _, err := r2.b.Receive(f, r2.now); !errors.Is(err, ErrReplay) {
		t.Fatalf("cross-session replay: %v", err)
	}
	// Malformed: a valid HMAC over a payload that does not parse; a bad
	// version; truncation.
	seq := p.b.recvSeq
	junk := p.a.seal.seal(nil, TypeRecords, seq+1000, p.b.nonce, []byte{0, 1, 2})
	if _, err := p.b.Receive(junk, p.now); !errors.Is(err, ErrMalformed) || p.b.recvSeq != seq {
		t.Fatalf("junk payload: %v (seq %d -> %d)", err, seq, p.b.recvSeq)
	}
	v2 := bytes.Clone(f)
	v2[0] = 2
	if _, err := p.b.Receive(v2, p.now); !errors.Is(err, ErrMalformed) {
		t.Fatalf("version 2: %v", err)
	}
	if _, err := p.b.Receive(f[:len(f)-1], p.now); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
	if got := [3]int64{p.cb.RejectedAuth.Load(), p.cb.RejectedReplay.Load(), p.cb.RejectedMalformed.Load()}; got != [3]int64{2, 1, 3} {
		t.Fatalf("rejected auth/replay/malformed %v", got)
	}
	// A Hello replayed into an established session.
	h := newPair(t)
	hello := h.a.Next(h.now)
	h.deliver(h.b, hello, &h.gotB, &h.snapB)
	if _, err := h.b.Receive(hello, h.now); !errors.Is(err, ErrReplay) {
		t.Fatalf("second hello: %v", err)
	}
}

// TestReplayedHelloLearnsNothing: someone who replays a recorded Hello
// gets a HelloAck and no bindings: they cannot answer for the new nonce.
func TestReplayedHelloLearnsNothing(t *testing.T) {
	p := newPair(t)
	hello := p.b.Next(p.now)
	s, _ := NewSession(key, RoleMaster, nil, seeded(9), t0)
	s.Next(t0) // its own Hello
	if _, err := s.Receive(hello, t0); err != nil {
		t.Fatal(err)
	}
	if s.Established() || s.NeedSnapshot() {
		t.Fatal("established without proof")
	}
	s.Enqueue([]ha.NodeState{node(1, t0)}, t0)
	if f := s.Next(t0); f == nil || Type(f[1]) != TypeHelloAck {
		t.Fatal("no HelloAck")
	}
	if f := s.Next(t0); f != nil {
		t.Fatalf("sent %v before the peer proved the key", Type(f[1]))
	}
	if !s.Tick(t0.Add(DeadAfter)) {
		t.Fatal("an unproven session is not closed")
	}
}

// TestQueueOverflow: past the bound the queue falls back to a snapshot.
func TestQueueOverflow(t *testing.T) {
	p := newPair(t)
	p.pump()
	p.a.SetQueueLimit(100)
	for i := range 101 {
		p.a.Enqueue([]ha.NodeState{node(i, p.now)}, p.now)
	}
	if !p.a.NeedSnapshot() || p.ca.Overflows.Load() != 1 {
		t.Fatal("overflow did not ask for a snapshot")
	}
	if n, _ := p.a.Lag(p.now); n != 0 {
		t.Fatalf("lag %d after the queue was dropped", n)
	}
	// A snapshot larger than the bound is no overflow itself, nor are the
	// updates queued behind it within the bound.
	var big []ha.NodeState
	for i := range 150 {
		big = append(big, node(i, p.now))
	}
	p.a.SendSnapshot(big, p.now)
	p.a.Enqueue(big[:90], p.now)
	if p.a.NeedSnapshot() || p.ca.Overflows.Load() != 1 {
		t.Fatal("a snapshot larger than the bound overflowed")
	}
	p.pump()
	if p.snapB != 2 || len(p.gotB) != 240 || p.ca.SnapshotsSent.Load() != 2 {
		t.Fatalf("snapshot after overflow: %d snapshots, %d records", p.snapB, len(p.gotB))
	}
	// Once it is acknowledged the bound is the bound again.
	p.a.Enqueue(big[:101], p.now)
	if !p.a.NeedSnapshot() {
		t.Fatal("the bound stayed wide after the snapshot")
	}
}

// TestHeartbeatAndDead: an idle session sends Acks; a silent peer is dead.
func TestHeartbeatAndDead(t *testing.T) {
	p := newPair(t)
	p.pump()
	p.now = p.now.Add(Heartbeat)
	if p.a.Tick(p.now) {
		t.Fatal("dead too early")
	}
	f := p.a.Next(p.now)
	if f == nil || Type(f[1]) != TypeAck {
		t.Fatal("no heartbeat")
	}
	if !p.b.Tick(t0.Add(DeadAfter)) {
		t.Fatal("silent peer not dead")
	}
	// A role change reaches the peer.
	p.a.SetRole(RoleBackup)
	p.pump()
	if p.b.PeerRole() != RoleBackup {
		t.Fatal("role change lost")
	}
}

func TestParseRole(t *testing.T) {
	for s, want := range map[string]Role{"MASTER": RoleMaster, "backup": RoleBackup, "FAULT": RoleFault, "stop": RoleStop} {
		if r, ok := ParseRole(s); !ok || r != want {
			t.Errorf("%s: %v %v", s, r, ok)
		}
	}
	if _, ok := ParseRole("primary"); ok {
		t.Error("primary parsed")
	}
}
