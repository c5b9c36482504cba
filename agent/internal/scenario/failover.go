package scenario

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/daemon"
	"github.com/mip4d/mip4d/agent/internal/keepalived"
	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/wire"
)

// The failover lab (README "Home agent redundancy"): two home agent boxes
// ha1 and ha2 and a mobile node mn on one switch (a bridge in namespace
// sw). Each box runs mip4d and keepalived; keepalived holds the home
// agent address (the VIP) on the master and tells mip4d its role through
// notify (`mip4d -c CONF ha-role INSTANCE VI_MIP4D STATE PRIO`); mip4d
// replicates bindings to the other box over ha_peer.
var (
	FailoverVIP   = netip.MustParseAddr("198.51.100.10")
	failoverBoxes = [2]netip.Addr{netip.MustParseAddr("198.51.100.11"), netip.MustParseAddr("198.51.100.12")}
	failoverMN    = netip.MustParseAddr("198.51.100.50")
	failoverKey   = strings.Repeat("f00d", 16)
)

// FailoverAdvert is the VRRP advert interval of the lab (keepalived's
// dead interval is about three of them plus skew).
const FailoverAdvert = 0.1

// FailoverHoA is the home address of simulated mobile node i.
func FailoverHoA(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 20, byte(i >> 8), byte(i)})
}

func failoverSA(i int) *auth.SA {
	return &auth.SA{SPI: 1000, Key: auth.Secret(fmt.Sprintf("failover-node-%05d", i))}
}

// Box is one home agent box of the failover lab.
type Box struct {
	Name    string // ha1, ha2
	Addr    netip.Addr
	Conf    string // mip4d configuration
	Sock    string // its control socket
	RunDir  string
	KAConf  string // keepalived configuration
	Notify  string // file the notify wrapper appends keepalived's argv to
	mip4d   *lab.Proc
	ka      *lab.Proc
	started int
}

// Failover is a running redundant pair: the failover lab's, or the x-HA
// pair of the redundant acceptance lab (StartHAPair).
type Failover struct {
	L     *lab.Lab
	Bin   string // mip4d binary
	Boxes [2]*Box
	Nodes int
	// VIP is the home agent address keepalived moves, on Iface, the
	// boxes' link to the shared segment.
	VIP   netip.Prefix
	Iface string
	// Gateway, if valid, is the boxes' default route via Iface, put back
	// when a crashed box's link comes up again (setting a link down
	// flushes the routes through it).
	Gateway netip.Addr
	// conf is box b's mip4d configuration, its peer at peer; dir is the
	// lab's script directory.
	conf func(dir string, b *Box, peer netip.Addr) string
	mn   *net.UDPConn
}

// StartFailover builds the failover lab in l with nodes simulated mobile
// nodes configured on both boxes, starts mip4d and keepalived on both and
// waits until one box is master, holds the VIP and is replicating to the
// other. The lab's Close tears everything down.
func StartFailover(l *lab.Lab, bin string, nodes int) (*Failover, error) {
	f := &Failover{L: l, Bin: bin, Nodes: nodes, VIP: netip.PrefixFrom(FailoverVIP, 24), Iface: "eth0"}
	f.conf = f.mip4dConfig
	for _, ns := range []string{"sw", "ha1", "ha2", "mn"} {
		if err := l.AddNS(ns); err != nil {
			return nil, err
		}
	}
	if err := l.IPBatch("sw", "link add br0 type bridge", "link set br0 up"); err != nil {
		return nil, err
	}
	addrs := map[string]netip.Addr{"ha1": failoverBoxes[0], "ha2": failoverBoxes[1], "mn": failoverMN}
	for _, ns := range []string{"ha1", "ha2", "mn"} {
		if err := l.Veth(ns, "eth0", "sw", ns); err != nil {
			return nil, err
		}
		if err := l.IPBatch("sw", "link set "+ns+" master br0", "link set "+ns+" up"); err != nil {
			return nil, err
		}
		if err := l.IPBatch(ns, "addr add "+addrs[ns].String()+"/24 dev eth0", "link set eth0 up", "link set lo up"); err != nil {
			return nil, err
		}
	}
	if err := f.startPair([2]string{"ha1", "ha2"}, failoverBoxes); err != nil {
		return nil, err
	}
	if err := l.In("mn", func() (err error) {
		f.mn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(failoverMN, 0)))
		return err
	}); err != nil {
		return nil, err
	}
	return f, nil
}

