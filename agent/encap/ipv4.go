package encap

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 is a view of an IPv4 header (RFC 791 §3.1), optionally followed by
// the rest of the datagram, in the style of gVisor's
// pkg/tcpip/header/ipv4.go:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// As in gVisor, the accessors do not check lengths: they need
// len(b) >= IPv4MinimumSize, and Options and Payload need the view to be
// valid. Call [IPv4.IsValid] on untrusted bytes first; the decapsulators in
// this package do.
type IPv4 []byte

// IPv4Fields holds every field of an IPv4 header, for [IPv4.Encode] and
// [IPv4.Fields]. Version is always 4 and IHL follows from len(Options).
type IPv4Fields struct {
	TOS            uint8
	TotalLength    uint16
	ID             uint16
	Flags          uint8  // IPv4FlagReserved | IPv4FlagDF | IPv4FlagMF
	FragmentOffset uint16 // in units of 8 octets, as on the wire
	TTL            uint8
	Protocol       uint8
	Checksum       uint16
	Src, Dst       netip.Addr
	Options        []byte // a multiple of 4 octets, at most 40
}

// Version returns the Version field (4 for IPv4).
func (b IPv4) Version() uint8 { return b[ipVersIHL] >> 4 }

// IHL returns the Internet Header Length field in 32-bit words.
func (b IPv4) IHL() uint8 { return b[ipVersIHL] & 0x0f }

// HeaderLength returns the header length in octets (IHL × 4).
func (b IPv4) HeaderLength() int { return int(b.IHL()) * 4 }

// TOS returns the Type of Service octet.
func (b IPv4) TOS() uint8 { return b[ipTOS] }

// TotalLength returns the Total Length field: header plus data, in octets.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[ipTotalLen:]) }

// ID returns the Identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipID:]) }

// Flags returns the three flag bits: IPv4FlagReserved, IPv4FlagDF,
// IPv4FlagMF.
func (b IPv4) Flags() uint8 { return b[ipFlagsFrag] >> 5 }

// DF reports whether the Don't Fragment flag is set.
func (b IPv4) DF() bool { return binary.BigEndian.Uint16(b[ipFlagsFrag:])&ipFlagDF != 0 }

// MF reports whether the More Fragments flag is set.
func (b IPv4) MF() bool { return binary.BigEndian.Uint16(b[ipFlagsFrag:])&ipFlagMF != 0 }

// FragmentOffset returns the Fragment Offset field in units of 8 octets.
func (b IPv4) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(b[ipFlagsFrag:]) & ipFragOffMask
}

// IsFragment reports whether the datagram is a fragment: MF set or a
// non-zero Fragment Offset.
func (b IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(b[ipFlagsFrag:])&(ipFlagMF|ipFragOffMask) != 0
}

// TTL returns the Time to Live field.
func (b IPv4) TTL() uint8 { return b[ipTTL] }

// Protocol returns the Protocol field.
func (b IPv4) Protocol() uint8 { return b[ipProtocol] }

// Checksum returns the Header Checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[ipChecksum:]) }

// Src returns the Source Address.
func (b IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(b[ipSrc : ipSrc+4])) }

// Dst returns the Destination Address.
func (b IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(b[ipDst : ipDst+4])) }

// Options returns the options octets, b[20:HeaderLength()].
func (b IPv4) Options() []byte { return b[IPv4MinimumSize:b.HeaderLength()] }

// Payload returns the data after the header up to Total Length.
func (b IPv4) Payload() []byte { return b[b.HeaderLength():b.TotalLength()] }

// SetHeaderLength sets Version to 4 and IHL to n/4; n is in octets.
func (b IPv4) SetHeaderLength(n int) { b[ipVersIHL] = IPv4Version<<4 | uint8(n/4)&0x0f }

// SetTOS sets the Type of Service octet.
func (b IPv4) SetTOS(v uint8) { b[ipTOS] = v }

// SetTotalLength sets the Total Length field.
func (b IPv4) SetTotalLength(v uint16) { binary.BigEndian.PutUint16(b[ipTotalLen:], v) }

// SetID sets the Identification field.
func (b IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(b[ipID:], v) }

// SetFlagsFragmentOffset sets the three flag bits and the Fragment Offset
// (in units of 8 octets).
func (b IPv4) SetFlagsFragmentOffset(flags uint8, offset uint16) {
	binary.BigEndian.PutUint16(b[ipFlagsFrag:], uint16(flags&7)<<13|offset&ipFragOffMask)
}

// SetTTL sets the Time to Live field.
func (b IPv4) SetTTL(v uint8) { b[ipTTL] = v }

// SetProtocol sets the Protocol field.
func (b IPv4) SetProtocol(v uint8) { b[ipProtocol] = v }

