package dataplane

import (
	"net/netip"
	"testing"

	"github.com/mip4d/mip4d/agent/ha"
)

// allocHA is a home agent plane over counting (not recording) fakes with
// a binding of every kind.
func allocHA(t testing.TB) *HA {
	t.Helper()
	conns := HAConns{UDP: newFakeConn(false), IPIP: newFakeConn(false), GRE: newFakeConn(false)}
	h, err := NewHA(HAConfig{Addr: addrHA}, newFakeDevice(false), conns)
	if err != nil {
		t.Fatal(err)
	}
	g := binding(netip.MustParseAddr("10.1.0.4"), addrCoA2, epCoA2, false, ha.EncapGRE)
	g.GREKey, g.HasGREKey = 7, true
	if err := h.Apply(
		ha.Event{Kind: ha.BindingAdded, Binding: binding(addrHoA, addrCoA, epCoA, false, ha.EncapIPIP)},
		ha.Event{Kind: ha.BindingAdded, Binding: binding(addrHoA2, addrCoA, epNAT, true, ha.EncapIPIP)},
		ha.Event{Kind: ha.BindingAdded, Binding: g},
	); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestNoAllocs asserts DESIGN.md §4: no allocation per packet on the
// steady-state forward and reverse paths, on their drop paths, for
// fragmentation, MSS clamping and keepalives, in both planes.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	h := allocHA(t)
	hoa3 := netip.MustParseAddr("10.1.0.4")
	fw, rw := h.newWorker(true), h.newWorker(false)
	m, err := NewMN(MNConfig{Heard: func() {}}, newFakeDevice(false), MNConns{UDP: newFakeConn(false), IPIP: newFakeConn(false)})
	if err != nil {
		t.Fatal(err)
	}
	m.SetTunnel(udpTunnel)
	mfw, mrw := m.newWorker(true), m.newWorker(false)

	down := udpPacket(addrCN, addrHoA, 1400, false)
	down2 := udpPacket(addrCN, addrHoA2, 1400, false)
	down3 := udpPacket(addrCN, hoa3, 1400, false)
	big := udpPacket(addrCN, addrHoA2, 4000, false)
	bigDF := udpPacket(addrCN, addrHoA2, 1500, true)
	syn := tcpSYN(addrCN, addrHoA2, 1460, 1, false)
	up := udpPacket(addrHoA, addrCN, 1400, false)
	up2 := udpPacket(addrHoA2, addrCN, 1400, false)
	up3 := udpPacket(hoa3, addrCN, 1400, false)
	udpIn := tunnelData(4, up2)
	ipipIn := ipip(addrCoA, addrHA, up)
	greIn := gre(addrCoA2, addrHA, true, 7, up3)
	kaIn := tunnelData(4, echo(addrHoA2, addrHA, icmpEchoRequest, 1, 1))
	spoof := tunnelData(4, up)
	mnUp := udpPacket(addrHoA, addrCN, 1400, false)
	mnDown := tunnelData(4, udpPacket(addrCN, addrHoA, 1400, false))
	mnKA := tunnelData(4, echo(addrHA, addrHoA, icmpEchoReply, m.kaID, 1))

	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"HA forward ipip", func() { fromDevice(fw, down) }},
		{"HA forward udp", func() { fromDevice(fw, down2) }},
		{"HA forward gre key", func() { fromDevice(fw, down3) }},
		{"HA forward fragmented", func() { fromDevice(fw, big) }},
		{"HA forward frag needed", func() { fromDevice(fw, bigDF) }},
		{"HA forward MSS clamp", func() { fromDevice(fw, syn) }},
		{"HA forward no binding", func() { fromDevice(fw, up) }},
		{"HA reverse udp", func() { fromConn(rw, kindUDP, epNAT, udpIn) }},
		{"HA reverse ipip", func() { fromConn(rw, kindIPIP, epCoA, ipipIn) }},
		{"HA reverse gre", func() { fromConn(rw, kindGRE, epCoA2, greIn) }},
		{"HA reverse keepalive", func() { fromConn(rw, kindUDP, epNAT, kaIn) }},
		{"HA reverse spoofed", func() { fromConn(rw, kindUDP, epNAT, spoof) }},
		{"MN forward", func() { fromDevice(mfw, mnUp) }},
		{"MN reverse", func() { fromConn(mrw, kindUDP, epHA, mnDown) }},
		{"MN keepalive reply", func() { fromConn(mrw, kindUDP, epHA, mnKA) }},
		{"MN keepalive", func() { _ = m.SendKeepalive() }},
	} {
		if n := testing.AllocsPerRun(200, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations per packet", tc.name, n)
		}
	}
	if d := h.Stats().Drops; len(d) != 3 { // no_binding, inner_source_mismatch, too_big
		t.Errorf("unexpected drops on the success paths: %v", d)
	}
	if h.Stats().KeepalivesAnswered == 0 || m.Stats().KeepaliveReplies == 0 {
		t.Error("keepalive paths not taken")
	}
}

