package netconf

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// ARP packet layout for Ethernet/IPv4 (RFC 826).
const (
	arpLen       = 28
	arpHTEther   = 1
	arpOpRequest = 1
	arpOpReply   = 2
)

// GratuitousARP broadcasts an ARP announcement on dev that addr is at mac
// (RFC 5944 §4.6: when a mobile node leaves home, its home agent announces
// its own MAC for the node's home address so neighbours' caches point at
// the home agent; when it returns, the node announces its own). Both a
// request and a reply form are sent, as the RFC advises, since
// implementations differ in which one updates their cache.
func GratuitousARP(ifindex int, addr netip.Addr, mac net.HardwareAddr) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		return fmt.Errorf("netconf: gratuitous ARP: %w", err)
	}
	defer unix.Close(fd)
	bcast := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifindex, Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	for _, op := range []uint16{arpOpRequest, arpOpReply} {
		if err := unix.Sendto(fd, ARPAnnouncement(op, addr, mac), 0, bcast); err != nil {
			return fmt.Errorf("netconf: gratuitous ARP: %w", err)
		}
	}
	return nil
}

// ARPAnnouncement builds the ARP payload announcing addr at mac: sender
// and target protocol addresses both addr, target hardware address zero
// (request) or broadcast (reply).
func ARPAnnouncement(op uint16, addr netip.Addr, mac net.HardwareAddr) []byte {
	b := make([]byte, arpLen)
	binary.BigEndian.PutUint16(b[0:], arpHTEther)
	binary.BigEndian.PutUint16(b[2:], unix.ETH_P_IP)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], op)
	copy(b[8:14], mac)
	a := addr.As4()
	copy(b[14:18], a[:])
	if op == arpOpReply {
		copy(b[18:24], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	}
	copy(b[24:28], a[:])
	return b
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
