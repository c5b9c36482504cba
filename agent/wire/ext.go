package wire

import "encoding/binary"

// Format is the layout of an extension's header.
type Format uint8

const (
	// FormatPad is the one-byte padding extension: a type byte only
	// (RFC 5944 §1.8, §2.1.3).
	FormatPad Format = iota
	// FormatTLV is Type, 8-bit Length, Data (RFC 5944 §1.9).
	FormatTLV
	// FormatLong is Type, Sub-Type, 16-bit Length, Data (RFC 5944 §1.10).
	// Only non-skippable extensions may use it.
	FormatLong
	// FormatShort is Type, 8-bit Length, Sub-Type, Data, where Length
	// counts the Sub-Type byte (RFC 5944 §1.11).
	FormatShort
)

func (f Format) String() string {
	switch f {
	case FormatPad:
		return "pad"
	case FormatTLV:
		return "tlv"
	case FormatLong:
		return "long"
	case FormatShort:
		return "short"
	}
	return "format?"
}

// headerLen is the number of bytes before the Data field (the Sub-Type
// byte of the short format counts as header here).
func (f Format) headerLen() int {
	switch f {
	case FormatPad:
		return 1
	case FormatLong:
		return 4
	case FormatShort:
		return 3
	}
	return 2
}

// Space is an extension numbering space (RFC 5944 §1.8).
type Space uint8

const (
	// SpaceRegistration: extensions of messages on UDP port 434.
	SpaceRegistration Space = iota
	// SpaceAdvertisement: extensions of ICMP Router Discovery messages.
	SpaceAdvertisement
)

// formatAt returns the layout of the extension starting at b[0] in space s,
// and false when its type is not known in that space. Unknown skippable
// types are read as TLV: RFC 5944 §1.10 forbids the long format for them,
// and the short format has the same length rule as TLV.
//
// Extension 139 (Dynamic HA, RFC 4433 §3.4) is the one exception: the RFC
// gives it the long layout although it is skippable, while older peers
// (and Wireshark) send a short layout with Length 5. Both are accepted:
// Type, Sub-Type 1|2, Length 0x0004 is the RFC layout; anything else is
// read as short.
func formatAt(s Space, b []byte) (Format, bool) {
	t := ExtType(b[0])
	if t == 0 {
		return FormatPad, true
	}
	if s == SpaceAdvertisement {
		switch t {
		case AdvExtMobilityAgent, AdvExtPrefixLengths, AdvExtChallenge:
			return FormatTLV, true
		case ExtNAICarrying: // same number in both spaces, RFC 3846 §6
			return FormatShort, true
		}
		return FormatTLV, false
	}
	switch t {
	case ExtGenAuth, ExtCVSE, ExtPMIPv4NonSkip, ExtGREKey:
		return FormatLong, true
	case ExtDynamicHA:
		if len(b) >= 4 && (b[1] == DynHARequested || b[1] == DynHARedirected) && b[2] == 0 && b[3] == 4 {
			return FormatLong, true
		}
		return FormatShort, true
	case ExtUDPTunnelReply, ExtUDPTunnelRequest, ExtPMIPv4Skip,
		ExtNAICarrying, ExtMobileNetwork, ExtTrustedNetworks:
		return FormatShort, true
	case ExtMNHAAuth, ExtMNFAAuth, ExtFAHAAuth, ExtDeliveryStyle,
		ExtMNNAI, ExtMNFAChallenge, ExtNVSE, ExtRevocationSupport:
		return FormatTLV, true
	}
	return FormatTLV, false
}

// ExtView is one extension as it sits in a message, without copying.
type ExtView struct {
	Type   ExtType
	Format Format
	// Offset of the extension's first byte from the start of the message.
	Offset int
	// Raw is the whole extension, header included.
	Raw []byte
	// Known is false for a skippable extension this codec does not know.
	Known bool
}

// Data is the extension's data after its header (after the Sub-Type byte
// for the short and long formats).
func (v ExtView) Data() []byte { return v.Raw[v.Format.headerLen():] }

// SubType is the Sub-Type byte of a short- or long-format extension, and 0
// for the others.
func (v ExtView) SubType() uint8 {
	switch v.Format {
	case FormatLong:
		return v.Raw[1]
	case FormatShort:
		return v.Raw[2]
	}
	return 0
}

