package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/mip4d/mip4d/agent/encap"
	"github.com/mip4d/mip4d/agent/ha"
)

// fuzzHA is a home agent plane over recording fakes with the bindings of
// TestHAReverse.
func fuzzHA(t testing.TB) (*HA, *fakeDevice, [numKinds]*fakeConn) {
	h, dev, cs := testHA(t, Options{}, true)
	if err := h.Apply(haReverseBindings()...); err != nil {
		t.Fatal(err)
	}
	return h, dev, cs
}

var fuzzEndpoints = []netip.AddrPort{epCoA, epNAT, epCoA2, netip.AddrPortFrom(addrNAT, 40001), netip.AddrPortFrom(addrOther, 0)}

// FuzzHAReceive feeds arbitrary datagrams to the home agent's sockets.
// Whatever the bytes: no panic, and nothing reaches the device unless it
// is a whole IPv4 datagram from a bound home address with a correct
// header checksum; replies go only to the endpoint the datagram came from.
func FuzzHAReceive(f *testing.F) {
	up := udpPacket(addrHoA, addrCN, 80, false)
	up2 := udpPacket(addrHoA2, addrCN, 80, false)
	f.Add(uint8(kindIPIP), uint8(0), ipip(addrCoA, addrHA, up))
	f.Add(uint8(kindUDP), uint8(1), tunnelData(4, up2))
	f.Add(uint8(kindUDP), uint8(1), tunnelData(4, echo(addrHoA2, addrHA, icmpEchoRequest, 1, 1)))
	f.Add(uint8(kindUDP), uint8(1), tunnelData(47, append([]byte{0x20, 0, 8, 0, 0, 0, 0, 7}, up2...)))
	f.Add(uint8(kindGRE), uint8(2), gre(addrCoA2, addrHA, true, 7, udpPacket(netip.MustParseAddr("10.1.0.4"), addrCN, 80, false)))
	f.Add(uint8(kindUDP), uint8(1), tunnelData(4, tcpSYN(addrHoA2, addrCN, 1460, 1, true)))
	f.Add(uint8(kindUDP), uint8(1), []byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, k, ep uint8, data []byte) {
		h, dev, cs := fuzzHA(t)
		from := fuzzEndpoints[int(ep)%len(fuzzEndpoints)]
		w := h.newWorker(false)
		fromConn(w, kind(k%uint8(numKinds)), from, data)
		homes := map[netip.Addr]bool{addrHoA: true, addrHoA2: true, netip.MustParseAddr("10.1.0.4"): true}
		for _, p := range dev.take() {
			ip := encap.IPv4(p)
			if !ip.IsValid(len(p)) || int(ip.TotalLength()) != len(p) || !ip.IsChecksumValid() || !homes[ip.Src()] {
				t.Fatalf("wrote % x to the device", p)
			}
		}
		for k, c := range cs {
			for _, m := range c.take() {
				if kind(k) == kindUDP && m.Addr != from || kind(k) != kindUDP && m.Addr.Addr() != encap.IPv4(data).Src() {
					t.Fatalf("replied to %v for a datagram from %v", m.Addr, from)
				}
			}
		}
	})
}

// FuzzHAForward feeds arbitrary datagrams to the home agent's device
// path: no panic, and nothing sent is larger than the path MTU once the
// kernel adds what it adds (no black holes), nor goes anywhere but a
// binding's endpoint.
func FuzzHAForward(f *testing.F) {
	f.Add(udpPacket(addrCN, addrHoA, 1500, false))
	f.Add(udpPacket(addrCN, addrHoA2, 3000, false))
	f.Add(udpPacket(addrCN, addrHoA2, 1500, true))
	f.Add(tcpSYN(addrCN, addrHoA2, 1460, 1, true))
	f.Add(ipip(addrCoA, addrHoA, udpPacket(addrCN, addrHoA, 60, false)))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, _, cs := fuzzHA(t)
		if len(data) > h.opt.MaxPacket {
			return
		}
		fromDevice(h.newWorker(true), data)
		eps := map[netip.AddrPort]bool{epCoA: true, epNAT: true, epCoA2: true}
		for k, c := range cs {
			for _, m := range c.take() {
				size := len(m.Buf)
				if kind(k) == kindUDP {
					size += ipv4HeaderLen + udpHeaderLen
				}
				if size > DefaultPathMTU || !eps[m.Addr] {
					t.Fatalf("sent %d octets to %v", size, m.Addr)
				}
			}
		}
	})
}

