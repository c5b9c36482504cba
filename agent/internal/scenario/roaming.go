// Package scenario builds and drives the roaming labs of DESIGN.md §3 for
// the end-to-end tests and `make demo`: the topology, the mip4d daemons in
// it, moving the mobile node between access networks, and the probes
// (a sequence-numbered UDP echo stream and a long-lived TCP connection)
// whose gaps and losses measure each handoff.
package scenario

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mip4d/mip4d/agent/daemon"
	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/uci"
)

// Addresses of the roaming lab:
//
//	[cn] 10.0.0.2 ──── 10.0.0.1 [ha] 198.51.100.1 ──── .254 [inet]
//	                      (home network 10.10.0.0/16 on TUN)  │ 203.0.113.1/30   │ 203.0.113.5/30
//	                                                        [nat1] .2           [nat2] .6
//	                                                   192.168.1.1/24       192.168.2.1/24
//	                                                            \               /
//	                                                     hs1 192.168.1.10   hs2 192.168.2.10
//	                                                               [mn] home 10.10.0.5
var (
	CN       = netip.MustParseAddr("10.0.0.2")
	HAAddr   = netip.MustParseAddr("198.51.100.1")
	HomeNet  = netip.MustParsePrefix("10.10.0.0/16")
	HoA      = netip.MustParseAddr("10.10.0.5")
	NATAddrs = [3]netip.Addr{{}, netip.MustParseAddr("203.0.113.2"), netip.MustParseAddr("203.0.113.6")}
	CoAs     = [3]netip.Addr{{}, netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("192.168.2.10")}
	Gateways = [3]netip.Addr{{}, netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("192.168.2.1")}
)

// The shared MN-HA key of the lab (not a secret anyone uses).
const (
	labSPI = "1000"
	labKey = "0x6d6970346420726f616d696e67206c6162"
	mnNAI  = "laptop@example.net"
)

// Roaming is the lab of issue 3: cn, ha, inet, nat1, nat2 and mn.
type Roaming struct {
	L   *lab.Lab
	Bin string // the mip4d binary
	HA  *lab.Proc
	MN  *lab.Proc
	// IHAProc is the internal home agent (acceptance lab, S3).
	IHAProc *lab.Proc
	// FAs: the hotspots run foreign agents (S2, AddFAs); FAProcs are them.
	FAs     bool
	FAProcs []*lab.Proc
	// AfterMove, when set, runs after each MoveTo (S5: the laptop's DHCP
	// client asks again, as an OS does on re-association); DHCPClient is
	// that client.
	AfterMove  func(hs int) error
	DHCPClient *lab.Proc
	// ProxyOptions are extra options, name then value, for the proxies'
	// proxy section (S5).
	ProxyOptions []string
	// At is the access network the mobile node is on (1 or 2; 0: none).
	At int
	// Keepalive is the NAT keepalive interval the HA gives, seconds.
	Keepalive int
	// Lifetime the MN asks for, seconds.
	Lifetime int
	// MNEnv is extra environment for the mobile node's daemon.
	MNEnv []string
	// Dual puts the mobile node in RFC 5265 dual mode (acceptance lab):
	// an internal section for the i-HA and VPN hooks for the client whose
	// vici socket is VPNURI.
	Dual   bool
	VPNURI string
	// HomeLink makes the home network a real link (ha's "home" to mn's
	// "home0") instead of a virtual one on the HA's TUN device: the HA
	// then intercepts with proxy ARP, and the mobile node can come home.
	HomeLink bool
	// Redundant makes the home agent a redundant pair (StartHAPair): ha
	// and ha2 on a switch with the Internet router, keepalived moving
	// HAAddr between them (acceptance lab, issue 10).
	Redundant bool
	// sockets are the control sockets of daemons not in the lab's
	// directory (the boxes of StartHAPair), by name.
	sockets map[string]string
	// DataPlane is every daemon's option dataplane (empty: from
	// DataPlaneEnv, else the default).
	DataPlane string
}

// HomeGW is the home agent's address on the real home link.
var HomeGW = netip.MustParseAddr("10.10.0.1")

// Build creates the namespaces, links, addresses, routes and NATs.
func Build(l *lab.Lab, bin string) (*Roaming, error) {
	r := &Roaming{L: l, Bin: bin, Keepalive: 10, Lifetime: 60}
	steps := []func() error{
		func() error { return each([]string{"cn", "ha", "inet", "nat1", "nat2", "mn"}, l.AddNS) },
		func() error { return l.Veth("cn", "eth0", "ha", "lan") },
		func() error { return l.Addr("cn", "eth0", "10.0.0.2/24") },
		func() error { return l.Route("cn", "default", "via", "10.0.0.1") },
		func() error { return l.Addr("ha", "lan", "10.0.0.1/24") },
	}
	if err := run(steps); err != nil {
		return nil, err
	}
	return r, r.buildAccess()
}

