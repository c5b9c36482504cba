package vpn

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
)

// SwanTunnel is the Tunnel of strongSwan: this package's Gateway and
// Client (PSK, a virtual IP from the pool, MOBIKE off, and with a local
// address charon ignores address changes, as RFC 5265 wants).
//
// The same session means the same IKE SA (unique id, initiator and
// responder SPI) with the same CHILD SA (unique id, both ESP SPIs), and
// no IKE_SA_INIT from the client beyond the first (Setups, from its log);
// on the gateway, the same IKE SA (its unique id) with the client at the
// same address and port (Peer).
type SwanTunnel struct {
	GW     *Gateway
	Client *Client

	first   Session
	setup   time.Duration
	version string
}

func openStrongSwan(l *lab.Lab, cfg TunnelConfig) (*SwanTunnel, error) {
	gw, err := StartGateway(l, cfg.GatewayNS, GatewayConfig{Intranet: cfg.Intranet, Pool: cfg.Pool})
	if err != nil {
		return nil, err
	}
	cc := ClientConfig{Gateway: cfg.Gateway, Intranet: cfg.Intranet, LocalAddr: cfg.LocalAddr, NoRoamEvents: cfg.LocalAddr.IsValid()}
	c, err := StartClient(l, cfg.ClientNS, cc)
	if err != nil {
		return nil, err
	}
	t := &SwanTunnel{GW: gw, Client: c}
	if t.setup, err = c.Initiate(10 * time.Second); err != nil {
		return nil, fmt.Errorf("vpn: strongSwan: %w\n%s", err, c.Log())
	}
	if t.first, err = t.Session(); err != nil {
		return nil, err
	}
	out, _ := c.Swanctl(5*time.Second, "--version", "--daemon")
	t.version = "strongSwan " + swanVersion(out)
	return t, nil
}

// swanVersion picks the version out of `swanctl --version --daemon`:
//
//	strongSwan 5.9.8 charon (Linux, 6.18.44, x86_64)
func swanVersion(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "strongSwan" {
			return f[1]
		}
	}
	return "(version unknown)"
}

// Kind is StrongSwan.
func (t *SwanTunnel) Kind() Kind { return StrongSwan }

// Version is strongSwan's version, as charon reports it.
func (t *SwanTunnel) Version() string { return t.version }

// First is the session as first established.
func (t *SwanTunnel) First() Session { return t.first }

// SetupTime is how long swanctl --initiate took.
func (t *SwanTunnel) SetupTime() time.Duration { return t.setup }

// VirtualIP is the client's virtual IP.
func (t *SwanTunnel) VirtualIP() netip.Addr { return t.first.VirtualIP }

// SA is the client's current IKE SA.
func (t *SwanTunnel) SA() (SA, error) { return t.Client.SA() }

// Session reads the client's IKE SA and its log.
func (t *SwanTunnel) Session() (Session, error) {
	sa, err := t.Client.SA()
	if err != nil {
		return Session{}, err
	}
	// The client's address as the gateway sees it.
	gsa, err := t.GW.ClientSA(netip.Addr{})
	if err != nil {
		return Session{}, fmt.Errorf("vpn: strongSwan gateway: %w", err)
	}
	peer := netip.AddrPortFrom(gsa.RemoteHost, gsa.RemotePort)
	st := Stats(t.Client.Log())
	c, ok := sa.Child()
	if !ok {
		return Session{}, errors.New("vpn: strongSwan: no CHILD SA installed")
	}
	s := Session{
		Kind:   StrongSwan,
		ID:     fmt.Sprintf("IKE #%d %s_i %s_r CHILD {%d} %s/%s", sa.UniqueID, sa.InitiatorSPI, sa.ResponderSPI, c.UniqueID, c.SPIIn, c.SPIOut),
		Short:  fmt.Sprintf("#%d %s/%s", sa.UniqueID, sa.InitiatorSPI[:min(8, len(sa.InitiatorSPI))], sa.ResponderSPI[:min(8, len(sa.ResponderSPI))]),
		Peer:   peer,
		Setups: st.IKEInitiated,
		Rekeys: st.IKERekeyed + max(0, st.ChildSAs-st.IKEEstablished),
		Detail: sa.String(),
		key: fmt.Sprintf("%d/%s/%s/%d/%s/%s gateway #%d", sa.UniqueID, sa.InitiatorSPI, sa.ResponderSPI,
			c.UniqueID, c.SPIIn, c.SPIOut, gsa.UniqueID),
		counters: []uint64{c.BytesIn, c.BytesOut},
	}
	if len(sa.VIPs) > 0 {
		s.VirtualIP = sa.VIPs[0]
	}
	return s, nil
}

// Reestablish deletes the IKE SA and initiates a new one.
func (t *SwanTunnel) Reestablish() (time.Duration, error) {
	if err := t.Client.Terminate(); err != nil {
		return 0, err
	}
	return t.Client.Initiate(10 * time.Second)
}

// Logs are both charons' logs.
func (t *SwanTunnel) Logs() string {
	return "--- " + t.GW.Name + "\n" + t.GW.Log() + "\n--- " + t.Client.Name + "\n" + t.Client.Log()
}

// Close deletes the IKE SA and stops both daemons.
func (t *SwanTunnel) Close() error {
	err := t.Client.Terminate()
	return errors.Join(err, t.Client.Stop(), t.GW.Stop())
}
