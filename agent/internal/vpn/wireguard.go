package vpn

import (
	"bufio"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
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

// WireGuardGo is Debian's wireguard-go, the userspace WireGuard (the lab
// kernel has no wireguard module).
const WireGuardGo = "/usr/bin/wireguard-go"

// WireGuard's ports, device and MTU in the lab.
const (
	WireGuardPort       = 51820 // the gateway's
	WireGuardClientPort = 51821 // the laptop's
	wgDev               = "wg0"
	wgMTU               = 1380
	wgKeepalive         = 25 // seconds, the laptop's persistent keepalive (what road warriors behind NATs use)
)

// RekeyAfterTime is WireGuard's REKEY_AFTER_TIME: the initiator renews
// the session keys by a new handshake once they are this old.
const RekeyAfterTime = 120 * time.Second

// WireGuardTunnel is wireguard-go, unmodified, at both ends: one daemon
// in the gateway's namespace and one on the laptop, each creating its
// TUN device wg0 and configured through its UAPI socket (what `wg set`
// does) with keys made for the run (X25519). The laptop has the gateway
// as its one peer (the gateway's address as endpoint, the pool and the
// intranet as allowed IPs, a persistent keepalive); the gateway has the
// laptop as its peer (its pool address as allowed IP) and no endpoint:
// it learns it from the laptop's first authenticated packet and follows
// it if it changes (WireGuard's roaming). wireguard-go's socket is bound
// to the wildcard address; through mip4d the laptop's route to the
// gateway has the home address as source, so its packets leave from
// TunnelConfig.LocalAddr and the gateway sees that address throughout.
//
// Each daemon's UAPI socket lives at /run/wireguard/wg0.sock, fixed, so
// each runs with a private /run (as charon does, package doc).
//
// WireGuard has no session to renegotiate: a handshake makes session
// keys, and the initiator makes new ones every RekeyAfterTime (or when a
// peer has not been heard from after sending, 15 s). The same session
// means here: the gateway holds the same peer (public key) at the same
// endpoint — the laptop's address and port never changed, so the
// gateway never had to roam — its transfer counters only grew, and no
// handshake happened that the rekey timer does not explain (Setups; the
// handshakes are counted from both daemons' logs, "Received handshake
// response").
type WireGuardTunnel struct {
	Server, Client *lab.Proc
	Dir            string
	// ServerPublic and ClientPublic are the public keys (base64, as wg
	// shows them).
	ServerPublic, ClientPublic string

	cfg        TunnelConfig
	clientPriv []byte // the laptop's private key, kept to configure it again (never logged)
	gwPub      []byte
	vip        netip.Addr
	first      Session
	firstHS    time.Time
	setup      time.Duration
	version    string
}

// wgKey is an X25519 key pair.
type wgKey struct{ priv, pub []byte }

func newWGKey() (wgKey, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return wgKey{}, err
	}
	return wgKey{priv: k.Bytes(), pub: k.PublicKey().Bytes()}, nil
}

func openWireGuard(l *lab.Lab, cfg TunnelConfig) (*WireGuardTunnel, error) {
	t := &WireGuardTunnel{Dir: filepath.Join(l.Dir(), "wireguard"), cfg: cfg}
	sk, err := newWGKey()
	if err != nil {
		return nil, err
	}
	ck, err := newWGKey()
	if err != nil {
		return nil, err
	}
	t.ServerPublic, t.ClientPublic = base64.StdEncoding.EncodeToString(sk.pub), base64.StdEncoding.EncodeToString(ck.pub)
	t.version = versionOf("wireguard-go", WireGuardGo, "--version")
	if n := len(t.sock("client")); n >= 108 {
		return nil, fmt.Errorf("vpn: UAPI socket path %s is %d bytes, longer than a Unix socket path may be", t.sock("client"), n)
	}
	if err := l.Router(cfg.GatewayNS); err != nil {
		return nil, err
	}
	gwVIP, vip := poolAddr(cfg.Pool, 1), poolAddr(cfg.Pool, 2)
	t.vip = vip
	bits := cfg.Pool.Bits()
	if t.Server, err = t.start(l, cfg.GatewayNS, "server"); err != nil {
		return nil, err
	}
	if t.Client, err = t.start(l, cfg.ClientNS, "client"); err != nil {
		return nil, err
	}
	if err := uapiSet(t.sock("server"), []string{
		"private_key=" + hex.EncodeToString(sk.priv),
		fmt.Sprintf("listen_port=%d", WireGuardPort),
		"replace_peers=true",
		"public_key=" + hex.EncodeToString(ck.pub),
		"replace_allowed_ips=true",
		"allowed_ip=" + netip.PrefixFrom(t.vip, 32).String(),
	}); err != nil {
		return nil, err
	}
	if err := l.IPBatch(cfg.GatewayNS, fmt.Sprintf("addr add %s/%d dev %s", gwVIP, bits, wgDev),
		fmt.Sprintf("link set %s mtu %d up", wgDev, wgMTU)); err != nil {
		return nil, err
	}
	cmds := []string{fmt.Sprintf("addr add %s/%d dev %s", t.vip, bits, wgDev),
		fmt.Sprintf("link set %s mtu %d up", wgDev, wgMTU)}
	for _, p := range cfg.Intranet {
		cmds = append(cmds, fmt.Sprintf("route replace %s dev %s src %s", p, wgDev, t.vip))
	}
	if err := l.IPBatch(cfg.ClientNS, cmds...); err != nil {
		return nil, err
	}
	t.clientPriv = ck.priv
	t.gwPub = sk.pub
	t0 := time.Now()
	if err := t.setClient(); err != nil {
		return nil, err
	}
	if err := t.waitHandshake(time.Time{}); err != nil {
		return nil, err
	}
	t.setup = time.Since(t0)
	if t.first, err = t.Session(); err != nil {
		return nil, err
	}
	return t, nil
}

