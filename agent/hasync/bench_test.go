package hasync

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/wire"
)

var benchHA = netip.MustParseAddr("198.51.100.10")

func benchEngine(tb testing.TB, sas []*auth.SA) *ha.Engine {
	e, err := ha.New(ha.Config{Addr: benchHA, HomeNet: netip.MustParsePrefix("10.0.0.0/8"), MaxLifetime: 3600, MaxBindings: 1}, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for i, sa := range sas {
		if err := e.AddMobileNode(ha.MobileNode{HomeAddr: benchHoA(i), SAs: []*auth.SA{sa}}); err != nil {
			tb.Fatal(err)
		}
	}
	return e
}

func benchHoA(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// requests signs count registrations of the nodes in turn, the k-th
// stamped base + k µs.
func requests(sas []*auth.SA, first, count int, base time.Time) []ha.Packet {
	out := make([]ha.Packet, count)
	for k := range count {
		i := (first + k) % len(sas)
		m := wire.RegistrationRequest{Flags: wire.FlagD | wire.FlagT, Lifetime: 1800, HomeAddr: benchHoA(i), HomeAgent: benchHA,
			CareOf: netip.AddrFrom4([4]byte{192, 0, byte(k >> 8), byte(k)}), ID: auth.NTPTime(base.Add(time.Duration(first+k) * time.Microsecond))}
		b, _ := m.AppendBinary(nil)
		b = auth.Append(b, auth.MNHA, sas[i])
		out[k] = ha.Packet{Src: netip.AddrPortFrom(m.CareOf, 49152), Dst: netip.AddrPortFrom(benchHA, wire.Port), Data: b}
	}
	return out
}

// BenchmarkReplication measures what replication adds to a registration
// on the active, in one run: the baseline is the engine's Handle alone
// (MN-HA check, replay check, binding update, signed reply); the
// replicated path adds taking the node's changed state, encoding it,
// HMAC-SHA256 on both sides, parsing and ApplyNode on the standby.
// Reported: base-ns/reg, repl-ns/reg and their ratio repl/base (the cost
// of a replicated registration in plain registrations).
func BenchmarkReplication(b *testing.B) {
	const nodes, batch = 4096, 256
	sas := make([]*auth.SA, nodes)
	for i := range sas {
		k := make(auth.Secret, 16)
		binary.BigEndian.PutUint64(k, uint64(i)*0x9e3779b97f4a7c15)
		sas[i] = &auth.SA{SPI: 256, Key: k}
	}
	base, act, sby := benchEngine(b, sas), benchEngine(b, sas), benchEngine(b, sas)
	act.TrackChanges(true)
	p := newPairF()
	var baseDur, replDur time.Duration
	done := 0
	for b.Loop() {
		now := t0.Add(time.Duration(done) * time.Microsecond)
		reqs := requests(sas, done, batch, t0)
		reqs2 := requests(sas, done, batch, t0)
		start := time.Now()
		for _, r := range reqs {
			if res := base.Handle(r, now); res.Code != wire.CodeAccepted {
				b.Fatalf("baseline: %v %v", res.Code, res.Drop)
			}
		}
		mid := time.Now()
		for _, r := range reqs2 {
			if res := act.Handle(r, now); res.Code != wire.CodeAccepted {
				b.Fatalf("active: %v %v", res.Code, res.Drop)
			}
		}
		p.a.Enqueue(act.TakeChanges(), now)
		for f := p.a.Next(now); f != nil; f = p.a.Next(now) {
			r, err := p.b.Receive(f, now)
			if err != nil {
				b.Fatal(err)
			}
			for _, ns := range r.Nodes {
				if _, _, err := sby.ApplyNode(ns, true, now); err != nil {
					b.Fatal(err)
				}
			}
		}
		for f := p.b.Next(now); f != nil; f = p.b.Next(now) {
			if _, err := p.a.Receive(f, now); err != nil {
				b.Fatal(err)
			}
		}
		end := time.Now()
		baseDur += mid.Sub(start)
		replDur += end.Sub(mid)
		done += batch
	}
	if n, _ := p.a.Lag(t0); n != 0 || sby.NumBindings() != act.NumBindings() {
		b.Fatalf("standby behind: lag %d, %d of %d bindings", n, sby.NumBindings(), act.NumBindings())
	}
	bn := float64(baseDur.Nanoseconds()) / float64(done)
	rn := float64(replDur.Nanoseconds()) / float64(done)
	b.ReportMetric(bn, "base-ns/reg")
	b.ReportMetric(rn, "repl-ns/reg")
	b.ReportMetric(rn/bn, "repl/base")
	b.ReportMetric(1e9/rn, "repl-reg/s")
}

// BenchmarkEncodeNode is the wire cost of one node record alone: encode
// and parse, against the HMAC-SHA256 of a frame of 512 of them.
func BenchmarkEncodeNode(b *testing.B) {
	n := node(1, t0)
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf, _ = AppendNode(buf[:0], &n)
		if _, _, err := ParseNode(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "bytes/record")
}

// BenchmarkSnapshot is a full snapshot of 65536 bound nodes to a fresh
// standby (Nodes, encoding, HMAC both ways, parsing, ApplyNode), per node,
// against a plain registration measured in the same run (snap/base): what
// a standby that starts or reconnects costs the pair.
func BenchmarkSnapshot(b *testing.B) {
	const nodes = 65536
	sas := make([]*auth.SA, nodes)
	for i := range sas {
		k := make(auth.Secret, 16)
		binary.BigEndian.PutUint64(k, uint64(i)*0x9e3779b97f4a7c15)
		sas[i] = &auth.SA{SPI: 256, Key: k}
	}
	act := benchEngine(b, sas)
	reqs := requests(sas, 0, nodes, t0)
	start := time.Now()
	for _, r := range reqs {
		if res := act.Handle(r, t0); res.Code != wire.CodeAccepted {
			b.Fatalf("setup: %v %v", res.Code, res.Drop)
		}
	}
	base := float64(time.Since(start).Nanoseconds()) / nodes
	var snap time.Duration
	runs := 0
	for b.Loop() {
		sby := benchEngine(b, sas)
		p := newPairF()
		now := t0.Add(time.Second)
		s := time.Now()
		p.a.SendSnapshot(act.Nodes(), now)
		for f := p.a.Next(now); f != nil; f = p.a.Next(now) {
			r, err := p.b.Receive(f, now)
			if err != nil {
				b.Fatal(err)
			}
			for _, ns := range r.Nodes {
				if _, _, err := sby.ApplyNode(ns, true, now); err != nil {
					b.Fatal(err)
				}
			}
		}
		snap += time.Since(s)
		runs++
		if sby.NumBindings() != nodes {
			b.Fatalf("standby has %d of %d bindings", sby.NumBindings(), nodes)
		}
	}
	per := float64(snap.Nanoseconds()) / float64(runs*nodes)
	b.ReportMetric(base, "base-ns/reg")
	b.ReportMetric(per, "snap-ns/node")
	b.ReportMetric(per/base, "snap/base")
}
