package dataplane

import (
	"bytes"
	"encoding/binary"
	"maps"
	"net/netip"
	"testing"

	"github.com/mip4d/mip4d/agent/encap"
	"github.com/mip4d/mip4d/agent/ha"
)

// TestHAForwardEncapsulations tunnels one datagram to a binding of every
// kind and checks every header field written.
func TestHAForwardEncapsulations(t *testing.T) {
	inner := udpPacket(addrCN, addrHoA, 100, true)
	inner[1] = 0x28 // TOS, copied to the outer header (RFC 2003 §3.1)
	encap.IPv4(inner).UpdateChecksum()
	for _, tc := range []struct {
		name string
		b    ha.Binding
		k    kind
		to   netip.AddrPort
		// hdr is what must precede the inner datagram, outer IPv4
		// header excluded (checked separately for raw sockets).
		hdr []byte
	}{
		{"ipip", binding(addrHoA, addrCoA, epCoA, false, ha.EncapIPIP), kindIPIP, epCoA, nil},
		{"gre", binding(addrHoA, addrCoA, epCoA, false, ha.EncapGRE), kindGRE, epCoA, []byte{
			0x00, 0x00, // C=0 K=0 S=0, Reserved0, Version 0 (RFC 2784 §2.1)
			0x08, 0x00, // Protocol Type IPv4
		}},
		{"gre-key", func() ha.Binding {
			b := binding(addrHoA, addrCoA, epCoA, false, ha.EncapGRE)
			b.GREKey, b.HasGREKey = 0xdeadbeef, true
			return b
		}(), kindGRE, epCoA, []byte{
			0x20, 0x00, // K=1 (RFC 2890 §2)
			0x08, 0x00, // Protocol Type IPv4
			0xde, 0xad, 0xbe, 0xef, // Key (RFC 6245)
		}},
		{"udp", binding(addrHoA, addrCoA, epNAT, true, ha.EncapIPIP), kindUDP, epNAT, []byte{
			0x04,       // Type 4: MIP Tunnel Data (RFC 3519 §3.3)
			0x04,       // Next Header 4: an IPv4 datagram follows
			0x00, 0x00, // Reserved
		}},
		{"udp-gre-key", func() ha.Binding {
			b := binding(addrHoA, addrCoA, epNAT, true, ha.EncapGRE)
			b.GREKey, b.HasGREKey = 7, true
			return b
		}(), kindUDP, epNAT, []byte{
			0x04, 0x2f, 0x00, 0x00, // Tunnel Data, Next Header 47: GRE
			0x20, 0x00, 0x08, 0x00, // GRE with K, IPv4
			0x00, 0x00, 0x00, 0x07, // Key
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, dev, cs := testHA(t, Options{}, true)
			if err := h.Apply(ha.Event{Kind: ha.BindingAdded, Binding: tc.b}); err != nil {
				t.Fatal(err)
			}
			w := h.newWorker(true)
			fromDevice(w, inner)
			sent := cs[tc.k].take()
			if len(sent) != 1 {
				t.Fatalf("sent %d datagrams on %v, want 1; drops %v", len(sent), tc.k, drops(&h.ctr))
			}
			m := sent[0]
			if m.Addr != tc.to {
				t.Errorf("sent to %v, want %v", m.Addr, tc.to)
			}
			pkt := m.Buf
			if tc.k == kindUDP {
				if m.Local != addrHA {
					t.Errorf("UDP source address %v, want the home agent's %v (RFC 5944 §4.2.3)", m.Local, addrHA)
				}
			} else {
				o := encap.IPv4(pkt)
				checkOuter(t, o, tc.b.Encap.Proto(), addrHA, addrCoA, inner)
				pkt = pkt[o.HeaderLength():]
			}
			if !bytes.Equal(pkt[:len(tc.hdr)], tc.hdr) {
				t.Errorf("header % x, want % x", pkt[:len(tc.hdr)], tc.hdr)
			}
			if !bytes.Equal(pkt[len(tc.hdr):], inner) {
				t.Errorf("inner datagram changed:\n% x\nwant\n% x", pkt[len(tc.hdr):], inner)
			}
			if len(dev.take()) != 0 {
				t.Error("wrote to the device")
			}
			s := h.Stats()
			if s.Forward.PacketsIn != 1 || s.Forward.PacketsOut != 1 || s.Forward.BytesOut != int64(len(m.Buf)) || len(s.Drops) != 0 {
				t.Errorf("counters %+v", s)
			}
		})
	}
}

