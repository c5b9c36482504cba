package vpn

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
)

// Kind names a VPN product the lab runs unmodified (RFC 4093 §5.1) — more
// than one, because RFC 4093 §5.4 asks that the mobility solution work
// with any vendor's VPN, and x-MIP (RFC 5265) does not depend on IPsec:
// the VPN only needs an address that does not change.
type Kind string

// The VPNs of the lab.
const (
	// StrongSwan is IKEv2/IPsec, charon with userspace ESP (this
	// package's Gateway and Client).
	StrongSwan Kind = "strongswan"
	// OpenVPN is OpenVPN 2.6 over UDP with TLS (certificates made for the
	// run) and a userspace TUN device (openvpn.go).
	OpenVPN Kind = "openvpn"
	// WireGuard is wireguard-go, the userspace WireGuard (wireguard.go).
	WireGuard Kind = "wireguard"
)

// Kinds are all the VPNs, in the order a table shows them.
var Kinds = []Kind{StrongSwan, OpenVPN, WireGuard}

// TunnelConfig is where a VPN runs in a lab: its gateway in one
// namespace, the road warrior (the laptop) in another.
type TunnelConfig struct {
	// GatewayNS and ClientNS are the lab namespaces of the two ends.
	GatewayNS, ClientNS string
	// Gateway is the gateway's public address, which the client dials.
	Gateway netip.Addr
	// Intranet is the network behind the gateway, routed through the VPN.
	Intranet []netip.Prefix
	// Pool is the prefix of the clients' addresses inside the VPN
	// (default DefaultPool); the gateway takes its first address where
	// the VPN needs one of its own (OpenVPN, WireGuard).
	Pool netip.Prefix
	// LocalAddr, when valid, is the client's only source address: in
	// mip4d's x-MIP mode the mobile node's home address, so the VPN's
	// outer 5-tuple never changes whatever the node's care-of address.
	// It must be configured in ClientNS before Open.
	LocalAddr netip.Addr
}

func (c *TunnelConfig) defaults() error {
	if c.GatewayNS == "" || c.ClientNS == "" {
		return errors.New("vpn: tunnel needs the gateway's and the client's namespaces")
	}
	if !c.Gateway.IsValid() {
		return errors.New("vpn: tunnel needs the gateway's address")
	}
	if len(c.Intranet) == 0 {
		return errors.New("vpn: tunnel needs the intranet prefixes")
	}
	if !c.Pool.IsValid() {
		c.Pool = DefaultPool
	}
	return nil
}

// Session is what identifies a VPN's session with the gateway at one
// instant, and how often it was set up: comparing two snapshots says
// whether the session survived what happened between them. What makes a
// session "the same" differs by VPN, and each driver documents it:
//
//   - strongSwan: the IKE SA (charon's unique id and both SPIs) and its
//     CHILD SA (unique id and both ESP SPIs); Setups counts IKE_SA_INIT
//     exchanges the client initiated, Rekeys IKE and CHILD SA rekeys.
//   - OpenVPN: the gateway's client instance (its client id, the peer id
//     of the data channel, the time it was connected, the client's real
//     address and port and its virtual address) and the client's
//     CONNECTED state time; Setups counts the client's completed
//     connections ("Initialization Sequence Completed"), Rekeys TLS
//     renegotiations.
//   - WireGuard: the gateway's peer (its public key) at the same
//     endpoint (the client's address and port: it never roamed) with
//     transfer counters that only grew; WireGuard has no session beyond
//     its keys, which it renews by a handshake every 2 minutes
//     (REKEY_AFTER_TIME), so Setups counts handshakes that the timer does
//     not explain and Rekeys those it does.
type Session struct {
	Kind Kind
	// ID is the session's identity in one line, for logs.
	ID string
	// Short is the identity in a table cell (at most 20 characters):
	// "#1 2830e1e3/9030e4f8" (IKE SA and SPIs), "cid 0 peer 0" (OpenVPN's
	// client and peer id), "peer BGoBc1si" (WireGuard's public key).
	Short string
	// Peer is the client's address and port as the gateway sees it.
	Peer netip.AddrPort
	// VirtualIP is the client's address inside the VPN.
	VirtualIP netip.Addr
	// Setups is how many times the client set up a session since Open
	// (1: the first only; more: a re-establishment).
	Setups int
	// Rekeys is how many key renewals the protocol's own timers did since
	// Open, which keep the session.
	Rekeys int
	// Detail is everything else the driver read, for logs.
	Detail string

	key      string // what must stay equal for the session to be the same
	counters []uint64
}

// Same reports whether o is the same session as s at the same place:
// Kept, and the gateway sees the client at the same address and port
// (it never had to follow it).
func (s Session) Same(o Session) bool { return s.Diff(o) == "" }