// buildAccess builds what every lab shares: the Internet core with the
// home agent on it, the two NATed hotspots and the mobile node.
func (r *Roaming) buildAccess() error {
	l := r.L
	core := []func() error{
		func() error { return l.Veth("ha", "wan", "inet", "ha") },
		func() error { return l.Addr("ha", "wan", "198.51.100.1/24") },
	}
	if r.Redundant {
		core = r.pairSegment()
	}
	if err := run(core); err != nil {
		return err
	}
	return run([]func() error{
		func() error { return l.Veth("inet", "nat1", "nat1", "wan") },
		func() error { return l.Veth("inet", "nat2", "nat2", "wan") },
		func() error { return l.Veth("nat1", "lan", "mn", "hs1") },
		func() error { return l.Veth("nat2", "lan", "mn", "hs2") },
		func() error { return l.Route("ha", "default", "via", "198.51.100.254") },
		func() error { return l.Router("ha") },
		func() error { return l.Addr("inet", "ha", "198.51.100.254/24") },
		func() error { return l.Addr("inet", "nat1", "203.0.113.1/30") },
		func() error { return l.Addr("inet", "nat2", "203.0.113.5/30") },
		func() error { return l.Router("inet") },
		func() error { return l.Addr("nat1", "wan", "203.0.113.2/30") },
		func() error { return l.Route("nat1", "default", "via", "203.0.113.1") },
		func() error { return l.Addr("nat1", "lan", "192.168.1.1/24") },
		func() error { return l.NAT("nat1", "wan", false) },
		func() error { return l.Addr("nat2", "wan", "203.0.113.6/30") },
		func() error { return l.Route("nat2", "default", "via", "203.0.113.5") },
		func() error { return l.Addr("nat2", "lan", "192.168.2.1/24") },
		func() error { return l.NAT("nat2", "wan", true) },
		func() error { return l.IP("mn", "link", "set", "hs2", "down") },
		func() error { return l.Veth("ha", "home", "mn", "home0") },
		func() error { return l.IP("mn", "link", "set", "home0", "down") },
	})
}