// FuzzMNReceive feeds arbitrary datagrams to the mobile node's sockets:
// no panic, and only datagrams for the home address (or multicast) reach
// the device.
func FuzzMNReceive(f *testing.F) {
	f.Add(uint8(kindUDP), true, tunnelData(4, udpPacket(addrCN, addrHoA, 80, false)))
	f.Add(uint8(kindIPIP), false, ipip(addrHA, addrCoA, udpPacket(addrCN, addrHoA, 80, false)))
	f.Add(uint8(kindUDP), true, tunnelData(4, echo(addrHA, addrHoA, icmpEchoReply, 1, 1)))
	f.Fuzz(func(t *testing.T, k uint8, udp bool, data []byte) {
		m, dev, _ := testMN(t, nil)
		if udp {
			m.SetTunnel(udpTunnel)
		} else {
			m.SetTunnel(rawTunnel)
		}
		fromConn(m.newWorker(false), kind(k%uint8(numKinds)), epHA, data)
		for _, p := range dev.take() {
			ip := encap.IPv4(p)
			if !ip.IsValid(len(p)) || !ip.IsChecksumValid() || ip.Dst() != addrHoA && !ip.Dst().IsMulticast() && !isLimitedBroadcast(ip.Dst()) {
				t.Fatalf("wrote % x to the device", p)
			}
		}
	})
}

// FuzzClampMSS: whatever the segment, clamping never breaks a correct TCP
// checksum and never raises an MSS.
func FuzzClampMSS(f *testing.F) {
	f.Add(tcpSYN(addrCN, addrHoA, 1460, 0, false)[ipv4HeaderLen:], uint16(1428))
	f.Add(tcpSYN(addrCN, addrHoA, 1460, 1, true)[ipv4HeaderLen:], uint16(536))
	f.Add(tcpSYN(addrCN, addrHoA, 9000, 3, true)[ipv4HeaderLen:], uint16(1380))
	f.Fuzz(func(t *testing.T, seg []byte, mss uint16) {
		if len(seg) < tcpHeaderMinLen || len(seg) > 1400 {
			return
		}
		p := ipPacket(addrCN, addrHoA, protoTCP, true, seg)
		ip := encap.IPv4(p)
		binary.BigEndian.PutUint16(p[ipv4HeaderLen+16:], tcpChecksum(ip))
		before := string(p)
		changed := clampMSS(ip, mss)
		if binary.BigEndian.Uint16(p[ipv4HeaderLen+16:]) != tcpChecksum(ip) {
			t.Fatalf("checksum broken: % x", seg)
		}
		if !changed && string(p) != before {
			t.Fatal("changed without saying so")
		}
	})
}

// FuzzFragmenter: the fragments of any datagram fit the MTU and
// reassemble to it.
func FuzzFragmenter(f *testing.F) {
	f.Add(uint16(3000), uint16(1468), uint8(0))
	f.Add(uint16(200), uint16(68), uint8(12))
	f.Fuzz(func(t *testing.T, size, mtu uint16, optLen uint8) {
		optLen = optLen % 41 &^ 3
		if int(size) < ipv4HeaderLen+int(optLen)+1 || size > 9000 {
			return
		}
		opts := make([]byte, optLen)
		for i := range opts {
			opts[i] = ipOptionNOP
		}
		b := make([]byte, size)
		ip := encap.IPv4(b)
		ip.Encode(&encap.IPv4Fields{TotalLength: size, ID: 5, TTL: 9, Protocol: 17, Src: addrCN, Dst: addrHoA, Options: opts})
		ip.UpdateChecksum()
		for i := ip.HeaderLength(); i < len(b); i++ {
			b[i] = byte(i)
		}
		var fr fragmenter
		if !fr.init(ip, int(mtu)) {
			return
		}
		var frags []encap.IPv4
		for !fr.finished {
			out := make([]byte, max(int(mtu), 0)+8)
			n := fr.next(out)
			if n > int(mtu) || n == 0 {
				t.Fatalf("fragment of %d for MTU %d", n, mtu)
			}
			frags = append(frags, encap.IPv4(out[:n]))
		}
		got := reassemble(t, frags)
		if string(got[ip.HeaderLength():]) != string(b[ip.HeaderLength():]) {
			t.Fatal("reassembly differs")
		}
	})
}

// The control message converts to and from the home agent engine's
// packet.
var (
	_ = ha.Packet(ControlMessage{})
	_ = ControlMessage(ha.Packet{})
)

