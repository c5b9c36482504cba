package wire

import (
	"net/netip"
	"strings"
)

// Fixed-part lengths (RFC 5944 §3.3, §3.4).
const (
	RequestHeaderLen = 24
	ReplyHeaderLen   = 20
)

// RequestFlags is the flags byte of a Registration Request (RFC 5944 §3.3).
// All eight bits are kept, the reserved ones included, so re-encoding is
// exact.
type RequestFlags uint8

const (
	FlagS RequestFlags = 0x80 // simultaneous bindings
	FlagB RequestFlags = 0x40 // broadcast datagrams
	FlagD RequestFlags = 0x20 // decapsulation by mobile node (co-located CoA)
	FlagM RequestFlags = 0x10 // minimal encapsulation
	FlagG RequestFlags = 0x08 // GRE encapsulation
	Flagr RequestFlags = 0x04 // reserved: sent as zero, ignored on reception
	FlagT RequestFlags = 0x02 // reverse tunnelling requested, RFC 3024 §3.1
	Flagx RequestFlags = 0x01 // reserved: sent as zero, ignored on reception
)

var requestFlagNames = [8]string{"S", "B", "D", "M", "G", "r", "T", "x"}

// String lists the set flags, e.g. "S|D|T", or "0" when none is set.
func (f RequestFlags) String() string {
	var parts []string
	for i, n := range requestFlagNames {
		if f&(0x80>>i) != 0 {
			parts = append(parts, n)
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// RequestView is a received Registration Request, read in place.
type RequestView []byte

// IsValid reports whether v is long enough for the fixed part and has the
// Registration Request type. It does not look at extensions.
func (v RequestView) IsValid() bool {
	return len(v) >= RequestHeaderLen && MsgType(v[0]) == MsgRegistrationRequest
}

func (v RequestView) Flags() RequestFlags   { return RequestFlags(v[1]) }
func (v RequestView) Lifetime() uint16      { return u16(v[2:]) }
func (v RequestView) HomeAddr() netip.Addr  { return addrAt(v[4:]) }
func (v RequestView) HomeAgent() netip.Addr { return addrAt(v[8:]) }
func (v RequestView) CareOf() netip.Addr    { return addrAt(v[12:]) }
func (v RequestView) ID() uint64            { return u64(v[16:]) }

// Extensions walks the extensions after the fixed part.
func (v RequestView) Extensions() ExtScanner {
	return NewExtScanner(v, RequestHeaderLen, SpaceRegistration)
}

// ReplyView is a received Registration Reply, read in place.
type ReplyView []byte

// IsValid reports whether v is long enough for the fixed part and has the
// Registration Reply type.
func (v ReplyView) IsValid() bool {
	return len(v) >= ReplyHeaderLen && MsgType(v[0]) == MsgRegistrationReply
}

func (v ReplyView) Code() Code            { return Code(v[1]) }
func (v ReplyView) Lifetime() uint16      { return u16(v[2:]) }
func (v ReplyView) HomeAddr() netip.Addr  { return addrAt(v[4:]) }
func (v ReplyView) HomeAgent() netip.Addr { return addrAt(v[8:]) }
func (v ReplyView) ID() uint64            { return u64(v[12:]) }
func (v ReplyView) Extensions() ExtScanner {
	return NewExtScanner(v, ReplyHeaderLen, SpaceRegistration)
}

// Layout says where the authentication extensions of a registration
// message sit. Offsets are from the start of the message; -1 means absent.
type Layout struct {
	Count int // number of extensions, padding included
	MNHA  int // Mobile-Home Authentication (32)
	MNAAA int // Generalized Authentication, MN-AAA sub-type (36/1)
	MNFA  int // Mobile-Foreign Authentication (33)
	FAHA  int // Foreign-Home Authentication (34)
	// Challenge is the offset of the first MN-FA Challenge extension (132),
	// or -1 (RFC 4721 §4).
	Challenge int
	// AuthEnd is the offset just past the last authorization-enabling
	// extension (MN-HA or MN-AAA), or -1. An FA relaying a request must not
	// change any byte before it (RFC 5944 §3.7.2.2).
	AuthEnd int
}

// ScanRequest checks a whole Registration Request without allocating: the
// fixed part, every extension's header and length, and the placement rules
// of RFC 5944 §3.6.1.3 for authentication extensions. It does not verify
// authenticators (package auth does).
func ScanRequest(b []byte) (Layout, error) {
	if len(b) < RequestHeaderLen {
		return Layout{}, &MsgError{Msg: "Registration Request", Err: ErrTruncated}
	}
	if MsgType(b[0]) != MsgRegistrationRequest {
		return Layout{}, &MsgError{Msg: "Registration Request", Err: ErrWrongType}
	}
	return scanRegistration(b, RequestHeaderLen, true)
}

// ScanReply is ScanRequest for a Registration Reply (RFC 5944 §3.8.3.3).
func ScanReply(b []byte) (Layout, error) {
	return scanFixed(b, MsgRegistrationReply, ReplyHeaderLen, "Registration Reply")
}

// scanRegistration walks the extensions and applies the placement rules:
//   - each of MN-HA, MN-AAA, MN-FA, FA-HA at most once;
//   - MN-FA and FA-HA, when present, are the last extension (§3.6.1.3 e,
//     §3.7.2.2, §3.8.3.3 e);
//   - in a request, MN-FA and FA-HA follow an authorization-enabling
//     extension (§3.6.1.3 c before d–e). A reply denied by the foreign
//     agent carries no MN-HA, so the rule does not apply to replies.
func scanRegistration(b []byte, start int, request bool) (Layout, error) {
	l := Layout{MNHA: -1, MNAAA: -1, MNFA: -1, FAHA: -1, AuthEnd: -1, Challenge: -1}
	mustBeLast := -1
	s := NewExtScanner(b, start, SpaceRegistration)
	for s.Next() {
		v := s.Ext()
		if mustBeLast >= 0 {
			return l, &ExtError{Offset: mustBeLast, Type: ExtType(b[mustBeLast]), Err: ErrAuthMisplaced}
		}
		if err := checkExtLen(v); err != nil {
			return l, &ExtError{Offset: v.Offset, Type: v.Type, Err: err}
		}
		l.Count++
		var slot *int
		switch {
		case v.Type == ExtMNFAChallenge:
			if l.Challenge < 0 {
				l.Challenge = v.Offset
			}
			continue
		case v.Type == ExtMNHAAuth:
			slot = &l.MNHA
		case v.Type == ExtGenAuth && v.SubType() == GenAuthMNAAA:
			slot = &l.MNAAA
		case v.Type == ExtMNFAAuth:
			slot = &l.MNFA
		case v.Type == ExtFAHAAuth:
			slot = &l.FAHA
		default:
			continue
		}
		if *slot >= 0 {
			return l, &ExtError{Offset: v.Offset, Type: v.Type, Err: ErrAuthDuplicate}
		}
		*slot = v.Offset
		switch v.Type {
		case ExtMNHAAuth, ExtGenAuth:
			l.AuthEnd = v.Offset + len(v.Raw)
		default:
			if request && l.AuthEnd < 0 {
				return l, &ExtError{Offset: v.Offset, Type: v.Type, Err: ErrAuthMisplaced}
			}
			mustBeLast = v.Offset
		}
	}
	return l, s.Err()
}

// RegistrationRequest is a decoded Registration Request (RFC 5944 §3.3).
type RegistrationRequest struct {
	Flags      RequestFlags
	Lifetime   uint16 // seconds; 0 deregisters, 0xffff is infinity
	HomeAddr   netip.Addr
	HomeAgent  netip.Addr
	CareOf     netip.Addr
	ID         uint64 // Identification, RFC 5944 §5.7
	Extensions []Extension
}

// Len is the encoded length.
func (m *RegistrationRequest) Len() int { return RequestHeaderLen + extsLen(m.Extensions) }

// AppendBinary appends the encoded request to b.
func (m *RegistrationRequest) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(MsgRegistrationRequest), byte(m.Flags))
	b = appendU16(b, m.Lifetime)
	var err error
	for _, a := range [...]netip.Addr{m.HomeAddr, m.HomeAgent, m.CareOf} {
		if b, err = appendAddr(b, a); err != nil {
			return b, &MsgError{Msg: "Registration Request", Err: err}
		}
	}
	b = appendU64(b, m.ID)
	return appendExts(b, m.Extensions)
}

// MarshalBinary encodes the request.
func (m *RegistrationRequest) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, m.Len()))
}