// Kept reports whether o is the same session as s, wherever the client
// now is: nothing that identifies the session changed, its counters did
// not go back, and the client set up no new one. A VPN that follows its
// client to a new address (MOBIKE, OpenVPN's float, WireGuard's roaming)
// keeps the session but is not Same.
func (s Session) Kept(o Session) bool { return s.diff(o, false) == "" }

// Diff describes how o differs from s ("" when it is the same session at
// the same place).
func (s Session) Diff(o Session) string { return s.diff(o, true) }

func (s Session) diff(o Session, place bool) string {
	var d []string
	if s.Kind != o.Kind {
		return fmt.Sprintf("another VPN: %s -> %s", s.Kind, o.Kind)
	}
	if s.key != o.key {
		d = append(d, fmt.Sprintf("session %s -> %s", s.ID, o.ID))
	}
	if s.Setups != o.Setups {
		d = append(d, fmt.Sprintf("%d session setups -> %d", s.Setups, o.Setups))
	}
	for i := range min(len(s.counters), len(o.counters)) {
		if o.counters[i] < s.counters[i] {
			d = append(d, fmt.Sprintf("counter %d went back %d -> %d", i, s.counters[i], o.counters[i]))
		}
	}
	if place && s.Peer != o.Peer {
		d = append(d, fmt.Sprintf("the gateway sees the client at %v, was %v", o.Peer, s.Peer))
	}
	return strings.Join(d, "; ")
}

// String is the session in one line.
func (s Session) String() string {
	return fmt.Sprintf("%s %s peer %v vip %v setups %d rekeys %d", s.Kind, s.ID, s.Peer, s.VirtualIP, s.Setups, s.Rekeys)
}

// Tunnel is one unmodified VPN between a road warrior and its gateway,
// whichever product runs it.
type Tunnel interface {
	// Kind is the VPN product.
	Kind() Kind
	// Version is the product and version, from its binary.
	Version() string
	// Session reads the session as both ends hold it now.
	Session() (Session, error)
	// First is the session as Open established it.
	First() Session
	// VirtualIP is the client's address inside the VPN.
	VirtualIP() netip.Addr
	// SetupTime is how long Open took to bring the session up.
	SetupTime() time.Duration
	// Reestablish tears the session down and sets up a new one, as a
	// VPN client without mobility support must after its address
	// changed (the baseline x-MIP is measured against, and the proof that
	// Session sees a new session when there is one). It returns how long
	// the new setup took.
	Reestablish() (time.Duration, error)
	// Logs are both ends' logs, for failure reports.
	Logs() string
	// Close takes the session down (telling the gateway) and stops both
	// ends.
	Close() error
}

// Open starts the gateway and the client of a VPN of kind and brings the
// session up.
func Open(l *lab.Lab, kind Kind, cfg TunnelConfig) (Tunnel, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := KindAvailable(kind); err != nil {
		return nil, err
	}
	switch kind {
	case StrongSwan:
		return openStrongSwan(l, cfg)
	case OpenVPN:
		return openOpenVPN(l, cfg)
	case WireGuard:
		return openWireGuard(l, cfg)
	}
	return nil, fmt.Errorf("vpn: unknown VPN %q", kind)
}

// KindAvailable reports what is missing to run a VPN of kind, or nil.
func KindAvailable(kind Kind) error {
	switch kind {
	case StrongSwan:
		return Available()
	case OpenVPN:
		return haveBinary(OpenVPNBin, "openvpn")
	case WireGuard:
		return haveBinary(WireGuardGo, "wireguard-go")
	}
	return fmt.Errorf("vpn: unknown VPN %q", kind)
}

func haveBinary(path, pkg string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s missing; install it with `apt-get install -y --no-install-recommends %s`", path, pkg)
	}
	return nil
}

// RequireKind skips t (or fails it, when ToolsRequired) unless the VPN of
// kind is installed.
func RequireKind(t testing.TB, kind Kind) {
	t.Helper()
	if err := KindAvailable(kind); err != nil {
		if ToolsRequired() {
			t.Fatal(err.Error() + " (tools are required: CI=true or MIP4D_REQUIRE_TOOLS=1)")
		}
		t.Skip(err.Error() + "; set MIP4D_REQUIRE_TOOLS=1 to make this a failure")
	}
}

// versionOf runs a binary's version option and returns the first line of
// its output that holds want.
func versionOf(want string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, want) {
			return strings.TrimSpace(line)
		}
	}
	return args[0] + " (version unknown)"
}

// poolAddr returns the i-th address of p (1: the first after the network
// address).
func poolAddr(p netip.Prefix, i int) netip.Addr {
	a := p.Masked().Addr()
	for range i {
		a = a.Next()
	}
	return a
}

// waitFor polls f every 20 ms until it returns nil or timeout passes.
func waitFor(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
