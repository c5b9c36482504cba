package wire

import (
	"encoding/binary"
	"net/netip"
)

// addrAt reads an IPv4 address at b[0:4].
func addrAt(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }

// appendAddr appends a as 4 bytes. Only IPv4 addresses (not IPv4-mapped
// IPv6) are accepted, so decode(encode(x)) == x holds.
func appendAddr(b []byte, a netip.Addr) ([]byte, error) {
	if !a.Is4() {
		return b, ErrNotIPv4
	}
	v := a.As4()
	return append(b, v[:]...), nil
}

func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }
func u16(b []byte) uint16                 { return binary.BigEndian.Uint16(b) }
func u32(b []byte) uint32                 { return binary.BigEndian.Uint32(b) }
func u64(b []byte) uint64                 { return binary.BigEndian.Uint64(b) }