// FuzzSegmenter: whatever the virtio_net_hdr and super-packet, the
// segmenter either refuses them or cuts segments that fit, carry correct
// checksums (by the references), and add up to the payload in sequence.
func FuzzSegmenter(f *testing.F) {
	tso := virtioNetHdr{flags: virtioFlagNeedsCsum, gsoType: virtioGSOTCPv4, gsoSize: 1400, csumStart: 20, csumOffset: 16}
	uso := virtioNetHdr{flags: virtioFlagNeedsCsum, gsoType: virtioGSOUDPL4, gsoSize: 4, csumStart: 20, csumOffset: 6}
	enc := func(h virtioNetHdr) []byte { b := make([]byte, virtioNetHdrLen); h.encode(b); return b }
	big := bulk(1, 5000, 0)[0]
	f.Add(enc(tso), big, uint16(1500))
	f.Add(enc(tso), big, uint16(1400))
	tso.gsoSize = 4
	f.Add(enc(tso), unhex(f, goldenTSO), uint16(100))
	f.Add(enc(uso), unhex(f, goldenUSO), uint16(100))
	f.Fuzz(func(t *testing.T, hb, pkt []byte, maxLen uint16) {
		if len(hb) < virtioNetHdrLen {
			return
		}
		var h virtioNetHdr
		h.decode(hb)
		var s segmenter
		orig := bytes.Clone(pkt)
		if !s.init(&h, pkt, int(maxLen)) {
			if s.more() {
				t.Fatal("refused but has segments")
			}
			return
		}
		hl := int(pkt[0]&0xf) * 4
		thl := udpHeaderLen
		if pkt[9] == protoTCP {
			thl = int(pkt[hl+12]>>4) * 4
		}
		var payload []byte
		seq := binary.BigEndian.Uint32(orig[hl+4:])
		for i := 0; s.more(); i++ {
			dst := make([]byte, maxLen)
			n := s.next(dst)
			if n == 0 || n > int(maxLen) || n > int(h.gsoSize)+hl+thl || i > maxSuperPacket {
				t.Fatalf("segment %d: %d octets", i, n)
			}
			seg := dst[:n]
			if int(binary.BigEndian.Uint16(seg[2:])) != n || !checksumsOK(seg) {
				t.Fatalf("segment %d: % x", i, seg)
			}
			if pkt[9] == protoTCP {
				if got := binary.BigEndian.Uint32(seg[hl+4:]); got != seq+uint32(len(payload)) {
					t.Fatalf("segment %d: seq %d", i, got)
				}
			} else if int(binary.BigEndian.Uint16(seg[hl+4:])) != n-hl {
				t.Fatalf("segment %d: UDP length", i)
			}
			payload = append(payload, seg[hl+thl:]...)
		}
		if !bytes.Equal(payload, orig[hl+thl:]) {
			t.Fatal("payloads differ")
		}
	})
}

// FuzzReadFrame: any read of the device either parses (a datagram of at
// most the buffer, or a super-packet for the segmenter) or gives -1.
func FuzzReadFrame(f *testing.F) {
	syn := tcpSYN(addrHoA, addrCN, 1460, 1, false)
	f.Add(append(make([]byte, virtioNetHdrLen), syn...), uint16(1500))
	f.Add(append([]byte{virtioFlagNeedsCsum, 0, 0, 0, 0, 0, 20, 0, 16, 0}, syn...), uint16(1500))
	f.Add(append([]byte{virtioFlagNeedsCsum, virtioGSOTCPv4, 0, 0, 4, 0, 20, 0, 16, 0}, unhex(f, goldenTSO)...), uint16(1500))
	f.Fuzz(func(t *testing.T, frame []byte, dstLen uint16) {
		var s segmenter
		dst := make([]byte, dstLen)
		n, super := readFrame(frame, dst, &s)
		switch {
		case super && (n != -1 || !s.more()):
			t.Fatalf("super-packet with size %d", n)
		case !super && s.more():
			t.Fatal("segmenter set up for a datagram")
		case n > int(dstLen) || n < -1:
			t.Fatalf("size %d for a buffer of %d", n, dstLen)
		case n >= 0 && n != len(frame)-virtioNetHdrLen:
			t.Fatalf("size %d of a %d-octet frame", n, len(frame))
		}
		for s.more() {
			if s.next(dst) == 0 {
				break
			}
		}
	})
}

// splitPackets cuts fuzz data into datagrams, each a 2-octet length and
// its octets.
func splitPackets(data []byte) [][]byte {
	var pkts [][]byte
	for len(data) >= 2 && len(pkts) < 2*maxCoalesce {
		n := int(binary.BigEndian.Uint16(data))
		data = data[2:]
		n = min(n, len(data))
		pkts = append(pkts, data[:n:n])
		data = data[n:]
	}
	return pkts
}

