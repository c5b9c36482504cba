package dataplane

import (
	"encoding/binary"

	"github.com/mip4d/mip4d/agent/encap"
)

// Segmentation and coalescing offloads, the way a NIC does them for the
// kernel and wireguard-go does them for its TUN device: a TUN device
// opened with IFF_VNET_HDR and TUNSETOFFLOAD hands over TCP (and UDP)
// super-packets of up to 64 KiB with a virtio_net_hdr saying how to cut
// them (TSO/USO), and takes coalesced ones the same way (GRO). This file
// is the portable part: the header, the checksums, the segmenter and the
// coalescer. tun_linux.go drives them.

// virtioNetHdr is struct virtio_net_hdr: what precedes every datagram read
// from or written to a TUN device opened with IFF_VNET_HDR.
type virtioNetHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16 // length of the headers (IP and transport), a hint
	gsoSize    uint16 // payload octets per segment
	csumStart  uint16 // where the checksummed data starts (the transport header)
	csumOffset uint16 // where, from csumStart, the checksum goes
}

// decode reads the header from b, which has at least virtioNetHdrLen
// octets. The legacy virtio layout a TUN device uses is in host byte
// order.
func (h *virtioNetHdr) decode(b []byte) {
	_ = b[virtioNetHdrLen-1]
	h.flags = b[0]
	h.gsoType = b[1]
	h.hdrLen = binary.NativeEndian.Uint16(b[2:])
	h.gsoSize = binary.NativeEndian.Uint16(b[4:])
	h.csumStart = binary.NativeEndian.Uint16(b[6:])
	h.csumOffset = binary.NativeEndian.Uint16(b[8:])
}

// encode writes the header into b, which has at least virtioNetHdrLen
// octets.
func (h *virtioNetHdr) encode(b []byte) {
	_ = b[virtioNetHdrLen-1]
	b[0] = h.flags
	b[1] = h.gsoType
	binary.NativeEndian.PutUint16(b[2:], h.hdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.gsoSize)
	binary.NativeEndian.PutUint16(b[6:], h.csumStart)
	binary.NativeEndian.PutUint16(b[8:], h.csumOffset)
}

// pseudoSum is the sum of the IPv4 pseudo-header of a TCP or UDP segment
// of length n octets (RFC 793 §3.1, RFC 768): addresses, protocol, length.
func pseudoSum(ip []byte, proto uint8, n int) uint64 {
	return uint64(binary.BigEndian.Uint32(ip[12:])) + uint64(binary.BigEndian.Uint32(ip[16:])) +
		uint64(proto) + uint64(n)
}

// transportChecksumValid reports whether the TCP or UDP segment ip[hl:]
// has a correct checksum (a UDP checksum of zero means none, RFC 768).
func transportChecksumValid(ip []byte, hl int, proto uint8) bool {
	seg := ip[hl:]
	if proto == protoUDP && binary.BigEndian.Uint16(seg[udpCsumOffset:]) == 0 {
		return true
	}
	return encap.SumFold(encap.SumAdd(seg, pseudoSum(ip, proto, len(seg)))) == 0xffff
}

// completeChecksum finishes the checksum a kernel left partial
// (VIRTIO_NET_HDR_F_NEEDS_CSUM, CHECKSUM_PARTIAL): the field at start+off
// holds the pseudo-header sum, and the checksum covers pkt[start:]. Like
// the kernel's skb_checksum_help, a result of zero is sent as 0xffff
// (RFC 768: zero would mean no UDP checksum). It reports false when the
// offsets are out of range.
func completeChecksum(pkt []byte, start, off int) bool {
	at := start + off
	if start < ipv4HeaderLen || at+2 > len(pkt) || at < start {
		return false
	}
	c := ^encap.SumFold(encap.SumAdd(pkt[start:], 0))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(pkt[at:], c)
	return true
}