// setClient configures the laptop's device: its key, its port, the
// gateway as its one peer.
func (t *WireGuardTunnel) setClient() error {
	cfg := t.cfg
	set := []string{
		"private_key=" + hex.EncodeToString(t.clientPriv),
		fmt.Sprintf("listen_port=%d", WireGuardClientPort),
		"replace_peers=true",
		"public_key=" + hex.EncodeToString(t.gwPub),
		"endpoint=" + netip.AddrPortFrom(cfg.Gateway, WireGuardPort).String(),
		"replace_allowed_ips=true",
		"allowed_ip=" + cfg.Pool.Masked().String(),
	}
	for _, p := range cfg.Intranet {
		set = append(set, "allowed_ip="+p.Masked().String())
	}
	// The persistent keepalive last: setting it on an up device sends a
	// keepalive at once, which starts the first handshake.
	set = append(set, fmt.Sprintf("persistent_keepalive_interval=%d", wgKeepalive))
	return uapiSet(t.sock("client"), set)
}

// waitHandshake waits until the laptop holds a handshake with the
// gateway later than after.
func (t *WireGuardTunnel) waitHandshake(after time.Time) error {
	return waitFor(10*time.Second, func() error {
		dev, err := uapiGet(t.sock("client"))
		if err != nil {
			return err
		}
		if len(dev.Peers) != 1 || !dev.Peers[0].Handshake.After(after) {
			return fmt.Errorf("vpn: wireguard: no new handshake with the gateway:\n%s", lastLines(t.Client.Output(), 10))
		}
		if t.firstHS.IsZero() {
			t.firstHS = dev.Peers[0].Handshake
		}
		return nil
	})
}

// Reestablish removes the gateway from the laptop's peers and adds it
// again (what `wg set wg0 peer K remove` and a new `wg set` do, or a
// restarted wg-quick): the peer's session keys are gone, so a new
// handshake makes new ones.
func (t *WireGuardTunnel) Reestablish() (time.Duration, error) {
	dev, err := uapiGet(t.sock("client"))
	if err != nil {
		return 0, err
	}
	var last time.Time
	if len(dev.Peers) == 1 {
		last = dev.Peers[0].Handshake
	}
	t0 := time.Now()
	if err := uapiSet(t.sock("client"), []string{"public_key=" + hex.EncodeToString(t.gwPub), "remove=true"}); err != nil {
		return 0, err
	}
	if err := t.setClient(); err != nil {
		return 0, err
	}
	err = t.waitHandshake(last)
	return time.Since(t0), err
}

func (t *WireGuardTunnel) sock(end string) string {
	return filepath.Join(t.Dir, end, "run", "wireguard", wgDev+".sock")
}

