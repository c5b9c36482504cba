package dataplane

import (
	"github.com/mip4d/mip4d/agent/encap"
	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/wire"
)

// Spec constants. Section numbers refer to the RFC named on each line.
const (
	// DefaultPathMTU is the path MTU assumed toward care-of addresses and
	// home agents when the configuration gives none (Ethernet, RFC 894).
	DefaultPathMTU = 1500
	// MinPathMTU is the smallest MTU every IPv4 link carries (RFC 791 §3.1:
	// "Every internet module must be able to forward a datagram of 68
	// octets without further fragmentation").
	MinPathMTU = 68

	ipv4HeaderLen = encap.IPv4MinimumSize // RFC 791 §3.1, no options
	udpHeaderLen  = 8                     // RFC 768
	tdHeaderLen   = wire.TunnelDataHeaderLen
	greBaseLen    = encap.GREHeaderSize // RFC 2784 §2.1
	greKeyLen     = encap.GREFieldSize  // RFC 2890 §2.1

	protoICMP = 1  // RFC 792
	protoIPIP = 4  // RFC 2003 §3.1
	protoTCP  = 6  // RFC 793
	protoUDP  = 17 // RFC 768
	protoGRE  = 47 // RFC 2784

	// ICMP types and codes (RFC 792, RFC 1191 §4).
	icmpEchoReply     = 0
	icmpDestUnreach   = 3
	icmpFragNeeded    = 4 // code of type 3: fragmentation needed and DF set
	icmpEchoRequest   = 8
	icmpHeaderLen     = 8
	icmpMaxErrorLen   = 576 // RFC 1812 §4.3.2.3: an ICMP error fits in 576 octets
	icmpErrorTTL      = 64
	tcpOptMSS         = 2 // RFC 793 §3.1, Maximum Segment Size option kind
	tcpOptMSSLen      = 4
	tcpHeaderMinLen   = 20
	tcpFlagFIN        = 0x01 // RFC 793 §3.1, the flags octet (13) of the TCP header
	tcpFlagSYN        = 0x02
	tcpFlagRST        = 0x04
	tcpFlagPSH        = 0x08
	tcpFlagACK        = 0x10
	tcpFlagURG        = 0x20
	tcpFlagECE        = 0x40 // RFC 3168 §6.1
	tcpFlagCWR        = 0x80
	tcpIPHeadersLen   = ipv4HeaderLen + tcpHeaderMinLen // subtracted from the MTU for the MSS (RFC 879 §4)
	keepaliveTTL      = 64
	keepalivePayload  = 8    // octets of data after the ICMP echo header
	ipOptionCopied    = 0x80 // RFC 791 §3.1: option copied into every fragment
	ipOptionEnd       = 0
	ipOptionNOP       = 1
	defaultTTLOnReply = 64
)

// The offload ABI of Linux TUN devices: struct virtio_net_hdr
// (include/uapi/linux/virtio_net.h, the legacy layout a TUN device uses by
// default: 16-bit fields in host byte order) and the TUNSETOFFLOAD flags
// (include/uapi/linux/if_tun.h).
const (
	virtioNetHdrLen = 10 // sizeof(struct virtio_net_hdr)

	virtioFlagNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum from csum_start, stored at csum_start+csum_offset
	virtioFlagDataValid = 2 // VIRTIO_NET_HDR_F_DATA_VALID

	virtioGSONone  = 0    // VIRTIO_NET_HDR_GSO_NONE
	virtioGSOTCPv4 = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	virtioGSOUDPL4 = 5    // VIRTIO_NET_HDR_GSO_UDP_L4 (Linux 6.2 for TUN)
	virtioGSOECN   = 0x80 // VIRTIO_NET_HDR_GSO_ECN: the TCP segments may carry CWR

	tunFCsum = 0x01 // TUN_F_CSUM: the kernel may leave checksums to us
	tunFTSO4 = 0x02 // TUN_F_TSO4: and hand over TCP/IPv4 super-packets
	tunFUSO4 = 0x20 // TUN_F_USO4: and UDP/IPv4 ones (Linux 6.2)
	tunFUSO6 = 0x40 // TUN_F_USO6: the kernel takes USO4 only with it

	tcpCsumOffset = 16 // offset of the checksum in the TCP header (RFC 793 §3.1)
	udpCsumOffset = 6  // and in the UDP header (RFC 768)

	// maxSuperPacket is the largest super-packet: an IPv4 Total Length.
	maxSuperPacket = 65535

	// The limits of one UDP_SEGMENT message (udp(7)): UDP_MAX_SEGMENTS
	// (64 before Linux 6.10), and one IPv4 datagram's worth of payload.
	maxGSOSegments = 64
	maxGSOPayload  = maxSuperPacket - ipv4HeaderLen - udpHeaderLen
)