// UnmarshalBinary decodes a whole request, checking it as ScanRequest
// does. The message keeps its own copy of b.
func (m *RegistrationRequest) UnmarshalBinary(b []byte) error {
	if _, err := ScanRequest(b); err != nil {
		return err
	}
	b = append([]byte(nil), b...)
	v := RequestView(b)
	*m = RegistrationRequest{
		Flags: v.Flags(), Lifetime: v.Lifetime(),
		HomeAddr: v.HomeAddr(), HomeAgent: v.HomeAgent(), CareOf: v.CareOf(),
		ID: v.ID(),
	}
	var err error
	m.Extensions, err = decodeExts(b, RequestHeaderLen)
	return err
}

// RegistrationReply is a decoded Registration Reply (RFC 5944 §3.4).
type RegistrationReply struct {
	Code       Code
	Lifetime   uint16
	HomeAddr   netip.Addr
	HomeAgent  netip.Addr
	ID         uint64
	Extensions []Extension
}

// Len is the encoded length.
func (m *RegistrationReply) Len() int { return ReplyHeaderLen + extsLen(m.Extensions) }

// AppendBinary appends the encoded reply to b.
func (m *RegistrationReply) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(MsgRegistrationReply), byte(m.Code))
	b = appendU16(b, m.Lifetime)
	var err error
	for _, a := range [...]netip.Addr{m.HomeAddr, m.HomeAgent} {
		if b, err = appendAddr(b, a); err != nil {
			return b, &MsgError{Msg: "Registration Reply", Err: err}
		}
	}
	b = appendU64(b, m.ID)
	return appendExts(b, m.Extensions)
}