// start runs wireguard-go in the foreground in ns, with its own /run.
func (t *WireGuardTunnel) start(l *lab.Lab, ns, end string) (*lab.Proc, error) {
	run := filepath.Join(t.Dir, end, "run")
	if err := os.MkdirAll(run, 0o700); err != nil {
		return nil, err
	}
	p, err := l.StartEnv(ns, "wireguard-"+end, []string{"LOG_LEVEL=verbose"},
		"sh", "-c", `mount --bind "$1" /run && exec "$2" -f "$3"`, "sh", run, WireGuardGo, wgDev)
	if err != nil {
		return nil, err
	}
	return p, waitFor(10*time.Second, func() error {
		if !p.Running() {
			return fmt.Errorf("vpn: wireguard-go (%s) exited at start:\n%s", end, p.Output())
		}
		c, err := net.DialTimeout("unix", t.sock(end), time.Second)
		if err != nil {
			return fmt.Errorf("vpn: wireguard-go (%s) has no UAPI socket: %w", end, err)
		}
		return c.Close()
	})
}

// WG is wireguard-tools' wg, optional: the lab configures and reads
// wireguard-go through UAPI itself; Show uses wg when it is there.
const WG = "/usr/bin/wg"

// Show is `wg show wg0` on one end ("server" or "client"), run in that
// end's namespace with its private /run, as an administrator would look
// at it (private keys are not shown by wg show).
func (t *WireGuardTunnel) Show(l *lab.Lab, end string) (string, error) {
	if err := haveBinary(WG, "wireguard-tools"); err != nil {
		return "", err
	}
	ns := t.cfg.ClientNS
	if end == "server" {
		ns = t.cfg.GatewayNS
	}
	return l.Exec(ns, "sh", "-c", `mount --bind "$1" /run && exec "$2" show "$3"`, "sh",
		filepath.Join(t.Dir, end, "run"), WG, wgDev)
}

// Kind is WireGuard.
func (t *WireGuardTunnel) Kind() Kind { return WireGuard }

// Version is wireguard-go's version, from wireguard-go --version.
func (t *WireGuardTunnel) Version() string { return t.version }

// First is the session as first established.
func (t *WireGuardTunnel) First() Session { return t.first }

// SetupTime is from configuring the laptop's peer to the first handshake.
func (t *WireGuardTunnel) SetupTime() time.Duration { return t.setup }

// VirtualIP is the laptop's address in the pool.
func (t *WireGuardTunnel) VirtualIP() netip.Addr { return t.vip }

// Session reads both daemons through UAPI and counts the handshakes in
// their logs.
func (t *WireGuardTunnel) Session() (Session, error) {
	gw, err := uapiGet(t.sock("server"))
	if err != nil {
		return Session{}, err
	}
	cl, err := uapiGet(t.sock("client"))
	if err != nil {
		return Session{}, err
	}
	if len(gw.Peers) != 1 || len(cl.Peers) != 1 {
		return Session{}, fmt.Errorf("vpn: wireguard: %d peers on the gateway, %d on the laptop; want 1 each", len(gw.Peers), len(cl.Peers))
	}
	g, c := gw.Peers[0], cl.Peers[0]
	hs := strings.Count(t.Server.Output(), "Received handshake response") +
		strings.Count(t.Client.Output(), "Received handshake response")
	latest := g.Handshake
	if c.Handshake.After(latest) {
		latest = c.Handshake
	}
	setups, rekeys := wgSetups(hs, t.firstHS, latest)
	pub, _ := hex.DecodeString(g.PublicKey)
	id := base64.StdEncoding.EncodeToString(pub)
	return Session{
		Kind:      WireGuard,
		ID:        fmt.Sprintf("peer %s handshake %s", id[:min(8, len(id))], latest.Format("15:04:05.000")),
		Short:     "peer " + id[:min(8, len(id))],
		Peer:      g.Endpoint,
		VirtualIP: t.vip,
		Setups:    setups,
		Rekeys:    rekeys,
		Detail: fmt.Sprintf("gateway: peer %s endpoint %v handshake %s rx %d tx %d; laptop: peer endpoint %v handshake %s rx %d tx %d",
			id, g.Endpoint, g.Handshake.Format(time.RFC3339Nano), g.RxBytes, g.TxBytes,
			c.Endpoint, c.Handshake.Format(time.RFC3339Nano), c.RxBytes, c.TxBytes),
		key:      fmt.Sprintf("%s/%s/%v", g.PublicKey, c.PublicKey, c.Endpoint),
		counters: []uint64{g.RxBytes, g.TxBytes, c.RxBytes, c.TxBytes},
	}, nil
}

// wgSetups splits n completed handshakes, the first at first and the
// latest at latest, into session setups and the rekeys the
// RekeyAfterTime timer explains: at most one per RekeyAfterTime since the
// first. A handshake the timer cannot explain (one after a move that
// left a peer unheard from, a restarted daemon) counts as a setup.
func wgSetups(n int, first, latest time.Time) (setups, rekeys int) {
	if n > 1 && !first.IsZero() && latest.After(first) {
		rekeys = min(n-1, int(latest.Sub(first)/RekeyAfterTime))
	}
	return n - rekeys, rekeys
}