// ExtScanner walks the extensions of a message in order without
// allocating. Use it as:
//
//	s := NewExtScanner(msg, RequestHeaderLen, SpaceRegistration)
//	for s.Next() { v := s.Ext(); ... }
//	if err := s.Err(); err != nil { ... }
type ExtScanner struct {
	msg   []byte
	off   int
	space Space
	cur   ExtView
	err   error
}

// NewExtScanner scans msg[start:] as a list of extensions of space s.
// Offsets it reports are relative to msg, so callers can slice the bytes an
// authenticator covers directly.
func NewExtScanner(msg []byte, start int, s Space) ExtScanner {
	return ExtScanner{msg: msg, off: start, space: s}
}

// Next advances to the next extension. It returns false at the end of the
// message or on an error (see Err).
func (s *ExtScanner) Next() bool {
	if s.err != nil || s.off >= len(s.msg) {
		return false
	}
	b := s.msg[s.off:]
	t := ExtType(b[0])
	f, known := formatAt(s.space, b)
	if !known && !t.Skippable() {
		s.fail(t, ErrUnknownNonSkippable)
		return false
	}
	n := 1
	switch f {
	case FormatPad:
	case FormatLong:
		if len(b) < 4 {
			s.fail(t, ErrTruncated)
			return false
		}
		n = 4 + int(binary.BigEndian.Uint16(b[2:4]))
	default:
		if len(b) < 2 {
			s.fail(t, ErrTruncated)
			return false
		}
		n = 2 + int(b[1])
		if f == FormatShort && b[1] < 1 {
			// The Length of the short format counts the Sub-Type.
			s.fail(t, ErrBadLength)
			return false
		}
	}
	if n > len(b) {
		s.fail(t, ErrLengthOverflow)
		return false
	}
	s.cur = ExtView{Type: t, Format: f, Offset: s.off, Raw: b[:n:n], Known: known}
	s.off += n
	return true
}

func (s *ExtScanner) fail(t ExtType, err error) {
	s.err = &ExtError{Offset: s.off, Type: t, Err: err}
}

// Ext returns the extension Next stopped on.
func (s *ExtScanner) Ext() ExtView { return s.cur }

// Err returns the first error met, or nil at a clean end of message.
func (s *ExtScanner) Err() error { return s.err }

// Extension is one decoded extension. Implementations encode themselves
// exactly: for every extension decoded from valid bytes, AppendBinary
// reproduces those bytes.
type Extension interface {
	// Type is the extension's type byte.
	Type() ExtType
	// Len is the encoded length, header included.
	Len() int
	// AppendBinary appends the encoded extension to b.
	AppendBinary(b []byte) ([]byte, error)
}

// RawExtension is an extension kept as its exact bytes: a skippable type
// this codec does not know, or any extension a caller wants passed through
// untouched.
type RawExtension struct {
	Raw []byte // the whole extension, header included
}

func (e *RawExtension) Type() ExtType {
	if len(e.Raw) == 0 {
		return 0
	}
	return ExtType(e.Raw[0])
}
func (e *RawExtension) Len() int { return len(e.Raw) }
func (e *RawExtension) AppendBinary(b []byte) ([]byte, error) {
	if len(e.Raw) == 0 {
		return b, &ExtError{Err: ErrBadLength}
	}
	return append(b, e.Raw...), nil
}

// Padding is the one-byte padding extension (type 0).
type Padding struct{}

func (*Padding) Type() ExtType                         { return ExtPadding }
func (*Padding) Len() int                              { return 1 }
func (*Padding) AppendBinary(b []byte) ([]byte, error) { return append(b, 0), nil }
func (*Padding) decode(ExtView) error                  { return nil }

// appendTLV appends a TLV header for data of length n.
func appendTLV(b []byte, t ExtType, n int) ([]byte, error) {
	if n > 255 {
		return b, &ExtError{Type: t, Err: ErrTooLong}
	}
	return append(b, byte(t), byte(n)), nil
}

// appendShort appends a short-format header for data of length n (not
// counting the sub-type).
func appendShort(b []byte, t ExtType, sub uint8, n int) ([]byte, error) {
	if n+1 > 255 {
		return b, &ExtError{Type: t, Err: ErrTooLong}
	}
	return append(b, byte(t), byte(n+1), sub), nil
}

// appendLong appends a long-format header for data of length n.
func appendLong(b []byte, t ExtType, sub uint8, n int) ([]byte, error) {
	if n > 0xffff {
		return b, &ExtError{Type: t, Err: ErrTooLong}
	}
	return append(b, byte(t), sub, byte(n>>8), byte(n)), nil
}