func run(steps []func() error) error {
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

func each(names []string, f func(string) error) error {
	for _, n := range names {
		if err := f(n); err != nil {
			return err
		}
	}
	return nil
}

// Socket is the control socket path of a daemon in the lab.
func (r *Roaming) Socket(name string) string {
	if s, ok := r.sockets[name]; ok {
		return s
	}
	return filepath.Join(r.L.Dir(), name+".sock")
}

// DataPlaneEnv names the environment variable that picks the daemons'
// data plane in the labs (option dataplane: auto, bpf, userspace); unset,
// they use the default, auto. The test suite runs the labs with bpf and
// again with userspace.
const DataPlaneEnv = "MIP4D_DATAPLANE"

// dataPlane is daemon name's option dataplane: r.DataPlane, else
// DataPlaneEnv; MIP4D_DATAPLANE_<name> (MIP4D_DATAPLANE_iha=userspace)
// overrides it for one daemon, to try planes against each other.
func (r *Roaming) dataPlane(name string) string {
	dp := r.DataPlane
	if dp == "" {
		dp = os.Getenv(DataPlaneEnv)
	}
	if v := os.Getenv(DataPlaneEnv + "_" + name); v != "" {
		dp = v
	}
	return dp
}

func (r *Roaming) writeConfig(name string, f *uci.File) (string, error) {
	dp := r.dataPlane(name)
	if g := f.Section("globals"); g != nil && dp != "" {
		if err := g.Set("dataplane", dp); err != nil {
			return "", err
		}
	}
	p := filepath.Join(r.L.Dir(), name+".conf")
	return p, uci.WriteFile(p, f, 0o600)
}

func section(f *uci.File, typ, name string, opts ...string) *uci.Section {
	s, err := f.AddSection(typ, name)
	if err != nil {
		panic(err)
	}
	for i := 0; i+1 < len(opts); i += 2 {
		if err := s.Set(opts[i], opts[i+1]); err != nil {
			panic(err)
		}
	}
	return s
}

// HAConfig writes the home agent's configuration; extra options go to
// the homeagent section.
func (r *Roaming) HAConfig(extra ...string) (string, error) {
	f := r.haFile([]string{"log_level", "debug", "state_dir", filepath.Join(r.L.Dir(), "ha-state"), "control_socket", r.Socket("ha")}, extra...)
	return r.writeConfig("ha", f)
}

// haFile is the lab's home agent configuration: globals the options of
// its globals section besides the role, extra more homeagent options.
func (r *Roaming) haFile(globals []string, extra ...string) *uci.File {
	f := &uci.File{}
	section(f, "mip4d", "globals", append([]string{"role", "ha"}, globals...)...)
	opts := []string{"address", HAAddr.String(), "home_network", HomeNet.String(),
		"max_lifetime", "600", "keepalive", fmt.Sprint(r.Keepalive)}
	if r.HomeLink {
		opts = append(opts, "home_link", "home")
	}
	section(f, "homeagent", "homeagent", append(opts, extra...)...)
	section(f, "mobile_node", "", "nai", mnNAI, "home_address", HoA.String(), "spi", labSPI, "key", labKey)
	if r.FAs {
		for _, coa := range FACoAs[1:] {
			section(f, "agent_peer", "", "address", coa.String(), "spi", faSPI, "key", faKey)
		}
	}
	return f
}

// MNConfig writes the mobile node's configuration.
func (r *Roaming) MNConfig(extra ...string) (string, error) {
	f := &uci.File{}
	section(f, "mip4d", "globals", "role", "mn", "log_level", "debug", "control_socket", r.Socket("mn"))
	opts := []string{"nai", mnNAI, "home_address", HoA.String(),
		"home_network", HomeNet.String(), "home_agent", HAAddr.String(), "spi", labSPI, "key", labKey,
		"lifetime", fmt.Sprint(r.Lifetime), "keepalive", fmt.Sprint(r.Keepalive)}
	if r.Dual {
		opts = append(opts,
			"vpn_up", "swanctl --initiate --child vpn --timeout 10 --uri "+r.VPNURI,
			"vpn_down", "swanctl --terminate --ike vpn --force --uri "+r.VPNURI)
	}
	section(f, "mobilenode", "mobilenode", append(opts, extra...)...)
	if r.Dual {
		s := section(f, "internal", "internal", "nai", mnNAI, "home_address", IHoA.String(), "home_network", IHomeNet.String(),
			"home_agent", IHA.String(), "spi", labSPI, "key", labKey)
		for _, p := range []netip.Prefix{Intranet} {
			_ = s.AddList("route", p.String())
		}
	}
	return r.writeConfig("mn", f)
}

// StartHA starts (or restarts) the home agent.
func (r *Roaming) StartHA(extra ...string) error {
	if r.HomeLink {
		if err := r.L.IP("ha", "addr", "replace", HomeGW.String()+"/16", "dev", "home"); err != nil {
			return err
		}
	}
	cfg, err := r.HAConfig(extra...)
	if err != nil {
		return err
	}
	r.HA, err = r.L.Start("ha", "ha", r.Bin, "run", "--config", cfg)
	if err != nil {
		return err
	}
	return r.waitSocket("ha", r.HA)
}

// StartMN starts the mobile node.
func (r *Roaming) StartMN(extra ...string) error {
	cfg, err := r.MNConfig(extra...)
	if err != nil {
		return err
	}
	r.MN, err = r.L.StartEnv("mn", "mn", r.MNEnv, r.Bin, "run", "--config", cfg)
	if err != nil {
		return err
	}
	return r.waitSocket("mn", r.MN)
}

func (r *Roaming) waitSocket(name string, p *lab.Proc) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !p.Running() {
			return fmt.Errorf("%s exited at start:\n%s", name, p.Output())
		}
		if _, err := os.Stat(r.Socket(name)); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not open its control socket", name)
}

// MoveTo attaches the mobile node to access network hs (1 or 2), as a
// roam does: the old link goes down and loses its address; the new link
// comes up, gets its address and default route (what DHCP would give).
func (r *Roaming) MoveTo(hs int) error {
	if r.FAs {
		if err := r.moveFA(hs); err != nil {
			return err
		}
		if r.AfterMove != nil {
			return r.AfterMove(hs)
		}
		return nil
	}
	dev := fmt.Sprintf("hs%d", hs)
	cmds := []string{}
	if r.At != 0 {
		old := fmt.Sprintf("hs%d", r.At)
		cmds = append(cmds, "addr flush dev "+old, "link set "+old+" down")
	} else if r.HomeLink {
		cmds = append(cmds, "addr flush dev home0", "link set home0 down")
	}
	cmds = append(cmds, "link set "+dev+" up")
	if err := r.L.IPBatch("mn", cmds...); err != nil {
		return err
	}
	// Association before DHCP: the link must be up at both ends (the
	// hotspot's side too) before an address can be used, as a real
	// attachment completes its link layer before DHCP finishes.
	if err := r.waitLinkUp(fmt.Sprintf("nat%d", hs), "lan"); err != nil {
		return err
	}
	if err := r.L.IPBatch("mn", "addr add "+CoAs[hs].String()+"/24 dev "+dev,
		"route replace default via "+Gateways[hs].String()+" dev "+dev); err != nil {
		return err
	}
	r.At = hs
	return nil
}