// MarshalBinary encodes the reply.
func (m *RegistrationReply) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, m.Len()))
}

// UnmarshalBinary decodes a whole reply, checking it as ScanReply does.
func (m *RegistrationReply) UnmarshalBinary(b []byte) error {
	if _, err := ScanReply(b); err != nil {
		return err
	}
	b = append([]byte(nil), b...)
	v := ReplyView(b)
	*m = RegistrationReply{
		Code: v.Code(), Lifetime: v.Lifetime(),
		HomeAddr: v.HomeAddr(), HomeAgent: v.HomeAgent(), ID: v.ID(),
	}
	var err error
	m.Extensions, err = decodeExts(b, ReplyHeaderLen)
	return err
}

// Find returns the first extension of type t in exts, or nil.
func Find(exts []Extension, t ExtType) Extension {
	for _, e := range exts {
		if e.Type() == t {
			return e
		}
	}
	return nil
}

// Offset returns the byte offset, within the encoded message whose fixed
// part is hdrLen bytes, of exts[i].
func Offset(hdrLen int, exts []Extension, i int) int {
	return hdrLen + extsLen(exts[:i])
}

func extsLen(exts []Extension) int {
	n := 0
	for _, e := range exts {
		n += e.Len()
	}
	return n
}

func appendExts(b []byte, exts []Extension) ([]byte, error) {
	var err error
	for _, e := range exts {
		if b, err = e.AppendBinary(b); err != nil {
			return b, err
		}
	}
	return b, nil
}

// decodeExts decodes the registration-space extensions of msg[start:],
// which the caller has already checked.
func decodeExts(msg []byte, start int) ([]Extension, error) {
	var exts []Extension
	s := NewExtScanner(msg, start, SpaceRegistration)
	for s.Next() {
		v := s.Ext()
		e, err := decodeRegExt(v)
		if err != nil {
			return nil, &ExtError{Offset: v.Offset, Type: v.Type, Err: err}
		}
		exts = append(exts, e)
	}
	return exts, s.Err()
}
