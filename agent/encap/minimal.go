package encap

import (
	"encoding/binary"
	"net/netip"
)

// MinimalHeader is the minimal forwarding header (RFC 2004 §3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Protocol    |S|  reserved   |        Header Checksum        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Original Destination Address                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	:            (if present) Original Source Address               :
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The S bit is not a field: it is set exactly when Src is valid (the zero
// netip.Addr means "not present"). The Header Checksum has no field either:
// [ParseMinimalHeader] verifies it and [MinimalHeader.Encode] computes it.
type MinimalHeader struct {
	Protocol uint8 // Protocol of the original IP header
	// Reserved holds the 7 reserved bits, "sent as zero; ignored on
	// reception", kept so that a parsed header re-encodes to the same
	// octets.
	Reserved uint8
	Dst      netip.Addr // Original Destination Address
	Src      netip.Addr // Original Source Address; the zero Addr when S = 0
}

// Len returns 12 if the Original Source Address is present, else 8.
func (h *MinimalHeader) Len() int {
	if h.Src.IsValid() {
		return MinimalHeaderSizeWithSource
	}
	return MinimalHeaderSize
}

// Encode writes h, with its checksum, into b[:h.Len()] and returns the
// length. The checksum covers only the forwarding header (RFC 2004 §3
// "Header Checksum"). It returns ErrNoRoom if b is too short and
// ErrBadAddress if Dst, or a valid Src, is not an IPv4 address.
func (h *MinimalHeader) Encode(b []byte) (int, error) {
	dst, ok := ipv4Addr(h.Dst)
	if !ok {
		return 0, fail(LayerMinimal, CodeBadAddress)
	}
	var src [4]byte
	if h.Src.IsValid() {
		if src, ok = ipv4Addr(h.Src); !ok {
			return 0, fail(LayerMinimal, CodeBadAddress)
		}
	}
	n := h.Len()
	if len(b) < n {
		return 0, fail(LayerMinimal, CodeNoRoom)
	}
	writeMinimal(b[:n], h.Protocol, h.Reserved, dst, src, n == MinimalHeaderSizeWithSource)
	return n, nil
}

func writeMinimal(b []byte, proto, reserved uint8, dst, src [4]byte, s bool) {
	b[minProtocol] = proto
	b[minFlags] = reserved & minReservedMask
	if s {
		b[minFlags] |= minFlagS
		*(*[4]byte)(b[minOrigSrc:]) = src
	}
	b[minChecksum], b[minChecksum+1] = 0, 0
	*(*[4]byte)(b[minOrigDst:]) = dst
	binary.BigEndian.PutUint16(b[minChecksum:], Checksum(b))
}

// ParseMinimalHeader parses the minimal forwarding header at the start of
// b and returns it with its length (8 or 12). It returns ErrTruncated if b
// is shorter than the S bit says, and ErrBadChecksum if the header checksum
// does not verify. The reserved bits are returned, not judged.
func ParseMinimalHeader(b []byte) (MinimalHeader, int, error) {
	if len(b) < MinimalHeaderSize {
		return MinimalHeader{}, 0, fail(LayerMinimal, CodeTruncated)
	}
	n := MinimalHeaderSize
	s := b[minFlags]&minFlagS != 0
	if s {
		n = MinimalHeaderSizeWithSource
		if len(b) < n {
			return MinimalHeader{}, 0, fail(LayerMinimal, CodeTruncated)
		}
	}
	if Checksum(b[:n]) != 0 {
		return MinimalHeader{}, 0, fail(LayerMinimal, CodeBadChecksum)
	}
	h := MinimalHeader{
		Protocol: b[minProtocol],
		Reserved: b[minFlags] & minReservedMask,
		Dst:      netip.AddrFrom4([4]byte(b[minOrigDst : minOrigDst+4])),
	}
	if s {
		h.Src = netip.AddrFrom4([4]byte(b[minOrigSrc : minOrigSrc+4]))
	}
	return h, n, nil
}

// MinimalTunnel encapsulates datagrams with minimal encapsulation
// (RFC 2004 §3). There is no outer header: the datagram's own header is
// rewritten, so its TTL, TOS, Identification and flags travel unchanged.
type MinimalTunnel struct {
	Src netip.Addr // the encapsulator, the tunnel entry point
	Dst netip.Addr // the tunnel exit point
}

// MinimalMaxOverhead is the most headroom MinimalTunnel.Encapsulate needs:
// a forwarding header with the Original Source Address.
const MinimalMaxOverhead = MinimalHeaderSizeWithSource

// Encapsulate applies minimal encapsulation to the datagram buf[off:] in
// place and returns the result, which starts 8 or 12 octets before off.
// Following RFC 2004 §3, the IP header (with any options) moves forward
// into the headroom, the forwarding header is inserted after it carrying
// the original Protocol and Destination Address, and the original Source
// Address too when it is not t.Src (S = 1); the IP header then gets
// Protocol 55, Destination t.Dst, Source t.Src, a Total Length grown by
// the forwarding header, and a recomputed checksum. TTL is not changed.
//
// buf[off:] must be exactly one datagram that is not a fragment ("Minimal
// encapsulation MUST NOT be used when an original datagram is already
// fragmented", ErrFragment), with TTL above zero, and not sourced from the
// tunnel exit point (RFC 2004 §4 via RFC 2003 §3.2, ErrRoutingLoop).
// Errors also include ErrNoRoom (off < 12 when S = 1, off < 8 otherwise),
// ErrBadAddress and ErrTooBig. Nothing is written on error.
func (t *MinimalTunnel) Encapsulate(buf []byte, off int) ([]byte, error) {
	tsrc, ok1 := ipv4Addr(t.Src)
	tdst, ok2 := ipv4Addr(t.Dst)
	if !ok1 || !ok2 {
		return nil, fail(LayerOuter, CodeBadAddress)
	}
	if off < 0 || off > len(buf) {
		return nil, fail(LayerOuter, CodeNoRoom)
	}
	d, err := checkInnerForEncap(buf[off:])
	if err != nil {
		return nil, err
	}
	if d.IsFragment() {
		return nil, fail(LayerInner, CodeFragment)
	}
	if d.TTL() == 0 {
		return nil, fail(LayerInner, CodeTTLExpired)
	}
	osrc := [4]byte(d[ipSrc : ipSrc+4])
	odst := [4]byte(d[ipDst : ipDst+4])
	if osrc == tdst {
		return nil, fail(LayerInner, CodeRoutingLoop)
	}
	s := osrc != tsrc
	n := MinimalHeaderSize
	if s {
		n = MinimalHeaderSizeWithSource
	}
	if off < n {
		return nil, fail(LayerOuter, CodeNoRoom)
	}
	if len(d)+n > IPv4MaximumSize {
		return nil, fail(LayerOuter, CodeTooBig)
	}
	proto := d.Protocol()
	hl := d.HeaderLength()
	start := off - n
	copy(buf[start:start+hl], d[:hl]) // overlapping move toward the front
	h := IPv4(buf[start:])
	writeMinimal(buf[start+hl:start+hl+n], proto, 0, odst, osrc, s)
	h.SetProtocol(ProtocolMinimal)
	*(*[4]byte)(h[ipDst:]) = tdst
	*(*[4]byte)(h[ipSrc:]) = tsrc
	h.SetTotalLength(uint16(len(h)))
	h.UpdateChecksum()
	return h, nil
}

// DecapsulateMinimal undoes minimal encapsulation in place (RFC 2004 §3):
// it checks the IP header (valid, correct checksum, Protocol 55, not a
// fragment) and the forwarding header (length and checksum), restores the
// original Protocol, Destination and (when S = 1) Source Address, shrinks
// Total Length, recomputes the header checksum, moves the header back over
// the forwarding header, and returns the restored datagram, which starts
// 8 or 12 octets into pkt, with the forwarding header that was removed.
// Octets after the Total Length are ignored. A datagram with TTL 0 is
// refused (ErrTTLExpired), as after IP in IP (RFC 2003 §3.1). pkt is not
// modified on error.
func DecapsulateMinimal(pkt []byte) (IPv4, MinimalHeader, error) {
	o, payload, err := parseOuter(pkt, ProtocolMinimal)
	if err != nil {
		return nil, MinimalHeader{}, err
	}
	mh, n, err := ParseMinimalHeader(payload)
	if err != nil {
		return nil, MinimalHeader{}, err
	}
	if o.TTL() == 0 {
		return nil, MinimalHeader{}, fail(LayerInner, CodeTTLExpired)
	}
	hl := o.HeaderLength()
	tl := len(o)
	// Read the forwarding header's addresses before the header moves
	// over them.
	odst := [4]byte(payload[minOrigDst : minOrigDst+4])
	var osrc [4]byte
	if n == MinimalHeaderSizeWithSource {
		osrc = [4]byte(payload[minOrigSrc : minOrigSrc+4])
	}
	copy(pkt[n:n+hl], pkt[:hl]) // overlapping move toward the back
	d := IPv4(pkt[n:tl])
	d.SetProtocol(mh.Protocol)
	*(*[4]byte)(d[ipDst:]) = odst
	if n == MinimalHeaderSizeWithSource {
		*(*[4]byte)(d[ipSrc:]) = osrc
	}
	d.SetTotalLength(uint16(tl - n))
	d.UpdateChecksum()
	return d, mh, nil
}