// startPair configures and starts the two boxes, namespaces names at
// addrs on f.Iface, each replicating to the other, and waits for a
// master holding the VIP.
func (f *Failover) startPair(names [2]string, addrs [2]netip.Addr) error {
	l, bin := f.L, f.Bin
	// The notify wrapper records keepalived's argv, then runs mip4d with
	// it. keepalived's script security wants it (and its directories)
	// writable by root only: /run/mip4d-lab/<prefix>.
	sdir := filepath.Join("/run/mip4d-lab", l.Prefix+".d")
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		return err
	}
	for i, name := range names {
		b := &Box{Name: name, Addr: addrs[i], RunDir: filepath.Join(sdir, name+"-run"),
			Sock: filepath.Join(sdir, name+".sock"), Notify: filepath.Join(sdir, name+".notify")}
		b.Conf = filepath.Join(sdir, name+".conf")
		if err := os.WriteFile(b.Conf, []byte(f.conf(sdir, b, addrs[1-i])), 0o600); err != nil {
			return err
		}
		wrap := filepath.Join(sdir, name+"-notify.sh")
		script := fmt.Sprintf("#!/bin/sh\necho \"$@\" >> %s\nexec %s -c %s ha-role \"$@\" >> %s.out 2>&1\n", b.Notify, bin, b.Conf, b.Notify)
		if err := os.WriteFile(wrap, []byte(script), 0o755); err != nil {
			return err
		}
		text, err := f.keepalived(name, b.Addr, addrs[1-i], wrap).Render()
		if err != nil {
			return err
		}
		b.KAConf = filepath.Join(sdir, name+"-keepalived.conf")
		if err := os.WriteFile(b.KAConf, []byte(text), 0o644); err != nil {
			return err
		}
		f.Boxes[i] = b
	}
	for _, b := range f.Boxes {
		if err := f.startBox(b); err != nil {
			return err
		}
	}
	_, err := f.WaitMaster(10 * time.Second)
	return err
}

// keepalived is the keepalived configuration of box name at local, its
// peer at peer, notify the command keepalived's notify runs.
func (f *Failover) keepalived(name string, local, peer netip.Addr, notify string) keepalived.Config {
	return keepalived.Config{RouterID: "mip4d_" + name, Interface: f.Iface, VRID: 51, Priority: 100, AdvertInt: FailoverAdvert,
		VIP: f.VIP, Local: local, Peers: []netip.Addr{peer}, NoPreempt: true, Notify: []string{notify}}
}

func (f *Failover) mip4dConfig(dir string, b *Box, peer netip.Addr) string {
	var s strings.Builder
	fmt.Fprintf(&s, "config mip4d 'globals'\n\toption role 'ha'\n\toption dataplane 'userspace'\n\toption log_level 'info'\n"+
		"\toption state_dir '%s/%s-state'\n\toption run_dir '%s'\n\toption control_socket '%s'\n", dir, b.Name, b.RunDir, b.Sock)
	fmt.Fprintf(&s, "config homeagent 'homeagent'\n\toption address '%v'\n\toption home_network '10.20.0.0/16'\n"+
		"\toption redundancy_role 'backup'\n", FailoverVIP)
	for i := range f.Nodes {
		fmt.Fprintf(&s, "config mobile_node\n\toption home_address '%v'\n\toption spi '1000'\n\toption key '%s'\n", FailoverHoA(i), string(failoverSA(i).Key))
	}
	fmt.Fprintf(&s, "config ha_peer 'peer'\n\toption address '%v'\n\toption local_address '%v'\n\toption key '%s'\n", peer, b.Addr, failoverKey)
	return s.String()
}

