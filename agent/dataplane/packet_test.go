package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/encap"
	"github.com/mip4d/mip4d/agent/ha"
)

// mssOf returns the MSS option of a TCP SYN.
func mssOf(t *testing.T, ip encap.IPv4) uint16 {
	t.Helper()
	tcp := ip.Payload()
	for i := tcpHeaderMinLen; i < int(tcp[12]>>4)*4; {
		switch tcp[i] {
		case ipOptionEnd:
			i = len(tcp)
			continue
		case ipOptionNOP:
			i++
			continue
		}
		if tcp[i] == tcpOptMSS {
			return binary.BigEndian.Uint16(tcp[i+2:])
		}
		i += int(tcp[i+1])
	}
	t.Fatal("no MSS option")
	return 0
}

// TestClampMSS lowers the MSS of SYNs and SYN-ACKs, at even and odd
// option offsets, and checks the incrementally patched checksum against
// a full recomputation.
func TestClampMSS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pkt     []byte
		mss     uint16
		changed bool
		want    uint16
	}{
		{"syn even offset", tcpSYN(addrCN, addrHoA, 1460, 0, false), 1428, true, 1428},
		{"syn odd offset", tcpSYN(addrCN, addrHoA, 1460, 1, false), 1428, true, 1428},
		{"syn-ack odd offset", tcpSYN(addrHoA, addrCN, 65495, 3, true), 1420, true, 1420},
		{"already small", tcpSYN(addrCN, addrHoA, 1200, 0, false), 1428, false, 1200},
		{"equal", tcpSYN(addrCN, addrHoA, 1428, 2, false), 1428, false, 1428},
		{"not a syn", func() []byte {
			p := tcpSYN(addrCN, addrHoA, 1460, 0, false)
			p[ipv4HeaderLen+13] = 0x10 // ACK only
			binary.BigEndian.PutUint16(p[ipv4HeaderLen+16:], tcpChecksum(encap.IPv4(p)))
			return p
		}(), 1428, false, 1460},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ip := encap.IPv4(slices.Clone(tc.pkt))
			if got := clampMSS(ip, tc.mss); got != tc.changed {
				t.Errorf("changed %v, want %v", got, tc.changed)
			}
			if got := mssOf(t, ip); got != tc.want {
				t.Errorf("MSS %d, want %d", got, tc.want)
			}
			if got, want := binary.BigEndian.Uint16(ip[ipv4HeaderLen+16:]), tcpChecksum(ip); got != want {
				t.Errorf("TCP checksum %#04x, want %#04x", got, want)
			}
		})
	}
	// Malformed option lists and non-TCP datagrams are left alone.
	for _, p := range [][]byte{
		udpPacket(addrCN, addrHoA, 60, false),
		func() []byte { p := tcpSYN(addrCN, addrHoA, 1460, 0, false); p[ipv4HeaderLen+21] = 0; return p }(),  // option length 0
		func() []byte { p := tcpSYN(addrCN, addrHoA, 1460, 0, false); p[ipv4HeaderLen+21] = 40; return p }(), // past the header
		func() []byte { p := tcpSYN(addrCN, addrHoA, 1460, 0, false); p[ipv4HeaderLen+12] = 0xf0; return p }(),
		ipPacket(addrCN, addrHoA, protoTCP, false, make([]byte, 10)),
	} {
		before := slices.Clone(p)
		if clampMSS(encap.IPv4(p), 536) || !bytes.Equal(p, before) {
			t.Errorf("changed % x", before)
		}
	}
}

