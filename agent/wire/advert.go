package wire

import (
	"net/netip"
	"strings"
)

// Agent Discovery messages (RFC 5944 §2): an Agent Advertisement is an ICMP
// Router Advertisement (RFC 1256 §3) followed by extensions of the
// advertisement space, at least the Mobility Agent Advertisement extension;
// an Agent Solicitation is an ICMP Router Solicitation sent with TTL 1.
// Both are encoded here from the ICMP header on (the IP header is the
// socket's business).

// Lengths of fixed parts.
const (
	ICMPRouterAdvHeaderLen = 8 // type, code, checksum, num addrs, entry size, lifetime
	RouterEntryLen         = 8 // router address + preference level
	SolicitationLen        = 8 // type, code, checksum, reserved
	routerEntryWords       = 2 // RFC 1256 §3: Addr Entry Size is 2 words
	mobilityAgentFixedLen  = 6 // sequence, lifetime, flags (RFC 5944 §2.1.1)
)

// AdvFlags is the 16-bit flags word of the Mobility Agent Advertisement
// extension (RFC 5944 §2.1.1; U from RFC 3519 §3.4, X from RFC 3543, I for
// regional registration). The five low bits are reserved and kept.
type AdvFlags uint16

const (
	AdvR AdvFlags = 0x8000 // registration required
	AdvB AdvFlags = 0x4000 // busy
	AdvH AdvFlags = 0x2000 // home agent
	AdvF AdvFlags = 0x1000 // foreign agent
	AdvM AdvFlags = 0x0800 // minimal encapsulation
	AdvG AdvFlags = 0x0400 // GRE
	Advr AdvFlags = 0x0200 // reserved, sent as zero
	AdvT AdvFlags = 0x0100 // reverse tunnelling, RFC 3024
	AdvU AdvFlags = 0x0080 // UDP tunnelling, RFC 3519
	AdvX AdvFlags = 0x0040 // registration revocation, RFC 3543
	AdvI AdvFlags = 0x0020 // regional registration
)

var advFlagNames = [11]string{"R", "B", "H", "F", "M", "G", "r", "T", "U", "X", "I"}