// checkOuter checks a delivery header against RFC 2003 §3.1.
func checkOuter(t *testing.T, o encap.IPv4, proto uint8, src, dst netip.Addr, inner encap.IPv4) {
	t.Helper()
	switch {
	case o.Version() != 4 || o.IHL() != 5:
		t.Errorf("outer version/IHL %d/%d", o.Version(), o.IHL())
	case o.TOS() != inner.TOS():
		t.Errorf("outer TOS %#x, want the inner %#x", o.TOS(), inner.TOS())
	case int(o.TotalLength()) != len(o):
		t.Errorf("outer Total Length %d, datagram %d", o.TotalLength(), len(o))
	case o.DF() != inner.DF() || o.MF() || o.FragmentOffset() != 0:
		t.Errorf("outer flags %d offset %d, inner DF %v", o.Flags(), o.FragmentOffset(), inner.DF())
	case o.TTL() != encap.DefaultTTL:
		t.Errorf("outer TTL %d", o.TTL())
	case o.Protocol() != proto:
		t.Errorf("outer protocol %d, want %d", o.Protocol(), proto)
	case !o.IsChecksumValid():
		t.Error("outer checksum wrong")
	case o.Src() != src || o.Dst() != dst:
		t.Errorf("outer %v -> %v, want %v -> %v", o.Src(), o.Dst(), src, dst)
	}
}

// haReverseBindings are installed for TestHAReverse.
func haReverseBindings() []ha.Event {
	g := binding(netip.MustParseAddr("10.1.0.4"), addrCoA2, epCoA2, false, ha.EncapGRE)
	g.GREKey, g.HasGREKey = 7, true
	return []ha.Event{
		{Kind: ha.BindingAdded, Binding: binding(addrHoA, addrCoA, epCoA, false, ha.EncapIPIP)},
		{Kind: ha.BindingAdded, Binding: binding(addrHoA2, addrCoA, epNAT, true, ha.EncapIPIP)},
		{Kind: ha.BindingAdded, Binding: g},
	}
}