// SetChecksum sets the Header Checksum field.
func (b IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[ipChecksum:], v) }

// SetSrc sets the Source Address. Like netip.Addr.As4, it panics if a is
// neither an IPv4 nor an IPv4-mapped IPv6 address.
func (b IPv4) SetSrc(a netip.Addr) { *(*[4]byte)(b[ipSrc:]) = a.As4() }

// SetDst sets the Destination Address. Like netip.Addr.As4, it panics if a
// is neither an IPv4 nor an IPv4-mapped IPv6 address.
func (b IPv4) SetDst(a netip.Addr) { *(*[4]byte)(b[ipDst:]) = a.As4() }

// ComputeChecksum returns the header checksum (RFC 791 §3.1, RFC 1071) of
// the HeaderLength() octets of b, taking the checksum field as zero.
func (b IPv4) ComputeChecksum() uint16 {
	hl := b.HeaderLength()
	// Sum the header around the checksum field rather than zeroing it, so
	// a read-only view can be checked too.
	s := sum(b[:ipChecksum], 0)
	return ^sum(b[ipChecksum+2:hl], uint32(s))
}

// UpdateChecksum sets the Header Checksum field to ComputeChecksum().
func (b IPv4) UpdateChecksum() { b.SetChecksum(b.ComputeChecksum()) }

// IsChecksumValid reports whether the Header Checksum field verifies: the
// one's complement sum of the whole header is all ones.
func (b IPv4) IsChecksumValid() bool { return sum(b[:b.HeaderLength()], 0) == 0xffff }

// IsValid reports whether b starts with a well-formed IPv4 header of a
// datagram that fits in pktLen octets: at least 20 octets, Version 4,
// IHL >= 5, the header within b and within Total Length, and Total Length
// at most pktLen. It does not check the checksum.
func (b IPv4) IsValid(pktLen int) bool { return validateIPv4(b, pktLen, LayerAny) == nil }

// validateIPv4 is IsValid with a reason, reported in layer l.
func validateIPv4(b IPv4, pktLen int, l Layer) error {
	if len(b) < IPv4MinimumSize {
		return fail(l, CodeTruncated)
	}
	if b.Version() != IPv4Version {
		return fail(l, CodeBadVersion)
	}
	hl := b.HeaderLength()
	if hl < IPv4MinimumSize {
		return fail(l, CodeBadHeaderLength)
	}
	if hl > len(b) {
		return fail(l, CodeTruncated)
	}
	tl := int(b.TotalLength())
	if tl < hl {
		return fail(l, CodeBadHeaderLength)
	}
	if tl > pktLen {
		return fail(l, CodeTruncated)
	}
	return nil
}

// Fields returns every field of the header. The Options slice aliases b.
func (b IPv4) Fields() IPv4Fields {
	return IPv4Fields{
		TOS:            b.TOS(),
		TotalLength:    b.TotalLength(),
		ID:             b.ID(),
		Flags:          b.Flags(),
		FragmentOffset: b.FragmentOffset(),
		TTL:            b.TTL(),
		Protocol:       b.Protocol(),
		Checksum:       b.Checksum(),
		Src:            b.Src(),
		Dst:            b.Dst(),
		Options:        b.Options(),
	}
}

// Encode writes a header holding f into b, which must have room for
// IPv4MinimumSize+len(f.Options) octets. It writes f.Checksum as given; call
// UpdateChecksum afterwards to compute it.
func (b IPv4) Encode(f *IPv4Fields) {
	hl := IPv4MinimumSize + len(f.Options)
	b.SetHeaderLength(hl)
	b.SetTOS(f.TOS)
	b.SetTotalLength(f.TotalLength)
	b.SetID(f.ID)
	b.SetFlagsFragmentOffset(f.Flags, f.FragmentOffset)
	b.SetTTL(f.TTL)
	b.SetProtocol(f.Protocol)
	b.SetChecksum(f.Checksum)
	b.SetSrc(f.Src)
	b.SetDst(f.Dst)
	copy(b[IPv4MinimumSize:hl], f.Options)
}

// decrementTTL lowers the TTL by one and patches the checksum
// incrementally (RFC 1624), which keeps a wrong checksum wrong rather than
// laundering it. The caller has checked TTL > 1.
func (b IPv4) decrementTTL() {
	old := binary.BigEndian.Uint16(b[ipTTL:])
	b[ipTTL]--
	b.SetChecksum(checksumUpdate16(b.Checksum(), old, binary.BigEndian.Uint16(b[ipTTL:])))
}

// ipv4Addr returns a as 4 octets, or false if it is not an IPv4 (or
// IPv4-mapped) address.
func ipv4Addr(a netip.Addr) ([4]byte, bool) {
	a = a.Unmap()
	if !a.Is4() {
		return [4]byte{}, false
	}
	return a.As4(), true
}