// startBox (re)starts a box: its link up without a stale VIP, mip4d, then
// keepalived. The run dir keeps the role last told, master after a
// failover: the daemon must itself start as backup, since the box does not
// hold the VIP (daemon.newRedundancy), and wait for keepalived.
func (f *Failover) startBox(b *Box) error {
	l := f.L
	_ = l.IP(b.Name, "addr", "del", f.VIP.String(), "dev", f.Iface)
	if err := l.IP(b.Name, "link", "set", f.Iface, "up"); err != nil {
		return err
	}
	if f.Gateway.IsValid() {
		if err := l.IP(b.Name, "route", "replace", "default", "via", f.Gateway.String(), "dev", f.Iface); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(b.RunDir, 0o755); err != nil {
		return err
	}
	b.started++
	var err error
	if b.mip4d, err = l.Start(b.Name, fmt.Sprintf("%s-mip4d-%d", b.Name, b.started), f.Bin, "run", "--config", b.Conf); err != nil {
		return err
	}
	var st daemon.RedundancyStatus
	if err := until(10*time.Second, func() bool { st, err = BoxStatus(f.Bin, b.Sock); return err == nil }); err != nil {
		return fmt.Errorf("%s: mip4d not answering: %w", b.Name, err)
	}
	if st.Role != "backup" {
		return fmt.Errorf("%s: mip4d started as %s before keepalived spoke (the box holds no VIP)", b.Name, st.Role)
	}
	pid := filepath.Join(b.RunDir, "keepalived")
	for _, p := range []string{".pid", "-vrrp.pid", "-checkers.pid"} {
		_ = os.Remove(pid + p)
	}
	b.ka, err = l.Start(b.Name, fmt.Sprintf("%s-keepalived-%d", b.Name, b.started), "keepalived", "--dont-fork", "--log-console", "--log-detail",
		"--vrrp", "-f", b.KAConf, "-p", pid+".pid", "-r", pid+"-vrrp.pid", "-c", pid+"-checkers.pid")
	return err
}

// Crash takes box i off the network as a crashed box would leave it:
// keepalived and mip4d killed (SIGKILL) and its link down.
func (f *Failover) Crash(i int) {
	b := f.Boxes[i]
	// keepalived's VRRP child has its own pid file; kill it too.
	if pid, err := os.ReadFile(filepath.Join(b.RunDir, "keepalived-vrrp.pid")); err == nil {
		var n int
		if _, err := fmt.Sscan(string(pid), &n); err == nil && n > 1 {
			_ = syscall.Kill(n, syscall.SIGKILL)
		}
	}
	b.ka.Kill()
	b.mip4d.Kill()
	_ = f.L.IP(b.Name, "link", "set", f.Iface, "down")
}

// Restart brings crashed box i back (as backup) and waits until it is
// connected to the master and holds the master's bindings.
func (f *Failover) Restart(i, master int, d time.Duration) error {
	if err := f.startBox(f.Boxes[i]); err != nil {
		return err
	}
	return until(d, func() bool {
		s, err := BoxStatus(f.Bin, f.Boxes[i].Sock)
		if err != nil || !s.Connected || s.Role != "backup" {
			return false
		}
		a, e1 := BoxBindings(f.Bin, f.Boxes[master].Sock)
		b, e2 := BoxBindings(f.Bin, f.Boxes[i].Sock)
		return e1 == nil && e2 == nil && SameBindings(a, b)
	})
}

// WaitMaster waits for one box to be mip4d master holding the VIP with
// its peer connected, and returns its index.
func (f *Failover) WaitMaster(d time.Duration) (int, error) {
	m := -1
	err := until(d, func() bool {
		for i, b := range f.Boxes {
			s, err := BoxStatus(f.Bin, b.Sock)
			if err == nil && s.Role == "master" && s.Connected && f.hasVIP(b) {
				m = i
				return true
			}
		}
		return false
	})
	return m, err
}

func (f *Failover) hasVIP(b *Box) bool {
	out, err := f.L.Exec(b.Name, "ip", "-4", "-o", "addr", "show", "dev", f.Iface)
	return err == nil && strings.Contains(out, " "+f.VIP.String()+" ")
}

// Request is a co-located registration of node i (care-of = the mobile
// node's address) with Identification at.
func (f *Failover) Request(i int, at time.Time, life uint16) []byte {
	m := wire.RegistrationRequest{Flags: wire.FlagD | wire.FlagT, Lifetime: life, HomeAddr: FailoverHoA(i), HomeAgent: FailoverVIP,
		CareOf: failoverMN, ID: auth.NTPTime(at)}
	b, _ := m.AppendBinary(nil)
	return auth.Append(b, auth.MNHA, failoverSA(i))
}

// Send sends a registration to the VIP without waiting.
func (f *Failover) Send(req []byte) error {
	_, err := f.mn.WriteToUDPAddrPort(req, netip.AddrPortFrom(FailoverVIP, wire.Port))
	return err
}

// Register sends req to the VIP and returns the code of the reply to
// it, or -1 when none came within wait. A reply answers req when it
// names the same home address and carries the low-order 32 bits of its
// Identification (RFC 5944 §5.7: on 133 the home agent rewrites only the
// high-order 32 bits). Late replies to earlier requests, left in the
// socket by a short wait, are skipped, not taken for this one's.
func (f *Failover) Register(req []byte, wait time.Duration) (int, error) {
	var q wire.RegistrationRequest
	if err := q.UnmarshalBinary(req); err != nil {
		return -1, err
	}
	if err := f.Send(req); err != nil {
		return -1, err
	}
	buf := make([]byte, 1500)
	f.mn.SetReadDeadline(time.Now().Add(wait))
	for {
		n, from, err := f.mn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return -1, nil
		}
		var m wire.RegistrationReply
		if from.Addr() != FailoverVIP || m.UnmarshalBinary(buf[:n]) != nil ||
			m.HomeAddr != q.HomeAddr || uint32(m.ID) != uint32(q.ID) {
			continue
		}
		return int(m.Code), nil
	}
}