// TestHAReverse runs tunnelled datagrams through the RFC 3024 §4.3.2 and
// RFC 3519 §3.3 checks: every drop reason, and what is accepted.
func TestHAReverse(t *testing.T) {
	hoa3 := netip.MustParseAddr("10.1.0.4")
	up := udpPacket(addrHoA, addrCN, 80, false)
	up2 := udpPacket(addrHoA2, addrCN, 80, false)
	up3 := udpPacket(hoa3, addrCN, 80, false)
	badSum := bytes.Clone(up)
	badSum[10] ^= 0xff
	ttl0 := bytes.Clone(up)
	encap.IPv4(ttl0).SetTTL(0)
	encap.IPv4(ttl0).UpdateChecksum()
	frag := ipip(addrCoA, addrHA, up)
	encap.IPv4(frag).SetFlagsFragmentOffset(encap.IPv4FlagMF, 0)
	encap.IPv4(frag).UpdateChecksum()
	loop := udpPacket(addrHoA, addrCoA, 80, false)
	huge := make([]byte, DefaultMaxPacket+100)

	for _, tc := range []struct {
		name   string
		k      kind
		from   netip.AddrPort
		pkt    []byte
		drop   Drop   // DropNone: accepted
		device []byte // what the device must get when accepted
	}{
		{"ipip accepted", kindIPIP, epCoA, ipip(addrCoA, addrHA, up), DropNone, up},
		{"ipip outer source not an endpoint", kindIPIP, netip.AddrPortFrom(addrOther, 0), ipip(addrOther, addrHA, up), DropOuterSourceMismatch, nil},
		{"ipip nobody's", kindIPIP, netip.AddrPortFrom(addrOther, 0), ipip(addrOther, addrHA, udpPacket(addrCN, addrCN, 80, false)), DropNoBinding, nil},
		{"ipip spoofed inner source", kindIPIP, epCoA, ipip(addrCoA, addrHA, up2), DropInnerSourceMismatch, nil},
		{"ipip inner bad checksum", kindIPIP, epCoA, ipip(addrCoA, addrHA, badSum), DropMalformed, nil},
		{"ipip inner TTL 0", kindIPIP, epCoA, ipip(addrCoA, addrHA, ttl0), DropTTLExpired, nil},
		{"ipip outer fragment", kindIPIP, epCoA, frag, DropFragment, nil},
		{"ipip truncated", kindIPIP, epCoA, huge, DropTruncated, nil},
		{"ipip not ipv4", kindIPIP, epCoA, []byte{0x60, 0, 0, 0}, DropMalformed, nil},
		{"ipip back to its endpoint", kindIPIP, epCoA, ipip(addrCoA, addrHA, loop), DropRoutingLoop, nil},
		{"ipip for a GRE binding", kindIPIP, epCoA2, ipip(addrCoA2, addrHA, up3), DropWrongEncapsulation, nil},
		{"udp accepted", kindUDP, epNAT, tunnelData(4, up2), DropNone, up2},
		{"udp other port", kindUDP, netip.AddrPortFrom(addrNAT, 40001), tunnelData(4, up2), DropOuterSourceMismatch, nil},
		{"udp spoofed inner source", kindUDP, epNAT, tunnelData(4, up), DropInnerSourceMismatch, nil},
		{"udp next header GRE", kindUDP, epNAT, tunnelData(47, append([]byte{0, 0, 8, 0}, up2...)), DropWrongNextHeader, nil},
		{"udp next header minimal", kindUDP, epNAT, tunnelData(55, up2), DropWrongNextHeader, nil},
		{"udp short tunnel data", kindUDP, epNAT, []byte{4, 4}, DropMalformed, nil},
		{"udp inner truncated", kindUDP, epNAT, tunnelData(4, up2[:40]), DropMalformed, nil},
		{"gre accepted", kindGRE, epCoA2, gre(addrCoA2, addrHA, true, 7, up3), DropNone, up3},
		{"gre wrong key", kindGRE, epCoA2, gre(addrCoA2, addrHA, true, 8, up3), DropGREKeyMismatch, nil},
		{"gre no key", kindGRE, epCoA2, gre(addrCoA2, addrHA, false, 0, up3), DropGREKeyMismatch, nil},
		{"gre for an ipip binding", kindGRE, epCoA, gre(addrCoA, addrHA, false, 0, up), DropWrongEncapsulation, nil},
		{"gre reserved bits", kindGRE, epCoA2, func() []byte {
			p := gre(addrCoA2, addrHA, true, 7, up3)
			p[20] |= 0x40 // bit 1 (RFC 2784 §2.3)
			return p
		}(), DropMalformed, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, dev, cs := testHA(t, Options{}, true)
			if err := h.Apply(haReverseBindings()...); err != nil {
				t.Fatal(err)
			}
			w := h.newWorker(false)
			fromConn(w, tc.k, tc.from, tc.pkt)
			got := dev.take()
			want := map[string]int64{}
			if tc.drop != DropNone {
				want[tc.drop.String()] = 1
			}
			if d := drops(&h.ctr); !maps.Equal(d, want) {
				t.Errorf("drops %v, want %v", d, want)
			}
			if tc.drop != DropNone {
				if len(got) != 0 {
					t.Errorf("dropped datagram reached the device")
				}
				return
			}
			if len(got) != 1 || !bytes.Equal(got[0], tc.device) {
				t.Fatalf("device got %x, want %x", got, tc.device)
			}
			for _, c := range cs {
				if len(c.take()) != 0 {
					t.Error("something was sent back")
				}
			}
			s := h.Stats()
			if s.Reverse.PacketsIn != 1 || s.Reverse.PacketsOut != 1 || s.Reverse.BytesOut != int64(len(tc.device)) {
				t.Errorf("counters %+v", s.Reverse)
			}
		})
	}
}

