package dataplane

import (
	"net/netip"

	"github.com/mip4d/mip4d/agent/encap"
	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/wire"
)

// kind says which socket a tunnel uses.
type kind uint8

const (
	kindUDP  kind = iota // RFC 3519 MIP UDP tunnelling, the port 434 / registration socket
	kindIPIP             // raw IPv4 protocol 4 (RFC 2003)
	kindGRE              // raw IPv4 protocol 47 (RFC 2784)
	numKinds
)

func (k kind) String() string { return [...]string{"udp", "ipip", "gre"}[k] }

// route is one tunnel, immutable once built: a home agent binding, or the
// mobile node's tunnel to its home agent. Everything the per-packet paths
// need is precomputed here.
type route struct {
	home   netip.Addr     // the mobile node's home address
	careOf netip.Addr     // the registered care-of address (home agent)
	local  netip.Addr     // outer source: the home agent address, or the care-of address
	ep     netip.AddrPort // outer destination and expected outer source; port 0 unless UDP
	kind   kind
	next   uint8 // encapsulation protocol: 4 or 47; with UDP the Next Header (RFC 3519 §3.3)
	hasKey bool
	key    uint32
	mtu    int    // largest inner datagram that fits the path MTU
	mss    uint16 // TCP MSS that fills mtu
	// unsupported marks a binding whose encapsulation this plane cannot
	// send (minimal encapsulation, or GRE without a GRE socket).
	unsupported bool

	ipip   encap.IPIPTunnel
	gre    encap.GRETunnel
	greHdr encap.GREHeader // GRE inside RFC 3519 UDP
}

// newRoute builds a tunnel from local to ep.
func newRoute(home, careOf, local netip.Addr, ep netip.AddrPort, udp bool, enc ha.Encap, hasKey bool, key uint32, pathMTU int) *route {
	r := &route{home: home, careOf: careOf, local: local, ep: ep, next: enc.Proto(), hasKey: hasKey, key: key}
	mode := Mode{UDP: udp, Encap: enc, GREKey: hasKey}
	r.mtu = mode.InnerMTU(pathMTU)
	r.mss = mssFor(r.mtu)
	d := encap.Delivery{Src: local, Dst: ep.Addr()}
	switch {
	case enc == ha.EncapMinimal:
		r.unsupported = true
		r.kind = kindIPIP
	case udp:
		r.kind = kindUDP
		r.greHdr = encap.GREHeader{KeyPresent: hasKey, Key: key, Protocol: encap.GREProtocolIPv4}
	case enc == ha.EncapGRE:
		r.kind = kindGRE
		r.gre = encap.GRETunnel{Delivery: d, KeyPresent: hasKey, Key: key}
	default:
		r.kind = kindIPIP
		r.ipip = encap.IPIPTunnel{Delivery: d}
	}
	if !udp {
		r.ep = netip.AddrPortFrom(ep.Addr(), 0)
	}
	return r
}

// same reports whether r and o tunnel identically.
func (r *route) same(o *route) bool {
	return r.home == o.home && r.careOf == o.careOf && r.local == o.local && r.ep == o.ep && r.kind == o.kind &&
		r.next == o.next && r.hasKey == o.hasKey && r.key == o.key && r.mtu == o.mtu && r.unsupported == o.unsupported
}

// encapsulate wraps the inner datagram buf[off:off+n] for r, writing the
// headers into the headroom in front of it, and returns the message to
// send (the whole IPv4 datagram for raw sockets, the UDP payload for
// UDP). It checks what RFC 2003 §3.1–3.2 asks of an encapsulator: the
// inner TTL is not zero and the datagram is not going back to the tunnel
// exit it came from. The datagram is not being forwarded in the RFC 2003
// sense here: the kernel already decremented its TTL when it routed it
// into the device.
func (r *route) encapsulate(buf []byte, off, n int, id uint16) (Msg, Drop) {
	frame := buf[:off+n]
	switch r.kind {
	case kindIPIP:
		pkt, err := r.ipip.Encapsulate(frame, off, id)
		if err != nil {
			return Msg{}, dropFor(err)
		}
		return Msg{Buf: pkt, Addr: r.ep}, DropNone
	case kindGRE:
		pkt, err := r.gre.Encapsulate(frame, off, id, 0)
		if err != nil {
			return Msg{}, dropFor(err)
		}
		return Msg{Buf: pkt, Addr: r.ep}, DropNone
	}
	inner := encap.IPv4(frame[off:])
	if inner.TTL() == 0 {
		return Msg{}, DropTTLExpired
	}
	if inner.Src() == r.ep.Addr() {
		return Msg{}, DropRoutingLoop
	}
	h := tdHeaderLen
	if r.next == protoGRE {
		h += r.greHdr.Len()
	}
	start := off - h
	if start < 0 {
		return Msg{}, DropNoBuffer
	}
	wire.PutTunnelDataHeader(frame[start:], r.next)
	if r.next == protoGRE {
		_ = r.greHdr.Encode(frame[start+tdHeaderLen:]) // room checked above
	}
	return Msg{Buf: frame[start:], Addr: r.ep, Local: r.local}, DropNone
}

// loopsBack applies RFC 5944 §4.2.3 to a datagram a home agent is about to
// tunnel to r: if it is itself IP in IP whose inner and outer destinations
// are the mobile node and whose outer source is the node's care-of
// address, sending it would loop.
func (r *route) loopsBack(ip encap.IPv4) bool {
	if ip.Protocol() != protoIPIP || ip.IsFragment() || ip.Src() != r.careOf {
		return false
	}
	in := encap.IPv4(ip.Payload())
	return len(in) >= ipv4HeaderLen && in.Dst() == ip.Dst()
}

// wireTunnelData returns pkt as a Tunnel Data message, or nil.
func wireTunnelData(pkt []byte) wire.TunnelData {
	td := wire.TunnelData(pkt)
	if !td.IsValid() {
		return nil
	}
	return td
}