// MoveHome brings the mobile node back to its home link: its home
// address on home0, the home agent as its router.
func (r *Roaming) MoveHome() error {
	var cmds []string
	if r.At != 0 {
		old := fmt.Sprintf("hs%d", r.At)
		cmds = append(cmds, "addr flush dev "+old, "link set "+old+" down")
	}
	cmds = append(cmds, "link set home0 up")
	if err := r.L.IPBatch("mn", cmds...); err != nil {
		return err
	}
	if err := r.waitLinkUp("ha", "home"); err != nil {
		return err
	}
	if err := r.L.IPBatch("mn", "addr add "+HoA.String()+"/16 dev home0",
		"route replace default via "+HomeGW.String()+" dev home0"); err != nil {
		return err
	}
	r.At = 0
	return nil
}

// waitLinkUp waits until dev in ns reports operational state UP.
func (r *Roaming) waitLinkUp(ns, dev string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		out, err := r.L.Exec(ns, "cat", "/sys/class/net/"+dev+"/operstate")
		if err == nil && strings.TrimSpace(out) == "up" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/%s did not come up: %q %v", ns, dev, out, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Control asks a daemon of the lab through its control socket.
func (r *Roaming) Control(name, cmd string, v any) error {
	out, err := r.L.Exec(name, r.Bin, cmd, "--json", "--socket", r.Socket(name))
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(out), v)
}

// MNState is the mobile node's registration state.
type MNState struct {
	State    string     `json:"state"`
	HomeAddr netip.Addr `json:"home_addr"`
	CareOf   netip.Addr `json:"care_of"`
	UDP      bool       `json:"udp_tunnel"`
	LastCode string     `json:"last_reply"`
}

// MNStatus returns the mobile node's registration state.
func (r *Roaming) MNStatus() (MNState, error) {
	var s struct {
		MN struct {
			Registration MNState `json:"registration"`
		} `json:"mn"`
	}
	err := r.Control("mn", "status", &s)
	return s.MN.Registration, err
}

// Bindings returns the home agent's bindings.
func (r *Roaming) Bindings() ([]daemon.BindingRow, error) {
	var rows []daemon.BindingRow
	err := r.Control("ha", "bindings", &rows)
	return rows, err
}

// WaitBinding waits until the home agent holds a binding of the home
// address with care-of address coa (any binding when coa is invalid;
// none when gone is true).
func (r *Roaming) WaitBinding(coa netip.Addr, gone bool, timeout time.Duration) (daemon.BindingRow, error) {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		rows, err := r.Bindings()
		last = err
		if err == nil {
			var found *daemon.BindingRow
			for i := range rows {
				if rows[i].HomeAddr == HoA && (!coa.IsValid() || rows[i].CareOf == coa) {
					found = &rows[i]
				}
			}
			if gone && len(rows) == 0 {
				return daemon.BindingRow{}, nil
			}
			if !gone && found != nil {
				return *found, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if last == nil {
		last = errors.New("condition not reached")
	}
	return daemon.BindingRow{}, fmt.Errorf("waiting for binding (care-of %v, gone %v): %w", coa, gone, last)
}

// WaitRegistered waits until the mobile node reports itself registered
// from care-of address coa.
func (r *Roaming) WaitRegistered(coa netip.Addr, timeout time.Duration) (MNState, error) {
	deadline := time.Now().Add(timeout)
	var s MNState
	var err error
	for time.Now().Before(deadline) {
		s, err = r.MNStatus()
		if err == nil && s.State == "registered" && s.CareOf == coa {
			return s, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s, fmt.Errorf("mobile node not registered from %v: state %+v, %v", coa, s, err)
}

// Logs returns the tail of both daemons' logs, for failure reports.
func (r *Roaming) Logs() string {
	var b strings.Builder
	for _, p := range append([]*lab.Proc{r.HA, r.IHAProc, r.MN, r.DHCPClient}, r.FAProcs...) {
		if p != nil {
			fmt.Fprintf(&b, "--- %s\n%s\n", p.Name, p.Output())
		}
	}
	return b.String()
}