// TestHAKeepalive answers RFC 3519 §4.9 keepalives inside the tunnel they
// came through, without the device.
func TestHAKeepalive(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    kind
		from netip.AddrPort
		req  []byte
		hoa  netip.Addr
	}{
		{"udp", kindUDP, epNAT, tunnelData(4, echo(addrHoA2, addrHA, icmpEchoRequest, 0x4242, 9)), addrHoA2},
		{"ipip", kindIPIP, epCoA, ipip(addrCoA, addrHA, echo(addrHoA, addrHA, icmpEchoRequest, 0x4242, 9)), addrHoA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, dev, cs := testHA(t, Options{}, true)
			if err := h.Apply(haReverseBindings()...); err != nil {
				t.Fatal(err)
			}
			w := h.newWorker(false)
			fromConn(w, tc.k, tc.from, tc.req)
			if got := dev.take(); len(got) != 0 {
				t.Fatalf("keepalive reached the device: %x", got)
			}
			sent := cs[tc.k].take()
			if len(sent) != 1 || sent[0].Addr != tc.from {
				t.Fatalf("sent %+v, want one reply to %v", sent, tc.from)
			}
			var inner encap.IPv4
			if tc.k == kindUDP {
				if !bytes.Equal(sent[0].Buf[:4], []byte{4, 4, 0, 0}) || sent[0].Local != addrHA {
					t.Fatalf("reply % x from %v", sent[0].Buf[:4], sent[0].Local)
				}
				inner = encap.IPv4(sent[0].Buf[4:])
			} else {
				o, in, err := encap.DecapsulateIPIP(sent[0].Buf)
				if err != nil {
					t.Fatal(err)
				}
				checkOuter(t, o, protoIPIP, addrHA, addrCoA, in)
				inner = in
			}
			want := echo(addrHA, tc.hoa, icmpEchoReply, 0x4242, 9)
			encap.IPv4(want).SetTTL(defaultTTLOnReply)
			encap.IPv4(want).UpdateChecksum()
			if !bytes.Equal(inner, want) {
				t.Errorf("reply\n% x\nwant\n% x", []byte(inner), want)
			}
			if s := h.Stats(); s.KeepalivesAnswered != 1 || len(s.Drops) != 0 {
				t.Errorf("counters %+v", s)
			}
		})
	}
	t.Run("spoofed keepalive is not answered", func(t *testing.T) {
		h, _, cs := testHA(t, Options{}, true)
		if err := h.Apply(haReverseBindings()...); err != nil {
			t.Fatal(err)
		}
		w := h.newWorker(false)
		fromConn(w, kindUDP, netip.AddrPortFrom(addrOther, 1), tunnelData(4, echo(addrHoA2, addrHA, icmpEchoRequest, 1, 1)))
		if len(cs[kindUDP].take()) != 0 || h.Stats().KeepalivesAnswered != 0 {
			t.Error("answered a keepalive from a stranger")
		}
	})
}

// TestHAControlDemux checks that everything on UDP port 434 that is not
// Tunnel Data goes to the engine with its addresses, and that a full
// queue drops and counts.
func TestHAControlDemux(t *testing.T) {
	h, dev, _ := testHA(t, Options{ControlQueue: 6}, false)
	w := h.newWorker(false)
	bcast := netip.MustParseAddr("255.255.255.255")
	from := netip.AddrPortFrom(addrCoA, 1234)
	for _, typ := range []byte{1, 3, 7, 15, 99} {
		m := &w.msgs[0]
		m.N = copy(m.Buf, []byte{typ, 0xaa, 0xbb})
		m.Addr, m.Local, m.Truncated = from, bcast, false
		w.connBatch(kindUDP, 1)
	}
	w.msgs[0].N = 0 // an empty datagram is the engine's to judge too
	w.connBatch(kindUDP, 1)
	for _, typ := range []int{1, 3, 7, 15, 99, -1} {
		m := <-h.Control()
		if m.Src != from || m.Dst != netip.AddrPortFrom(bcast, 434) {
			t.Errorf("control message %v -> %v", m.Src, m.Dst)
		}
		if typ >= 0 && (len(m.Data) != 3 || m.Data[0] != byte(typ)) {
			t.Errorf("control message % x, want type %d", m.Data, typ)
		}
		if typ < 0 && len(m.Data) != 0 {
			t.Errorf("empty datagram became % x", m.Data)
		}
	}
	// The buffer the message came from is reused; the copy is not.
	w.msgs[0].N = copy(w.msgs[0].Buf, []byte{1, 2, 3})
	w.connBatch(kindUDP, 1)
	w.msgs[0].Buf[0] = 9
	if m := <-h.Control(); m.Data[0] != 1 {
		t.Error("control message aliases the ring")
	}
	for range 8 {
		w.msgs[0].N = copy(w.msgs[0].Buf, []byte{1})
		w.connBatch(kindUDP, 1)
	}
	s := h.Stats()
	if s.ControlIn != 13 || s.Drops["control_queue_full"] != 2 || len(dev.take()) != 0 || s.Reverse.PacketsIn != 0 {
		t.Errorf("counters %+v", s)
	}
}