// String lists the set flags, e.g. "F|T|U", or "0".
func (f AdvFlags) String() string {
	var parts []string
	for i, n := range advFlagNames {
		if f&(0x8000>>i) != 0 {
			parts = append(parts, n)
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// NextAdvSequence returns the sequence number to send after seq: one
// greater, except that 0xffff is followed by 256 so a rollover can be told
// from a reboot (RFC 5944 §2.3.2). The first advertisement after boot uses
// 0.
func NextAdvSequence(seq uint16) uint16 {
	if seq == 0xffff {
		return AdvSeqRollover
	}
	return seq + 1
}

// AgentRebooted reports whether a mobile node that saw sequence number prev
// and then cur from the same agent should register again: cur is lower and
// inside 0–255, meaning the agent restarted rather than rolled over (RFC
// 5944 §2.4.4).
func AgentRebooted(prev, cur uint16) bool {
	return cur < prev && cur < AdvSeqRollover
}

// RouterAddress is one entry of the ICMP Router Advertisement part.
type RouterAddress struct {
	Addr       netip.Addr
	Preference int32
}

// MobilityAgentAdv is the Mobility Agent Advertisement extension (16), RFC
// 5944 §2.1.1: Type, Length = 6 + 4N, Sequence Number, Registration
// Lifetime, flags, N care-of addresses.
type MobilityAgentAdv struct {
	Sequence    uint16
	RegLifetime uint16 // longest registration lifetime accepted; 0xffff = infinity
	Flags       AdvFlags
	CareOf      []netip.Addr
}

func (e *MobilityAgentAdv) Type() ExtType { return AdvExtMobilityAgent }
func (e *MobilityAgentAdv) Len() int      { return 2 + mobilityAgentFixedLen + 4*len(e.CareOf) }
func (e *MobilityAgentAdv) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendTLV(b, AdvExtMobilityAgent, mobilityAgentFixedLen+4*len(e.CareOf))
	if err != nil {
		return b, err
	}
	b = appendU16(b, e.Sequence)
	b = appendU16(b, e.RegLifetime)
	b = appendU16(b, uint16(e.Flags))
	for _, a := range e.CareOf {
		if b, err = appendAddr(b, a); err != nil {
			return b, &ExtError{Type: AdvExtMobilityAgent, Err: err}
		}
	}
	return b, nil
}
func (e *MobilityAgentAdv) decode(v ExtView) error {
	d := v.Data()
	*e = MobilityAgentAdv{Sequence: u16(d), RegLifetime: u16(d[2:]), Flags: AdvFlags(u16(d[4:]))}
	for p := d[mobilityAgentFixedLen:]; len(p) >= 4; p = p[4:] {
		e.CareOf = append(e.CareOf, addrAt(p))
	}
	return nil
}

// Validate applies the flag rules of RFC 5944 §2.1.1: at least one of F
// and H; B and R only with F; at least one care-of address when F is set.
func (e *MobilityAgentAdv) Validate() error {
	f := e.Flags
	switch {
	case f&(AdvF|AdvH) == 0,
		f&AdvB != 0 && f&AdvF == 0,
		f&AdvR != 0 && f&AdvF == 0,
		f&AdvF != 0 && len(e.CareOf) == 0:
		return &ExtError{Type: AdvExtMobilityAgent, Err: ErrBadValue}
	}
	return nil
}

// PrefixLengths is the Prefix-Lengths extension (19), RFC 5944 §2.1.2: one
// byte per router address of the ICMP part.
type PrefixLengths struct {
	Lengths []uint8
}

func (e *PrefixLengths) Type() ExtType { return AdvExtPrefixLengths }
func (e *PrefixLengths) Len() int      { return 2 + len(e.Lengths) }
func (e *PrefixLengths) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendTLV(b, AdvExtPrefixLengths, len(e.Lengths))
	return append(b, e.Lengths...), err
}
func (e *PrefixLengths) decode(v ExtView) error { e.Lengths = v.Data(); return nil }

// AdvertisementView is a received Agent Advertisement (ICMP message), read
// in place.
type AdvertisementView []byte

// IsValid checks the ICMP fixed part: type 9, address entry size 2, and
// room for the router entries. It does not check the checksum.
func (v AdvertisementView) IsValid() bool {
	return len(v) >= ICMPRouterAdvHeaderLen && v[0] == ICMPTypeRouterAdvertisement &&
		v[5] == routerEntryWords && len(v) >= v.extStart()
}

func (v AdvertisementView) Code() uint8      { return v[1] }
func (v AdvertisementView) Checksum() uint16 { return u16(v[2:]) }
func (v AdvertisementView) NumAddrs() int    { return int(v[4]) }
func (v AdvertisementView) Lifetime() uint16 { return u16(v[6:]) }
func (v AdvertisementView) extStart() int    { return ICMPRouterAdvHeaderLen + RouterEntryLen*int(v[4]) }
func (v AdvertisementView) ChecksumOK() bool { return icmpChecksumOK(v) }
func (v AdvertisementView) Extensions() ExtScanner {
	return NewExtScanner(v, v.extStart(), SpaceAdvertisement)
}

// Router returns router entry i.
func (v AdvertisementView) Router(i int) RouterAddress {
	p := v[ICMPRouterAdvHeaderLen+RouterEntryLen*i:]
	return RouterAddress{Addr: addrAt(p), Preference: int32(u32(p[4:]))}
}

// AdvLayout says where the extensions of an Agent Advertisement sit.
type AdvLayout struct {
	MobilityAgent int // offset of extension 16, or -1 (then it is a plain Router Advertisement)
	PrefixLengths int // offset of extension 19, or -1
	Challenge     int // offset of extension 24, or -1
}

// ScanAdvertisement checks a whole Agent Advertisement without allocating:
// the ICMP header, the checksum, every extension's length, and that the
// Prefix-Lengths extension has one byte per router address.
func ScanAdvertisement(b []byte) (AdvLayout, error) {
	l := AdvLayout{MobilityAgent: -1, PrefixLengths: -1, Challenge: -1}
	const msg = "Agent Advertisement"
	v := AdvertisementView(b)
	switch {
	case len(b) < ICMPRouterAdvHeaderLen:
		return l, &MsgError{Msg: msg, Err: ErrTruncated}
	case b[0] != ICMPTypeRouterAdvertisement:
		return l, &MsgError{Msg: msg, Err: ErrWrongType}
	case b[5] != routerEntryWords:
		return l, &MsgError{Msg: msg, Err: ErrBadValue}
	case len(b) < v.extStart():
		return l, &MsgError{Msg: msg, Err: ErrLengthOverflow}
	case !v.ChecksumOK():
		return l, &MsgError{Msg: msg, Err: ErrBadChecksum}
	}
	s := v.Extensions()
	for s.Next() {
		e := s.Ext()
		var slot *int
		n := len(e.Data())
		bad := false
		switch e.Type {
		case AdvExtMobilityAgent:
			slot, bad = &l.MobilityAgent, n < mobilityAgentFixedLen || (n-mobilityAgentFixedLen)%4 != 0
		case AdvExtPrefixLengths:
			slot, bad = &l.PrefixLengths, n != v.NumAddrs()
		case AdvExtChallenge:
			slot = &l.Challenge
		}
		if bad {
			return l, &ExtError{Offset: e.Offset, Type: e.Type, Err: ErrBadLength}
		}
		if slot != nil {
			if *slot >= 0 {
				return l, &ExtError{Offset: e.Offset, Type: e.Type, Err: ErrBadValue}
			}
			*slot = e.Offset
		}
	}
	return l, s.Err()
}

// AgentAdvertisement is a decoded Agent Advertisement. Extensions are in
// the advertisement space: *MobilityAgentAdv, *PrefixLengths, *Challenge
// (Kind AdvExtChallenge), *NAICarrying, *Padding, *RawExtension.
type AgentAdvertisement struct {
	Code       uint8  // AdvCodeRoutesCommonTraffic or AdvCodeNoCommonTraffic
	Lifetime   uint16 // ICMP advertisement lifetime, seconds
	Routers    []RouterAddress
	Extensions []Extension
}

// MobilityAgent returns the Mobility Agent Advertisement extension, or nil.
func (m *AgentAdvertisement) MobilityAgent() *MobilityAgentAdv {
	e, _ := Find(m.Extensions, AdvExtMobilityAgent).(*MobilityAgentAdv)
	return e
}

func (m *AgentAdvertisement) Len() int {
	return ICMPRouterAdvHeaderLen + RouterEntryLen*len(m.Routers) + extsLen(m.Extensions)
}

// AppendBinary appends the ICMP message with its checksum computed.
func (m *AgentAdvertisement) AppendBinary(b []byte) ([]byte, error) {
	if len(m.Routers) > 255 {
		return b, &MsgError{Msg: "Agent Advertisement", Err: ErrTooLong}
	}
	start := len(b)
	b = append(b, ICMPTypeRouterAdvertisement, m.Code, 0, 0, byte(len(m.Routers)), routerEntryWords)
	b = appendU16(b, m.Lifetime)
	var err error
	for _, r := range m.Routers {
		if b, err = appendAddr(b, r.Addr); err != nil {
			return b, &MsgError{Msg: "Agent Advertisement", Err: err}
		}
		b = appendU32(b, uint32(r.Preference))
	}
	if b, err = appendExts(b, m.Extensions); err != nil {
		return b, err
	}
	c := Checksum(b[start:])
	b[start+2], b[start+3] = byte(c>>8), byte(c)
	return b, nil
}

func (m *AgentAdvertisement) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, m.Len()))
}

