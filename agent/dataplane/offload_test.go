package dataplane

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"github.com/mip4d/mip4d/agent/encap"
	"net/netip"
	"strings"
	"testing"

	"github.com/mip4d/mip4d/agent/internal/pcap"
	"github.com/mip4d/mip4d/agent/internal/tshark"
)

// The references the offload code is checked against: RFC 1071 sums an
// octet pair at a time, and checksums over a copy with the field zeroed.

// refSum is the one's complement sum of the big-endian 16-bit words of b
// (a trailing odd octet padded with zero), folded, not complemented.
func refSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// refIPChecksum is the header checksum ip should carry.
func refIPChecksum(ip []byte) uint16 {
	h := bytes.Clone(ip[:int(ip[0]&0xf)*4])
	h[10], h[11] = 0, 0
	return ^refSum(h)
}

// refL4Checksum is the TCP (csumOff 16) or UDP (6) checksum ip's segment
// should carry (RFC 793 §3.1, RFC 768), before UDP's zero-to-0xffff rule.
func refL4Checksum(ip []byte, csumOff int) uint16 {
	hl := int(ip[0]&0xf) * 4
	seg := ip[hl:]
	ph := make([]byte, 12+len(seg))
	copy(ph[0:8], ip[12:20])
	ph[9] = ip[9]
	binary.BigEndian.PutUint16(ph[10:], uint16(len(seg)))
	copy(ph[12:], seg)
	ph[12+csumOff], ph[12+csumOff+1] = 0, 0
	return ^refSum(ph)
}

// checksumsOK reports whether ip's header and TCP or UDP checksums are
// what the references say.
func checksumsOK(ip []byte) bool {
	off := tcpCsumOffset
	if ip[9] == protoUDP {
		off = udpCsumOffset
	}
	hl := int(ip[0]&0xf) * 4
	want := refL4Checksum(ip, off)
	if ip[9] == protoUDP && want == 0 {
		want = 0xffff
	}
	return binary.BigEndian.Uint16(ip[10:]) == refIPChecksum(ip) && binary.BigEndian.Uint16(ip[hl+off:]) == want
}

// tcpSeg describes a TCP/IPv4 segment for tests.
type tcpSeg struct {
	src, dst     netip.Addr
	sport, dport uint16
	seq, ack     uint32
	flags        uint8
	win          uint16
	opts         []byte
	id           uint16
	tos, ttl     uint8
	noDF         bool
	payload      []byte
}

// flow is a bulk TCP flow from the home address to cn with timestamps.
func flow() tcpSeg {
	return tcpSeg{
		src: addrHoA, dst: addrCN, sport: 40000, dport: 5201, seq: 0xfffff000, ack: 77, flags: tcpFlagACK, win: 501,
		opts: []byte{1, 1, 8, 10, 0, 0, 1, 0, 0, 0, 2, 0}, id: 0xfff0, ttl: 64,
	}
}

// build returns the segment with correct checksums (the references').
func (s tcpSeg) build() []byte {
	thl := tcpHeaderMinLen + len(s.opts)
	b := make([]byte, ipv4HeaderLen+thl+len(s.payload))
	b[0], b[1] = 0x45, s.tos
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], s.id)
	if !s.noDF {
		b[6] = 0x40
	}
	b[8], b[9] = s.ttl, protoTCP
	*(*[4]byte)(b[12:]) = s.src.As4()
	*(*[4]byte)(b[16:]) = s.dst.As4()
	t := b[ipv4HeaderLen:]
	binary.BigEndian.PutUint16(t[0:], s.sport)
	binary.BigEndian.PutUint16(t[2:], s.dport)
	binary.BigEndian.PutUint32(t[4:], s.seq)
	binary.BigEndian.PutUint32(t[8:], s.ack)
	t[12], t[13] = byte(thl/4)<<4, s.flags
	binary.BigEndian.PutUint16(t[14:], s.win)
	copy(t[tcpHeaderMinLen:], s.opts)
	copy(t[thl:], s.payload)
	binary.BigEndian.PutUint16(b[10:], refIPChecksum(b))
	binary.BigEndian.PutUint16(t[16:], refL4Checksum(b, tcpCsumOffset))
	return b
}