// TestHASendControl sends a reply from the home agent's unicast address,
// never from a broadcast source.
func TestHASendControl(t *testing.T) {
	h, _, cs := testHA(t, Options{}, false)
	to := netip.AddrPortFrom(addrCoA, 1234)
	for _, src := range []netip.Addr{addrHA, netip.MustParseAddr("255.255.255.255"), {}} {
		if err := h.SendControl(ControlMessage{Src: netip.AddrPortFrom(src, 434), Dst: to, Data: []byte{3, 0}}); err != nil {
			t.Fatal(err)
		}
	}
	sent := cs[kindUDP].take()
	if len(sent) != 3 || sent[0].Local != addrHA || sent[1].Local.IsValid() || sent[2].Local.IsValid() || sent[0].Addr != to {
		t.Errorf("sent %+v", sent)
	}
	if h.Stats().ControlOut != 3 {
		t.Error("not counted")
	}
}

// TestHABindingEvents follows a mobile node through added, simultaneous,
// moved (a NAT rebinding), renewed and removed bindings, checking the
// forward destinations and the anti-spoofing table after each.
func TestHABindingEvents(t *testing.T) {
	h, _, cs := testHA(t, Options{}, true)
	w := h.newWorker(true)
	fwd := udpPacket(addrCN, addrHoA, 80, false)
	rev := udpPacket(addrHoA, addrCN, 80, false)
	destinations := func() []netip.AddrPort {
		fromDevice(w, fwd)
		var out []netip.AddrPort
		for _, c := range cs {
			for _, m := range c.take() {
				out = append(out, m.Addr)
			}
		}
		return out
	}
	accepted := func(k kind, from netip.AddrPort, pkt []byte) Drop {
		before := h.ctr.Reverse.PacketsOut.Load()
		snap := h.ctr.Snapshot().Drops
		fromConn(w, k, from, pkt)
		if h.ctr.Reverse.PacketsOut.Load() > before {
			return DropNone
		}
		for d := Drop(1); d < numDrops; d++ {
			if h.ctr.Snapshot().Drops[d.String()] > snap[d.String()] {
				return d
			}
		}
		return numDrops
	}
	same := func(got []netip.AddrPort, want ...netip.AddrPort) bool {
		if len(got) != len(want) {
			return false
		}
		for _, g := range got {
			found := false
			for _, w := range want {
				found = found || g == w
			}
			if !found {
				return false
			}
		}
		return true
	}
	b1 := binding(addrHoA, addrCoA, epCoA, false, ha.EncapIPIP)
	b2 := binding(addrHoA, addrCoA2, epCoA2, false, ha.EncapIPIP)

	if got := destinations(); len(got) != 0 {
		t.Fatalf("no binding yet, sent to %v", got)
	}
	must := func(evs ...ha.Event) {
		t.Helper()
		if err := h.Apply(evs...); err != nil {
			t.Fatal(err)
		}
	}
	must(ha.Event{Kind: ha.BindingAdded, Binding: b1})
	if got := destinations(); !same(got, epCoA) || h.Bindings() != 1 {
		t.Fatalf("added: sent to %v", got)
	}
	must(ha.Event{Kind: ha.BindingAdded, Binding: b2}) // simultaneous binding (S bit)
	if got := destinations(); !same(got, epCoA, epCoA2) || h.Bindings() != 2 {
		t.Fatalf("simultaneous: sent to %v", got)
	}
	// A NAT appears between the node and its first care-of address: the
	// engine reports the binding moved to RFC 3519 UDP.
	moved := binding(addrHoA, addrCoA, epNAT, true, ha.EncapIPIP)
	must(ha.Event{Kind: ha.BindingMoved, Binding: moved})
	if got := destinations(); !same(got, epNAT, epCoA2) || h.Bindings() != 2 {
		t.Fatalf("moved: sent to %v", got)
	}
	if d := accepted(kindIPIP, epCoA, ipip(addrCoA, addrHA, rev)); d != DropOuterSourceMismatch {
		t.Errorf("old raw endpoint after the move: %v", d)
	}
	if d := accepted(kindUDP, epNAT, tunnelData(4, rev)); d != DropNone {
		t.Errorf("new endpoint: %v", d)
	}
	if d := accepted(kindIPIP, epCoA2, ipip(addrCoA2, addrHA, rev)); d != DropNone {
		t.Errorf("second binding: %v", d)
	}
	// A renewal publishes nothing.
	shard := h.table.home[homeShardOf(addrHoA)].Load()
	must(ha.Event{Kind: ha.BindingRenewed, Binding: moved})
	if h.table.home[homeShardOf(addrHoA)].Load() != shard {
		t.Error("a renewal copied the shard")
	}
	must(ha.Event{Kind: ha.BindingRemoved, Binding: moved, Reason: "deregistered"})
	if got := destinations(); !same(got, epCoA2) || h.Bindings() != 1 {
		t.Fatalf("removed one: sent to %v", got)
	}
	if d := accepted(kindUDP, epNAT, tunnelData(4, rev)); d != DropOuterSourceMismatch {
		t.Errorf("removed endpoint: %v", d)
	}
	must(ha.Event{Kind: ha.BindingRemoved, Binding: b2, Reason: "expired"})
	if got := destinations(); len(got) != 0 || h.Bindings() != 0 {
		t.Fatalf("removed all: sent to %v", got)
	}
	if d := accepted(kindIPIP, epCoA2, ipip(addrCoA2, addrHA, rev)); d != DropNoBinding {
		t.Errorf("after removal: %v", d)
	}
	// Removing twice, or something never added, is harmless.
	must(ha.Event{Kind: ha.BindingRemoved, Binding: b2})
	// A binding the plane cannot index is refused.
	bad := binding(addrHoA, addrCoA, netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), 0), false, ha.EncapIPIP)
	if h.Apply(ha.Event{Kind: ha.BindingAdded, Binding: bad}) == nil || h.Bindings() != 0 {
		t.Error("IPv6 endpoint accepted")
	}
}

