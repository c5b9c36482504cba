package vpn

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
)

// OpenVPNBin is Debian's OpenVPN 2.6.
const OpenVPNBin = "/usr/sbin/openvpn"

// OpenVPNPort is the gateway's UDP port (IANA's openvpn port).
const OpenVPNPort = 1194

// OpenVPN's device, MTU and cipher in the lab.
const (
	ovpnDev    = "ovpn0"
	ovpnMTU    = 1400
	ovpnCipher = "AES-128-GCM"
)

// OpenVPNTunnel is Debian's unmodified OpenVPN as enterprises run it:
// a server in the gateway's namespace (mode server, topology subnet, a
// pool of virtual addresses, the intranet pushed as a route) and a
// client on the laptop, over UDP, authenticated by TLS with certificates
// made for the run (NewPKI) and tls-crypt, with a userspace TUN device
// (disable-dco: no kernel data channel). The client binds its socket to
// TunnelConfig.LocalAddr (the x-home address), so its UDP 5-tuple never
// changes while mip4d moves it; the server has float, so it would accept
// the client from a new address too — which x-MIP never needs.
//
// Both ends have a management interface (a Unix socket in the lab
// directory), which is how Session reads them.
//
// The same session means the same client instance on the server: its
// client id (the server numbers every connection it accepts), its peer id
// (the data channel's), the time it connected, the client's real address
// and port and its virtual address, with byte counters that only grew;
// and on the client the same CONNECTED state (its time, local and remote
// address) and no connection completed beyond the first (Setups counts
// "Initialization Sequence Completed" in its log; a restart after a ping
// timeout, a TLS error or SIGUSR1 prints it again). TLS renegotiations
// (reneg-sec, an hour by default) keep the instance and count as Rekeys.
type OpenVPNTunnel struct {
	Server, Client *lab.Proc
	Dir            string
	PKI            *PKI

	l       *lab.Lab
	clients []*lab.Proc // every client process started, the current one last
	cfg     TunnelConfig
	first   Session
	setup   time.Duration
	version string
}

// ovpnServerConf is the server's configuration file.
func ovpnServerConf(cfg TunnelConfig, p *PKI, mgmt string) string {
	var b strings.Builder
	pool := cfg.Pool.Masked()
	fmt.Fprintf(&b, "mode server\ntls-server\nproto udp4\nlocal %s\nport %d\n", cfg.Gateway, OpenVPNPort)
	fmt.Fprintf(&b, "dev %s\ndev-type tun\ndisable-dco\ntun-mtu %d\n", ovpnDev, ovpnMTU)
	fmt.Fprintf(&b, "topology subnet\nserver %s %s\n", pool.Addr(), netmask(pool))
	for _, p := range cfg.Intranet {
		fmt.Fprintf(&b, "push \"route %s %s\"\n", p.Masked().Addr(), netmask(p))
	}
	fmt.Fprintf(&b, "ca %s\ncert %s\nkey %s\ndh none\ntls-crypt %s\n", p.CA, p.ServerCert, p.ServerKey, p.TLSCrypt)
	fmt.Fprintf(&b, "data-ciphers %s\n", ovpnCipher)
	b.WriteString("keepalive 10 60\nfloat\n")
	fmt.Fprintf(&b, "management %s unix\n", mgmt)
	b.WriteString("verb 3\n")
	return b.String()
}

// ovpnClientConf is the client's configuration file.
func ovpnClientConf(cfg TunnelConfig, p *PKI, mgmt string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "client\nproto udp4\nremote %s %d\n", cfg.Gateway, OpenVPNPort)
	if cfg.LocalAddr.IsValid() {
		fmt.Fprintf(&b, "local %s\nlport %d\n", cfg.LocalAddr, OpenVPNPort)
	} else {
		b.WriteString("nobind\n")
	}
	fmt.Fprintf(&b, "dev %s\ndev-type tun\ndisable-dco\ntun-mtu %d\n", ovpnDev, ovpnMTU)
	fmt.Fprintf(&b, "ca %s\ncert %s\nkey %s\ntls-crypt %s\n", p.CA, p.ClientCert, p.ClientKey, p.TLSCrypt)
	fmt.Fprintf(&b, "remote-cert-tls server\nverify-x509-name %s name\n", DefaultGatewayID)
	fmt.Fprintf(&b, "data-ciphers %s\n", ovpnCipher)
	b.WriteString("explicit-exit-notify 1\n")
	fmt.Fprintf(&b, "management %s unix\n", mgmt)
	b.WriteString("verb 3\n")
	return b.String()
}