// readFrame takes one read of a TUN device with IFF_VNET_HDR: a
// virtio_net_hdr and a datagram or super-packet. A plain datagram is
// copied into dst, its checksum completed if the kernel left it partial,
// and its length returned; a super-packet is set up in seg for cutting
// (super is true); anything that does not parse, or a datagram larger
// than dst, gives -1.
func readFrame(frame, dst []byte, seg *segmenter) (size int, super bool) {
	if len(frame) < virtioNetHdrLen {
		return -1, false
	}
	var h virtioNetHdr
	h.decode(frame)
	pkt := frame[virtioNetHdrLen:]
	if h.gsoType != virtioGSONone {
		return -1, seg.init(&h, pkt, len(dst))
	}
	if len(pkt) > len(dst) {
		return -1, false
	}
	n := copy(dst, pkt)
	if h.flags&virtioFlagNeedsCsum != 0 && !completeChecksum(dst[:n], int(h.csumStart), int(h.csumOffset)) {
		return -1, false
	}
	return n, false
}

// segmenter cuts a TCP or UDP super-packet (VIRTIO_NET_HDR_GSO_TCPV4 or
// _UDP_L4) into the datagrams it stands for, one per call of next, the way
// the kernel's software GSO does (tcp_gso_segment, __udp_gso_segment):
// each carries the headers of the super-packet and gsoSize octets of its
// payload (the last one what is left); the IPv4 Identification counts up
// from the super-packet's, Total Length and the header checksum follow;
// TCP sequence numbers advance by the payload, FIN and PSH stay on the
// last segment and CWR on the first only; the UDP length follows; and
// every segment gets its full transport checksum.
type segmenter struct {
	pkt    []byte // the super-packet; nil when there is nothing (left) to cut
	hl     int    // IPv4 header length
	thl    int    // transport header length
	proto  uint8
	gso    int    // payload octets per segment
	off    int    // payload octets already cut
	n      int    // segments already cut
	seq    uint32 // first sequence number
	id     uint16 // first Identification
	pseudo uint64 // pseudo-header sum without the length
}

// init prepares to cut pkt, described by h. It checks what the cutting
// relies on and reports false (and cuts nothing) for anything else: an
// IPv4 datagram whose Total Length is len(pkt), not a fragment, of the
// protocol h names, its transport header where h says the checksum
// starts, and segments of at most maxLen octets.
func (s *segmenter) init(h *virtioNetHdr, pkt []byte, maxLen int) bool {
	s.pkt = nil
	ip := encap.IPv4(pkt)
	if len(pkt) < ipv4HeaderLen || ip.Version() != encap.IPv4Version || int(ip.TotalLength()) != len(pkt) {
		return false
	}
	hl := ip.HeaderLength()
	if hl < ipv4HeaderLen || hl > len(pkt) || ip.MF() || ip.FragmentOffset() != 0 || int(h.csumStart) != hl {
		return false
	}
	var thl int
	switch h.gsoType &^ virtioGSOECN {
	case virtioGSOTCPv4:
		if ip.Protocol() != protoTCP || h.csumOffset != tcpCsumOffset || len(pkt) < hl+tcpHeaderMinLen {
			return false
		}
		thl = int(pkt[hl+12]>>4) * 4
	case virtioGSOUDPL4:
		if ip.Protocol() != protoUDP || h.csumOffset != udpCsumOffset || h.gsoType != virtioGSOUDPL4 {
			return false
		}
		thl = udpHeaderLen
	default:
		return false
	}
	gso := int(h.gsoSize)
	if thl < udpHeaderLen || hl+thl >= len(pkt) || gso == 0 || hl+thl+gso > maxLen {
		return false
	}
	if ip.Protocol() == protoTCP && thl < tcpHeaderMinLen {
		return false
	}
	*s = segmenter{pkt: pkt, hl: hl, thl: thl, proto: ip.Protocol(), gso: gso, id: ip.ID()}
	if s.proto == protoTCP {
		s.seq = binary.BigEndian.Uint32(pkt[hl+4:])
	}
	s.pseudo = pseudoSum(pkt, s.proto, 0)
	return true
}

// more reports whether a segment is left to cut.
func (s *segmenter) more() bool { return s.pkt != nil }

// left is how many segments are left to cut.
func (s *segmenter) left() int {
	if s.pkt == nil {
		return 0
	}
	rest := len(s.pkt) - s.hl - s.thl - s.off
	return (rest + s.gso - 1) / s.gso
}

