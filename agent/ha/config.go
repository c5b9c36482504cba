package ha

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/mip4d/mip4d/agent/auth"
)

// Config is the home agent's policy.
type Config struct {
	// Addr is the home agent's unicast address: the Home Agent field of
	// its replies and the outer source of its tunnels (RFC 5944 §4.2.3).
	Addr netip.Addr
	// HomeNet is the home network prefix; home addresses come from it.
	HomeNet netip.Prefix
	// MaxLifetime caps granted lifetimes, in seconds (RFC 5944 §3.8.3.2).
	MaxLifetime uint16
	// MaxBindings is how many simultaneous bindings (S bit) one mobile
	// node may hold; 1 means simultaneous bindings are unsupported and
	// accepted replies carry code 1 when S was asked (RFC 5944 §3.8.2.2).
	MaxBindings int
	// NATTraversal permits RFC 3519 UDP tunnelling when a NAT is detected;
	// AllowForce permits it on request (F flag) without a NAT.
	NATTraversal bool
	AllowForce   bool
	// Keepalive is the interval (seconds) put in UDP Tunnel Replies; 0
	// tells the mobile node to use its default (RFC 3519 §3.2).
	Keepalive uint16
	// GRE and MinimalEncap say which encapsulations besides IP-in-IP the
	// data plane offers (M and G bits, RFC 5944 §3.3).
	GRE          bool
	MinimalEncap bool
	// ReverseTunnelRequired denies requests without the T bit (RFC 3024,
	// code 138).
	ReverseTunnelRequired bool
	// Revocation enables RFC 3543 registration revocation toward foreign
	// agents (and proxies) that advertise support for it.
	Revocation bool
	// TrustedNetworks are the source prefixes from which a request is
	// "inside": replies to them carry the Trusted Networks Configured
	// extension (RFC 5265 §4.3). Used by an i-HA.
	TrustedNetworks []netip.Prefix
	// Pool is the range of home addresses assigned by NAI to mobile nodes
	// that register with a zero home address (RFC 2794). Empty disables it.
	Pool PoolRange
	// PoolHold keeps a released pool address reserved for the same NAI for
	// this many seconds, so a laptop that comes back gets its address back.
	PoolHold uint32
}

// PoolRange is an inclusive range of IPv4 addresses.
type PoolRange struct {
	First, Last netip.Addr
}

// Validate checks the configuration for mistakes a network engineer can
// make, with messages that say which setting is wrong.
func (c *Config) Validate() error {
	if !c.Addr.Is4() {
		return errors.New("ha: home agent address must be an IPv4 address")
	}
	if !c.HomeNet.IsValid() || !c.HomeNet.Addr().Is4() {
		return errors.New("ha: home network must be an IPv4 prefix")
	}
	if c.MaxLifetime == 0 {
		return errors.New("ha: maximum lifetime must be at least 1 s")
	}
	if c.MaxBindings < 1 {
		return errors.New("ha: maximum bindings per mobile node must be at least 1")
	}
	if c.Pool.First.IsValid() || c.Pool.Last.IsValid() {
		if !c.HomeNet.Contains(c.Pool.First) || !c.HomeNet.Contains(c.Pool.Last) || c.Pool.Last.Less(c.Pool.First) {
			return fmt.Errorf("ha: pool %v-%v must be an ascending range inside the home network %v", c.Pool.First, c.Pool.Last, c.HomeNet)
		}
	}
	return nil
}

// MobileNode is one mobile node this home agent serves (RFC 5944 §3.8.1:
// the HA MUST be configured with the SA of each authorised MN).
type MobileNode struct {
	// NAI identifies the node when set (RFC 2794); otherwise HomeAddr does.
	NAI string
	// HomeAddr is the node's static home address. Invalid (zero Addr)
	// means the node gets one from the pool, which requires an NAI.
	HomeAddr netip.Addr
	// SAs are the node's MN-HA security associations.
	SAs []*auth.SA
}

// peer is the node's identity in the SA store.
func (m *MobileNode) peer() auth.Peer {
	if m.NAI != "" {
		return auth.PeerNAI(m.NAI)
	}
	return auth.PeerAddr(m.HomeAddr)
}

// Validate checks one mobile node's configuration.
func (m *MobileNode) Validate(c *Config) error {
	name := m.NAI
	if name == "" {
		name = m.HomeAddr.String()
	}
	switch {
	case m.NAI == "" && !m.HomeAddr.IsValid():
		return errors.New("ha: a mobile node needs an NAI or a static home address")
	case m.HomeAddr.IsValid() && !c.HomeNet.Contains(m.HomeAddr):
		return fmt.Errorf("ha: mobile node %s: home address %v is outside the home network %v", name, m.HomeAddr, c.HomeNet)
	case !m.HomeAddr.IsValid() && !c.Pool.First.IsValid():
		return fmt.Errorf("ha: mobile node %s has no static home address and no pool is configured", name)
	case len(m.SAs) == 0:
		return fmt.Errorf("ha: mobile node %s has no MN-HA security association", name)
	}
	return nil
}