// TestMSSThroughPlanes clamps SYNs in both directions of a tunnel.
func TestMSSThroughPlanes(t *testing.T) {
	h, dev, cs := testHA(t, Options{}, false)
	_ = h.Apply(ha.Event{Kind: ha.BindingAdded, Binding: binding(addrHoA, addrCoA, epNAT, true, ha.EncapIPIP)})
	w := h.newWorker(true)
	fromDevice(w, tcpSYN(addrCN, addrHoA, 1460, 1, false))
	sent := cs[kindUDP].take()
	if len(sent) != 1 {
		t.Fatalf("sent %d", len(sent))
	}
	in := encap.IPv4(sent[0].Buf[tdHeaderLen:])
	if mssOf(t, in) != 1428 || binary.BigEndian.Uint16(in[ipv4HeaderLen+16:]) != tcpChecksum(in) {
		t.Errorf("forward SYN MSS %d", mssOf(t, in))
	}
	rw := h.newWorker(false)
	fromConn(rw, kindUDP, epNAT, tunnelData(4, tcpSYN(addrHoA, addrCN, 1460, 0, true)))
	got := dev.take()
	if len(got) != 1 || mssOf(t, got[0]) != 1428 || binary.BigEndian.Uint16(got[0][ipv4HeaderLen+16:]) != tcpChecksum(got[0]) {
		t.Errorf("reverse SYN-ACK %x", got)
	}
	if h.Stats().MSSClamped != 2 {
		t.Errorf("clamped %d", h.Stats().MSSClamped)
	}
}

// reassemble puts fragments back together (RFC 791 §3.2), for checking.
func reassemble(t *testing.T, frags []encap.IPv4) []byte {
	t.Helper()
	first := frags[0]
	var data []byte
	for i, f := range frags {
		if !f.IsChecksumValid() || int(f.TotalLength()) != len(f) {
			t.Fatalf("fragment %d malformed", i)
		}
		if int(f.FragmentOffset())*8 != len(data) {
			t.Fatalf("fragment %d at %d, want %d", i, int(f.FragmentOffset())*8, len(data))
		}
		if f.MF() != (i < len(frags)-1) {
			t.Fatalf("fragment %d MF %v", i, f.MF())
		}
		if f.ID() != first.ID() || f.Protocol() != first.Protocol() || f.Src() != first.Src() || f.Dst() != first.Dst() {
			t.Fatalf("fragment %d header differs", i)
		}
		data = append(data, f.Payload()...)
	}
	out := slices.Clone([]byte(first[:first.HeaderLength()]))
	out = append(out, data...)
	h := encap.IPv4(out)
	h.SetTotalLength(uint16(len(out)))
	h.SetFlagsFragmentOffset(0, 0)
	h.UpdateChecksum()
	return out
}

// TestFragmenter cuts a datagram with options: every fragment fits, the
// first keeps every option, the others only the copied ones (RFC 791
// §3.1), and the pieces reassemble to the original.
func TestFragmenter(t *testing.T) {
	opts := []byte{
		0x07, 7, 4, 0, 0, 0, 0, // Record Route (not copied)
		ipOptionNOP,
		0x83, 7, 4, 1, 2, 3, 4, // Loose Source Route (copied)
		ipOptionNOP, ipOptionNOP, ipOptionEnd,
	}
	orig := make([]byte, 24+len(opts)+1000)
	ip := encap.IPv4(orig)
	ip.Encode(&encap.IPv4Fields{TotalLength: uint16(len(orig)), ID: 99, TTL: 9, Protocol: 17, Src: addrCN, Dst: addrHoA, Options: append(opts, 0, 0, 0, 0)})
	ip.UpdateChecksum()
	for i := ip.HeaderLength(); i < len(orig); i++ {
		orig[i] = byte(i * 7)
	}
	var f fragmenter
	if !f.init(ip, 300) {
		t.Fatal("init")
	}
	var frags []encap.IPv4
	for !f.finished {
		b := make([]byte, 300)
		n := f.next(b)
		if n > 300 {
			t.Fatalf("fragment of %d octets", n)
		}
		frags = append(frags, encap.IPv4(b[:n]))
	}
	if len(frags) != 4 {
		t.Errorf("%d fragments", len(frags))
	}
	if !bytes.Equal(frags[0].Options(), ip.Options()) {
		t.Errorf("first fragment options % x", frags[0].Options())
	}
	for _, fr := range frags[1:] {
		if want := []byte{0x83, 7, 4, 1, 2, 3, 4, 0}; !bytes.Equal(fr.Options(), want) {
			t.Errorf("later fragment options % x, want % x", fr.Options(), want)
		}
	}
	got := reassemble(t, frags)
	if !bytes.Equal(got[ip.HeaderLength():], orig[ip.HeaderLength():]) {
		t.Error("reassembled data differs")
	}
	// A fragment is fragmented further: offsets add up, MF stays set.
	ip.SetFlagsFragmentOffset(encap.IPv4FlagMF, 100)
	ip.UpdateChecksum()
	f.init(ip, 600)
	b := make([]byte, 600)
	for !f.finished {
		n := f.next(b)
		fr := encap.IPv4(b[:n])
		if !fr.MF() {
			t.Error("MF lost on a fragment of a fragment")
		}
		if fr.FragmentOffset() < 100 {
			t.Errorf("offset %d", fr.FragmentOffset())
		}
	}
	if f.init(ip, 40) {
		t.Error("an MTU below the header plus 8 octets was accepted")
	}
}