// TestHAForwardDrops covers the forward-path drops.
func TestHAForwardDrops(t *testing.T) {
	mini := binding(addrHoA2, addrCoA2, epCoA2, false, ha.EncapMinimal)
	greNoSock := binding(netip.MustParseAddr("10.1.0.9"), addrCoA2, epCoA2, false, ha.EncapGRE)
	ttl0 := udpPacket(addrCN, addrHoA, 60, false)
	encap.IPv4(ttl0).SetTTL(0)
	encap.IPv4(ttl0).UpdateChecksum()
	for _, tc := range []struct {
		name string
		pkt  []byte
		drop Drop
	}{
		{"ipv6", append([]byte{0x60}, make([]byte, 39)...), DropNotIPv4},
		{"empty", nil, DropNotIPv4},
		{"bad header", []byte{0x45, 0, 0, 10, 0, 0, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, DropMalformed},
		{"no binding", udpPacket(addrCN, addrOther, 60, false), DropNoBinding},
		{"minimal encapsulation", udpPacket(addrCN, addrHoA2, 60, false), DropUnsupportedEncapsulation},
		{"gre without a gre socket", udpPacket(addrCN, greNoSock.HomeAddr, 60, false), DropUnsupportedEncapsulation},
		{"ttl 0", ttl0, DropTTLExpired},
		// RFC 2003 §3.2: never tunnel a datagram back to its source.
		{"source is the tunnel exit", udpPacket(addrCoA, addrHoA, 60, false), DropRoutingLoop},
		// RFC 5944 §4.2.3: already tunnelled from the care-of address
		// to the mobile node.
		{"tunnelled from the care-of address", ipip(addrCoA, addrHoA, udpPacket(addrCN, addrHoA, 60, false)), DropRoutingLoop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _, cs := testHA(t, Options{}, false)
			if err := h.Apply(
				ha.Event{Kind: ha.BindingAdded, Binding: binding(addrHoA, addrCoA, epCoA, false, ha.EncapIPIP)},
				ha.Event{Kind: ha.BindingAdded, Binding: mini},
				ha.Event{Kind: ha.BindingAdded, Binding: greNoSock},
			); err != nil {
				t.Fatal(err)
			}
			fromDevice(h.newWorker(true), tc.pkt)
			if d := drops(&h.ctr); !maps.Equal(d, map[string]int64{tc.drop.String(): 1}) {
				t.Errorf("drops %v, want %v", d, tc.drop)
			}
			for _, c := range cs {
				if len(c.take()) != 0 {
					t.Error("sent something")
				}
			}
		})
	}
	t.Run("nested tunnel from elsewhere is forwarded", func(t *testing.T) {
		h, _, cs := testHA(t, Options{}, false)
		_ = h.Apply(ha.Event{Kind: ha.BindingAdded, Binding: binding(addrHoA, addrCoA, epCoA, false, ha.EncapIPIP)})
		fromDevice(h.newWorker(true), ipip(addrOther, addrHoA, udpPacket(addrCN, addrHoA, 60, false)))
		if len(cs[kindIPIP].take()) != 1 {
			t.Errorf("not forwarded; drops %v", drops(&h.ctr))
		}
	})
	t.Run("write error", func(t *testing.T) {
		h, _, cs := testHA(t, Options{}, false)
		_ = h.Apply(ha.Event{Kind: ha.BindingAdded, Binding: binding(addrHoA, addrCoA, epCoA, false, ha.EncapIPIP)})
		cs[kindIPIP].fail = errTest
		w := h.newWorker(true)
		fromDevice(w, udpPacket(addrCN, addrHoA, 60, false))
		fromDevice(w, udpPacket(addrCN, addrHoA, 60, false))
		s := h.Stats()
		if s.WriteErrors != 1 || s.Drops["write_error"] != 1 || s.Forward.PacketsOut != 1 || len(cs[kindIPIP].take()) != 1 {
			t.Errorf("counters %+v", s)
		}
	})
}

