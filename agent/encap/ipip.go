package encap

// IPIPTunnel encapsulates datagrams with IP in IP (RFC 2003 §3). The zero
// TTL means DefaultTTL; see Delivery for the header rules.
type IPIPTunnel struct {
	Delivery
}

// IPIPOverhead is the octets IP in IP adds: one option-less IPv4 header.
const IPIPOverhead = IPv4MinimumSize

// Encapsulate wraps the inner datagram buf[off:] in IP in IP, writing the
// outer header into the headroom buf[off-IPIPOverhead:off], and returns the
// encapsulated datagram buf[off-IPIPOverhead:]. id is the outer
// Identification; the caller keeps a counter per tunnel.
//
// The outer header follows RFC 2003 §3.1: Version 4, IHL 5, TOS copied
// from the inner header, Total Length of the whole datagram, DF set if it
// is set in the inner header (or if the tunnel asks for it), no other
// flags, TTL from the tunnel, Protocol 4, and the header checksum. The
// inner header is left alone, except that its TTL is decremented (with an
// RFC 1624 checksum update) when t.Forwarding is set.
//
// buf[off:] must be exactly one IPv4 datagram (its Total Length equals its
// length). Errors, before anything is written: ErrNoRoom for too little
// headroom, ErrBadAddress for non-IPv4 endpoints, inner-layer errors for a
// malformed inner datagram, ErrTTLExpired (RFC 2003 §3.1; the caller
// SHOULD send ICMP Time Exceeded), ErrRoutingLoop (RFC 2003 §3.2) and
// ErrTooBig.
func (t *IPIPTunnel) Encapsulate(buf []byte, off int, id uint16) ([]byte, error) {
	inner, src, dst, err := t.prepare(buf, off, IPIPOverhead)
	if err != nil {
		return nil, err
	}
	pkt := buf[off-IPIPOverhead:]
	t.writeOuter(IPv4(pkt), inner, src, dst, ProtocolIPIP, id, len(pkt))
	return pkt, nil
}

// DecapsulateIPIP checks an IP-in-IP datagram and returns views of its
// outer datagram (trimmed to the outer Total Length) and of the inner
// datagram. It requires a valid outer header with a correct checksum,
// Protocol 4 and no fragmentation (reassemble first); and an inner IPv4
// header that is valid, has a correct checksum, a Total Length equal to
// the outer payload length, and a TTL above zero (RFC 2003 §3.1). It does
// not modify pkt.
func DecapsulateIPIP(pkt []byte) (outer, inner IPv4, err error) {
	outer, payload, err := parseOuter(pkt, ProtocolIPIP)
	if err != nil {
		return nil, nil, err
	}
	inner, err = parseInner(payload)
	if err != nil {
		return nil, nil, err
	}
	return outer, inner, nil
}
