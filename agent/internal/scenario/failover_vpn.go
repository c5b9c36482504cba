package scenario

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/mip4d/mip4d/agent/daemon"
	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/internal/vpn"
	"github.com/mip4d/mip4d/agent/uci"
)

// The redundant acceptance lab (issue 10): the acceptance lab with its
// x-HA a keepalived pair. ha and ha2 and the Internet router share a
// switch (a bridge in namespace sw); keepalived holds the home agent
// address HAAddr (198.51.100.1, the VIP) on the master, to which the
// Internet routes the x-home network and the laptop registers:
//
//	[inet] 198.51.100.254 ─┬─ sw ─┬─ [ha]  198.51.100.11 (+ .1 when master)
//	                       │      └─ [ha2] 198.51.100.12 (+ .1 when master)
//
// The laptop registers once, brings its unmodified VPN up over the x-home
// address and then only watches: a failover must not make it re-register,
// rekey or reconnect.
var (
	PairAddrs = [2]netip.Addr{netip.MustParseAddr("198.51.100.11"), netip.MustParseAddr("198.51.100.12")}
	inetHA    = netip.MustParseAddr("198.51.100.254") // the Internet router on the pair's switch
)

// BuildRedundantAcceptance creates the acceptance lab with a redundant
// home agent pair in place of the single x-HA; StartHAPair starts it.
func BuildRedundantAcceptance(l *lab.Lab, bin string) (*Roaming, error) {
	return buildAcceptance(&Roaming{L: l, Bin: bin, Keepalive: 10, Lifetime: 600, Redundant: true})
}

// pairSegment builds the switch of the pair: the boxes' wan links and the
// Internet router's ha link on one bridge.
func (r *Roaming) pairSegment() []func() error {
	l := r.L
	steps := []func() error{
		func() error { return each([]string{"sw", "ha2"}, l.AddNS) },
		func() error { return l.IPBatch("sw", "link add br0 type bridge", "link set br0 up") },
		func() error { return l.Veth("inet", "ha", "sw", "inet") },
		func() error { return l.IPBatch("sw", "link set inet master br0", "link set inet up") },
	}
	for i, ns := range []string{"ha", "ha2"} {
		steps = append(steps,
			func() error { return l.Veth(ns, "wan", "sw", ns) },
			func() error { return l.IPBatch("sw", "link set "+ns+" master br0", "link set "+ns+" up") },
			func() error { return l.Addr(ns, "wan", PairAddrs[i].String()+"/24") })
	}
	return append(steps,
		func() error { return l.Route("ha2", "default", "via", inetHA.String()) },
		func() error { return l.Router("ha2") })
}

// StartHAPair starts the x-HA pair of a Redundant lab: mip4d (the lab's
// home agent configuration plus redundancy and an ha_peer for the other
// box) and keepalived on ha and ha2, and waits for a master holding the
// home agent address with its peer connected.
func (r *Roaming) StartHAPair() (*Failover, error) {
	if !r.Redundant {
		return nil, fmt.Errorf("StartHAPair: the lab has a single home agent")
	}
	f := &Failover{L: r.L, Bin: r.Bin, Nodes: 1, VIP: netip.PrefixFrom(HAAddr, 24), Iface: "wan",
		Gateway: inetHA}
	f.conf = func(dir string, b *Box, peer netip.Addr) string {
		globals := []string{"log_level", "info", "state_dir", dir + "/" + b.Name + "-state", "run_dir", b.RunDir, "control_socket", b.Sock}
		if dp := r.dataPlane(b.Name); dp != "" {
			globals = append(globals, "dataplane", dp)
		}
		cf := r.haFile(globals, "redundancy_role", "backup")
		section(cf, "ha_peer", "peer", "address", peer.String(), "local_address", b.Addr.String(), "key", failoverKey)
		text, err := uci.Marshal(cf)
		if err != nil {
			panic(err)
		}
		return string(text)
	}
	if err := f.startPair([2]string{"ha", "ha2"}, PairAddrs); err != nil {
		return nil, err
	}
	r.sockets = map[string]string{}
	for _, b := range f.Boxes {
		r.sockets[b.Name] = b.Sock
	}
	return f, nil
}

// VPNFailover is one crash of the master box as the laptop saw it.
type VPNFailover struct {
	FailoverResult
	// Probe is the laptop's probe stream through the VPN across the
	// crash: its gap and loss; At is the probe time of the crash.
	Probe Handoff
	At    time.Duration
	// NAT is the laptop's NAT mapping (RFC 3519) in the new master's
	// binding.
	NAT netip.AddrPort
	// SA is the laptop's IKE SA after the failover; SameSA that it is the
	// one the VPN started with (IKE and CHILD SA, same SPIs, same peer).
	SA     vpn.SA
	SameSA bool
	Diff   string
	// Registrations is how many registrations the new master accepted
	// from the laptop during the failover (the laptop must not notice).
	Registrations int
}