type testError string

func (e testError) Error() string { return string(e) }

const errTest = testError("injected failure")

// TestDeviceMTU checks the arithmetic of the brief: 1500 − 20 − 8 − 4 for
// UDP, − 20 for IP in IP, − 24/28 for GRE.
func TestDeviceMTU(t *testing.T) {
	for _, tc := range []struct {
		m    Mode
		want int
	}{
		{Mode{}, 1480},
		{Mode{UDP: true}, 1468},
		{Mode{Encap: ha.EncapGRE}, 1476},
		{Mode{Encap: ha.EncapGRE, GREKey: true}, 1472},
		{Mode{UDP: true, Encap: ha.EncapGRE, GREKey: true}, 1460},
	} {
		if got := tc.m.InnerMTU(1500); got != tc.want {
			t.Errorf("%+v: %d, want %d", tc.m, got, tc.want)
		}
	}
	cfg := HAConfig{}
	if cfg.DeviceMTU(false) != 1468 || cfg.DeviceMTU(true) != 1460 {
		t.Errorf("HA device MTU %d / %d", cfg.DeviceMTU(false), cfg.DeviceMTU(true))
	}
	mc := MNConfig{Options: Options{PathMTU: 1400}}
	if mc.DeviceMTU() != 1368 {
		t.Errorf("MN device MTU %d", mc.DeviceMTU())
	}
	if (Mode{}).InnerMTU(40) != MinPathMTU {
		t.Error("no floor")
	}
	if mssFor(1468) != 1428 {
		t.Error("MSS")
	}
	_ = binary.BigEndian
}