// bulk returns n consecutive segments of flow() with size octets of
// payload each (the last one last octets, if not 0), IDs counting up.
func bulk(n, size, last int) [][]byte {
	s := flow()
	var out [][]byte
	for i := range n {
		l := size
		if i == n-1 && last > 0 {
			l = last
		}
		s.payload = make([]byte, l)
		for j := range s.payload {
			s.payload[j] = byte(int(s.seq) + j)
		}
		out = append(out, s.build())
		s.seq += uint32(l)
		s.id++
	}
	return out
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The super-packets of the golden tests, and what they cut into, from
// scapy (python3-scapy 2.5: IP()/TCP()/payload, checksums its own).
const (
	// 45 00 0032: IPv4, header 20, TOS 0, Total Length 50
	// 1234 4000: ID, DF
	// 40 06 0000: TTL 64, TCP, header checksum not filled in
	// c0000202 0a010002: 192.0.2.2 -> 10.1.0.2
	// 9c40 0016: ports 40000 -> 22
	// 00001000 00002000: seq, ack
	// 50 19 ffff: data offset 5, FIN|PSH|ACK, window
	// 1234 0000: checksum (partial: anything), urgent pointer
	// "abcdefghij"
	goldenTSO = `45 00 0032 1234 4000 40 06 0000 c0000202 0a010002
		9c40 0016 00001000 00002000 50 19 ffff 1234 0000 6162636465666768696a`
	// 45 00 0026 0077 0000 3f 11 0000 0a010002 c0000202: 38 octets, ID 0x77, TTL 63, UDP
	// 1388 1770 0012 1234: ports 5000 -> 6000, length 18, checksum partial
	// "0123456789"
	goldenUSO = `45 00 0026 0077 0000 3f 11 0000 0a010002 c0000202
		1388 1770 0012 1234 30313233343536373839`
)

var (
	// Each segment: Total Length, the ID counting up, the header checksum;
	// seq advancing by the payload; FIN and PSH on the last one only; the
	// TCP checksum.
	goldenTSOSegs = []string{
		"4500002c1234400040065c93c00002020a0100029c40001600001000000020005010ffff52ae000061626364",
		"4500002c1235400040065c92c00002020a0100029c40001600001004000020005010ffff4aa2000065666768",
		"4500002a1236400040065c93c00002020a0100029c40001600001008000020005019ffffadfb0000696a",
	}
	// And the UDP length.
	goldenUSOSegs = []string{
		"45000020007700003f11af510a010002c000020213881770000ca67430313233",
		"45000020007800003f11af500a010002c000020213881770000c9e6c34353637",
		"4500001e007900003f11af510a010002c000020213881770000ad0a33839",
	}
)

// cutAll runs the segmenter over pkt and returns the segments.
func cutAll(t testing.TB, h virtioNetHdr, pkt []byte, maxLen int) [][]byte {
	t.Helper()
	var s segmenter
	if !s.init(&h, pkt, maxLen) {
		t.Fatalf("segmenter refused %+v % x", h, pkt)
	}
	var out [][]byte
	for s.more() {
		dst := make([]byte, maxLen)
		n := s.next(dst)
		if n == 0 {
			t.Fatal("segment did not fit")
		}
		out = append(out, dst[:n])
	}
	return out
}

func TestSegmenterGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		hdr  virtioNetHdr
		pkt  string
		want []string
	}{
		{"tcp", virtioNetHdr{flags: virtioFlagNeedsCsum, gsoType: virtioGSOTCPv4, hdrLen: 40, gsoSize: 4, csumStart: 20, csumOffset: 16}, goldenTSO, goldenTSOSegs},
		{"tcp-ecn", virtioNetHdr{flags: virtioFlagNeedsCsum, gsoType: virtioGSOTCPv4 | virtioGSOECN, gsoSize: 4, csumStart: 20, csumOffset: 16}, goldenTSO, goldenTSOSegs},
		{"udp", virtioNetHdr{flags: virtioFlagNeedsCsum, gsoType: virtioGSOUDPL4, hdrLen: 28, gsoSize: 4, csumStart: 20, csumOffset: 6}, goldenUSO, goldenUSOSegs},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := cutAll(t, c.hdr, unhex(t, c.pkt), 100)
			if len(got) != len(c.want) {
				t.Fatalf("%d segments, want %d", len(got), len(c.want))
			}
			for i := range got {
				if g := hex.EncodeToString(got[i]); g != c.want[i] {
					t.Errorf("segment %d:\n got %s\nwant %s", i, g, c.want[i])
				}
				if !checksumsOK(got[i]) {
					t.Errorf("segment %d: checksums", i)
				}
			}
		})
	}
}