// FailoverResult is one failover: the box that crashed, the one that
// took over, the gap (from the crash until a registration sent to the
// VIP was accepted by the new master), the bindings held before and
// after, and whether the replay of a pre-failover registration got 133.
type FailoverResult struct {
	N            int
	From, To     string
	Gap          time.Duration
	Before       int
	After        int
	Lost         int // bindings of the old master missing or different on the new one
	Replay133    bool
	NotifyMaster bool // the new master's notify got "INSTANCE VI_MIP4D MASTER 100"
	Err          error
}

// Failovers crashes the master n times, alternating boxes: each time it
// records the master's bindings, crashes it, sends a fresh registration
// of node 0 to the VIP every 10 ms until the new master accepts one (at
// most 5 s), compares bindings, replays a registration accepted before
// the crash (RFC 5944 §5.7: 133), then restarts the crashed box as backup
// and waits until it holds the new master's bindings. progress, if not
// nil, is called after each failover.
func (f *Failover) Failovers(n int, progress func(FailoverResult)) []FailoverResult {
	return repeat(n, f.failover, func(r FailoverResult) error { return r.Err }, progress)
}

func (f *Failover) failover(k int) (r FailoverResult) {
	r.N = k
	m, err := f.WaitMaster(10 * time.Second)
	if err != nil {
		r.Err = fmt.Errorf("no master: %w", err)
		return
	}
	o := 1 - m
	r.From, r.To = f.Boxes[m].Name, f.Boxes[o].Name
	// Every node registers now; node 0's request is kept for the replay.
	now := time.Now()
	var replay []byte
	for i := range f.Nodes {
		req := f.Request(i, now, 600)
		if i == 0 {
			replay = req
		}
		code, err := f.Register(req, time.Second)
		if err != nil || code != 0 {
			r.Err = fmt.Errorf("node %d before the crash: code %d %v", i, code, err)
			return
		}
	}
	if err := until(5*time.Second, func() bool {
		a, e1 := BoxBindings(f.Bin, f.Boxes[m].Sock)
		b, e2 := BoxBindings(f.Bin, f.Boxes[o].Sock)
		return e1 == nil && e2 == nil && len(a) == f.Nodes && SameBindings(a, b)
	}); err != nil {
		r.Err = fmt.Errorf("standby never held the master's bindings: %w", err)
		return
	}
	before, _ := BoxBindings(f.Bin, f.Boxes[m].Sock)
	r.Before = len(before)
	t0 := time.Now()
	f.Crash(m)
	for seq := 1; ; seq++ {
		if time.Since(t0) > 5*time.Second {
			r.Err = fmt.Errorf("no registration accepted within 5 s of the crash")
			return
		}
		code, err := f.Register(f.Request(0, time.Now(), 600), 10*time.Millisecond)
		if err != nil {
			r.Err = err
			return
		}
		if code == 0 {
			r.Gap = time.Since(t0)
			break
		}
	}
	after, err := BoxBindings(f.Bin, f.Boxes[o].Sock)
	if err != nil {
		r.Err = err
		return
	}
	r.After = len(after)
	idx := map[netip.Addr]daemon.BindingRow{}
	for _, a := range after {
		idx[a.HomeAddr] = a
	}
	for _, b := range before {
		a, ok := idx[b.HomeAddr]
		// node 0 re-registered after the crash; the others must be unchanged.
		if !ok || (b.HomeAddr != FailoverHoA(0) && (a.ID != b.ID || a.CareOf != b.CareOf || a.Lifetime != b.Lifetime)) {
			r.Lost++
		}
	}
	code, err := f.Register(replay, time.Second)
	r.Replay133 = err == nil && code == int(wire.CodeHAIDMismatch)
	notes, _ := os.ReadFile(f.Boxes[o].Notify)
	r.NotifyMaster = strings.Contains(string(notes), "INSTANCE VI_MIP4D MASTER 100\n")
	if err := f.Restart(m, o, 15*time.Second); err != nil {
		r.Err = fmt.Errorf("restarting %s: %w", f.Boxes[m].Name, err)
	}
	return
}