// TestTooBig sends a datagram that does not fit the tunnel: with DF an
// ICMP fragmentation needed goes back through the device (RFC 1191,
// RFC 2003 §5.1); without DF the inner datagram is fragmented before
// encapsulation (RFC 3519 §4.8).
func TestTooBig(t *testing.T) {
	setup := func(t *testing.T) (*HA, *fakeDevice, [numKinds]*fakeConn, *worker) {
		h, dev, cs := testHA(t, Options{}, false)
		_ = h.Apply(ha.Event{Kind: ha.BindingAdded, Binding: binding(addrHoA, addrCoA, epNAT, true, ha.EncapIPIP)})
		return h, dev, cs, h.newWorker(true)
	}
	t.Run("DF set", func(t *testing.T) {
		h, dev, cs, w := setup(t)
		big := udpPacket(addrCN, addrHoA, 1500, true)
		fromDevice(w, big)
		if len(cs[kindUDP].take()) != 0 {
			t.Error("sent it anyway")
		}
		got := dev.take()
		if len(got) != 1 {
			t.Fatalf("device got %d datagrams", len(got))
		}
		ic := encap.IPv4(got[0])
		p := ic.Payload()
		switch {
		case !ic.IsChecksumValid() || ic.Protocol() != protoICMP:
			t.Error("bad ICMP header")
		case ic.Src() != addrHA || ic.Dst() != addrCN:
			t.Errorf("ICMP %v -> %v", ic.Src(), ic.Dst())
		case p[0] != 3 || p[1] != 4:
			t.Errorf("ICMP type %d code %d", p[0], p[1])
		case binary.BigEndian.Uint16(p[6:]) != 1468:
			t.Errorf("next-hop MTU %d, want 1468", binary.BigEndian.Uint16(p[6:]))
		case encap.Checksum(p) != 0:
			t.Error("ICMP checksum")
		case len(ic) != icmpMaxErrorLen || !bytes.Equal(p[8:], big[:len(p)-8]):
			t.Errorf("quote of %d octets", len(p)-8)
		}
		s := h.Stats()
		if s.FragNeededSent != 1 || s.Drops["too_big"] != 1 {
			t.Errorf("counters %+v", s)
		}
	})
	t.Run("DF clear", func(t *testing.T) {
		h, dev, cs, w := setup(t)
		big := udpPacket(addrCN, addrHoA, 3000, false)
		fromDevice(w, big)
		sent := cs[kindUDP].take()
		if len(sent) != 3 {
			t.Fatalf("%d fragments", len(sent))
		}
		var frags []encap.IPv4
		for _, m := range sent {
			if len(m.Buf) > 1500-28 || m.Addr != epNAT {
				t.Errorf("message of %d octets to %v", len(m.Buf), m.Addr)
			}
			frags = append(frags, encap.IPv4(m.Buf[tdHeaderLen:]))
		}
		if !bytes.Equal(reassemble(t, frags), big) {
			t.Error("fragments do not reassemble to the datagram")
		}
		s := h.Stats()
		if s.Fragmented != 1 || s.FragmentsOut != 3 || s.Forward.PacketsOut != 3 || len(s.Drops) != 0 || len(dev.take()) != 0 {
			t.Errorf("counters %+v", s)
		}
	})
	t.Run("many fragments and two bindings", func(t *testing.T) {
		// A jumbo datagram to a node with two bindings needs more
		// buffers than one batch has: the worker flushes and reuses.
		h, _, cs := testHA(t, Options{MaxPacket: 9000, Batch: 4}, false)
		_ = h.Apply(
			ha.Event{Kind: ha.BindingAdded, Binding: binding(addrHoA, addrCoA, epCoA, false, ha.EncapIPIP)},
			ha.Event{Kind: ha.BindingAdded, Binding: binding(addrHoA, addrCoA2, epNAT, true, ha.EncapIPIP)},
		)
		big := udpPacket(addrCN, addrHoA, 9000, false)
		fromDevice(h.newWorker(true), big)
		raw, udp := cs[kindIPIP].take(), cs[kindUDP].take()
		var fr, fu []encap.IPv4
		for _, m := range raw {
			fr = append(fr, encap.IPv4(m.Buf[ipv4HeaderLen:]))
		}
		for _, m := range udp {
			fu = append(fu, encap.IPv4(m.Buf[tdHeaderLen:]))
		}
		if len(fr) != 7 || len(fu) != 7 || !bytes.Equal(reassemble(t, fr), big) || !bytes.Equal(reassemble(t, fu), big) {
			t.Errorf("%d and %d fragments", len(fr), len(fu))
		}
	})
	t.Run("no ICMP about ICMP errors, and a rate limit", func(t *testing.T) {
		h, dev, _, w := setup(t)
		icmpErr := make([]byte, 1500-ipv4HeaderLen)
		icmpErr[0] = 3
		fromDevice(w, ipPacket(addrCN, addrHoA, protoICMP, true, icmpErr))
		if len(dev.take()) != 0 {
			t.Error("answered an ICMP error with one")
		}
		h.icmp.limit = 2
		for range 5 {
			fromDevice(w, udpPacket(addrCN, addrHoA, 1500, true))
		}
		n := len(dev.take())
		s := h.Stats()
		if n+int(s.ICMPRateLimited) != 5 || n > 2+2 { // the second may roll over
			t.Errorf("%d sent, %d limited", n, s.ICMPRateLimited)
		}
		if s.Drops["too_big"] != 6 {
			t.Errorf("drops %v", s.Drops)
		}
	})
}

