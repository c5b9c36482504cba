// Package linkio sends and receives the Mobile IP messages that live on a
// link rather than on a routed path: Agent Advertisements and
// Solicitations (ICMP, TTL 1), and the Registration Requests and Replies a
// foreign agent exchanges with mobile nodes whose home addresses do not
// belong to the link.
//
// It works at the link layer (an AF_PACKET socket with a BPF filter)
// because a foreign agent must know each request's link-layer source and
// IP TTL (RFC 5944 §3.7.1, RFC 3024 §4.2.1: TTL 255) and must answer
// without ARP for an address that is not on the link (RFC 5944 §4.6); and
// a mobile node must hear advertisements before it has any usable address.
//
// The frame builder and parser are pure (frame.go); the socket is Linux
// (socket_linux.go).
package linkio

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"github.com/mip4d/mip4d/agent/encap"
)

// Ethernet and protocol numbers.
const (
	etherHeaderLen = 14
	etherTypeIPv4  = 0x0800
	udpHeaderLen   = 8
	protoICMP      = 1
	protoUDP       = 17
)

// Broadcast is the Ethernet broadcast address.
var Broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Frame is a received IPv4 datagram with its link-layer and IP context.
type Frame struct {
	SrcMAC, DstMAC net.HardwareAddr
	Src, Dst       netip.Addr
	TTL            uint8
	Proto          uint8 // 1 (ICMP) or 17 (UDP)
	SrcPort        uint16
	DstPort        uint16
	// Payload is the UDP payload or the whole ICMP message.
	Payload []byte
}

// Errors of the parser.
var (
	ErrNotIPv4   = errors.New("linkio: not an IPv4 frame")
	ErrMalformed = errors.New("linkio: malformed datagram")
)

// Parse reads an Ethernet frame carrying an unfragmented IPv4 UDP or ICMP
// datagram. Slices in the result alias b.
func Parse(b []byte) (Frame, error) {
	var f Frame
	if len(b) < etherHeaderLen || binary.BigEndian.Uint16(b[12:]) != etherTypeIPv4 {
		return f, ErrNotIPv4
	}
	f.DstMAC, f.SrcMAC = net.HardwareAddr(b[0:6]), net.HardwareAddr(b[6:12])
	ip := encap.IPv4(b[etherHeaderLen:])
	if !ip.IsValid(len(ip)) || ip.IsFragment() || !ip.IsChecksumValid() {
		return f, ErrMalformed
	}
	ip = ip[:ip.TotalLength()]
	f.Src, f.Dst, f.TTL, f.Proto = ip.Src(), ip.Dst(), ip.TTL(), ip.Protocol()
	p := ip.Payload()
	switch f.Proto {
	case protoUDP:
		if len(p) < udpHeaderLen {
			return f, ErrMalformed
		}
		n := int(binary.BigEndian.Uint16(p[4:]))
		if n < udpHeaderLen || n > len(p) {
			return f, ErrMalformed
		}
		if c := binary.BigEndian.Uint16(p[6:]); c != 0 && udpChecksum(f.Src, f.Dst, p[:n]) != 0 {
			return f, ErrMalformed // RFC 5944 §3.7.2.1: bad UDP checksum, discard
		}
		f.SrcPort, f.DstPort = binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:])
		f.Payload = p[udpHeaderLen:n]
	case protoICMP:
		f.Payload = p
	default:
		return f, ErrMalformed
	}
	return f, nil
}

// AppendUDP appends an Ethernet frame carrying an IPv4/UDP datagram.
func AppendUDP(b []byte, dstMAC, srcMAC net.HardwareAddr, src, dst netip.AddrPort, ttl uint8, payload []byte) []byte {
	b = appendEther(b, dstMAC, srcMAC)
	b = appendIPv4(b, src.Addr(), dst.Addr(), protoUDP, ttl, udpHeaderLen+len(payload))
	u := len(b)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(udpHeaderLen+len(payload)))
	b = append(b, 0, 0)
	b = append(b, payload...)
	c := udpChecksum(src.Addr(), dst.Addr(), b[u:])
	if c == 0 {
		c = 0xffff // RFC 768: zero means "no checksum"
	}
	binary.BigEndian.PutUint16(b[u+6:], c)
	return b
}

// AppendICMP appends an Ethernet frame carrying an IPv4/ICMP message (its
// checksum already computed by the caller, as the wire package does).
func AppendICMP(b []byte, dstMAC, srcMAC net.HardwareAddr, src, dst netip.Addr, ttl uint8, msg []byte) []byte {
	b = appendEther(b, dstMAC, srcMAC)
	b = appendIPv4(b, src, dst, protoICMP, ttl, len(msg))
	return append(b, msg...)
}

func appendEther(b []byte, dst, src net.HardwareAddr) []byte {
	b = append(b, dst...)
	b = append(b, src...)
	return binary.BigEndian.AppendUint16(b, etherTypeIPv4)
}

func appendIPv4(b []byte, src, dst netip.Addr, proto, ttl uint8, payloadLen int) []byte {
	h := len(b)
	b = append(b, make([]byte, encap.IPv4MinimumSize)...)
	ip := encap.IPv4(b[h:])
	ip.Encode(&encap.IPv4Fields{TotalLength: uint16(encap.IPv4MinimumSize + payloadLen), TTL: ttl, Protocol: proto,
		Src: src, Dst: dst})
	ip.UpdateChecksum()
	return b
}

// udpChecksum is the UDP checksum over the pseudo-header and segment u
// (with its checksum field as it stands); 0 means it verifies.
func udpChecksum(src, dst netip.Addr, u []byte) uint16 {
	var sum uint32
	s, d := src.As4(), dst.As4()
	for _, w := range [][]byte{s[:], d[:]} {
		sum += uint32(binary.BigEndian.Uint16(w)) + uint32(binary.BigEndian.Uint16(w[2:]))
	}
	sum += protoUDP + uint32(len(u))
	for i := 0; i+1 < len(u); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(u[i:]))
	}
	if len(u)%2 == 1 {
		sum += uint32(u[len(u)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