// next writes the next segment at the start of dst and returns its
// length, or 0 (abandoning the super-packet) if dst is too small.
func (s *segmenter) next(dst []byte) int {
	h := s.hl + s.thl
	payload := s.pkt[h:]
	n := min(s.gso, len(payload)-s.off)
	total := h + n
	if len(dst) < total {
		s.pkt = nil
		return 0
	}
	last := s.off+n == len(payload)
	copy(dst[:h], s.pkt[:h])
	copy(dst[h:total], payload[s.off:s.off+n])
	ip := encap.IPv4(dst[:total])
	ip.SetTotalLength(uint16(total))
	ip.SetID(s.id + uint16(s.n))
	ip.UpdateChecksum()
	t := dst[s.hl:total]
	var csumAt int
	if s.proto == protoTCP {
		binary.BigEndian.PutUint32(t[4:], s.seq+uint32(s.off))
		if !last {
			t[13] &^= tcpFlagFIN | tcpFlagPSH
		}
		if s.n > 0 {
			t[13] &^= tcpFlagCWR
		}
		csumAt = tcpCsumOffset
	} else {
		binary.BigEndian.PutUint16(t[4:], uint16(len(t)))
		csumAt = udpCsumOffset
	}
	t[csumAt], t[csumAt+1] = 0, 0
	c := ^encap.SumFold(encap.SumAdd(t, s.pseudo+uint64(len(t))))
	if c == 0 && s.proto == protoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(t[csumAt:], c)
	s.off += n
	s.n++
	if last {
		s.pkt = nil
	}
	return total
}

// Coalescing (GRO). A batch of datagrams for the device is written in
// order, except that the TCP segments of one flow that follow each other
// in sequence are gathered, from wherever they are in the batch, into
// one super-packet written where the first of them was: what
// tcp_gro_receive (net/ipv4/tcp_offload.c) would merge on a NIC.
// Segments of other flows keep their order, and within a flow nothing is
// reordered: the first segment of the flow that cannot join ends the
// group.

// Per-datagram state of a coalescer pass.
const (
	groUnseen  int8 = iota // not looked at yet
	groWritten             // already part of a written group
	groNo                  // not a candidate, or a bad checksum
	groYes                 // a candidate with correct checksums
)

// coalescer is the scratch of one pass over a batch.
type coalescer struct {
	state []int8
	group []int
}

// reset prepares a pass over n datagrams.
func (c *coalescer) reset(n int) {
	if cap(c.state) < n {
		c.state = make([]int8, n)
	}
	c.state = c.state[:n]
	clear(c.state)
	if c.group == nil {
		c.group = make([]int, 0, maxCoalesce)
	}
}

// written reports whether datagram i went out with an earlier group.
func (c *coalescer) written(i int) bool { return c.state[i] == groWritten }

// tcpShape returns the header and payload lengths of a TCP segment that
// may be coalesced: a whole IPv4 datagram without options, DF set, not a
// fragment, carrying a TCP segment with payload whose only flags are ACK
// and perhaps PSH. ok is false for anything else.
func tcpShape(p []byte) (thl, payload int, ok bool) {
	if len(p) < ipv4HeaderLen+tcpHeaderMinLen || p[0] != encap.IPv4Version<<4|5 || p[9] != protoTCP ||
		int(binary.BigEndian.Uint16(p[2:])) != len(p) || binary.BigEndian.Uint16(p[6:]) != 0x4000 {
		return 0, 0, false
	}
	t := p[ipv4HeaderLen:]
	thl = int(t[12]>>4) * 4
	if thl < tcpHeaderMinLen || thl >= len(t) || t[13]&^tcpFlagPSH != tcpFlagACK {
		return 0, 0, false
	}
	return thl, len(t) - thl, true
}

// valid checks (once per pass) that datagram i may be merged: its shape,
// its IPv4 header checksum and its TCP checksum. Merging must not launder
// a corrupted segment: the kernel computes the checksum of the
// super-packet afresh.
func (c *coalescer) valid(pkts [][]byte, i int) bool {
	switch c.state[i] {
	case groYes:
		return true
	case groNo, groWritten:
		return false
	}
	p := pkts[i]
	ok := false
	if _, _, shape := tcpShape(p); shape {
		ok = encap.SumFold(encap.SumAdd(p[:ipv4HeaderLen], 0)) == 0xffff && transportChecksumValid(p, ipv4HeaderLen, protoTCP)
	}
	c.state[i] = groNo
	if ok {
		c.state[i] = groYes
	}
	return ok
}