// VPNFailovers crashes the master n times, alternating boxes, while p's
// probes (and typically a Stream) run through the laptop's VPN: each
// time it records the master's bindings (equal to the standby's), kills
// keepalived and mip4d on the master (SIGKILL, link down), waits until
// probes sent after the crash come back again, dwells, measures the gap
// and the loss, compares the new master's bindings and the VPN's SA with
// what they were, then restarts the crashed box as backup with the
// snapshot. progress, if not nil, is called after each.
func (r *Roaming) VPNFailovers(f *Failover, v *VPN, p *Probe, n int, dwell time.Duration, progress func(VPNFailover)) []VPNFailover {
	return repeat(n, func(k int) VPNFailover { return r.vpnFailover(f, v, p, k, dwell) },
		func(m VPNFailover) error { return m.Err }, progress)
}

func (r *Roaming) vpnFailover(f *Failover, v *VPN, p *Probe, k int, dwell time.Duration) (m VPNFailover) {
	m.N = k
	mi, err := f.WaitMaster(10 * time.Second)
	if err != nil {
		m.Err = fmt.Errorf("no master: %w", err)
		return
	}
	o := 1 - mi
	m.From, m.To = f.Boxes[mi].Name, f.Boxes[o].Name
	var before []daemon.BindingRow
	if err := until(5*time.Second, func() bool {
		a, e1 := BoxBindings(f.Bin, f.Boxes[mi].Sock)
		b, e2 := BoxBindings(f.Bin, f.Boxes[o].Sock)
		before = a
		return e1 == nil && e2 == nil && len(a) == 1 && SameBindings(a, b)
	}); err != nil {
		m.Err = fmt.Errorf("the standby never held the master's binding: %w", err)
		return
	}
	m.Before = len(before)
	accepted := func(b *Box) int {
		n, err := boxAccepted(f.Bin, b.Sock)
		if err != nil {
			return -1
		}
		return n
	}
	acc0 := accepted(f.Boxes[o])
	at := p.Now()
	m.At = at
	f.Crash(mi)
	// Traffic resumed: a probe sent after the crash came back.
	if err := until(5*time.Second, func() bool { return p.Measure(at, p.Now()).Recovered }); err != nil {
		m.Err = fmt.Errorf("failover %d: traffic through the VPN did not resume: %w", k, err)
		return
	}
	time.Sleep(dwell)
	m.Probe = p.Measure(at, p.Now()-5*p.Interval)
	m.Gap = m.Probe.Gap
	after, err := BoxBindings(f.Bin, f.Boxes[o].Sock)
	if err != nil {
		m.Err = err
		return
	}
	m.After = len(after)
	if len(after) > 0 {
		m.NAT = after[0].Endpoint
	}
	if !SameBindings(before, after) {
		m.Lost = max(1, len(before)-len(after))
	}
	m.Registrations = accepted(f.Boxes[o]) - acc0
	sa, err := v.Client.SA()
	if err != nil {
		m.Err = fmt.Errorf("failover %d: %w", k, err)
		return
	}
	m.SA, m.SameSA = sa, sa.Same(v.SA)
	if !m.SameSA {
		m.Diff = sa.Diff(v.SA)
	}
	notes, _ := os.ReadFile(f.Boxes[o].Notify)
	m.NotifyMaster = strings.Contains(string(notes), "INSTANCE VI_MIP4D MASTER 100\n")
	if err := f.Restart(mi, o, 15*time.Second); err != nil {
		m.Err = fmt.Errorf("restarting %s: %w", f.Boxes[mi].Name, err)
	}
	return
}

// boxAccepted is the registrations a box's home agent engine accepted
// since it started (status ha.counters.accepted).
func boxAccepted(bin, sock string) (int, error) {
	var s struct {
		HA *struct {
			Counters struct {
				Accepted int `json:"accepted"`
			} `json:"counters"`
		} `json:"ha"`
	}
	out, err := exec.Command(bin, "status", "--json", "--socket", sock).Output()
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(out, &s); err != nil {
		return 0, err
	}
	if s.HA == nil {
		return 0, fmt.Errorf("%s: not a home agent", sock)
	}
	return s.HA.Counters.Accepted, nil
}
