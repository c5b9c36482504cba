package encap

import (
	"encoding/binary"
	"net/netip"
)

// Delivery describes the outer (delivery) IPv4 header that IP-in-IP and
// GRE tunnels put in front of the inner datagram. The fields follow
// RFC 2003 §3.1; GRE (RFC 2784 §4) uses the same rules here.
type Delivery struct {
	// Src is the tunnel entry point, the encapsulator's own address;
	// Dst is the tunnel exit point, the decapsulator (RFC 2003 §3.1
	// "Source Address", "Destination Address").
	Src, Dst netip.Addr
	// TTL is the outer Time to Live, "a value appropriate for delivery of
	// the encapsulated datagram to the tunnel exit point" (RFC 2003
	// §3.1). Zero means DefaultTTL.
	TTL uint8
	// DF sets Don't Fragment in every outer header, as an encapsulator
	// doing tunnel Path MTU Discovery does (RFC 2003 §3.1 "MAY", §5.1).
	// Whatever DF says, an inner DF is always copied to the outer header
	// (RFC 2003 §3.1 "MUST").
	DF bool
	// Forwarding says the datagram is being forwarded rather than
	// originated here: the inner TTL is then decremented, and a datagram
	// whose source is Src is refused (RFC 2003 §3.1, §3.2).
	Forwarding bool
}

// ttl returns the outer TTL to write.
func (d *Delivery) ttl() uint8 {
	if d.TTL == 0 {
		return DefaultTTL
	}
	return d.TTL
}

// prepare checks the tunnel and the inner datagram at buf[off:] before
// hdrLen octets of encapsulation are written in front of it, and applies
// the inner TTL rules of RFC 2003 §3.1. It changes nothing unless it
// returns nil.
func (d *Delivery) prepare(buf []byte, off, hdrLen int) (inner IPv4, src, dst [4]byte, err error) {
	src, ok1 := ipv4Addr(d.Src)
	dst, ok2 := ipv4Addr(d.Dst)
	if !ok1 || !ok2 {
		return nil, src, dst, fail(LayerOuter, CodeBadAddress)
	}
	if off < hdrLen || off > len(buf) {
		return nil, src, dst, fail(LayerOuter, CodeNoRoom)
	}
	inner, err = checkInnerForEncap(buf[off:])
	if err != nil {
		return nil, src, dst, err
	}
	if hdrLen+len(inner) > IPv4MaximumSize {
		return nil, src, dst, fail(LayerOuter, CodeTooBig)
	}
	// RFC 2003 §3.2: never tunnel a datagram back to its source, and never
	// forward into a tunnel a datagram that claims to come from us.
	isrc := [4]byte(inner[ipSrc : ipSrc+4])
	if isrc == dst || (d.Forwarding && isrc == src) {
		return nil, src, dst, fail(LayerInner, CodeRoutingLoop)
	}
	// RFC 2003 §3.1: "An encapsulator MUST NOT encapsulate a datagram with
	// TTL = 0", and a forwarded datagram whose TTL reaches 0 is discarded.
	ttl := inner.TTL()
	if ttl == 0 || (d.Forwarding && ttl == 1) {
		return nil, src, dst, fail(LayerInner, CodeTTLExpired)
	}
	if d.Forwarding {
		inner.decrementTTL()
	}
	return inner, src, dst, nil
}

// checkInnerForEncap checks that b is exactly one IPv4 datagram.
func checkInnerForEncap(b []byte) (IPv4, error) {
	inner := IPv4(b)
	if err := validateIPv4(inner, IPv4MaximumSize, LayerInner); err != nil {
		return nil, err
	}
	if int(inner.TotalLength()) != len(b) {
		return nil, fail(LayerInner, CodeBadLength)
	}
	return inner, nil
}