// sameFlow reports whether a and b are TCP/IPv4 datagrams without
// options between the same addresses and ports.
func sameFlow(a, b []byte) bool {
	return len(a) >= 24 && len(b) >= 24 && a[0] == b[0] && a[9] == b[9] &&
		string(a[12:24]) == string(b[12:24])
}

// next returns the datagrams to write as one, starting with datagram i
// (not yet written): i alone, or i followed by the segments that continue
// it. It marks them written.
func (c *coalescer) next(pkts [][]byte, i int) []int {
	g := c.gather(pkts, i)
	c.state[i] = groWritten
	c.group = g[:0]
	return g
}

// gather is next but for marking i written.
func (c *coalescer) gather(pkts [][]byte, i int) []int {
	g := append(c.group[:0], i)
	head := pkts[i]
	thl, gso, ok := tcpShape(head)
	if !ok {
		return g
	}
	hdrs := ipv4HeaderLen + thl
	total, last := len(head), head
	seq := binary.BigEndian.Uint32(head[ipv4HeaderLen+4:]) + uint32(gso)
	headChecked := false
	for j := i + 1; j < len(pkts) && len(g) < maxCoalesce; j++ {
		if c.state[j] == groWritten {
			continue
		}
		p := pkts[j]
		if !sameFlow(head, p) {
			continue
		}
		// The same flow: p joins, or the group ends here.
		pthl, n, ok := tcpShape(p)
		if !ok || pthl != thl || n > gso || len(last)-hdrs != gso || last[ipv4HeaderLen+13]&tcpFlagPSH != 0 ||
			total+n > maxSuperPacket ||
			binary.BigEndian.Uint32(p[ipv4HeaderLen+4:]) != seq ||
			// TOS, and TTL: what inet_gro_receive compares of IPv4.
			p[1] != head[1] || p[8] != head[8] ||
			// Acknowledgment number, data offset and flags but PSH,
			// window, and every option (tcp_gro_receive).
			string(p[ipv4HeaderLen+8:ipv4HeaderLen+13]) != string(head[ipv4HeaderLen+8:ipv4HeaderLen+13]) ||
			p[ipv4HeaderLen+13]&^tcpFlagPSH != head[ipv4HeaderLen+13]&^tcpFlagPSH ||
			string(p[ipv4HeaderLen+14:ipv4HeaderLen+16]) != string(head[ipv4HeaderLen+14:ipv4HeaderLen+16]) ||
			string(p[ipv4HeaderLen+tcpHeaderMinLen:hdrs]) != string(head[ipv4HeaderLen+tcpHeaderMinLen:hdrs]) {
			break
		}
		if !headChecked {
			if !c.valid(pkts, i) {
				break
			}
			headChecked = true
		}
		if !c.valid(pkts, j) {
			break
		}
		g = append(g, j)
		c.state[j] = groWritten
		total += n
		last = p
		seq += uint32(n)
	}
	return g
}

// merge turns the head of group g into the header of the super-packet
// the group stands for, and fills vh to describe it
// (VIRTIO_NET_HDR_GSO_TCPV4, checksum partial): Total Length and header
// checksum of the whole, PSH if the last segment has it, and in the TCP
// checksum field the pseudo-header sum for the kernel to complete. The
// datagram to write is pkts[g[0]] followed by the payload of the others.
func merge(pkts [][]byte, g []int, vh *virtioNetHdr) {
	head := pkts[g[0]]
	thl := int(head[ipv4HeaderLen+12]>>4) * 4
	hdrs := ipv4HeaderLen + thl
	total := len(head)
	for _, j := range g[1:] {
		total += len(pkts[j]) - hdrs
	}
	ip := encap.IPv4(head)
	ip.SetTotalLength(uint16(total))
	ip.UpdateChecksum()
	t := head[ipv4HeaderLen:]
	t[13] |= pkts[g[len(g)-1]][ipv4HeaderLen+13] & tcpFlagPSH
	binary.BigEndian.PutUint16(t[tcpCsumOffset:], encap.SumFold(pseudoSum(head, protoTCP, total-ipv4HeaderLen)))
	*vh = virtioNetHdr{
		flags:      virtioFlagNeedsCsum,
		gsoType:    virtioGSOTCPv4,
		hdrLen:     uint16(hdrs),
		gsoSize:    uint16(len(head) - hdrs),
		csumStart:  ipv4HeaderLen,
		csumOffset: tcpCsumOffset,
	}
}