// BoxStatus is the "redundancy" object of mip4d status --json.
func BoxStatus(bin, sock string) (daemon.RedundancyStatus, error) {
	var s struct {
		Redundancy daemon.RedundancyStatus `json:"redundancy"`
	}
	out, err := exec.Command(bin, "status", "--json", "--socket", sock).Output()
	if err != nil {
		return s.Redundancy, err
	}
	err = json.Unmarshal(out, &s)
	return s.Redundancy, err
}

// BoxBindings is mip4d bindings --json.
func BoxBindings(bin, sock string) ([]daemon.BindingRow, error) {
	out, err := exec.Command(bin, "bindings", "--json", "--socket", sock).Output()
	if err != nil {
		return nil, err
	}
	var rows []daemon.BindingRow
	return rows, json.Unmarshal(out, &rows)
}

// SameBindings compares two binding sets (home address, care-of,
// endpoint, tunnel, lifetime, Identification, registration time).
func SameBindings(a, b []daemon.BindingRow) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.HomeAddr != y.HomeAddr || x.CareOf != y.CareOf || x.Endpoint != y.Endpoint || x.Lifetime != y.Lifetime ||
			x.ID != y.ID || x.Tunnel != y.Tunnel || !x.Registered.Equal(y.Registered) {
			return false
		}
	}
	return true
}

// until polls cond every 20 ms for at most d.
func until(d time.Duration, cond func() bool) error {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return nil
		}
	}
	return fmt.Errorf("timed out after %v", d)
}

// FailoverMoves is Failovers in the demo table's terms: one MoveResult
// per failover, From/To the box numbers (1 = ha1, 2 = ha2), CareOf the
// home agent address that moved, Gap the failover gap, Lost the bindings
// lost; Elapsed is left 0. A replay not refused with 133 is an Err.
func (f *Failover) FailoverMoves(n int, progress func(MoveResult)) []MoveResult {
	var out []MoveResult
	box := func(name string) int {
		if name == "ha2" {
			return 2
		}
		return 1
	}
	f.Failovers(n, func(r FailoverResult) {
		m := MoveResult{N: r.N, From: box(r.From), To: box(r.To), CareOf: FailoverVIP, Gap: r.Gap, Lost: r.Lost, Err: r.Err}
		if m.Err == nil && !r.Replay133 {
			m.Err = fmt.Errorf("failover %d: replay not refused with 133", r.N)
		}
		out = append(out, m)
		if progress != nil {
			progress(m)
		}
	})
	return out
}
