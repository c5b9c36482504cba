package bpfplane

import (
	"encoding/binary"
	"net/netip"
)

// The map layouts of bpf/tunnel.h, octet by octet: addresses, ports and
// the GRE key in network order, everything else in the host's (the
// kernel's) order. layout_test.go checks sizes and offsets against the
// BTF clang wrote for the C structs.

// Role is which inner address keys a tunnel (ROLE_* in tunnel.h).
type Role uint8

const (
	// RoleHA: a home agent encapsulates by inner destination and takes
	// reverse tunnels apart by inner source.
	RoleHA Role = 1
	// RoleFA: a foreign agent or proxy encapsulates by inner source (its
	// visitors' reverse tunnels) and takes tunnels apart by inner
	// destination.
	RoleFA Role = 2
	// RoleMN: a mobile node, like a foreign agent for its own home address.
	RoleMN Role = 3
)

func (r Role) String() string {
	switch r {
	case RoleHA:
		return "ha"
	case RoleFA:
		return "fa"
	case RoleMN:
		return "mn"
	}
	return "unknown"
}

// Tunnel modes (MODE_*), tunnel and decap flags (TUN_*), config flags.
const (
	modeUDP  = 1
	modeIPIP = 2
	modeGRE  = 3

	tunKey  = 1
	tunPunt = 2

	cfgPuntUnknown = 1
)

// Sizes of the C structs.
const (
	configLen      = 12
	tunnelLen      = 32
	decapKeyLen    = 12
	decapLen       = 12
	endpointKeyLen = 8
	bindingStatLen = 32
)

var host = binary.NativeEndian

func putAddr(b []byte, a netip.Addr) {
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
	}
}

func putPort(b []byte, p uint16) { binary.BigEndian.PutUint16(b, p) }

// config is struct config.
type config struct {
	local    netip.Addr
	tunIndex uint32
	port     uint16
	role     Role
	flags    uint8
}

func (c *config) marshal() []byte {
	b := make([]byte, configLen)
	putAddr(b[0:], c.local)
	host.PutUint32(b[4:], c.tunIndex)
	putPort(b[8:], c.port)
	b[10] = byte(c.role)
	b[11] = c.flags
	return b
}

// tunnel is struct tunnel: how datagrams for one home address leave.
type tunnel struct {
	local, remote netip.Addr
	sport, dport  uint16
	oif           uint32
	key           uint32
	slot          uint32
	mtu           uint16
	mode          uint8
	next          uint8
	flags         uint8
}

func (t *tunnel) marshal() []byte {
	b := make([]byte, tunnelLen)
	putAddr(b[0:], t.local)
	putAddr(b[4:], t.remote)
	putPort(b[8:], t.sport)
	putPort(b[10:], t.dport)
	host.PutUint32(b[12:], t.oif)
	binary.BigEndian.PutUint32(b[16:], t.key)
	host.PutUint32(b[20:], t.slot)
	host.PutUint16(b[24:], t.mtu)
	b[26] = t.mode
	b[27] = t.next
	b[28] = t.flags
	return b
}

// decapKey is struct decap_key: who may send us what.
type decapKey struct {
	remote netip.Addr
	home   netip.Addr
	port   uint16
}

func (k decapKey) marshal() []byte {
	b := make([]byte, decapKeyLen)
	putAddr(b[0:], k.remote)
	putAddr(b[4:], k.home)
	putPort(b[8:], k.port)
	return b
}

// decap is struct decap: what a binding negotiated.
type decap struct {
	slot  uint32
	key   uint32
	proto uint8
	next  uint8
	flags uint8
}

func (d *decap) marshal() []byte {
	b := make([]byte, decapLen)
	host.PutUint32(b[0:], d.slot)
	binary.BigEndian.PutUint32(b[4:], d.key)
	b[8] = d.proto
	b[9] = d.next
	b[10] = d.flags
	return b
}

// endpointKey is struct endpoint_key.
type endpointKey struct {
	remote netip.Addr
	port   uint16
}

func (k endpointKey) marshal() []byte {
	b := make([]byte, endpointKeyLen)
	putAddr(b[0:], k.remote)
	putPort(b[4:], k.port)
	return b
}

func homeKey(a netip.Addr) []byte {
	b := make([]byte, 4)
	putAddr(b, a)
	return b
}

func u32Key(i uint32) []byte {
	b := make([]byte, 4)
	host.PutUint32(b, i)
	return b
}