func joinPackets(pkts ...[]byte) []byte {
	var b []byte
	for _, p := range pkts {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	return b
}

// FuzzCoalesce: whatever the batch, every datagram is written once; a
// group is only of datagrams with correct checksums; and its super-packet,
// cut again as the kernel would, gives back the group's datagrams (but
// for the IPv4 Identification, which DF makes meaningless, and the header
// checksum that covers it).
func FuzzCoalesce(f *testing.F) {
	a := bulk(4, 300, 100)
	other := flow()
	other.sport++
	other.payload = make([]byte, 300)
	f.Add(joinPackets(a...))
	f.Add(joinPackets(a[0], other.build(), a[1], udpPacket(addrHoA, addrCN, 60, true), a[2], a[3]))
	f.Add(joinPackets(bulk(70, 20, 0)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkts := splitPackets(data)
		orig := make([][]byte, len(pkts))
		for i := range pkts {
			orig[i] = bytes.Clone(pkts[i])
		}
		var c coalescer
		c.reset(len(pkts))
		seen := make([]bool, len(pkts))
		for i := range pkts {
			if c.written(i) {
				continue
			}
			g := c.next(pkts, i)
			for _, j := range g {
				if seen[j] || j < i {
					t.Fatalf("datagram %d written twice or early", j)
				}
				seen[j] = true
			}
			if len(g) == 1 {
				if !bytes.Equal(pkts[i], orig[i]) {
					t.Fatalf("datagram %d changed", i)
				}
				continue
			}
			for _, j := range g {
				if !checksumsOK(orig[j]) {
					t.Fatalf("datagram %d with a bad checksum merged", j)
				}
			}
			sp, vh := superOf(pkts, g)
			if len(sp) > maxSuperPacket {
				t.Fatalf("super-packet of %d", len(sp))
			}
			segs := cutAll(t, vh, bytes.Clone(sp), maxSuperPacket)
			if len(segs) != len(g) {
				t.Fatalf("group of %d cut into %d", len(g), len(segs))
			}
			for k, j := range g {
				got, want := bytes.Clone(segs[k]), bytes.Clone(orig[j])
				for _, b := range [][]byte{got, want} {
					b[4], b[5], b[10], b[11] = 0, 0, 0, 0
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("segment %d of group %v:\n got % x\nwant % x", k, g, got, want)
				}
			}
			if !completeChecksum(sp, int(vh.csumStart), int(vh.csumOffset)) || !checksumsOK(sp) {
				t.Fatal("super-packet checksum")
			}
		}
		for i, s := range seen {
			if !s {
				t.Fatalf("datagram %d never written", i)
			}
		}
	})
}

// FuzzHAReceiveGRO is FuzzHAReceive for a UDP GRO message: whatever the
// octets and the segment size, each datagram cut from it is held to the
// same rules, and a reply never reaches into the datagram before it.
func FuzzHAReceiveGRO(f *testing.F) {
	up2 := tunnelData(4, udpPacket(addrHoA2, addrCN, 44, false))
	ka := tunnelData(4, echo(addrHoA2, addrHA, icmpEchoRequest, 1, 1))
	f.Add(uint16(48), append(append(bytes.Clone(up2), ka...), up2[:30]...))
	f.Add(uint16(48), append(append(bytes.Clone(ka), ka...), ka...))
	f.Add(uint16(1), []byte{4, 4, 0, 0, 0x45})
	f.Fuzz(func(t *testing.T, seg uint16, data []byte) {
		if seg == 0 || len(data) > DefaultMaxPacket {
			return
		}
		h, dev, cs := fuzzHA(t)
		w := h.newWorker(false)
		m := &w.msgs[0]
		m.N = copy(m.Buf, data)
		m.Seg, m.Addr, m.Local = int(seg), epNAT, addrHA
		orig := bytes.Clone(m.Buf[:m.N])
		w.connBatch(kindUDP, 1)
		for _, p := range dev.take() {
			ip := encap.IPv4(p)
			if !ip.IsValid(len(p)) || int(ip.TotalLength()) != len(p) || !ip.IsChecksumValid() || ip.Src() != addrHoA2 {
				t.Fatalf("wrote % x to the device", p)
			}
		}
		for _, m := range cs[kindUDP].take() {
			if m.Addr != epNAT {
				t.Fatalf("replied to %v", m.Addr)
			}
		}
		// Only keepalives (answered in place) and TCP SYNs (MSS clamped)
		// are rewritten, each within its own datagram: the octets of
		// every other datagram are untouched.
		for off := 0; off < len(orig); off += int(seg) {
			d := orig[off:min(off+int(seg), len(orig))]
			if !mayRewrite(d) && !bytes.Equal(d, m.Buf[off:off+len(d)]) {
				t.Fatalf("datagram at %d changed", off)
			}
		}
	})
}

// mayRewrite reports whether the plane may rewrite tunnel data d in place:
// an echo request to the home agent, or TCP.
func mayRewrite(d []byte) bool {
	if len(d) < tdHeaderLen+ipv4HeaderLen || d[0] != 4 {
		return false
	}
	ip := encap.IPv4(d[tdHeaderLen:])
	return ip.IsValid(len(ip)) && (ip.Protocol() == protoICMP && ip.Dst() == addrHA || ip.Protocol() == protoTCP)
}
