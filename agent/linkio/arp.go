package linkio

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
)

// ARP operations (RFC 826).
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

const (
	etherTypeARP = 0x0806
	arpLen       = 28 // Ethernet/IPv4 ARP
)

// ARP is an Ethernet/IPv4 ARP message (RFC 826).
type ARP struct {
	Op        uint16
	SenderMAC net.HardwareAddr
	SenderIP  netip.Addr
	TargetMAC net.HardwareAddr
	TargetIP  netip.Addr
}

// ErrNotARP: the frame is not an Ethernet/IPv4 ARP message.
var ErrNotARP = errors.New("linkio: not an Ethernet/IPv4 ARP message")

// ParseARP reads an Ethernet frame carrying ARP for IPv4 over Ethernet.
// The hardware addresses in the result alias b.
func ParseARP(b []byte) (ARP, error) {
	if len(b) < etherHeaderLen+arpLen || binary.BigEndian.Uint16(b[12:]) != etherTypeARP {
		return ARP{}, ErrNotARP
	}
	a := b[etherHeaderLen:]
	if binary.BigEndian.Uint16(a[0:]) != 1 || binary.BigEndian.Uint16(a[2:]) != etherTypeIPv4 || a[4] != 6 || a[5] != 4 {
		return ARP{}, ErrNotARP
	}
	return ARP{
		Op:        binary.BigEndian.Uint16(a[6:]),
		SenderMAC: net.HardwareAddr(a[8:14]),
		SenderIP:  netip.AddrFrom4([4]byte(a[14:18])),
		TargetMAC: net.HardwareAddr(a[18:24]),
		TargetIP:  netip.AddrFrom4([4]byte(a[24:28])),
	}, nil
}

// AppendARP appends an Ethernet frame carrying m, from srcMAC to dstMAC.
func AppendARP(b []byte, dstMAC, srcMAC net.HardwareAddr, m ARP) []byte {
	b = appendEther(b, dstMAC, srcMAC)
	binary.BigEndian.PutUint16(b[len(b)-2:], etherTypeARP)
	b = binary.BigEndian.AppendUint16(b, 1) // Ethernet
	b = binary.BigEndian.AppendUint16(b, etherTypeIPv4)
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, m.Op)
	b = appendHW(b, m.SenderMAC)
	s := m.SenderIP.As4()
	b = append(b, s[:]...)
	b = appendHW(b, m.TargetMAC)
	t := m.TargetIP.As4()
	return append(b, t[:]...)
}

func appendHW(b []byte, h net.HardwareAddr) []byte {
	var z [6]byte
	copy(z[:], h)
	return append(b, z[:]...)
}