// TestSocketNoAllocs is the loopback batch round trip: sendmmsg of a
// batch to ourselves and recvmmsg of it, with IP_PKTINFO both ways,
// allocates nothing.
func TestSocketNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 16
	out, in := make([]Msg, n), make([]Msg, n)
	for i := range out {
		out[i] = Msg{Buf: make([]byte, 200), Addr: c.LocalAddr(), Local: netip.MustParseAddr("127.0.0.1")}
		out[i].Buf[0] = byte(i)
		in[i].Buf = make([]byte, 2048)
	}
	roundTrip := func() {
		if k, err := c.WriteBatch(out); err != nil || k != n {
			t.Fatalf("WriteBatch: %d %v", k, err)
		}
		got := 0
		for got < n {
			k, err := c.ReadBatch(in[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += k
		}
	}
	roundTrip()
	for i, m := range in {
		if m.N != 200 || m.Buf[0] != byte(i) || m.Addr != c.LocalAddr() || m.Local != netip.MustParseAddr("127.0.0.1") || m.Truncated {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if a := testing.AllocsPerRun(100, roundTrip); a != 0 {
		t.Errorf("%v allocations per round trip of %d datagrams", a, n)
	}
}

// TestNoAllocsOffload: the offload paths allocate nothing per packet
// either: cutting a super-packet, gathering and merging a batch, the
// datagrams of a GRO message through both planes, and the queue of a
// device that takes batches.
func TestNoAllocsOffload(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	sp := bulk(1, 45*1400, 0)[0]
	h45 := virtioNetHdr{flags: virtioFlagNeedsCsum, gsoType: virtioGSOTCPv4, gsoSize: 1400, csumStart: 20, csumOffset: 16}
	dst := make([]byte, 1500)
	var seg segmenter

	src := bulk(45, 1400, 0)
	batch := make([][]byte, len(src))
	for i := range src {
		batch[i] = make([]byte, len(src[i]))
	}
	var co coalescer
	var vh virtioNetHdr

	h := allocHA(t)
	h.dev = &fakeBatchDevice{fakeDevice: newFakeDevice(false)}
	rw := h.newWorker(false)
	rw.superRing(groBatch)
	up := make([][]byte, 40)
	for i := range up {
		up[i] = tunnelData(4, udpPacket(addrHoA2, addrCN, 1400, false))
	}
	m, err := NewMN(MNConfig{Heard: func() {}}, newFakeDevice(false), MNConns{UDP: newFakeConn(false)})
	if err != nil {
		t.Fatal(err)
	}
	m.SetTunnel(udpTunnel)
	mrw := m.newWorker(false)
	mrw.superRing(groBatch)
	down := make([][]byte, 40)
	for i := range down {
		down[i] = tunnelData(4, udpPacket(addrCN, addrHoA, 1400, false))
	}

	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"segment", func() {
			if !seg.init(&h45, sp, len(dst)) {
				t.Fatal("refused")
			}
			for seg.more() {
				seg.next(dst)
			}
		}},
		{"coalesce", func() {
			for i := range src {
				copy(batch[i], src[i])
			}
			co.reset(len(batch))
			for i := range batch {
				if !co.written(i) {
					if g := co.next(batch, i); len(g) > 1 {
						merge(batch, g, &vh)
					}
				}
			}
		}},
		{"HA reverse gro to a batch device", func() { fromConnGRO(rw, kindUDP, epNAT, up...) }},
		{"MN reverse gro", func() { fromConnGRO(mrw, kindUDP, epHA, down...) }},
	} {
		if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations", tc.name, n)
		}
	}
	if s := h.Stats(); s.Reverse.PacketsOut == 0 || len(s.Drops) != 0 {
		t.Errorf("HA %+v", s)
	}
	if s := m.Stats(); s.Reverse.PacketsOut == 0 || len(s.Drops) != 0 {
		t.Errorf("MN %+v", s)
	}
}
