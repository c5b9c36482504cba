package wire

// UDP tunnelling extensions of RFC 3519 §3.1–3.2. Both use the short
// format with sub-type 0 and a Length of 6.

// UDP Tunnel Request flags, in the byte after Reserved 1 (RFC 3519 §3.1).
const (
	UDPTunnelReqF = 0x80 // force MIP UDP tunnelling
	UDPTunnelReqR = 0x40 // registration through FA required (R bit seen)
)

// UDPTunnelRequest is extension 144 (skippable), RFC 3519 §3.1:
//
//	Type=144 | Length=6 | Sub-Type=0 | Reserved 1
//	F R Reserved 2 | Encapsulation | Reserved 3 (16 bits)
//
// Reserved 3 MUST be zero on receipt, or the extension is handled as not
// understood (§3.1.3); the codec keeps it so the role engine can apply that
// rule (a home agent answers 134, RFC 3519 §4.6).
type UDPTunnelRequest struct {
	SubType   uint8
	Reserved1 uint8
	// Flags holds F, R and the six bits of Reserved 2 as received.
	Flags uint8
	// Encapsulation is an IP protocol number: 4 IP-in-IP, 47 GRE, 55
	// minimal; 0 means "as the M and G bits say" (§3.1.4).
	Encapsulation uint8
	Reserved3     uint16
}

// Force reports the F bit.
func (e *UDPTunnelRequest) Force() bool { return e.Flags&UDPTunnelReqF != 0 }

// ViaFA reports the R bit.
func (e *UDPTunnelRequest) ViaFA() bool { return e.Flags&UDPTunnelReqR != 0 }

func (e *UDPTunnelRequest) Type() ExtType { return ExtUDPTunnelRequest }
func (e *UDPTunnelRequest) Len() int      { return 8 }

func (e *UDPTunnelRequest) AppendBinary(b []byte) ([]byte, error) {
	b, _ = appendShort(b, ExtUDPTunnelRequest, e.SubType, 5)
	b = append(b, e.Reserved1, e.Flags, e.Encapsulation)
	return appendU16(b, e.Reserved3), nil
}

func (e *UDPTunnelRequest) decode(v ExtView) error {
	d := v.Data()
	*e = UDPTunnelRequest{SubType: v.SubType(), Reserved1: d[0], Flags: d[1], Encapsulation: d[2], Reserved3: u16(d[3:])}
	return nil
}

// UDPTunnelReplyF is the F (forced) bit of the UDP Tunnel Reply.
const UDPTunnelReplyF = 0x8000

// UDP Tunnel Reply codes (RFC 3519 §3.2.1): 0–63 assent, 64–255 decline.
const (
	UDPTunnelWillTunnel = 0
	UDPTunnelDeclined   = 64
)

// UDPTunnelReply is extension 44 (non-skippable), RFC 3519 §3.2:
//
//	Type=44 | Length=6 | Sub-Type=0 | Reply Code
//	F + Reserved (16 bits) | Keepalive Interval (16 bits)
type UDPTunnelReply struct {
	SubType uint8
	Code    uint8
	// Flags holds the F bit and 15 reserved bits as received.
	Flags uint16
	// Keepalive is the NAT keepalive interval in seconds the MN should
	// use; 0 means the MN's configured default.
	Keepalive uint16
}

// Forced reports the F bit.
func (e *UDPTunnelReply) Forced() bool { return e.Flags&UDPTunnelReplyF != 0 }

// Accepted reports whether the reply code assents to tunnelling.
func (e *UDPTunnelReply) Accepted() bool { return e.Code < 64 }

func (e *UDPTunnelReply) Type() ExtType { return ExtUDPTunnelReply }
func (e *UDPTunnelReply) Len() int      { return 8 }

func (e *UDPTunnelReply) AppendBinary(b []byte) ([]byte, error) {
	b, _ = appendShort(b, ExtUDPTunnelReply, e.SubType, 5)
	b = append(b, e.Code)
	b = appendU16(b, e.Flags)
	return appendU16(b, e.Keepalive), nil
}

func (e *UDPTunnelReply) decode(v ExtView) error {
	d := v.Data()
	*e = UDPTunnelReply{SubType: v.SubType(), Code: d[0], Flags: u16(d[1:]), Keepalive: u16(d[3:])}
	return nil
}