// Logs are both daemons' logs.
func (t *WireGuardTunnel) Logs() string {
	var b strings.Builder
	for _, p := range []*lab.Proc{t.Server, t.Client} {
		if p != nil {
			fmt.Fprintf(&b, "--- %s\n%s\n", p.Name, p.Output())
		}
	}
	return b.String()
}

// Close stops both daemons (each removes its wg0).
func (t *WireGuardTunnel) Close() error {
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

// WGDevice is a WireGuard device as UAPI's get reports it.
type WGDevice struct {
	ListenPort uint16
	Peers      []WGPeer
}

// WGPeer is one peer of a WGDevice.
type WGPeer struct {
	PublicKey         string // hex
	Endpoint          netip.AddrPort
	Handshake         time.Time // zero: none yet
	RxBytes, TxBytes  uint64
	PersistentKeepalv int
	AllowedIPs        []netip.Prefix
}

// uapiGet asks a wireguard-go UAPI socket for its configuration
// (https://www.wireguard.com/xplatform/: "get=1", then key=value lines
// up to "errno=N" and a blank line).
func uapiGet(sock string) (WGDevice, error) {
	out, err := uapi(sock, "get=1\n\n")
	if err != nil {
		return WGDevice{}, err
	}
	return parseUAPI(out)
}

// uapiSet sets configuration lines (private keys among them: they are
// never logged).
func uapiSet(sock string, lines []string) error {
	_, err := uapi(sock, "set=1\n"+strings.Join(lines, "\n")+"\n\n")
	return err
}

// uapi sends one request and returns the answer's lines up to errno,
// failing when errno is not 0.
func uapi(sock, req string) (string, error) {
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return "", fmt.Errorf("vpn: wireguard UAPI: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	op, _, _ := strings.Cut(req, "\n")
	if _, err := c.Write([]byte(req)); err != nil {
		return "", fmt.Errorf("vpn: wireguard UAPI %s: %w", op, err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for n := 0; sc.Scan() && n < 100000; n++ {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "errno="); ok {
			if v != "0" {
				return "", fmt.Errorf("vpn: wireguard UAPI %s: errno %s", op, v)
			}
			return b.String(), nil
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return "", fmt.Errorf("vpn: wireguard UAPI %s: no errno (%v)", op, sc.Err())
}

// parseUAPI parses the key=value lines of a get: device keys first, then
// each peer from its public_key line. Private keys are read past, not
// kept.
func parseUAPI(out string) (WGDevice, error) {
	var d WGDevice
	var p *WGPeer
	var sec, nsec int64
	flush := func() {
		if p != nil && (sec != 0 || nsec != 0) {
			p.Handshake = time.Unix(sec, nsec)
		}
		sec, nsec = 0, 0
	}
	for i, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return d, fmt.Errorf("vpn: wireguard UAPI line %d: no '='", i+1)
		}
		var err error
		num := func() uint64 {
			n, e := strconv.ParseUint(v, 10, 64)
			if e != nil {
				err = fmt.Errorf("vpn: wireguard UAPI line %d: %s: %w", i+1, k, e)
			}
			return n
		}
		switch k {
		case "public_key":
			flush()
			d.Peers = append(d.Peers, WGPeer{PublicKey: v})
			p = &d.Peers[len(d.Peers)-1]
		case "listen_port":
			if p == nil {
				d.ListenPort = uint16(min(num(), 65535))
			}
		case "endpoint":
			if p != nil {
				p.Endpoint, err = netip.ParseAddrPort(v)
			}
		case "last_handshake_time_sec":
			sec = int64(min(num(), 1<<62))
		case "last_handshake_time_nsec":
			nsec = int64(min(num(), 1<<62))
		case "rx_bytes":
			if p != nil {
				p.RxBytes = num()
			}
		case "tx_bytes":
			if p != nil {
				p.TxBytes = num()
			}
		case "persistent_keepalive_interval":
			if p != nil {
				p.PersistentKeepalv = int(min(num(), 65535))
			}
		case "allowed_ip":
			if p != nil {
				var a netip.Prefix
				if a, err = netip.ParsePrefix(v); err == nil {
					p.AllowedIPs = append(p.AllowedIPs, a)
				}
			}
		}
		if err != nil {
			return d, err
		}
	}
	flush()
	return d, nil
}
