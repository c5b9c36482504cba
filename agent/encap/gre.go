package encap

import "encoding/binary"

// GREHeader is a GRE header (RFC 2784 §2.1) with the Key and Sequence
// Number extensions (RFC 2890 §2):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|C| |K|S| Reserved0       | Ver |         Protocol Type         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      Checksum (optional)      |       Reserved1 (Optional)    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Key (optional)                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Sequence Number (Optional)                    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The Version is always 0 (RFC 2784 §2.3.1) and so has no field. The
// Checksum has no field either: [ParseGREHeader] verifies it and
// [GREHeader.Encode] computes it. Reserved0 and Reserved1 are kept so that
// a parsed header re-encodes to the same octets.
type GREHeader struct {
	ChecksumPresent bool // C: Checksum and Reserved1 present (RFC 2784 §2.2)
	KeyPresent      bool // K: Key present (RFC 2890 §2)
	SequencePresent bool // S: Sequence Number present (RFC 2890 §2)
	// Reserved0 holds bits 6-12 (a 7-bit value), which are sent as zero
	// and ignored on receipt (RFC 2784 §2.3). Bits 1, 4 and 5 are not
	// here: a packet with any of them set is discarded.
	Reserved0 uint8
	Protocol  uint16 // Protocol Type, an EtherType (RFC 2784 §2.4)
	Reserved1 uint16 // sent as zero (RFC 2784 §2.6); only with C
	Key       uint32 // only with K (RFC 2890 §2.1)
	Sequence  uint32 // only with S (RFC 2890 §2.2)
}

// Len returns the encoded length of h: 4 octets plus 4 for each of the
// checksum, key and sequence fields present.
func (h *GREHeader) Len() int {
	n := GREHeaderSize
	if h.ChecksumPresent {
		n += GREFieldSize
	}
	if h.KeyPresent {
		n += GREFieldSize
	}
	if h.SequencePresent {
		n += GREFieldSize
	}
	return n
}

// Encode writes h into pkt[:h.Len()], where pkt holds the GRE header
// followed by the payload packet. If ChecksumPresent is set it then
// computes the Checksum over the whole of pkt, header and payload, with
// the checksum field taken as zero (RFC 2784 §2.5). Reserved1, Key and
// Sequence are written only when their presence bit is set. It returns
// ErrNoRoom if pkt is shorter than h.Len().
func (h *GREHeader) Encode(pkt []byte) error {
	n := h.Len()
	if len(pkt) < n {
		return fail(LayerGRE, CodeNoRoom)
	}
	var w uint16
	if h.ChecksumPresent {
		w |= greFlagC
	}
	if h.KeyPresent {
		w |= greFlagK
	}
	if h.SequencePresent {
		w |= greFlagS
	}
	w |= uint16(h.Reserved0) << greReserved0Shift & greReserved0Mask
	binary.BigEndian.PutUint16(pkt[0:], w)
	binary.BigEndian.PutUint16(pkt[2:], h.Protocol)
	i := GREHeaderSize
	if h.ChecksumPresent {
		pkt[i], pkt[i+1] = 0, 0
		binary.BigEndian.PutUint16(pkt[i+2:], h.Reserved1)
		i += GREFieldSize
	}
	if h.KeyPresent {
		binary.BigEndian.PutUint32(pkt[i:], h.Key)
		i += GREFieldSize
	}
	if h.SequencePresent {
		binary.BigEndian.PutUint32(pkt[i:], h.Sequence)
	}
	if h.ChecksumPresent {
		binary.BigEndian.PutUint16(pkt[GREHeaderSize:], Checksum(pkt))
	}
	return nil
}

// ParseGREHeader parses the GRE header at the start of pkt, which holds the
// GRE header followed by the payload packet, and returns it with its
// length. It returns an error if pkt is shorter than the header its flags
// announce (ErrTruncated), if any of bits 1, 4 or 5 is set (RFC 2784 §2.3,
// ErrReservedBits; such packets use RFC 1701 features), if the Version is
// not 0 (RFC 2784 §2.3.1, ErrBadVersion), or if C is set and the checksum
// over all of pkt does not verify (RFC 2784 §2.5, ErrBadChecksum). Any
// Protocol Type is accepted here; see DecapsulateGRE.
func ParseGREHeader(pkt []byte) (GREHeader, int, error) {
	var h GREHeader
	if len(pkt) < GREHeaderSize {
		return h, 0, fail(LayerGRE, CodeTruncated)
	}
	w := binary.BigEndian.Uint16(pkt)
	if w&greMustBeZero != 0 {
		return h, 0, fail(LayerGRE, CodeReservedBits)
	}
	if w&greVersionMask != 0 {
		return h, 0, fail(LayerGRE, CodeBadVersion)
	}
	h.ChecksumPresent = w&greFlagC != 0
	h.KeyPresent = w&greFlagK != 0
	h.SequencePresent = w&greFlagS != 0
	h.Reserved0 = uint8(w & greReserved0Mask >> greReserved0Shift)
	h.Protocol = binary.BigEndian.Uint16(pkt[2:])
	n := h.Len()
	if len(pkt) < n {
		return GREHeader{}, 0, fail(LayerGRE, CodeTruncated)
	}
	i := GREHeaderSize
	if h.ChecksumPresent {
		if Checksum(pkt) != 0 {
			return GREHeader{}, 0, fail(LayerGRE, CodeBadChecksum)
		}
		h.Reserved1 = binary.BigEndian.Uint16(pkt[i+2:])
		i += GREFieldSize
	}
	if h.KeyPresent {
		h.Key = binary.BigEndian.Uint32(pkt[i:])
		i += GREFieldSize
	}
	if h.SequencePresent {
		h.Sequence = binary.BigEndian.Uint32(pkt[i:])
	}
	return h, n, nil
}