func netmask(p netip.Prefix) string {
	m := net.CIDRMask(p.Bits(), 32)
	return net.IP(m).String()
}

func openOpenVPN(l *lab.Lab, cfg TunnelConfig) (*OpenVPNTunnel, error) {
	t := &OpenVPNTunnel{Dir: filepath.Join(l.Dir(), "openvpn"), cfg: cfg, l: l}
	var err error
	if t.PKI, err = NewPKI(filepath.Join(t.Dir, "pki"), DefaultGatewayID, DefaultClientID); err != nil {
		return nil, err
	}
	if n := len(t.mgmt("client")); n >= 108 {
		return nil, fmt.Errorf("vpn: management socket path %s is %d bytes, longer than a Unix socket path may be", t.mgmt("client"), n)
	}
	if err := l.Router(cfg.GatewayNS); err != nil {
		return nil, err
	}
	sconf := filepath.Join(t.Dir, "server.conf")
	cconf := filepath.Join(t.Dir, "client.conf")
	if err := os.WriteFile(sconf, []byte(ovpnServerConf(cfg, t.PKI, t.mgmt("server"))), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cconf, []byte(ovpnClientConf(cfg, t.PKI, t.mgmt("client"))), 0o600); err != nil {
		return nil, err
	}
	t.version = versionOf("OpenVPN ", OpenVPNBin, "--version")
	if f := strings.Fields(t.version); len(f) >= 2 {
		t.version = f[0] + " " + f[1]
	}
	if t.Server, err = l.Start(cfg.GatewayNS, "openvpn-server", OpenVPNBin, "--config", sconf); err != nil {
		return nil, err
	}
	if err := waitFor(10*time.Second, func() error {
		if !t.Server.Running() {
			return fmt.Errorf("vpn: openvpn server exited at start:\n%s", t.Server.Output())
		}
		if !strings.Contains(t.Server.Output(), "Initialization Sequence Completed") {
			return fmt.Errorf("vpn: openvpn server not ready:\n%s", lastLines(t.Server.Output(), 10))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := t.startClient(); err != nil {
		return nil, err
	}
	t.setup = time.Since(t0)
	if t.first, err = t.Session(); err != nil {
		return nil, err
	}
	return t, nil
}

// startClient starts a client process (each with its own log,
// openvpn-client, openvpn-client-2, ...) and waits until it is connected.
func (t *OpenVPNTunnel) startClient() error {
	name := "openvpn-client"
	if n := len(t.clients); n > 0 {
		name = fmt.Sprintf("openvpn-client-%d", n+1)
	}
	c, err := t.l.Start(t.cfg.ClientNS, name, OpenVPNBin, "--config", filepath.Join(t.Dir, "client.conf"))
	if err != nil {
		return err
	}
	t.Client = c
	t.clients = append(t.clients, c)
	return waitFor(15*time.Second, func() error {
		if !c.Running() {
			return fmt.Errorf("vpn: openvpn client exited:\n%s", c.Output())
		}
		st, err := ovpnQuery(t.mgmt("client"), "state")
		if err != nil {
			return err
		}
		if s, err := parseOVPNState(st); err != nil || s.State != "CONNECTED" {
			return fmt.Errorf("vpn: openvpn client not connected (%q, %v):\n%s", st, err, lastLines(c.Output(), 10))
		}
		return nil
	})
}

// clientLog is every client process's log, in order.
func (t *OpenVPNTunnel) clientLog() string {
	var b strings.Builder
	for _, c := range t.clients {
		b.WriteString(c.Output())
	}
	return b.String()
}

func (t *OpenVPNTunnel) mgmt(end string) string { return filepath.Join(t.Dir, end+".mgmt") }

// Kind is OpenVPN.
func (t *OpenVPNTunnel) Kind() Kind { return OpenVPN }

// Version is OpenVPN's version, from openvpn --version.
func (t *OpenVPNTunnel) Version() string { return t.version }

// First is the session as first established.
func (t *OpenVPNTunnel) First() Session { return t.first }

// SetupTime is from starting the client to its CONNECTED state.
func (t *OpenVPNTunnel) SetupTime() time.Duration { return t.setup }

// VirtualIP is the client's address in the pool.
func (t *OpenVPNTunnel) VirtualIP() netip.Addr { return t.first.VirtualIP }

// Session reads the server's client list and the client's state through
// their management interfaces, and counts the client's completed
// connections in its log.
func (t *OpenVPNTunnel) Session() (Session, error) {
	out, err := ovpnQuery(t.mgmt("server"), "status 2")
	if err != nil {
		return Session{}, err
	}
	clients, err := parseOVPNStatus(out)
	if err != nil {
		return Session{}, err
	}
	if len(clients) != 1 {
		return Session{}, fmt.Errorf("vpn: openvpn server has %d client instances, want 1:\n%s", len(clients), out)
	}
	c := clients[0]
	out, err = ovpnQuery(t.mgmt("client"), "state")
	if err != nil {
		return Session{}, err
	}
	st, err := parseOVPNState(out)
	if err != nil {
		return Session{}, err
	}
	log := t.clientLog()
	return Session{
		Kind:      OpenVPN,
		ID:        fmt.Sprintf("client id %d peer id %d since %d", c.ClientID, c.PeerID, c.Since),
		Short:     fmt.Sprintf("cid %d peer %d", c.ClientID, c.PeerID),
		Peer:      c.Real,
		VirtualIP: c.Virtual,
		Setups:    strings.Count(log, "Initialization Sequence Completed"),
		Rekeys:    strings.Count(log, "TLS: soft reset"),
		Detail: fmt.Sprintf("server: %s %v vip %v cipher %s rx %d tx %d; client: %s since %d local %v remote %v",
			c.CommonName, c.Real, c.Virtual, c.Cipher, c.BytesIn, c.BytesOut, st.State, st.Since, st.Local, st.Remote),
		key: fmt.Sprintf("%d/%d/%d/%v/%s/%d/%v/%v", c.ClientID, c.PeerID, c.Since, c.Virtual,
			st.State, st.Since, st.Local, st.Remote),
		counters: []uint64{c.BytesIn, c.BytesOut},
	}, nil
}

// Reestablish stops the client (it tells the server, which drops the
// client instance: explicit-exit-notify) and starts it again: a new TLS
// session, a new client instance on the server. (A SIGUSR1 restart from
// the same address and port is not enough: OpenVPN 2.6's server keeps
// the instance, takes the new TLS session as its own, and never answers
// its PUSH_REQUEST.) The server holds an exited client's instance for
// 5 s ("Delayed exit in 5 seconds"), so from the same address and port
// this takes about that long. The wait allows twice that: the server's
// delayed exit fires on its one-second timer, up to a second late, and a
// loaded machine adds more (a 5 s wait failed at the boundary in make
// test).
func (t *OpenVPNTunnel) Reestablish() (time.Duration, error) {
	t0 := time.Now()
	if err := t.Client.Stop(3 * time.Second); err != nil && t.Client.Running() {
		return 0, err
	}
	if err := waitFor(10*time.Second, func() error {
		out, err := ovpnQuery(t.mgmt("server"), "status 2")
		if err != nil {
			return err
		}
		if cs, err := parseOVPNStatus(out); err != nil || len(cs) != 0 {
			return fmt.Errorf("vpn: openvpn server still holds %d client instances (%v)", len(cs), err)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	if err := t.startClient(); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// Logs are both ends' logs.
func (t *OpenVPNTunnel) Logs() string {
	var b strings.Builder
	for _, p := range append([]*lab.Proc{t.Server}, t.clients...) {
		if p != nil {
			fmt.Fprintf(&b, "--- %s\n%s\n", p.Name, p.Output())
		}
	}
	return b.String()
}

// Close stops the client (it tells the server: explicit-exit-notify),
// then the server.
func (t *OpenVPNTunnel) Close() error {
	var errs []error
	for _, p := range []*lab.Proc{t.Client, t.Server} {
		if p != nil {
			if err := p.Stop(3 * time.Second); err != nil && p.Running() {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// ovpnQuery sends one command to an OpenVPN management socket and returns
// its answer: the lines up to END (status, state) or the one SUCCESS: or
// ERROR: line; notifications (">...") are skipped.
func ovpnQuery(sock, cmd string) (string, error) {
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return "", fmt.Errorf("vpn: openvpn management: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", cmd); err != nil {
		return "", fmt.Errorf("vpn: openvpn management: %w", err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for n := 0; sc.Scan() && n < 10000; n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, ">"):
			continue
		case line == "END":
			_, _ = fmt.Fprintf(c, "quit\n")
			return b.String(), nil
		case strings.HasPrefix(line, "ERROR:"):
			return "", fmt.Errorf("vpn: openvpn management %q: %s", cmd, line)
		case strings.HasPrefix(line, "SUCCESS:"):
			return line, nil
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("vpn: openvpn management %q: %w", cmd, err)
	}
	return "", fmt.Errorf("vpn: openvpn management %q: no END", cmd)
}

// OVPNClient is one CLIENT_LIST row of an OpenVPN server's status
// (status-version 2): one client instance.
type OVPNClient struct {
	CommonName        string
	Real              netip.AddrPort // the client's address and port as the server sees it
	Virtual           netip.Addr
	BytesIn, BytesOut uint64
	Since             int64 // connected since, Unix seconds
	ClientID, PeerID  int64
	Cipher            string
}

// parseOVPNStatus parses the server's `status 2`: the HEADER,CLIENT_LIST
// line names the columns of the CLIENT_LIST rows (their order has changed
// between versions).
func parseOVPNStatus(out string) ([]OVPNClient, error) {
	var cols map[string]int
	var cs []OVPNClient
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimRight(line, "\r"), ",")
		switch {
		case len(f) > 2 && f[0] == "HEADER" && f[1] == "CLIENT_LIST":
			cols = map[string]int{}
			for i, name := range f[2:] {
				cols[name] = i + 1
			}
		case f[0] == "CLIENT_LIST":
			if cols == nil {
				return nil, errors.New("vpn: openvpn status: CLIENT_LIST before its HEADER")
			}
			get := func(name string) string {
				if i, ok := cols[name]; ok && i < len(f) {
					return f[i]
				}
				return ""
			}
			var c OVPNClient
			var err error
			c.CommonName = get("Common Name")
			if c.Real, err = netip.ParseAddrPort(get("Real Address")); err != nil {
				return nil, fmt.Errorf("vpn: openvpn status: real address: %w", err)
			}
			if v := get("Virtual Address"); v != "" {
				if c.Virtual, err = netip.ParseAddr(v); err != nil {
					return nil, fmt.Errorf("vpn: openvpn status: virtual address: %w", err)
				}
			}
			num := func(name string) int64 {
				n, e := strconv.ParseInt(get(name), 10, 64)
				if e != nil && err == nil {
					err = fmt.Errorf("vpn: openvpn status: %s: %w", name, e)
				}
				return n
			}
			c.BytesIn, c.BytesOut = uint64(num("Bytes Received")), uint64(num("Bytes Sent"))
			c.Since = num("Connected Since (time_t)")
			c.ClientID, c.PeerID = num("Client ID"), num("Peer ID")
			c.Cipher = get("Data Channel Cipher")
			if err != nil {
				return nil, err
			}
			cs = append(cs, c)
		}
	}
	return cs, nil
}

// OVPNState is an OpenVPN client's current state (management `state`):
//
//	1764999999,CONNECTED,SUCCESS,10.99.0.2,192.0.2.1,1194,10.10.0.5,1194
type OVPNState struct {
	Since  int64 // when the state was entered, Unix seconds
	State  string
	Local  netip.AddrPort
	Remote netip.AddrPort
}

// parseOVPNState parses the last state line of `state`.
func parseOVPNState(out string) (OVPNState, error) {
	var s OVPNState
	lines := strings.Split(strings.TrimSpace(out), "\n")
	line := strings.TrimSpace(lines[len(lines)-1])
	f := strings.Split(line, ",")
	if len(f) < 2 {
		return s, fmt.Errorf("vpn: openvpn state %q", line)
	}
	var err error
	if s.Since, err = strconv.ParseInt(f[0], 10, 64); err != nil {
		return s, fmt.Errorf("vpn: openvpn state %q: %w", line, err)
	}
	s.State = f[1]
	if len(f) >= 6 {
		if a, e := netip.ParseAddr(f[4]); e == nil {
			p, _ := strconv.ParseUint(f[5], 10, 16)
			s.Remote = netip.AddrPortFrom(a, uint16(p))
		}
	}
	if len(f) >= 8 {
		if a, e := netip.ParseAddr(f[6]); e == nil {
			p, _ := strconv.ParseUint(f[7], 10, 16)
			s.Local = netip.AddrPortFrom(a, uint16(p))
		}
	}
	return s, nil
}
