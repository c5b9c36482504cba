package vpn

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
)

// GatewayConfig is the remote-access gateway: one swanctl connection for
// road warriors authenticated by a pre-shared key, each given a virtual
// IP from Pool and a tunnel to Intranet.
type GatewayConfig struct {
	// Name is the lab process name and directory (default "vpngw").
	Name string
	// ID is the gateway's IKE identity (default DefaultGatewayID).
	ID string
	// ClientID is the identity road warriors must present (default
	// "%any": any client that knows the key).
	ClientID string
	// PSK is the pre-shared key (default DefaultPSK).
	PSK string
	// Pool is the virtual-IP pool (default DefaultPool).
	Pool netip.Prefix
	// Intranet is the protected network (local_ts). Required.
	Intranet []netip.Prefix
	// LocalAddrs restricts the addresses the gateway answers IKE on
	// (local_addrs; empty: any).
	LocalAddrs []netip.Addr
	// MOBIKE enables MOBIKE (RFC 4555) on the connection; false sets
	// mobike = no (strongSwan's own default is yes).
	MOBIKE bool
	// DPD is the dead peer detection interval (0: none).
	DPD time.Duration
}

// Gateway is the unmodified VPN gateway.
type Gateway struct {
	*Daemon
	Config GatewayConfig
}

// Connection and child names on the gateway.
const (
	gatewayConn = "rw"
	gatewayPool = "rwpool"
)

func (c *GatewayConfig) defaults() error {
	c.Name = or(c.Name, "vpngw")
	c.ID = or(c.ID, DefaultGatewayID)
	c.ClientID = or(c.ClientID, "%any")
	c.PSK = or(c.PSK, DefaultPSK)
	if !c.Pool.IsValid() {
		c.Pool = DefaultPool
	}
	if len(c.Intranet) == 0 {
		return errors.New("vpn: gateway needs its intranet prefixes")
	}
	return nil
}

// swanctlConf is the gateway's swanctl.conf. One key per line: swanctl
// rejects `{ auth = psk  id = x }` on one line.
func (c GatewayConfig) swanctlConf() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connections {\n\t%s {\n", gatewayConn)
	b.WriteString("\t\tversion = 2\n")
	if len(c.LocalAddrs) > 0 {
		s := make([]string, len(c.LocalAddrs))
		for i, a := range c.LocalAddrs {
			s[i] = a.String()
		}
		fmt.Fprintf(&b, "\t\tlocal_addrs = %s\n", strings.Join(s, ","))
	}
	b.WriteString("\t\tproposals = aes128gcm16-prfsha256-x25519\n")
	fmt.Fprintf(&b, "\t\tpools = %s\n", gatewayPool)
	fmt.Fprintf(&b, "\t\tmobike = %s\n", yesNo(c.MOBIKE))
	if c.DPD > 0 {
		fmt.Fprintf(&b, "\t\tdpd_delay = %ds\n", max(1, int(c.DPD.Seconds())))
	}
	fmt.Fprintf(&b, "\t\tlocal {\n\t\t\tauth = psk\n\t\t\tid = %s\n\t\t}\n", c.ID)
	fmt.Fprintf(&b, "\t\tremote {\n\t\t\tauth = psk\n\t\t\tid = %s\n\t\t}\n", c.ClientID)
	fmt.Fprintf(&b, "\t\tchildren {\n\t\t\t%s {\n", gatewayConn)
	fmt.Fprintf(&b, "\t\t\t\tlocal_ts = %s\n", prefixes(c.Intranet))
	b.WriteString("\t\t\t\tesp_proposals = aes128gcm16\n")
	if c.DPD > 0 {
		b.WriteString("\t\t\t\tdpd_action = clear\n")
	}
	b.WriteString("\t\t\t}\n\t\t}\n\t}\n}\n")
	fmt.Fprintf(&b, "pools {\n\t%s {\n\t\taddrs = %s\n\t}\n}\n", gatewayPool, c.Pool)
	b.WriteString(secrets(c.PSK, c.ID, c.ClientID))
	return b.String()
}

// StartGateway starts the gateway's charon in namespace ns, loads its
// connection and turns on forwarding in ns. Clients' virtual IPs are
// reachable from the intranet once the intranet routes Pool to this
// namespace: charon (kernel-libipsec) routes each client's virtual IP to
// ipsec0 in table 220 while its CHILD SA is up, and packets from the
// clients come out of ipsec0 to be forwarded.
func StartGateway(l *lab.Lab, ns string, cfg GatewayConfig) (*Gateway, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := l.Router(ns); err != nil {
		return nil, err
	}
	d, err := start(l, ns, cfg.Name, settings{}, cfg.swanctlConf())
	if err != nil {
		return nil, err
	}
	return &Gateway{Daemon: d, Config: cfg}, nil
}

// ClientSA returns the gateway's established IKE SA with the client whose
// virtual IP is vip (any client when vip is invalid).
func (g *Gateway) ClientSA(vip netip.Addr) (SA, error) {
	sas, err := g.SAs()
	if err != nil {
		return SA{}, err
	}
	var best SA
	for _, s := range sas {
		if s.State != "ESTABLISHED" {
			continue
		}
		if vip.IsValid() && !containsAddr(s.RemoteVIPs, vip) {
			continue
		}
		if s.UniqueID > best.UniqueID {
			best = s
		}
	}
	if best.UniqueID == 0 {
		return SA{}, ErrNoSA
	}
	return best, nil
}

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}