// UnmarshalBinary decodes an advertisement checked by ScanAdvertisement.
// It does not insist on the Mobility Agent Advertisement extension; use
// MobilityAgent to tell an Agent Advertisement from a plain Router
// Advertisement.
func (m *AgentAdvertisement) UnmarshalBinary(b []byte) error {
	if _, err := ScanAdvertisement(b); err != nil {
		return err
	}
	b = append([]byte(nil), b...)
	v := AdvertisementView(b)
	*m = AgentAdvertisement{Code: v.Code(), Lifetime: v.Lifetime()}
	for i := range v.NumAddrs() {
		m.Routers = append(m.Routers, v.Router(i))
	}
	s := v.Extensions()
	for s.Next() {
		e := s.Ext()
		var d decoder
		switch e.Type {
		case AdvExtPadding:
			d = &Padding{}
		case AdvExtMobilityAgent:
			d = &MobilityAgentAdv{}
		case AdvExtPrefixLengths:
			d = &PrefixLengths{}
		case AdvExtChallenge:
			d = &Challenge{}
		case ExtNAICarrying:
			d = &NAICarrying{}
		}
		if d == nil {
			m.Extensions = append(m.Extensions, &RawExtension{Raw: e.Raw})
			continue
		}
		if err := d.decode(e); err != nil {
			return &ExtError{Offset: e.Offset, Type: e.Type, Err: err}
		}
		m.Extensions = append(m.Extensions, d)
	}
	return s.Err()
}