// GRETunnel encapsulates IPv4 datagrams in GRE over IPv4 (RFC 2784 §3,
// §4), optionally with a checksum (RFC 2784 §2.5), a key (RFC 2890 §2.1)
// and sequence numbers (RFC 2890 §2.2). The delivery header follows the
// same rules as IP in IP (see Delivery), with Protocol 47.
type GRETunnel struct {
	Delivery
	Checksum   bool   // send the GRE checksum
	KeyPresent bool   // send Key
	Key        uint32 // identifies the flow within the tunnel (RFC 2890 §2.1)
	Sequence   bool   // send the seq argument of Encapsulate as Sequence Number
}

// Overhead returns the octets t adds in front of the inner datagram: the
// delivery header and the GRE header.
func (t *GRETunnel) Overhead() int {
	h := t.header(0)
	return IPv4MinimumSize + h.Len()
}

func (t *GRETunnel) header(seq uint32) GREHeader {
	return GREHeader{
		ChecksumPresent: t.Checksum,
		KeyPresent:      t.KeyPresent,
		SequencePresent: t.Sequence,
		Protocol:        GREProtocolIPv4,
		Key:             t.Key,
		Sequence:        seq,
	}
}

// Encapsulate wraps the inner datagram buf[off:] in GRE, writing the
// delivery and GRE headers into the headroom buf[off-t.Overhead():off],
// and returns the encapsulated datagram buf[off-t.Overhead():]. id is the
// outer Identification; seq is the Sequence Number, used only when
// t.Sequence is set (RFC 2890 §2.2: the first datagram carries 0, and the
// counter runs modulo 2^32, per key). It checks and reports errors as
// IPIPTunnel.Encapsulate does, writing nothing on error.
func (t *GRETunnel) Encapsulate(buf []byte, off int, id uint16, seq uint32) ([]byte, error) {
	h := t.header(seq)
	hdr := IPv4MinimumSize + h.Len()
	inner, src, dst, err := t.prepare(buf, off, hdr)
	if err != nil {
		return nil, err
	}
	pkt := buf[off-hdr:]
	_ = h.Encode(pkt[IPv4MinimumSize:]) // room was checked by prepare
	t.writeOuter(IPv4(pkt), inner, src, dst, ProtocolGRE, id, len(pkt))
	return pkt, nil
}

// DecapsulateGRE checks a GRE-in-IPv4 datagram carrying IPv4 and returns
// views of its outer datagram (trimmed to its Total Length), the parsed
// GRE header, and the inner datagram. The outer header must be valid, with
// a correct checksum, Protocol 47 and no fragmentation; the GRE header as
// ParseGREHeader requires, with Protocol Type 0x0800 (RFC 2784 §3,
// ErrBadProtocol otherwise); and the inner datagram as DecapsulateIPIP
// requires, and not addressed to the encapsulator (RFC 2784 §3.1,
// ErrRoutingLoop). Sequence numbers are not judged here; see
// ClassifyGRESequence. It does not modify pkt.
func DecapsulateGRE(pkt []byte) (outer IPv4, h GREHeader, inner IPv4, err error) {
	outer, payload, err := parseOuter(pkt, ProtocolGRE)
	if err != nil {
		return nil, GREHeader{}, nil, err
	}
	h, n, err := ParseGREHeader(payload)
	if err != nil {
		return nil, GREHeader{}, nil, err
	}
	if h.Protocol != GREProtocolIPv4 {
		return nil, GREHeader{}, nil, fail(LayerGRE, CodeBadProtocol)
	}
	inner, err = parseInner(payload[n:])
	if err != nil {
		return nil, GREHeader{}, nil, err
	}
	if err := CheckDecapsulatedLoop(outer, inner); err != nil {
		return nil, GREHeader{}, nil, err
	}
	return outer, h, inner, nil
}

// SequenceClass is the verdict of ClassifyGRESequence.
type SequenceClass uint8

// Sequence classes (RFC 2890 §2.2).
const (
	// SequenceInOrder: exactly one after the last decapsulated number;
	// decapsulate it.
	SequenceInOrder SequenceClass = iota
	// SequenceOld: equal to the last number or among the 2^31-1 before
	// it; an out-of-sequence packet that SHOULD be silently discarded.
	SequenceOld
	// SequenceGap: ahead by more than one; packets were lost or
	// reordered. The receiver may buffer it or decapsulate it.
	SequenceGap
)

// GREInitialSequence is the "last successfully decapsulated" sequence
// number a receiver starts with, (2^32)-1, so that 0 is in order
// (RFC 2890 §2.2).
const GREInitialSequence = 0xffffffff

// ClassifyGRESequence compares a received Sequence Number with the last
// one successfully decapsulated, modulo 2^32 (RFC 2890 §2.2).
func ClassifyGRESequence(last, received uint32) SequenceClass {
	switch d := received - last; {
	case d == 1:
		return SequenceInOrder
	case d == 0 || d >= 1<<31+1:
		// d == 0 is "equal"; d in [2^31+1, 2^32-1] is
		// received == last - k for k in [1, 2^31-1].
		return SequenceOld
	default:
		return SequenceGap
	}
}