// TestSegmenterCWR: CWR stays on the first segment only (tcp_gso_segment),
// and sequence numbers wrap.
func TestSegmenterCWR(t *testing.T) {
	s := flow()
	s.flags = tcpFlagACK | tcpFlagCWR | tcpFlagPSH
	s.payload = make([]byte, 3000)
	pkt := s.build()
	segs := cutAll(t, virtioNetHdr{gsoType: virtioGSOTCPv4 | virtioGSOECN, gsoSize: 1400, csumStart: 20, csumOffset: 16}, pkt, 1500)
	want := []struct {
		flags uint8
		seq   uint32
		n     int
	}{{tcpFlagACK | tcpFlagCWR, 0xfffff000, 1400}, {tcpFlagACK, 0xfffff000 + 1400, 1400}, {tcpFlagACK | tcpFlagPSH, 0xfffff000 + 2800, 200}}
	for i, seg := range segs {
		thl := int(seg[ipv4HeaderLen+12]>>4) * 4
		if seg[ipv4HeaderLen+13] != want[i].flags || binary.BigEndian.Uint32(seg[ipv4HeaderLen+4:]) != want[i].seq ||
			len(seg)-ipv4HeaderLen-thl != want[i].n || binary.BigEndian.Uint16(seg[4:]) != s.id+uint16(i) || !checksumsOK(seg) ||
			!bytes.Equal(seg[ipv4HeaderLen:ipv4HeaderLen+4], pkt[ipv4HeaderLen:ipv4HeaderLen+4]) ||
			!bytes.Equal(seg[ipv4HeaderLen+tcpHeaderMinLen:ipv4HeaderLen+thl], s.opts) {
			t.Errorf("segment %d: % x", i, seg[:ipv4HeaderLen+thl])
		}
	}
}

