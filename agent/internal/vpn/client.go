package vpn

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
)

// ClientConfig is the laptop's road-warrior connection: to Gateway, asking
// for a virtual IP (vips = 0.0.0.0), with a tunnel to Intranet.
type ClientConfig struct {
	// Name is the lab process name and directory (default "vpnclient").
	Name string
	// Gateway is the gateway's address (remote_addrs). Required.
	Gateway netip.Addr
	// GatewayID is the identity the gateway must present (default
	// DefaultGatewayID).
	GatewayID string
	// ID is the client's IKE identity (default DefaultClientID).
	ID string
	// PSK is the pre-shared key (default DefaultPSK).
	PSK string
	// Intranet is the network reached through the VPN (remote_ts).
	// Required.
	Intranet []netip.Prefix
	// LocalAddr, when valid, is the only source address of IKE and ESP
	// (local_addrs): in mip4d's x-MIP mode, the mobile node's home address
	// on mip4d's TUN device. It must be configured in the namespace
	// before Initiate.
	LocalAddr netip.Addr
	// MOBIKE enables MOBIKE (RFC 4555); false sets mobike = no.
	MOBIKE bool
	// DPD is the dead peer detection interval (0: none).
	DPD time.Duration
	// Interfaces, when set, are the only interfaces charon considers for
	// IKE (charon.interfaces_use): with MOBIKE on, it keeps charon from
	// offering or moving to addresses of other interfaces.
	Interfaces []string
	// NoRoamEvents makes charon ignore address and link changes
	// (kernel-netlink roam_events = no): it then never reacts to a move by
	// itself, with or without MOBIKE.
	NoRoamEvents bool
	// MTU, when non-zero, is set on ipsec0 after charon creates it
	// (libipsec's own is TunMTU).
	MTU int
	// KeepAlive is the NAT-T keepalive interval (0: charon's 20 s).
	KeepAlive time.Duration
}

// Client is the laptop's unmodified VPN client.
type Client struct {
	*Daemon
	Config ClientConfig
}

// Conn is the client's connection (and CHILD SA) name in swanctl.conf.
const Conn = "vpn"

func (c *ClientConfig) defaults() error {
	c.Name = or(c.Name, "vpnclient")
	c.GatewayID = or(c.GatewayID, DefaultGatewayID)
	c.ID = or(c.ID, DefaultClientID)
	c.PSK = or(c.PSK, DefaultPSK)
	if !c.Gateway.IsValid() {
		return errors.New("vpn: client needs the gateway's address")
	}
	if len(c.Intranet) == 0 {
		return errors.New("vpn: client needs the intranet prefixes")
	}
	return nil
}

func (c ClientConfig) swanctlConf() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connections {\n\t%s {\n", Conn)
	b.WriteString("\t\tversion = 2\n")
	fmt.Fprintf(&b, "\t\tremote_addrs = %s\n", c.Gateway)
	if c.LocalAddr.IsValid() {
		fmt.Fprintf(&b, "\t\tlocal_addrs = %s\n", c.LocalAddr)
	}
	b.WriteString("\t\tvips = 0.0.0.0\n")
	b.WriteString("\t\tproposals = aes128gcm16-prfsha256-x25519\n")
	fmt.Fprintf(&b, "\t\tmobike = %s\n", yesNo(c.MOBIKE))
	if c.DPD > 0 {
		fmt.Fprintf(&b, "\t\tdpd_delay = %ds\n", max(1, int(c.DPD.Seconds())))
	}
	fmt.Fprintf(&b, "\t\tlocal {\n\t\t\tauth = psk\n\t\t\tid = %s\n\t\t}\n", c.ID)
	fmt.Fprintf(&b, "\t\tremote {\n\t\t\tauth = psk\n\t\t\tid = %s\n\t\t}\n", c.GatewayID)
	fmt.Fprintf(&b, "\t\tchildren {\n\t\t\t%s {\n", Conn)
	fmt.Fprintf(&b, "\t\t\t\tremote_ts = %s\n", prefixes(c.Intranet))
	b.WriteString("\t\t\t\tesp_proposals = aes128gcm16\n")
	if c.DPD > 0 {
		b.WriteString("\t\t\t\tdpd_action = restart\n")
	}
	b.WriteString("\t\t\t}\n\t\t}\n\t}\n}\n")
	b.WriteString(secrets(c.PSK, c.ID, c.GatewayID))
	return b.String()
}

// StartClient starts the client's charon in namespace ns and loads its
// connection; Initiate brings the VPN up.
func StartClient(l *lab.Lab, ns string, cfg ClientConfig) (*Client, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := settings{interfaces: cfg.Interfaces, noRoam: cfg.NoRoamEvents, keepAlive: cfg.KeepAlive}
	d, err := start(l, ns, cfg.Name, s, cfg.swanctlConf())
	if err != nil {
		return nil, err
	}
	if cfg.MTU != 0 {
		if err := l.IP(ns, "link", "set", "ipsec0", "mtu", strconv.Itoa(cfg.MTU)); err != nil {
			return nil, err
		}
	}
	return &Client{Daemon: d, Config: cfg}, nil
}

// Initiate brings the VPN up (swanctl --initiate --child vpn) and returns
// how long it took, wall clock, from the command to its completion
// (IKE_SA_INIT, IKE_AUTH with the virtual IP and the CHILD SA installed).
func (c *Client) Initiate(timeout time.Duration) (time.Duration, error) {
	secs := strconv.Itoa(int(math.Ceil(timeout.Seconds())))
	t0 := time.Now()
	_, err := c.Swanctl(timeout+2*time.Second, "--initiate", "--child", Conn, "--timeout", secs)
	return time.Since(t0), err
}

// Terminate deletes the client's IKE SA (and its CHILD SAs), telling the
// gateway. No SA to delete is not an error.
func (c *Client) Terminate() error {
	_, err := c.Swanctl(10*time.Second, "--terminate", "--ike", Conn, "--timeout", "5")
	if err != nil && strings.Contains(err.Error(), "no matching SAs") {
		return nil
	}
	return err
}

// SA returns the client's current IKE SA of the connection: the
// established one with the highest unique id.
func (c *Client) SA() (SA, error) {
	out, err := c.Swanctl(10*time.Second, "--list-sas", "--ike", Conn, "--pretty")
	if err != nil {
		return SA{}, err
	}
	sas, err := ParseSAs(out)
	if err != nil {
		return SA{}, err
	}
	var best SA
	for _, s := range sas {
		if s.Name == Conn && s.State == "ESTABLISHED" && s.UniqueID > best.UniqueID {
			best = s
		}
	}
	if best.UniqueID == 0 {
		return SA{}, ErrNoSA
	}
	return best, nil
}

// WaitSA polls SA until ok accepts it (any established SA with an
// installed CHILD SA when ok is nil) or timeout passes.
func (c *Client) WaitSA(timeout time.Duration, ok func(SA) bool) (SA, error) {
	deadline := time.Now().Add(timeout)
	for {
		s, err := c.SA()
		if err == nil {
			if _, up := s.Child(); up && (ok == nil || ok(s)) {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("vpn: SA not as expected after %v: %v", timeout, s)
			}
			return s, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// VirtualIP is the client's virtual IP, from its current SA.
func (c *Client) VirtualIP() (netip.Addr, error) {
	s, err := c.SA()
	if err != nil {
		return netip.Addr{}, err
	}
	if len(s.VIPs) == 0 {
		return netip.Addr{}, fmt.Errorf("vpn: IKE SA #%d has no virtual IP", s.UniqueID)
	}
	return s.VIPs[0], nil
}