// AgentSolicitation is an Agent Solicitation: an ICMP Router Solicitation
// (RFC 1256 §3) sent with IP TTL 1 (RFC 5944 §2.2). Reserved is kept as
// received.
type AgentSolicitation struct {
	Reserved uint32
}

func (m *AgentSolicitation) Len() int { return SolicitationLen }

func (m *AgentSolicitation) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, ICMPTypeRouterSolicitation, 0, 0, 0)
	b = appendU32(b, m.Reserved)
	c := Checksum(b[start:])
	b[start+2], b[start+3] = byte(c>>8), byte(c)
	return b, nil
}

func (m *AgentSolicitation) MarshalBinary() ([]byte, error) { return m.AppendBinary(nil) }

// UnmarshalBinary accepts exactly an 8-byte Router Solicitation with code 0
// and a valid checksum.
func (m *AgentSolicitation) UnmarshalBinary(b []byte) error {
	const msg = "Agent Solicitation"
	switch {
	case len(b) < SolicitationLen:
		return &MsgError{Msg: msg, Err: ErrTruncated}
	case len(b) > SolicitationLen:
		return &MsgError{Msg: msg, Err: ErrBadLength}
	case b[0] != ICMPTypeRouterSolicitation:
		return &MsgError{Msg: msg, Err: ErrWrongType}
	case b[1] != 0:
		return &MsgError{Msg: msg, Err: ErrBadValue}
	case !icmpChecksumOK(b):
		return &MsgError{Msg: msg, Err: ErrBadChecksum}
	}
	m.Reserved = u32(b[4:])
	return nil
}

// Checksum is the Internet checksum (RFC 1071) of b: the one's complement
// of the one's complement sum of its 16-bit words. Computing it over a
// message that carries a correct checksum gives 0.
func Checksum(b []byte) uint16 { return ^fold(sum16(b, 0)) }

// icmpChecksumOK checks the checksum at b[2:4] of an ICMP message. It
// insists on the value a sender computes (RFC 1071), not merely one that
// sums to zero: 0x0000 and 0xffff both verify arithmetically, but only one
// is what a sender writes, and accepting the other would make decode then
// encode change the bytes.
func icmpChecksumOK(b []byte) bool {
	return u16(b[2:]) == ^fold(sum16(b[4:], sum16(b[:2], 0)))
}

// sum16 adds the big-endian 16-bit words of b (an odd last byte padded
// with zero) to acc.
func sum16(b []byte, acc uint32) uint32 {
	for len(b) >= 2 {
		acc += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

// fold reduces a 32-bit sum to 16 bits with end-around carry.
func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}