// Implementation constants.
const (
	// headroom is reserved in front of every packet buffer: room for the
	// largest header this package writes (outer IPv4 + GRE with key, or a
	// Tunnel Data header + GRE with key), with slack so a received packet
	// can always be re-encapsulated in place (keepalive replies).
	headroom = 64
	// DefaultBatch is how many datagrams one read or write system call
	// moves at most.
	DefaultBatch = 32
	// DefaultControlQueue is the capacity of the control message channel.
	DefaultControlQueue = 256
	// DefaultMaxPacket is the largest datagram a buffer holds: above the
	// path MTU, because raw sockets deliver reassembled datagrams.
	DefaultMaxPacket = 4096
	// defaultICMPRate is how many ICMP errors a plane sends per second at
	// most (RFC 1812 §4.3.2.8 asks routers to limit them).
	defaultICMPRate = 100
	// offloadBatch is the smallest batch of a reader whose device
	// offloads: one TCP super-packet of 64 KiB is some 45 datagrams.
	offloadBatch = 64
	// maxCoalesce is the most TCP segments written to a device as one
	// super-packet.
	maxCoalesce = 64
	// groBatch is how many messages the reader of a UDP socket with GRO
	// receives at a time, each in a buffer of maxSuperPacket octets.
	groBatch = 8
)

// Mode is one way of tunnelling, for MTU arithmetic: IP in IP or GRE, over
// raw IPv4 or inside RFC 3519 UDP.
type Mode struct {
	UDP    bool     // RFC 3519 MIP UDP tunnelling (outer IPv4 + UDP + Tunnel Data header)
	Encap  ha.Encap // EncapIPIP or EncapGRE; EncapMinimal is not offered by this plane
	GREKey bool     // GRE Key field present (RFC 2890 §2.1, RFC 6245)
}

// Overhead is the octets m puts in front of an inner datagram: 20 for IP
// in IP (RFC 2003 §3.1); 24, or 28 with a key, for GRE (RFC 2784 §2.1,
// RFC 2890 §2); and for RFC 3519 UDP 20 + 8 + 4 (RFC 3519 §3.3), plus the
// GRE header when the Next Header is GRE.
func (m Mode) Overhead() int {
	n := ipv4HeaderLen
	if m.UDP {
		n += udpHeaderLen + tdHeaderLen
	}
	if m.Encap == ha.EncapGRE {
		n += greBaseLen
		if m.GREKey {
			n += greKeyLen
		}
	}
	return n
}

// InnerMTU is the largest inner datagram that fits a path MTU of pathMTU
// once encapsulated with m (RFC 2003 §5.1: "the MTU of the tunnel minus
// the size of the encapsulating IP header").
func (m Mode) InnerMTU(pathMTU int) int {
	if pathMTU <= 0 {
		pathMTU = DefaultPathMTU
	}
	return max(pathMTU-m.Overhead(), MinPathMTU)
}

// DeviceMTU is the MTU to give the TUN device so that datagrams fit every
// mode in modes after encapsulation: the smallest InnerMTU. With no modes
// it assumes RFC 3519 UDP with IP in IP, the largest plain overhead.
func DeviceMTU(pathMTU int, modes ...Mode) int {
	if len(modes) == 0 {
		return Mode{UDP: true}.InnerMTU(pathMTU)
	}
	mtu := modes[0].InnerMTU(pathMTU)
	for _, m := range modes[1:] {
		mtu = min(mtu, m.InnerMTU(pathMTU))
	}
	return mtu
}

// mssFor is the TCP MSS that fills an inner MTU (RFC 879 §4: MTU minus
// the 40 octets of IPv4 and TCP headers without options).
func mssFor(innerMTU int) uint16 {
	return uint16(max(innerMTU-tcpIPHeadersLen, 0))
}