// writeOuter writes a 20-octet delivery header into h (RFC 2003 §3.1):
// TOS and DF copied from the inner header, a fresh Identification, no
// fragmentation, and the header checksum.
func (d *Delivery) writeOuter(h IPv4, inner IPv4, src, dst [4]byte, proto uint8, id uint16, total int) {
	h[ipVersIHL] = IPv4Version<<4 | IPv4MinimumSize/4
	h[ipTOS] = inner[ipTOS]
	binary.BigEndian.PutUint16(h[ipTotalLen:], uint16(total))
	binary.BigEndian.PutUint16(h[ipID:], id)
	var ff uint16
	if d.DF || inner.DF() {
		ff = ipFlagDF
	}
	binary.BigEndian.PutUint16(h[ipFlagsFrag:], ff)
	h[ipTTL] = d.ttl()
	h[ipProtocol] = proto
	h[ipChecksum], h[ipChecksum+1] = 0, 0
	*(*[4]byte)(h[ipSrc:]) = src
	*(*[4]byte)(h[ipDst:]) = dst
	binary.BigEndian.PutUint16(h[ipChecksum:], ^sum(h[:IPv4MinimumSize], 0))
}

// parseOuter checks the delivery header of a received tunnel packet and
// returns it (trimmed to its Total Length; octets after it, such as link
// padding, are ignored) and its payload.
func parseOuter(pkt []byte, proto uint8) (outer IPv4, payload []byte, err error) {
	o := IPv4(pkt)
	if err := validateIPv4(o, len(pkt), LayerOuter); err != nil {
		return nil, nil, err
	}
	if !o.IsChecksumValid() {
		return nil, nil, fail(LayerOuter, CodeBadChecksum)
	}
	if o.Protocol() != proto {
		return nil, nil, fail(LayerOuter, CodeBadProtocol)
	}
	// A fragment has to be reassembled before it can be decapsulated.
	if o.IsFragment() {
		return nil, nil, fail(LayerOuter, CodeFragment)
	}
	tl := int(o.TotalLength())
	return o[:tl], pkt[o.HeaderLength():tl], nil
}

// parseInner checks that b is exactly one IPv4 datagram with a correct
// header checksum that may still be delivered: RFC 2003 §3.1 "If, after
// decapsulation, the inner datagram has TTL = 0, the decapsulator MUST
// discard the datagram."
func parseInner(b []byte) (IPv4, error) {
	inner, err := checkInnerForEncap(b)
	if err != nil {
		return nil, err
	}
	if !inner.IsChecksumValid() {
		return nil, fail(LayerInner, CodeBadChecksum)
	}
	if inner.TTL() == 0 {
		return nil, fail(LayerInner, CodeTTLExpired)
	}
	return inner, nil
}

// CheckRoutingLoop applies RFC 2003 §3.2 (which RFC 2004 §4 adopts) to a
// datagram with source address src about to be tunnelled to tunnelDst. It
// returns an ErrRoutingLoop error if src is the tunnel exit point, or, when
// local is not nil, if local reports src as one of this router's own
// addresses; pass local only for datagrams being forwarded, since a node
// may tunnel datagrams it originates. The encapsulators in this package
// apply both rules themselves, with Delivery.Src standing for "our
// addresses".
func CheckRoutingLoop(src, tunnelDst netip.Addr, local func(netip.Addr) bool) error {
	src = src.Unmap()
	if src == tunnelDst.Unmap() || (local != nil && local(src)) {
		return fail(LayerInner, CodeRoutingLoop)
	}
	return nil
}

// CheckDecapsulatedLoop applies RFC 2784 §3.1 to a decapsulated datagram:
// if its destination is the encapsulator (the outer source) forwarding it
// would loop, and it MUST be discarded. DecapsulateGRE applies it itself.
func CheckDecapsulatedLoop(outer, inner IPv4) error {
	if [4]byte(outer[ipSrc:ipSrc+4]) == [4]byte(inner[ipDst:ipDst+4]) {
		return fail(LayerInner, CodeRoutingLoop)
	}
	return nil
}
