package wire

import "net/netip"

// Registration Revocation (RFC 3543 §3.3) and its acknowledgement (§3.4),
// sent between agents (or an HA and a co-located MN) on UDP port 434 and
// authenticated by an FA-HA (or MN-HA) authentication extension, which
// must come last.

// Fixed-part lengths.
const (
	RevocationHeaderLen    = 20
	RevocationAckHeaderLen = 12
)

// Revocation flags (16-bit word at offset 2).
const (
	RevocationA = 0x8000 // sent by the home agent (0: by the foreign agent)
	RevocationI = 0x4000 // inform the mobile node
	RevAckI     = 0x8000 // acknowledgement: the mobile node was informed
)

// Revocation is a Registration Revocation message (type 7), RFC 3543 §3.3:
//
//	Type | Reserved | A I Reserved (16) | Home Address |
//	Home Domain Address | Foreign Domain Address | Revocation Identifier |
//	Extensions (authentication last)
type Revocation struct {
	Reserved      uint8
	Flags         uint16 // A, I and the reserved bits as received
	HomeAddr      netip.Addr
	HomeDomain    netip.Addr // the HA's address
	ForeignDomain netip.Addr // the FA's (care-of) address
	ID            uint32     // Revocation Identifier, a timestamp
	Extensions    []Extension
}

// ByHomeAgent reports the A bit.
func (m *Revocation) ByHomeAgent() bool { return m.Flags&RevocationA != 0 }

// Inform reports the I bit.
func (m *Revocation) Inform() bool { return m.Flags&RevocationI != 0 }

func (m *Revocation) Len() int { return RevocationHeaderLen + extsLen(m.Extensions) }

func (m *Revocation) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(MsgRevocation), m.Reserved)
	b = appendU16(b, m.Flags)
	var err error
	for _, a := range [...]netip.Addr{m.HomeAddr, m.HomeDomain, m.ForeignDomain} {
		if b, err = appendAddr(b, a); err != nil {
			return b, &MsgError{Msg: "Registration Revocation", Err: err}
		}
	}
	b = appendU32(b, m.ID)
	return appendExts(b, m.Extensions)
}

func (m *Revocation) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, m.Len()))
}

func (m *Revocation) UnmarshalBinary(b []byte) error {
	if _, err := ScanRevocation(b); err != nil {
		return err
	}
	b = append([]byte(nil), b...)
	*m = Revocation{
		Reserved: b[1], Flags: u16(b[2:]),
		HomeAddr: addrAt(b[4:]), HomeDomain: addrAt(b[8:]), ForeignDomain: addrAt(b[12:]),
		ID: u32(b[16:]),
	}
	var err error
	m.Extensions, err = decodeExts(b, RevocationHeaderLen)
	return err
}

// ScanRevocation checks a Registration Revocation without allocating and
// returns where its authentication extensions are.
func ScanRevocation(b []byte) (Layout, error) {
	return scanFixed(b, MsgRevocation, RevocationHeaderLen, "Registration Revocation")
}

// RevocationAck is a Registration Revocation Acknowledgement (type 15),
// RFC 3543 §3.4:
//
//	Type | Reserved | I Reserved (16) | Home Address |
//	Revocation Identifier | Extensions (authentication last)
type RevocationAck struct {
	Reserved   uint8
	Flags      uint16 // I and the reserved bits as received
	HomeAddr   netip.Addr
	ID         uint32
	Extensions []Extension
}

// Informed reports the I bit.
func (m *RevocationAck) Informed() bool { return m.Flags&RevAckI != 0 }

func (m *RevocationAck) Len() int { return RevocationAckHeaderLen + extsLen(m.Extensions) }

func (m *RevocationAck) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(MsgRevocationAck), m.Reserved)
	b = appendU16(b, m.Flags)
	b, err := appendAddr(b, m.HomeAddr)
	if err != nil {
		return b, &MsgError{Msg: "Revocation Acknowledgement", Err: err}
	}
	b = appendU32(b, m.ID)
	return appendExts(b, m.Extensions)
}

func (m *RevocationAck) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, m.Len()))
}

func (m *RevocationAck) UnmarshalBinary(b []byte) error {
	if _, err := ScanRevocationAck(b); err != nil {
		return err
	}
	b = append([]byte(nil), b...)
	*m = RevocationAck{Reserved: b[1], Flags: u16(b[2:]), HomeAddr: addrAt(b[4:]), ID: u32(b[8:])}
	var err error
	m.Extensions, err = decodeExts(b, RevocationAckHeaderLen)
	return err
}

// ScanRevocationAck checks a Revocation Acknowledgement without allocating.
func ScanRevocationAck(b []byte) (Layout, error) {
	return scanFixed(b, MsgRevocationAck, RevocationAckHeaderLen, "Revocation Acknowledgement")
}

// scanFixed checks the fixed part of a message of type t and then its
// extensions with the placement rules used for replies (authentication
// last, no duplicates).
func scanFixed(b []byte, t MsgType, hdrLen int, name string) (Layout, error) {
	if len(b) < hdrLen {
		return Layout{}, &MsgError{Msg: name, Err: ErrTruncated}
	}
	if MsgType(b[0]) != t {
		return Layout{}, &MsgError{Msg: name, Err: ErrWrongType}
	}
	return scanRegistration(b, hdrLen, false)
}