func TestMayAnswerWithICMP(t *testing.T) {
	for _, tc := range []struct {
		src, dst string
		want     bool
	}{
		{"192.0.2.2", "10.1.0.2", true},
		{"0.0.0.0", "10.1.0.2", false},
		{"224.0.0.1", "10.1.0.2", false},
		{"192.0.2.2", "255.255.255.255", false},
		{"192.0.2.2", "239.1.1.1", false},
		{"127.0.0.1", "10.1.0.2", false},
	} {
		p := udpPacket(netip.MustParseAddr(tc.src), netip.MustParseAddr(tc.dst), 40, true)
		if got := mayAnswerWithICMP(encap.IPv4(p)); got != tc.want {
			t.Errorf("%s -> %s: %v", tc.src, tc.dst, got)
		}
	}
	p := udpPacket(addrCN, addrHoA, 40, false)
	encap.IPv4(p).SetFlagsFragmentOffset(0, 10)
	if mayAnswerWithICMP(encap.IPv4(p)) {
		t.Error("answered a non-first fragment")
	}
}

func TestRateLimiter(t *testing.T) {
	r := rateLimiter{limit: 3}
	t0 := time.Unix(1000, 0)
	n := 0
	for range 10 {
		if r.allow(t0) {
			n++
		}
	}
	if n != 3 || !r.allow(t0.Add(time.Second)) {
		t.Errorf("allowed %d", n)
	}
}