func TestSegmenterRefuses(t *testing.T) {
	tso := virtioNetHdr{flags: virtioFlagNeedsCsum, gsoType: virtioGSOTCPv4, gsoSize: 4, csumStart: 20, csumOffset: 16}
	uso := virtioNetHdr{flags: virtioFlagNeedsCsum, gsoType: virtioGSOUDPL4, gsoSize: 4, csumStart: 20, csumOffset: 6}
	pkt := func(edit func(b []byte)) []byte {
		b := unhex(t, goldenTSO)
		if edit != nil {
			edit(b)
		}
		return b
	}
	with := func(h virtioNetHdr, edit func(*virtioNetHdr)) virtioNetHdr { edit(&h); return h }
	for _, c := range []struct {
		name   string
		hdr    virtioNetHdr
		pkt    []byte
		maxLen int
	}{
		{"csum start", with(tso, func(h *virtioNetHdr) { h.csumStart = 24 }), pkt(nil), 100},
		{"csum offset", with(tso, func(h *virtioNetHdr) { h.csumOffset = 6 }), pkt(nil), 100},
		{"udp for tcp", uso, pkt(nil), 100},
		{"udp with ecn", with(uso, func(h *virtioNetHdr) { h.gsoType |= virtioGSOECN }), unhex(t, goldenUSO), 100},
		{"unknown type", with(tso, func(h *virtioNetHdr) { h.gsoType = 3 }), pkt(nil), 100},
		{"tcpv6", with(tso, func(h *virtioNetHdr) { h.gsoType = 4 }), pkt(nil), 100},
		{"gso size 0", with(tso, func(h *virtioNetHdr) { h.gsoSize = 0 }), pkt(nil), 100},
		{"segment too big", tso, pkt(nil), 43},
		{"total length", tso, pkt(func(b []byte) { b[3]-- }), 100},
		{"more fragments", tso, pkt(func(b []byte) { b[6] |= 0x20 }), 100},
		{"fragment offset", tso, pkt(func(b []byte) { b[7] = 1 }), 100},
		{"not ipv4", tso, pkt(func(b []byte) { b[0] = 0x65 }), 100},
		{"ihl", tso, pkt(func(b []byte) { b[0] = 0x44 }), 100},
		{"data offset", tso, pkt(func(b []byte) { b[32] = 0x40 }), 100},
		{"data offset past the end", tso, pkt(func(b []byte) { b[32] = 0xf0 }), 100},
		{"no payload", tso, pkt(func(b []byte) { b[3] = 40 })[:40], 100},
		{"short", tso, pkt(nil)[:30], 100},
	} {
		var s segmenter
		if s.init(&c.hdr, c.pkt, c.maxLen) || s.more() {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

// TestSegmenterSmallDst: a buffer that turns out too small abandons the
// super-packet.
func TestSegmenterSmallDst(t *testing.T) {
	var s segmenter
	h := virtioNetHdr{gsoType: virtioGSOTCPv4, gsoSize: 4, csumStart: 20, csumOffset: 16}
	if !s.init(&h, unhex(t, goldenTSO), 100) {
		t.Fatal("refused")
	}
	if n := s.next(make([]byte, 43)); n != 0 || s.more() {
		t.Errorf("cut %d octets into 43", n)
	}
}

func TestReadFrame(t *testing.T) {
	syn := tcpSYN(addrHoA, addrCN, 1460, 1, false)
	partial := bytes.Clone(syn)
	// What the kernel hands over with CHECKSUM_PARTIAL: the pseudo-header
	// sum in the checksum field.
	binary.BigEndian.PutUint16(partial[ipv4HeaderLen+16:], encap.SumFold(pseudoSum(partial, protoTCP, len(partial)-ipv4HeaderLen)))
	frame := func(h virtioNetHdr, p []byte) []byte {
		f := make([]byte, virtioNetHdrLen+len(p))
		h.encode(f)
		copy(f[virtioNetHdrLen:], p)
		return f
	}
	needs := virtioNetHdr{flags: virtioFlagNeedsCsum, csumStart: 20, csumOffset: 16}
	tso := virtioNetHdr{flags: virtioFlagNeedsCsum, gsoType: virtioGSOTCPv4, gsoSize: 4, csumStart: 20, csumOffset: 16}
	for _, c := range []struct {
		name  string
		frame []byte
		dst   int
		want  []byte // nil: -1
		super bool
	}{
		{"plain", frame(virtioNetHdr{}, syn), 1500, syn, false},
		{"data valid", frame(virtioNetHdr{flags: virtioFlagDataValid}, syn), 1500, syn, false},
		{"partial checksum", frame(needs, partial), 1500, syn, false},
		{"checksum offset out of range", frame(virtioNetHdr{flags: virtioFlagNeedsCsum, csumStart: 20, csumOffset: 200}, partial), 1500, nil, false},
		{"checksum start in the IP header", frame(virtioNetHdr{flags: virtioFlagNeedsCsum, csumStart: 8, csumOffset: 2}, partial), 1500, nil, false},
		{"too big", frame(virtioNetHdr{}, syn), len(syn) - 1, nil, false},
		{"short header", []byte{0, 0, 0}, 1500, nil, false},
		{"empty", frame(virtioNetHdr{}, nil), 1500, []byte{}, false},
		{"super", frame(tso, unhex(t, goldenTSO)), 1500, nil, true},
		{"bad super", frame(tso, unhex(t, goldenTSO)[:45]), 1500, nil, false},
	} {
		var s segmenter
		dst := make([]byte, c.dst)
		n, super := readFrame(c.frame, dst, &s)
		switch {
		case super != c.super || super != s.more():
			t.Errorf("%s: super %v, segmenter %v", c.name, super, s.more())
		case c.want == nil && !super && n != -1:
			t.Errorf("%s: %d, want -1", c.name, n)
		case c.want != nil && (n != len(c.want) || !bytes.Equal(dst[:n], c.want)):
			t.Errorf("%s: % x, want % x", c.name, dst[:max(n, 0)], c.want)
		}
	}
}

// TestCompleteChecksum: what the kernel leaves partial, completed, is what
// the reference computes, for TCP and UDP, odd lengths, and UDP's zero.
func TestCompleteChecksum(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 100, 1401} {
		for _, proto := range []uint8{protoTCP, protoUDP} {
			var p []byte
			off := tcpCsumOffset
			if proto == protoTCP {
				s := flow()
				s.payload = bytes.Repeat([]byte{0xa5, 0x3c, 0x11}, n)[:n]
				p = s.build()
			} else {
				p = udpPacket(addrHoA, addrCN, ipv4HeaderLen+udpHeaderLen+n, false)
				off = udpCsumOffset
			}
			binary.BigEndian.PutUint16(p[ipv4HeaderLen+off:], encap.SumFold(pseudoSum(p, proto, len(p)-ipv4HeaderLen)))
			if !completeChecksum(p, ipv4HeaderLen, off) || !checksumsOK(p) {
				t.Errorf("proto %d, %d octets: % x", proto, n, p)
			}
		}
	}
	// A UDP datagram whose checksum comes out as zero is sent as 0xffff
	// (RFC 768). Find one by changing the payload.
	p := udpPacket(addrHoA, addrCN, ipv4HeaderLen+udpHeaderLen+2, false)
	for v := range 1 << 16 {
		binary.BigEndian.PutUint16(p[ipv4HeaderLen+udpHeaderLen:], uint16(v))
		if refL4Checksum(p, udpCsumOffset) == 0 {
			break
		}
	}
	binary.BigEndian.PutUint16(p[ipv4HeaderLen+udpCsumOffset:], encap.SumFold(pseudoSum(p, protoUDP, len(p)-ipv4HeaderLen)))
	if !completeChecksum(p, ipv4HeaderLen, udpCsumOffset) || binary.BigEndian.Uint16(p[ipv4HeaderLen+udpCsumOffset:]) != 0xffff {
		t.Errorf("zero checksum: % x", p)
	}
}

// groups runs a coalescer pass over pkts as TUN.WriteBatch does and
// returns the groups in the order they would be written.
func groups(c *coalescer, pkts [][]byte) [][]int {
	c.reset(len(pkts))
	var gs [][]int
	for i := range pkts {
		if c.written(i) {
			continue
		}
		gs = append(gs, append([]int(nil), c.next(pkts, i)...))
	}
	return gs
}

// superOf merges group g of pkts and returns the super-packet as it goes
// to the device (the head, then the others' payloads) and its header.
func superOf(pkts [][]byte, g []int) ([]byte, virtioNetHdr) {
	var vh virtioNetHdr
	merge(pkts, g, &vh)
	sp := bytes.Clone(pkts[g[0]])
	for _, j := range g[1:] {
		sp = append(sp, pkts[j][vh.hdrLen:]...)
	}
	return sp, vh
}

// TestCoalesce gathers two interleaved flows and checks the super-packets
// exactly: cut again as the kernel would, they give back the segments
// byte for byte, and their checksum completes to the reference's.
func TestCoalesce(t *testing.T) {
	a := bulk(5, 1000, 0)
	a[3] = bulk(4, 1000, 500)[3] // A4 is short: nothing may follow it
	a[4] = func() []byte {       // A5 continues A4
		s := flow()
		s.seq += 3500
		s.id += 4
		s.payload = make([]byte, 1000)
		return s.build()
	}()
	bf := flow()
	bf.sport, bf.seq = 40001, 1
	bf.payload = bytes.Repeat([]byte{7}, 1200)
	b1 := bf.build()
	bf.seq += 1200
	bf.id++
	bf.flags |= tcpFlagPSH
	b2 := bf.build()
	u := udpPacket(addrHoA, addrCN, 1000, true)
	pkts := [][]byte{a[0], b1, a[1], u, a[2], b2, a[3], a[4]}
	orig := make([][]byte, len(pkts))
	for i := range pkts {
		orig[i] = bytes.Clone(pkts[i])
	}
	var c coalescer
	gs := groups(&c, pkts)
	want := [][]int{{0, 2, 4, 6}, {1, 5}, {3}, {7}}
	if len(gs) != len(want) {
		t.Fatalf("groups %v, want %v", gs, want)
	}
	for k, g := range gs {
		if !equalInts(g, want[k]) {
			t.Fatalf("groups %v, want %v", gs, want)
		}
		if len(g) == 1 {
			continue
		}
		sp, vh := superOf(pkts, g)
		hdrs := ipv4HeaderLen + int(orig[g[0]][ipv4HeaderLen+12]>>4)*4
		wantVH := virtioNetHdr{flags: virtioFlagNeedsCsum, gsoType: virtioGSOTCPv4, hdrLen: uint16(hdrs),
			gsoSize: uint16(len(orig[g[0]]) - hdrs), csumStart: ipv4HeaderLen, csumOffset: tcpCsumOffset}
		if vh != wantVH {
			t.Errorf("group %v: header %+v, want %+v", g, vh, wantVH)
		}
		if binary.BigEndian.Uint16(sp[2:]) != uint16(len(sp)) || binary.BigEndian.Uint16(sp[10:]) != refIPChecksum(sp) {
			t.Errorf("group %v: IPv4 header % x", g, sp[:ipv4HeaderLen])
		}
		if g[0] == 1 && sp[ipv4HeaderLen+13] != tcpFlagACK|tcpFlagPSH {
			t.Errorf("group %v: PSH of the last segment not kept", g)
		}
		segs := cutAll(t, vh, bytes.Clone(sp), 2000)
		if len(segs) != len(g) {
			t.Fatalf("group %v cut into %d", g, len(segs))
		}
		for i, j := range g {
			if !bytes.Equal(segs[i], orig[j]) {
				t.Errorf("group %v, segment %d:\n got % x\nwant % x", g, i, segs[i][:60], orig[j][:60])
			}
		}
		if !completeChecksum(sp, int(vh.csumStart), int(vh.csumOffset)) || !checksumsOK(sp) {
			t.Errorf("group %v: the partial checksum does not complete", g)
		}
	}
	for _, i := range []int{3, 7} {
		if !bytes.Equal(pkts[i], orig[i]) {
			t.Errorf("datagram %d, written alone, was changed", i)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCoalesceRefuses: what tcp_gro_receive would not merge, or what must
// not be merged lest a corrupted segment be laundered, stays apart and
// untouched.
func TestCoalesceRefuses(t *testing.T) {
	edit := func(f func(second *tcpSeg)) [][]byte {
		s := flow()
		s.payload = make([]byte, 1000)
		first := s.build()
		s.seq += 1000
		s.id++
		f(&s)
		return [][]byte{first, s.build()}
	}
	raw := func(f func(second []byte)) [][]byte {
		p := bulk(2, 1000, 0)
		f(p[1])
		return p
	}
	for _, c := range []struct {
		name string
		pkts [][]byte
	}{
		{"sequence gap", edit(func(s *tcpSeg) { s.seq++ })},
		{"sequence overlap", edit(func(s *tcpSeg) { s.seq-- })},
		{"ack", edit(func(s *tcpSeg) { s.ack++ })},
		{"window", edit(func(s *tcpSeg) { s.win++ })},
		{"timestamp", edit(func(s *tcpSeg) { s.opts = bytes.Clone(s.opts); s.opts[7]++ })},
		{"option length", edit(func(s *tcpSeg) { s.opts = append(bytes.Clone(s.opts), 1, 1, 1, 1) })},
		{"tos", edit(func(s *tcpSeg) { s.tos = 4 })},
		{"ecn ce", edit(func(s *tcpSeg) { s.tos = 3 })},
		{"ttl", edit(func(s *tcpSeg) { s.ttl-- })},
		{"no df", edit(func(s *tcpSeg) { s.noDF = true })},
		{"syn", edit(func(s *tcpSeg) { s.flags |= tcpFlagSYN })},
		{"fin", edit(func(s *tcpSeg) { s.flags |= tcpFlagFIN })},
		{"rst", edit(func(s *tcpSeg) { s.flags |= tcpFlagRST })},
		{"urg", edit(func(s *tcpSeg) { s.flags |= tcpFlagURG })},
		{"ece", edit(func(s *tcpSeg) { s.flags |= tcpFlagECE })},
		{"cwr", edit(func(s *tcpSeg) { s.flags |= tcpFlagCWR })},
		{"no ack", edit(func(s *tcpSeg) { s.flags = tcpFlagPSH })},
		{"longer than the first", edit(func(s *tcpSeg) { s.payload = make([]byte, 1001) })},
		{"no payload", edit(func(s *tcpSeg) { s.payload = nil })},
		{"other port", edit(func(s *tcpSeg) { s.dport++; s.seq -= 1000 })},
		{"psh on the first", func() [][]byte {
			s := flow()
			s.payload, s.flags = make([]byte, 1000), tcpFlagACK|tcpFlagPSH
			first := s.build()
			s.seq, s.flags = s.seq+1000, tcpFlagACK
			return [][]byte{first, s.build()}
		}()},
		{"bad tcp checksum", raw(func(p []byte) { p[len(p)-1] ^= 1 })},
		{"bad ip checksum", raw(func(p []byte) { p[10] ^= 1 })},
		{"bad head", func() [][]byte { p := bulk(2, 1000, 0); p[0][len(p[0])-1] ^= 1; return p }()},
		{"ip options", raw(func(p []byte) { p[0] = 0x46 })},
		{"more fragments", raw(func(p []byte) { p[6] |= 0x20; binary.BigEndian.PutUint16(p[10:], refIPChecksum(p)) })},
		{"total length", raw(func(p []byte) { p[3]-- })},
		{"udp", [][]byte{udpPacket(addrHoA, addrCN, 1000, true), udpPacket(addrHoA, addrCN, 1000, true)}},
		{"past 64 KiB", bulk(2, 40000, 0)},
	} {
		orig := [][]byte{bytes.Clone(c.pkts[0]), bytes.Clone(c.pkts[1])}
		var co coalescer
		gs := groups(&co, c.pkts)
		if len(gs) != 2 || !bytes.Equal(c.pkts[0], orig[0]) || !bytes.Equal(c.pkts[1], orig[1]) {
			t.Errorf("%s: groups %v", c.name, gs)
		}
	}
}

// TestCoalesceOrder: within a flow nothing overtakes: a segment that
// cannot join ends the group, and what follows it waits its turn.
func TestCoalesceOrder(t *testing.T) {
	a := bulk(3, 1000, 0)
	ack := flow()
	ack.seq += 1000
	pure := ack.build() // a pure ACK of the same flow between A1 and A2
	pkts := [][]byte{a[0], pure, a[1], a[2]}
	var c coalescer
	if gs := groups(&c, pkts); len(gs) != 3 || !equalInts(gs[0], []int{0}) || !equalInts(gs[1], []int{1}) || !equalInts(gs[2], []int{2, 3}) {
		t.Errorf("groups %v", gs)
	}
	// maxCoalesce segments at most, and no more than 64 KiB.
	many := bulk(maxCoalesce+6, 100, 0)
	if gs := groups(&c, many); len(gs) != 2 || len(gs[0]) != maxCoalesce || len(gs[1]) != 6 {
		t.Errorf("%d segments: %d groups", len(many), len(gs))
	}
	big := bulk(50, 1400, 0)
	gs := groups(&c, big)
	sp, _ := superOf(big, gs[0])
	if len(sp) > maxSuperPacket || len(sp)+1400 <= maxSuperPacket || len(gs) != 2 {
		t.Errorf("a super-packet of %d octets, %d groups", len(sp), len(gs))
	}
}

// TestOffloadTshark has Wireshark check what the segmenter cuts and what
// the coalescer builds (its checksum completed as the kernel would): every
// checksum good, and the fields as expected.
func TestOffloadTshark(t *testing.T) {
	tshark.Require(t)
	orig := bulk(12, 1400, 321)
	pkts := make([][]byte, len(orig))
	for i := range orig {
		pkts[i] = bytes.Clone(orig[i])
	}
	var c coalescer
	gs := groups(&c, pkts)
	if len(gs) != 1 {
		t.Fatalf("groups %v", gs)
	}
	sp, vh := superOf(pkts, gs[0])
	segs := cutAll(t, vh, bytes.Clone(sp), 1500)
	if !completeChecksum(sp, int(vh.csumStart), int(vh.csumOffset)) {
		t.Fatal("checksum")
	}
	path := pcap.Write(t, "offload.pcap", append(segs, sp)...)
	fields := []string{"ip.len", "ip.id", "ip.flags.df", "ip.checksum.status", "tcp.seq_raw", "tcp.len", "tcp.flags", "tcp.options.timestamp.tsval", "tcp.checksum.status"}
	rows := tshark.Fields(t, path, fields, tshark.VerifyChecksums...)
	if len(rows) != len(segs)+1 {
		t.Fatalf("tshark decoded %d packets", len(rows))
	}
	s := flow()
	for i, r := range rows {
		n, id, seq := 1400, s.id+uint16(i), s.seq+uint32(i*1400)
		if i == len(segs)-1 {
			n = 321
		}
		if i == len(segs) { // the super-packet
			n, id, seq = 11*1400+321, s.id, s.seq
		}
		want := []string{fmt.Sprint(ipv4HeaderLen + 32 + n), fmt.Sprintf("0x%04x", id), "1", "1", fmt.Sprint(seq), fmt.Sprint(n), "0x0010", "256", "1"}
		if strings.Join(r, " ") != strings.Join(want, " ") {
			t.Errorf("packet %d: %v, want %v", i, r, want)
		}
	}
	tshark.ExpectClean(t, path)
}
