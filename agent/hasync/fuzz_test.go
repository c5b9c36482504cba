package hasync

import (
	"testing"

	"github.com/mip4d/mip4d/agent/ha"
)

// FuzzParseRecords: any payload parses or is refused, never panics, and
// what parses encodes back to the same octets.
func FuzzParseRecords(f *testing.F) {
	p := []byte{0, 2}
	n := node(1, t0)
	p, _ = AppendNode(p, &n)
	empty := ha.NodeState{Node: "10.10.0.6"}
	p, _ = AppendNode(p, &empty)
	f.Add(p)
	f.Add([]byte{0, 1, 1, 'x', 0})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		nodes, err := ParseRecords(b)
		if err != nil {
			return
		}
		out := []byte{b[0], b[1]}
		for i := range nodes {
			if out, err = AppendNode(out, &nodes[i]); err != nil {
				t.Fatalf("parsed record %d does not encode: %v", i, err)
			}
		}
		if string(out) != string(b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, out)
		}
	})
}

// FuzzSessionReceive: arbitrary frames into an established session are
// refused and counted or accepted; never a panic, never an unauthenticated
// change.
func FuzzSessionReceive(f *testing.F) {
	p := newPairF()
	p.a.Enqueue([]ha.NodeState{node(1, t0)}, t0)
	f.Add(p.a.Next(t0))
	f.Add(make([]byte, HeaderLen+MACLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		q := newPairF()
		before := q.b.recvSeq
		r, err := q.b.Receive(b, t0)
		if err != nil && (len(r.Nodes) != 0 || q.b.recvSeq != before) {
			t.Fatal("a refused frame changed the session")
		}
		c := q.cb
		if err != nil && c.RejectedAuth.Load()+c.RejectedReplay.Load()+c.RejectedMalformed.Load() != 1 {
			t.Fatal("a refused frame was not counted once")
		}
	})
}

// newPairF is an established pair without a testing.T (for fuzz setup).
func newPairF() *pair {
	p := &pair{ca: &Counters{}, cb: &Counters{}, now: t0}
	p.a, _ = NewSession(key, RoleMaster, p.ca, seeded(1), t0)
	p.b, _ = NewSession(key, RoleBackup, p.cb, seeded(2), t0)
	for range 10 {
		for f := p.a.Next(t0); f != nil; f = p.a.Next(t0) {
			p.b.Receive(f, t0)
			if p.b.NeedSnapshot() {
				p.b.SendSnapshot(nil, t0)
			}
		}
		for f := p.b.Next(t0); f != nil; f = p.b.Next(t0) {
			p.a.Receive(f, t0)
			if p.a.NeedSnapshot() {
				p.a.SendSnapshot(nil, t0)
			}
		}
	}
	return p
}
