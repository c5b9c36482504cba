// Package dataplane is mip4d's userspace data plane: the tunnels of a home
// agent and of a mobile node, run over a TUN device and ordinary sockets
// because the kernels mip4d targets may have no IPIP, GRE or FOU modules
// (LAB-NOTES.md).
//
// It is laid out like wireguard-go. At the edges are small interfaces with
// one Linux implementation each and an in-memory fake in the tests:
//
//   - [Device], an IP-level TUN device ([OpenTUN]: /dev/net/tun with
//     IFF_TUN|IFF_NO_PI) that reads and writes single IPv4 datagrams.
//   - [Conn], a datagram socket with batch-shaped I/O (recvmmsg/sendmmsg
//     into a fixed ring of preallocated buffers): the Mobile IP UDP socket
//     ([ListenUDP], port 434 on a home agent, the registration socket on a
//     mobile node) and raw IPv4 sockets of protocol 4 (IP in IP) and 47
//     (GRE) ([ListenRaw]).
//
// Offloads, as in wireguard-go, are what makes TCP through the tunnel fast:
// the kernel moves TCP in super-packets of up to 64 KiB, and so do we
// wherever it lets us. The TUN device is opened with IFF_VNET_HDR and
// TUN_F_CSUM|TUN_F_TSO4|TUN_F_USO4: a read may be a TCP or UDP
// super-packet, which [TUN.ReadBatch] cuts into the datagrams it stands
// for (offload.go: IDs, lengths, sequence numbers, flags and every
// checksum as the kernel's own GSO would make them), so that the planes
// still decide each datagram on its own: the MSS clamp, the MTU rules,
// the RFC 3024 checks and the counters are per datagram as before. What a
// socket batch yields for the device is written with [TUN.WriteBatch],
// which gathers the TCP segments of a flow that continue each other (and
// whose checksums are correct) into one super-packet with a
// VIRTIO_NET_HDR_GSO_TCPV4 header (GRO). The UDP socket sends runs of
// equal datagrams to one endpoint as one UDP_SEGMENT message (GSO), which
// the kernel routes and NATs as one, and receives with UDP_GRO into
// 64 KiB buffers, each message then cut back into its datagrams in place.
// Each offload is detected when the device or socket is opened and falls
// back to the plain behaviour if the kernel refuses it (TUN.Offloads,
// SocketConn.GSO and GRO say what is on); MIP4D_OFFLOAD=0 turns them all
// off. Raw IP-in-IP and GRE sockets stay one datagram per message.
//
// In the middle are the planes, pure forwarding logic over those
// interfaces: [HA] (binding table fed by ha.Event, forward tunnelling to
// care-of addresses or NAT mappings, RFC 3024 reverse tunnel checks,
// RFC 3519 keepalive answers) and [MN] (the mobile node's tunnel from
// mn.Tunnel, its keepalives). Both clamp the TCP MSS of SYNs crossing the
// tunnel, fragment or answer ICMP "fragmentation needed" for datagrams that
// do not fit the path MTU after encapsulation (RFC 2003 §5.1, RFC 3519
// §4.8), and count every packet and every drop by reason in [Counters].
//
// The UDP port is shared with registration signalling: every message on it
// that is not MIP Tunnel Data (type 4, RFC 3519 §3.3) is handed, with its
// addresses (the destination from IP_PKTINFO, so a home agent can see a
// request sent to a broadcast address), to a bounded channel read by the
// daemon's engine goroutine ([HA.Control], [MN.Control]).
//
// Goroutines: Run starts one reader per file descriptor (the device and
// each socket); each reader owns its buffers and writes its results
// directly (sendmmsg to a socket, a write or a batch of them to the
// device). The steady-state
// paths allocate nothing per packet; the tests assert it with
// testing.AllocsPerRun, and the benchmarks report packets per second.
//
// Wiring, for a home agent daemon:
//
//	dev, _ := dataplane.OpenTUN("mip4d0", cfg.DeviceMTU(gre))
//	udp, _ := dataplane.ListenUDP(netip.MustParseAddrPort("0.0.0.0:434"))
//	ipip, _ := dataplane.ListenRaw(4, netip.Addr{}) // before any binding exists
//	plane, _ := dataplane.NewHA(cfg, dev, dataplane.HAConns{UDP: udp, IPIP: ipip})
//	go plane.Run(ctx)
//	// engine goroutine:
//	for m := range plane.Control() {
//		res := engine.Handle(ha.Packet(m), time.Now())
//		plane.Apply(res.Events...) // and a /32 route to the device per bound home address
//		if res.Reply != nil {
//			plane.SendControl(dataplane.ControlMessage(*res.Reply))
//		}
//	}
//
// A mobile node daemon does the same with NewMN (its registration socket
// as MNConns.UDP), feeding mn.Engine's Output.Tunnel to SetTunnel, the
// registration requests of Output.Send to SendControl (Src = the care-of
// address) and Output.Keepalive to SendKeepalive, giving Control messages
// to HandleReply, and calling KeepaliveAnswered when MNConfig.Heard fires.
//
// What a raw IPv4 socket does on Linux, as measured here and pinned by
// TestRawSocketFacts: a protocol-4 (or 47) socket receives every such
// datagram addressed to the host with its outer IPv4 header (recvmmsg;
// net.IPConn.ReadFrom strips it), reassembled if it was fragmented, and
// while it is open the kernel no longer answers ICMP protocol unreachable
// (it does when none is open and no IPIP module is loaded). This package
// sends with IP_HDRINCL: the kernel then keeps our TOS, DF, TTL and
// Identification, fills in the checksum and Total Length (and the ID and
// source when zero), routes by the sockaddr rather than the header, and
// refuses a datagram larger than the route MTU with EMSGSIZE instead of
// fragmenting it — which is why the planes fit every packet first.
package dataplane
