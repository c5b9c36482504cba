package wire

// TunnelDataHeaderLen is the size of the MIP Tunnel Data header.
const TunnelDataHeaderLen = 4

// TunnelData is a MIP Tunnel Data message (type 4), RFC 3519 §3.3, read in
// place: Type, Next Header, Reserved (16 bits), then the tunnelled packet.
// It is the hot path of the UDP data plane, so it is only a view.
type TunnelData []byte

// IsValid reports whether t holds the 4-byte header with type 4.
func (t TunnelData) IsValid() bool {
	return len(t) >= TunnelDataHeaderLen && MsgType(t[0]) == MsgTunnelData
}

// NextHeader is the IP protocol number of the tunnelled data (4 IP-in-IP,
// 47 GRE, 55 minimal encapsulation). A receiver MUST drop packets whose
// Next Header does not match the binding's tunnelling mode.
func (t TunnelData) NextHeader() uint8 { return t[1] }

// Reserved is the reserved field, sent as zero and ignored on reception.
func (t TunnelData) Reserved() uint16 { return u16(t[2:]) }

// Payload is the tunnelled packet.
func (t TunnelData) Payload() []byte { return t[TunnelDataHeaderLen:] }

// PutTunnelDataHeader writes a Tunnel Data header for next into b[:4], so
// a data plane can reserve headroom and fill it in place.
func PutTunnelDataHeader(b []byte, next uint8) {
	_ = b[3]
	b[0], b[1], b[2], b[3] = byte(MsgTunnelData), next, 0, 0
}

// AppendTunnelDataHeader appends a Tunnel Data header for next.
func AppendTunnelDataHeader(b []byte, next uint8) []byte {
	return append(b, byte(MsgTunnelData), next, 0, 0)
}
