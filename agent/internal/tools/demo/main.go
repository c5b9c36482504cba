// Command demo is `make demo`: it builds the labs of DESIGN.md §3 in
// network namespaces and shows, move by move, what a laptop roaming
// between two NATed hotspots keeps and loses:
//
//   - roaming: mip4d alone — home agent, mobile node, a UDP echo stream and
//     a TCP connection from the home address;
//   - s1: RFC 5265 x-MIP with a co-located care-of address — the laptop's
//     unmodified strongSwan VPN client runs over the x-home address mip4d
//     keeps stable, to an unmodified strongSwan gateway;
//   - openvpn, wireguard: s1 with an unmodified OpenVPN or WireGuard
//     instead of strongSwan (RFC 4093 §5.4: any vendor's VPN);
//   - s2: the same through mip4d foreign agents on the hotspots, themselves
//     behind the hotspots' NATs (RFC 3519 from the agent);
//   - s3: RFC 5265 in full (RFC 4093 §2.1) — an x-HA outside and an i-HA
//     inside; the laptop goes outside, outside, inside (the enterprise's
//     own hotspot, hs3), outside: the VPN only when outside, i-MIP through
//     it there and directly inside, a session to the i-home address kept;
//   - s4-dmz, s4-combined, s4-local: S4, the home agent in the DMZ beside
//     the VPN gateway (RFC 4093 §2.2), on one box with it (§2.3), combined
//     on the intranet's local link behind the firewall (§2.5);
//   - s5: proxy Mobile IP (RFC 5563) on the hotspots — the laptop runs only
//     busybox udhcpc and the strongSwan client, nothing of ours;
//   - baseline-mobike and baseline-reestablish: the same moves without
//     mip4d, the VPN client on the hotspot address with MOBIKE, or
//     re-establishing its SA.
//
// Each scenario's timeline (probes sent, echoed and lost over time, each
// handoff marked with its gap, the IKE SA and the VPN's state) is drawn in
// out/demo/<scenario>.svg and .png, and the gap per scenario beside the
// baselines in out/demo/summary.svg and .png (--out moves them, --out ""
// draws none).
//
// On a terminal a live line shows the probes; elsewhere (a CI log, a
// pipe, a file) one line per phase and per move. --quiet prints only the
// table and errors, --json one JSON object per move on stdout.
//
// Every lab is torn down when its scenario ends, fails, or is interrupted.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mip4d/mip4d/agent/internal/demoplot"
	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/internal/scenario"
	"github.com/mip4d/mip4d/agent/internal/vpn"
	"golang.org/x/sys/unix"
)

var all = []string{"roaming", "s1", "openvpn", "wireguard", "s2", "s3", "s4-dmz", "s4-combined", "s4-local", "s5", "failover", "failover-vpn", "baseline-mobike", "baseline-reestablish"}

func main() {
	bin := flag.String("bin", "bin/mip4d", "the mip4d binary")
	moves := flag.Int("moves", 5, "handoffs per scenario")
	dwell := flag.Duration("dwell", time.Second, "time on each hotspot")
	which := flag.String("scenario", "all", "scenarios to run, comma-separated: "+strings.Join(all, ", ")+", or all")
	keep := flag.Bool("keep-logs", false, "keep each lab's directory with the daemons' logs")
	quiet := flag.Bool("quiet", false, "print only the final table and errors")
	jsonOut := flag.Bool("json", false, "print the per-move table as JSON lines on stdout (one object per move); progress goes to stderr")
	outDir := flag.String("out", "out/demo", `where the pictures go: a timeline per scenario and the summary, as SVG and PNG ("" for none)`)
	flag.Parse()
	tty = isTerminal(os.Stdout)
	switch {
	case *quiet:
		out, tty = io.Discard, false
	case *jsonOut:
		out, tty = os.Stderr, isTerminal(os.Stderr)
	}
	asJSON = *jsonOut
	if os.Geteuid() != 0 {
		fail(fmt.Errorf("the labs build network namespaces: run as root (sudo make demo)"))
	}
	if _, err := os.Stat(*bin); err != nil {
		fail(fmt.Errorf("mip4d binary: %w (run make build)", err))
	}
	list := all
	if *which != "all" {
		list = strings.Split(*which, ",")
	}
	d := &demo{bin: *bin, moves: *moves, dwell: *dwell, keep: *keep}
	d.trapSignals()
	fmt.Fprintln(out, "mip4d demo: a laptop roams between two NATed hotspots")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "  [cn] ─ enterprise ─ [vpngw: strongSwan, unmodified] ─┐      (s3: [i-HA] in the enterprise, hs3 its own hotspot)")
	fmt.Fprintln(out, "                                                      [inet] ── [x-HA: mip4d ha, home network 10.10.0.0/16]")
	fmt.Fprintln(out, "                                       [nat1] ── hs1 ──┤")
	fmt.Fprintln(out, "                                       [nat2] ── hs2 ──┴── [laptop: mip4d mn, strongSwan client]")
	fmt.Fprintln(out)
	var rows []row
	var failed, pictures []string
	if *outDir != "" {
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			fail(fmt.Errorf("pictures: %w", err))
		}
	}
	for _, s := range list {
		s = strings.TrimSpace(s)
		d.probe, d.detail = nil, ""
		r, err := d.run(s)
		rows = append(rows, r...)
		if err != nil {
			fmt.Fprintf(os.Stderr, "\n%s failed: %v\n", s, err)
			failed = append(failed, s)
		}
		if *outDir != "" {
			path := filepath.Join(*outDir, s)
			if perr := demoplot.Timeline(path, d.timeline(s, r)); perr != nil {
				fmt.Fprintf(os.Stderr, "%s: timeline: %v\n", s, perr)
			} else {
				pictures = append(pictures, path)
			}
		}
	}
	if asJSON {
		printJSON(rows)
	} else {
		printTable(rows)
	}
	if *outDir != "" && len(rows) > 0 {
		path := filepath.Join(*outDir, "summary")
		if err := demoplot.Summary(path, summary(rows)); err != nil {
			fmt.Fprintf(os.Stderr, "summary: %v\n", err)
		} else {
			pictures = append(pictures, path)
		}
	}
	if len(pictures) > 0 {
		fmt.Fprintln(out)
		fmt.Fprintln(out, "pictures (each as .svg and .png):")
		for _, p := range pictures {
			fmt.Fprintf(out, "  %s.svg  %s.png\n", p, p)
		}
	}
	if len(failed) > 0 {
		fail(fmt.Errorf("scenarios failed: %s", strings.Join(failed, ", ")))
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
	os.Exit(1)
}

type demo struct {
	bin   string
	moves int
	dwell time.Duration
	keep  bool
	mu    sync.Mutex
	cur   *lab.Lab
	dir   string
	// The current scenario's probe stream (nil: it has none) and what its
	// picture says about the VPN before the moves.
	probe  *scenario.Probe
	detail string
}

// trapSignals tears the current lab down on Ctrl-C.
func (d *demo) trapSignals() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "\ninterrupted: tearing the lab down")
		d.mu.Lock()
		if d.cur != nil {
			d.cur.Close()
			if !d.keep {
				os.RemoveAll(d.dir)
			}
		}
		os.Exit(130)
	}()
}

// row is one line of the final table.
type row struct {
	scenario string
	scenario.MoveResult
	ike, spis string
	same      string
	// hop names what From and To number: "hs" (hotspots), "ha" (the
	// failover's home agent boxes).
	hop string
	// at is when the move began, on the probe stream's clock (the
	// failover's: when its round ended).
	at time.Duration
}

// path is "hs1 -> hs2" (or "ha1 -> ha2" for a failover).
func (r row) path() string {
	h := r.hop
	if h == "" {
		h = "hs"
	}
	return fmt.Sprintf("%s%d -> %s%d", h, r.From, h, r.To)
}

var (
	// out takes the human text: stdout, stderr with --json, nowhere with --quiet.
	out io.Writer = os.Stdout
	// tty is whether out is a terminal: only there the live \r line is drawn;
	// elsewhere (a CI log, a pipe, a file) one line per phase and per move.
	tty    bool
	asJSON bool
)

// isTerminal reports whether f is a terminal (TCGETS succeeds on it).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// status shows what is happening: on a terminal it redraws the live line,
// elsewhere it prints a line (and nothing for the empty string).
func status(s string) {
	if tty {
		fmt.Fprintf(out, "\r\033[K%s", s)
		return
	}
	if s = strings.TrimRight(s, "\n"); s != "" {
		fmt.Fprintln(out, s)
	}
}

// moved prints one line per move when there is no live line.
func moved(r row, total int) {
	if tty {
		return
	}
	fmt.Fprintf(out, "move %d/%d: %s, gap %d ms, %d lost%s\n", r.N, total, r.path(), r.Gap.Milliseconds(), r.Lost,
		strings.TrimRight(", "+r.same, ", "))
}

// run builds a lab, runs one scenario in it and tears it down.
func (d *demo) run(name string) (rows []row, err error) {
	dir, err := os.MkdirTemp("", "mip4d-demo-")
	if err != nil {
		return nil, err
	}
	l, err := lab.New(dir)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.cur, d.dir = l, dir
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		l.Close()
		if d.keep {
			fmt.Fprintf(out, "  logs of %s: %s\n", name, dir)
		} else {
			os.RemoveAll(dir)
		}
		d.cur = nil
		d.mu.Unlock()
	}()
	fmt.Fprintf(out, "== %s\n", title(name))
	status("building the lab ...")
	var r *scenario.Roaming
	switch {
	case name == "failover":
		return d.failover(l)
	case name == "failover-vpn":
		if verr := vpn.Available(); verr != nil {
			return nil, fmt.Errorf("strongSwan is needed for %s: %v (make deps installs it)", name, verr)
		}
		if _, lerr := exec.LookPath("keepalived"); lerr != nil {
			return nil, fmt.Errorf("keepalived is needed for %s: %v (make deps installs it)", name, lerr)
		}
		if r, err = scenario.BuildRedundantAcceptance(l, d.bin); err != nil {
			return nil, err
		}
		return d.failoverVPN(r)
	case name == "roaming":
		r, err = scenario.Build(l, d.bin)
	case name == "s2" || name == "s5":
		if verr := vpn.Available(); verr != nil {
			return nil, fmt.Errorf("strongSwan is needed for %s: %v (make deps installs it)", name, verr)
		}
		if name == "s2" {
			r, err = scenario.BuildS2(l, d.bin)
		} else {
			r, err = scenario.BuildS5(l, d.bin)
		}
	case strings.HasPrefix(name, "s4-"):
		if verr := vpn.Available(); verr != nil {
			return nil, fmt.Errorf("strongSwan is needed for %s: %v (make deps installs it)", name, verr)
		}
		var s4 *scenario.S4
		switch name {
		case "s4-dmz":
			s4, err = scenario.BuildS4DMZ(l, d.bin)
		case "s4-combined":
			s4, err = scenario.BuildS4Combined(l, d.bin, scenario.VPNGW)
		case "s4-local":
			s4, err = scenario.BuildS4LocalLink(l, d.bin)
		default:
			return nil, fmt.Errorf("unknown scenario %q", name)
		}
		if err != nil {
			return nil, err
		}
		return d.s4(s4, name)
	case name == "openvpn" || name == "wireguard":
		if verr := vpn.KindAvailable(vpn.Kind(name)); verr != nil {
			return nil, fmt.Errorf("%s is needed for %s: %v (make deps installs it)", name, name, verr)
		}
		r, err = scenario.BuildAcceptance(l, d.bin)
	default:
		if verr := vpn.Available(); verr != nil {
			return nil, fmt.Errorf("strongSwan is needed for %s: %v (make deps installs it)", name, verr)
		}
		r, err = scenario.BuildAcceptance(l, d.bin)
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n\ndaemon logs:\n%s", err, r.Logs())
		}
	}()
	if err = r.MoveTo(1); err != nil {
		return nil, err
	}
	if name == "s3" {
		return d.s3(r)
	}
	if name == "openvpn" || name == "wireguard" {
		return d.tunnel(r, name, vpn.Kind(name))
	}
	target, port := scenario.CN, uint16(7007)
	var v *scenario.VPN
	mip := name == "roaming" || name == "s1" || name == "s2" || name == "s5"
	if name == "s5" {
		status("starting the home agent and the proxies on hs1 and hs2; the laptop runs udhcpc and its VPN client ...")
		if v, err = r.StartS5(); err != nil {
			return nil, err
		}
		b, _ := r.WaitBinding(scenario.FACoAs[1], false, 5*time.Second)
		status(fmt.Sprintf("the laptop got %v by DHCP from proxy 1, which registered it (care-of %v, NAT mapping %v); VPN up from it: IKE SA #%d (%s_i %s_r)\n",
			scenario.HoA, scenario.FACoAs[1], b.Endpoint, v.SA.UniqueID, v.SA.InitiatorSPI, v.SA.ResponderSPI))
	} else if name == "s2" {
		status("starting the foreign agents on hs1 and hs2, the home agent, the mobile node (fa mode) and the VPN ...")
		if v, err = r.StartS2(); err != nil {
			return nil, err
		}
		b, _ := r.WaitBinding(scenario.FACoAs[1], false, 5*time.Second)
		status(fmt.Sprintf("registered through fa1: care-of %v (the agent's), the HA sees the agent's NAT mapping %v; VPN up from %v: IKE SA #%d (%s_i %s_r)\n",
			scenario.FACoAs[1], b.Endpoint, v.SA.LocalHost, v.SA.UniqueID, v.SA.InitiatorSPI, v.SA.ResponderSPI))
	} else if mip {
		status("starting the home agent and the mobile node on hs1 ...")
		if err = r.StartHA(); err != nil {
			return nil, err
		}
		if err = r.StartMN(); err != nil {
			return nil, err
		}
		st, werr := r.WaitRegistered(scenario.CoAs[1], 10*time.Second)
		if werr != nil {
			return nil, werr
		}
		b, _ := r.WaitBinding(scenario.CoAs[1], false, 5*time.Second)
		status(fmt.Sprintf("registered: home address %v, care-of %v, tunnel %s; the HA sees the NAT mapping %v\n",
			st.HomeAddr, st.CareOf, b.Tunnel, b.Endpoint))
	}
	if name != "roaming" {
		target = scenario.Corp
	}
	if name != "roaming" && name != "s2" && name != "s5" {
		status("bringing the VPN up ...")
		local := netip.Addr{}
		if mip {
			local = scenario.HoA
		}
		if v, err = r.StartVPN(local, name == "baseline-mobike"); err != nil {
			return nil, err
		}
		status(fmt.Sprintf("VPN up from %v: IKE SA #%d (%s_i %s_r), virtual IP %v\n", v.SA.LocalHost, v.SA.UniqueID,
			v.SA.InitiatorSPI, v.SA.ResponderSPI, v.VIP))
	}
	p, err := scenario.StartProbe(l, "mn", "cn", target, port, 10*time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	d.probe = p
	if v != nil {
		d.detail = fmt.Sprintf("VPN up from %v before the moves: IKE SA #%d (%s_i %s_r)", v.SA.LocalHost, v.SA.UniqueID,
			short(v.SA.InitiatorSPI), short(v.SA.ResponderSPI))
	} else {
		d.detail = fmt.Sprintf("no VPN: UDP echo every 10 ms from the home address to %v", target)
	}
	s, err := scenario.StartStream(l, "mn", "cn", target, port+1, 20*time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	fmt.Fprintf(out, "probes: UDP echo every 10 ms and a TCP connection to %v\n", target)
	time.Sleep(500 * time.Millisecond)

	var current string
	var mu sync.Mutex
	stop := live(p, s, func() string { mu.Lock(); defer mu.Unlock(); return current })
	for i := 1; i <= d.moves && err == nil; i++ {
		mu.Lock()
		current = fmt.Sprintf("move %d/%d: hs%d -> hs%d", i, d.moves, r.At, 3-r.At)
		mu.Unlock()
		var rw row
		at := p.Now()
		switch {
		case v == nil:
			m := r.Handoffs(p, 1, d.dwell, nil)[0]
			rw = row{MoveResult: m}
		case mip:
			m := r.VPNHandoffs(v, p, 1, d.dwell, true, nil)[0]
			rw = vpnRow(m)
		default:
			m := r.Baseline(v, p, 1, d.dwell, name == "baseline-mobike", nil)[0]
			rw = vpnRow(m)
		}
		rw.N, rw.scenario, rw.at = i, name, at
		rows = append(rows, rw)
		moved(rw, d.moves)
		err = rw.Err
	}
	stop()
	if terr := account(name, "TCP connection", p, s, "move"); err == nil && mip {
		err = terr
	}
	fmt.Fprintln(out)
	return rows, err
}

// tunnel runs S1 with an unmodified VPN of kind (RFC 4093 §5.4: any
// vendor's VPN) over the x-home address mip4d keeps stable.
func (d *demo) tunnel(r *scenario.Roaming, name string, kind vpn.Kind) (rows []row, err error) {
	status(fmt.Sprintf("starting the home agent and the mobile node on hs1, then %s over the x-home address ...", kind))
	t, err := r.StartS1Tunnel(kind)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	status(fmt.Sprintf("%s up from %v: session %s\n", kind, scenario.HoA, t.First().Short))
	p, err := scenario.StartProbe(r.L, "mn", "cn", scenario.Corp, 7007, 10*time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	d.probe = p
	d.detail = fmt.Sprintf("%s up from the x-home address %v before the moves: session %s", kind, scenario.HoA, t.First().Short)
	s, err := scenario.StartStream(r.L, "mn", "cn", scenario.Corp, 7008, 20*time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	fmt.Fprintf(out, "probes: UDP echo every 10 ms and a TCP connection to %v through %s\n", scenario.Corp, kind)
	time.Sleep(500 * time.Millisecond)
	var current string
	var mu sync.Mutex
	stop := live(p, s, func() string { mu.Lock(); defer mu.Unlock(); return current })
	for i := 1; i <= d.moves && err == nil; i++ {
		mu.Lock()
		current = fmt.Sprintf("move %d/%d: hs%d -> hs%d", i, d.moves, r.At, 3-r.At)
		mu.Unlock()
		at := p.Now()
		m := r.TunnelHandoffs(t, p, 1, d.dwell, nil)[0]
		rw := row{scenario: name, MoveResult: m.MoveResult, ike: m.Session.Short, same: "same session", at: at}
		if !m.Same {
			rw.same = "CHANGED: " + m.Diff
		}
		rw.N = i
		rows = append(rows, rw)
		moved(rw, d.moves)
		err = rw.Err
		if err == nil && !m.Same {
			err = fmt.Errorf("move %d: the %s session changed: %s", i, kind, m.Diff)
		}
	}
	stop()
	if terr := account(name, "TCP connection", p, s, "move"); err == nil {
		err = terr
	}
	fmt.Fprintln(out)
	return rows, err
}

// s4 runs one deployment of S4 (RFC 4093 §2.2, §2.3, §2.5): the home
// agent beside or on the VPN gateway, the VPN over the home address.
func (d *demo) s4(s4 *scenario.S4, name string) (rows []row, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n\ndaemon logs:\n%s", err, s4.Logs())
		}
	}()
	if err = s4.MoveTo(1); err != nil {
		return nil, err
	}
	status("starting the home agent and the mobile node on hs1 ...")
	if err = s4.Start(); err != nil {
		return nil, err
	}
	if _, err = s4.WaitRegistered(scenario.CoAs[1], 10*time.Second); err != nil {
		return nil, err
	}
	status("bringing the VPN up over the home address ...")
	v, err := s4.StartVPN()
	if err != nil {
		return nil, err
	}
	status(fmt.Sprintf("VPN up from %v: IKE SA #%d (%s_i %s_r), virtual IP %v\n", v.SA.LocalHost, v.SA.UniqueID,
		v.SA.InitiatorSPI, v.SA.ResponderSPI, v.VIP))
	p, err := scenario.StartProbe(s4.L, "mn", "cn", scenario.Corp, 7007, 10*time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	d.probe = p
	d.detail = fmt.Sprintf("VPN up from %v before the moves: IKE SA #%d (%s_i %s_r)", v.SA.LocalHost, v.SA.UniqueID,
		short(v.SA.InitiatorSPI), short(v.SA.ResponderSPI))
	s, err := scenario.StartStream(s4.L, "mn", "cn", scenario.Corp, 7008, 20*time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	fmt.Fprintf(out, "probes: UDP echo every 10 ms and a TCP connection to %v\n", scenario.Corp)
	time.Sleep(500 * time.Millisecond)
	var current string
	var mu sync.Mutex
	stop := live(p, s, func() string { mu.Lock(); defer mu.Unlock(); return current })
	for i := 1; i <= d.moves && err == nil; i++ {
		mu.Lock()
		current = fmt.Sprintf("move %d/%d: hs%d -> hs%d", i, d.moves, s4.At, 3-s4.At)
		mu.Unlock()
		at := p.Now()
		rw := vpnRow(s4.VPNHandoffs(v, p, 1, d.dwell, true, nil)[0])
		rw.N, rw.scenario, rw.at = i, name, at
		rows = append(rows, rw)
		moved(rw, d.moves)
		err = rw.Err
	}
	stop()
	if terr := account(name, "TCP connection", p, s, "move"); err == nil {
		err = terr
	}
	fmt.Fprintln(out)
	return rows, err
}

// s3 runs the principal scenario: the tour outside → outside → inside →
// outside, probes addressed to the i-home address.
func (d *demo) s3(r *scenario.Roaming) ([]row, error) {
	status("starting the x-HA, the i-HA, the VPN gateway and the mobile node (dual mode) on hs1 ...")
	s3, err := r.StartS3()
	if err != nil {
		return nil, err
	}
	status(fmt.Sprintf("outside on hs1: VPN over the x-home address %v, IKE SA #%d (%s_i %s_r); i-MIP through it, i-home address %v\n",
		scenario.HoA, s3.SA.UniqueID, s3.SA.InitiatorSPI, s3.SA.ResponderSPI, scenario.IHoA))
	p, err := scenario.StartProbeFrom(r.L, "mn", scenario.IHoA, "cn", scenario.Corp, 7007, 10*time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	d.probe = p
	d.detail = fmt.Sprintf("outside on hs1: VPN over the x-home address %v, IKE SA #%d (%s_i %s_r); probes from the i-home address %v",
		scenario.HoA, s3.SA.UniqueID, short(s3.SA.InitiatorSPI), short(s3.SA.ResponderSPI), scenario.IHoA)
	s, err := scenario.StartStreamFrom(r.L, "mn", scenario.IHoA, "cn", scenario.Corp, 7008, 20*time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	fmt.Fprintf(out, "probes: UDP echo every 10 ms and a TCP connection from the i-home address to %v\n", scenario.Corp)
	time.Sleep(500 * time.Millisecond)
	var rows []row
	var mu sync.Mutex
	var current string
	stop := live(p, s, func() string { mu.Lock(); defer mu.Unlock(); return current })
	defer stop()
	moves := max(d.moves, 3)
	for i := 1; i <= moves; i++ {
		where := map[int]string{1: "hs1, outside", 2: "hs2, outside", 3: "hs3, inside"}[scenario.S3Path(i)]
		mu.Lock()
		current = fmt.Sprintf("move %d/%d: hs%d -> %s", i, moves, r.At, where)
		mu.Unlock()
		at := p.Now()
		m := s3.Move(p, i, scenario.S3Path(i), d.dwell)
		rw := row{scenario: "s3", MoveResult: m.MoveResult, same: m.VPN, at: at}
		if m.SA.UniqueID != 0 {
			rw.ike = fmt.Sprintf("#%d", m.SA.UniqueID)
			rw.spis = short(m.SA.InitiatorSPI) + "/" + short(m.SA.ResponderSPI)
		}
		rw.N = i
		rows = append(rows, rw)
		moved(rw, moves)
		if m.Err != nil {
			return rows, m.Err
		}
	}
	stop()
	if terr := account("s3", "TCP connection from the i-home address", p, s, "move"); terr != nil {
		err = terr
	}
	fmt.Fprintln(out, "    (outside -> outside keeps the VPN's SA; inside there is no VPN; coming back out brings a new one up, by design)")
	fmt.Fprintln(out)
	return rows, err
}

// account prints what a scenario's probes and its TCP connection (conn)
// went through, every the name of its events, and returns the
// connection's error if it broke.
func account(name, conn string, p *scenario.Probe, s *scenario.Stream, every string) error {
	sent, echoed := p.Totals()
	tcp := "survived every " + every
	terr := s.Err()
	if terr != nil {
		tcp = "BROKEN: " + terr.Error()
	}
	fmt.Fprintf(out, "%s: UDP probes %d sent, %d echoed; %s %s\n", name, sent, echoed, conn, tcp)
	return terr
}

// live keeps the progress line up to date every 100 ms (what is
// happening, the probes, the TCP connection) until the returned stop is
// called; stop is idempotent and clears the line.
func live(p *scenario.Probe, s *scenario.Stream, what func() string) (stop func()) {
	if !tty {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sent, echoed := p.Totals()
				status(fmt.Sprintf("%s | probes %d sent, %d echoed | TCP %d kB", what(), sent, echoed, s.Received()/1000))
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
			status("")
		})
	}
}

func vpnRow(m scenario.VPNMove) row {
	same := "same SA"
	switch {
	case m.SameSA:
	case m.SameIKE:
		same = "same IKE, CHILD rekeyed"
	default:
		same = "NEW IKE SA"
	}
	return row{MoveResult: m.MoveResult, ike: fmt.Sprintf("#%d", m.SA.UniqueID),
		spis: short(m.SA.InitiatorSPI) + "/" + short(m.SA.ResponderSPI), same: same}
}

func short(spi string) string {
	if len(spi) > 8 {
		return spi[:8]
	}
	return spi
}

func title(name string) string {
	switch name {
	case "roaming":
		return "roaming: mip4d alone (home agent and mobile node, RFC 3519 through the NATs)"
	case "s1":
		return "S1: x-MIP with a co-located care-of address, the VPN over the x-home address (RFC 5265)"
	case "s2":
		return "S2: through mip4d foreign agents on the hotspots, behind their NATs; the VPN over the home address (RFC 4093 §4.2)"
	case "s5":
		return "S5: proxy Mobile IP on the hotspots (RFC 5563); the laptop has only its DHCP client and its VPN client"
	case "s3":
		return "S3: x-HA outside, i-HA inside; the laptop goes outside, outside, inside, outside (RFC 5265, RFC 4093 §2.1)"
	case "openvpn", "wireguard":
		return "S1 with " + name + ", unmodified: x-MIP, the VPN over the x-home address (RFC 5265, RFC 4093 §2.4, §5.4)"
	case "s4-dmz":
		return "S4: the home agent in the DMZ beside the VPN gateway, the VPN over the home address (RFC 4093 §2.2)"
	case "s4-combined":
		return "S4: the home agent and the VPN gateway on one box (RFC 4093 §2.3)"
	case "s4-local":
		return "S4: the combined VPN gateway and home agent on the intranet's local link behind the firewall (RFC 4093 §2.5)"
	case "failover":
		return "failover: two home agents on keepalived (VRRP), bindings replicated; the master box crashes (SIGKILL, link down) each move; lost = bindings lost"
	case "failover-vpn":
		return "failover under the VPN: S1 with a keepalived pair as x-HA, the master crashed each move"
	case "baseline-mobike":
		return "baseline: no mip4d, the VPN client on the hotspot address with MOBIKE"
	case "baseline-reestablish":
		return "baseline: no mip4d, the VPN client re-establishing after each move"
	}
	return name
}

func printTable(rows []row) {
	if len(rows) == 0 {
		return
	}
	fmt.Println("scenario              RFC 4093       move  path        care-of        NAT mapping at HA    gap ms  lost  session         SPIs (i/r)         VPN")
	fmt.Println("--------------------  -------------  ----  ----------  -------------  -------------------  ------  ----  --------------  -----------------  -----------------------")
	gaps := map[string][]time.Duration{}
	var order []string
	for _, r := range rows {
		nat := "-"
		if r.NAT.IsValid() {
			nat = r.NAT.String()
		}
		fmt.Printf("%-20s  %-13s  %4d  %-10s  %-13v  %-19s  %6d  %4d  %-14s  %-17s  %s\n", r.scenario, dash(rfc4093[r.scenario]), r.N, r.path(), r.CareOf, nat,
			r.Gap.Milliseconds(), r.Lost, dash(r.ike), dash(r.spis), dash(r.same))
		if _, ok := gaps[r.scenario]; !ok {
			order = append(order, r.scenario)
		}
		gaps[r.scenario] = append(gaps[r.scenario], r.Gap)
	}
	fmt.Println()
	for _, s := range order {
		g := slices.Clone(gaps[s])
		slices.Sort(g)
		fmt.Printf("%-20s  handoff gap median %4d ms, worst %4d ms\n", s, g[len(g)/2].Milliseconds(), g[len(g)-1].Milliseconds())
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// rfc4093 is the RFC 4093 section (§2.1–§2.5) each scenario shows; the
// baselines compare against S1's §2.4 setting without mip4d.
var rfc4093 = map[string]string{
	"roaming":              "—",
	"s1":                   "§2.4",
	"openvpn":              "§2.4",
	"wireguard":            "§2.4",
	"s2":                   "§2.4",
	"s3":                   "§2.1",
	"s4-dmz":               "§2.2",
	"s4-combined":          "§2.3",
	"s4-local":             "§2.5",
	"s5":                   "§2.4",
	"failover":             "—",
	"failover-vpn":         "§2.4",
	"baseline-mobike":      "§2.4 (no MIP)",
	"baseline-reestablish": "§2.4 (no MIP)",
}

// moveJSON is one move of --json output.
type moveJSON struct {
	Scenario string `json:"scenario"`
	RFC4093  string `json:"rfc4093"`
	Move     int    `json:"move"`
	From     int    `json:"from"`
	To       int    `json:"to"`
	CareOf   string `json:"care_of,omitempty"`
	NAT      string `json:"nat,omitempty"`
	GapMS    int64  `json:"gap_ms"`
	Lost     int    `json:"lost"`
	Session  string `json:"session,omitempty"`
	SPIs     string `json:"spis,omitempty"`
	Same     string `json:"same,omitempty"`
	Err      string `json:"error,omitempty"`
}

// printJSON writes one JSON object per move on stdout.
func printJSON(rows []row) {
	enc := json.NewEncoder(os.Stdout)
	for _, r := range rows {
		m := moveJSON{Scenario: r.scenario, RFC4093: rfc4093[r.scenario], Move: r.N, From: r.From, To: r.To,
			GapMS: r.Gap.Milliseconds(), Lost: r.Lost, Session: r.ike, SPIs: r.spis, Same: r.same}
		if r.CareOf.IsValid() {
			m.CareOf = r.CareOf.String()
		}
		if r.NAT.IsValid() {
			m.NAT = r.NAT.String()
		}
		if r.Err != nil {
			m.Err = r.Err.Error()
		}
		enc.Encode(m)
	}
}

// failoverNodes is how many mobile nodes the failover scenario registers.
const failoverNodes = 50

// failover crashes the master of a redundant home agent pair once per
// move (issue 10): the gap is from the crash until the other box, told
// MASTER by keepalived, accepts a registration at the virtual address;
// every binding must survive and a registration replayed to the new
// master must be refused with 133 (RFC 5944 §5.7).
func (d *demo) failover(l *lab.Lab) (rows []row, err error) {
	if _, lerr := exec.LookPath("keepalived"); lerr != nil {
		return nil, fmt.Errorf("keepalived is needed for failover: %v (make deps installs it)", lerr)
	}
	status(fmt.Sprintf("starting two home agents with keepalived and %d mobile nodes registered ...", failoverNodes))
	f, err := scenario.StartFailover(l, d.bin, failoverNodes)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "home agent address %v on the master; bindings replicated to the backup\n", scenario.FailoverVIP)
	d.detail = fmt.Sprintf("no probe stream: the gap is from the crash until the other box accepts a registration; a mark where each round ended; lost = bindings lost of %d", failoverNodes)
	start := time.Now()
	var ends []time.Duration
	for i, m := range f.FailoverMoves(d.moves, func(scenario.MoveResult) { ends = append(ends, time.Since(start)) }) {
		rw := row{scenario: "failover", MoveResult: m, hop: "ha", same: fmt.Sprintf("%d/%d bindings kept, replay refused (133)", failoverNodes-m.Lost, failoverNodes)}
		if i < len(ends) {
			rw.at = ends[i]
		}
		if m.Err != nil {
			rw.same = "FAILED: " + m.Err.Error()
		}
		rows = append(rows, rw)
		moved(rw, d.moves)
		if m.Err != nil {
			return rows, m.Err
		}
		if m.Lost > 0 {
			return rows, fmt.Errorf("failover %d: %d bindings lost", m.N, m.Lost)
		}
	}
	return rows, nil
}

// failoverVPN is S1 with a redundant x-HA (issue 10): the laptop
// registers once and brings strongSwan up over the x-home address; each
// move crashes the master box (keepalived and mip4d SIGKILLed, its link
// down) while the probes and a TCP connection run through the VPN. The
// gap is the probes' silence until the new master carries them; the
// binding must be kept, the laptop must not re-register and the IKE and
// CHILD SA must stay the same.
func (d *demo) failoverVPN(r *scenario.Roaming) (rows []row, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n\ndaemon logs:\n%s", err, r.Logs())
		}
	}()
	if err = r.MoveTo(1); err != nil {
		return nil, err
	}
	status("starting the home agent pair (mip4d and keepalived on ha and ha2) and the mobile node on hs1 ...")
	f, err := r.StartHAPair()
	if err != nil {
		return nil, err
	}
	if err = r.StartMN(); err != nil {
		return nil, err
	}
	if _, err = r.WaitRegistered(scenario.CoAs[1], 10*time.Second); err != nil {
		return nil, err
	}
	status("registered once; bringing the VPN up over the x-home address ...")
	v, err := r.StartVPN(scenario.HoA, false)
	if err != nil {
		return nil, err
	}
	status(fmt.Sprintf("VPN up from %v: IKE SA #%d (%s_i %s_r); home agent address %v on the master, the binding replicated to the backup\n",
		v.SA.LocalHost, v.SA.UniqueID, v.SA.InitiatorSPI, v.SA.ResponderSPI, scenario.HAAddr))
	p, err := scenario.StartProbe(r.L, "mn", "cn", scenario.Corp, 7007, 10*time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	d.probe = p
	d.detail = fmt.Sprintf("VPN up from %v before the crashes: IKE SA #%d (%s_i %s_r); a mark at each crash of the master", v.SA.LocalHost,
		v.SA.UniqueID, short(v.SA.InitiatorSPI), short(v.SA.ResponderSPI))
	s, err := scenario.StartStream(r.L, "mn", "cn", scenario.Corp, 7008, 20*time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	fmt.Fprintf(out, "probes: UDP echo every 10 ms and a TCP connection to %v through the VPN\n", scenario.Corp)
	time.Sleep(500 * time.Millisecond)
	box := func(name string) int {
		if name == "ha2" {
			return 2
		}
		return 1
	}
	current := fmt.Sprintf("crash 1/%d of the master", d.moves)
	var mu sync.Mutex
	stop := live(p, s, func() string { mu.Lock(); defer mu.Unlock(); return current })
	for _, m := range r.VPNFailovers(f, v, p, d.moves, d.dwell, func(m scenario.VPNFailover) {
		mu.Lock()
		current = fmt.Sprintf("crash %d/%d of the master", m.N+1, d.moves)
		mu.Unlock()
	}) {
		rw := row{scenario: "failover-vpn", hop: "ha", at: m.At, ike: fmt.Sprintf("#%d", m.SA.UniqueID),
			spis: short(m.SA.InitiatorSPI) + "/" + short(m.SA.ResponderSPI),
			MoveResult: scenario.MoveResult{N: m.N, From: box(m.From), To: box(m.To), CareOf: scenario.CoAs[1],
				NAT: m.NAT, Gap: m.Probe.Gap, Lost: m.Probe.Lost, Err: m.Err}}
		switch {
		case m.Err != nil:
			rw.same = "FAILED: " + m.Err.Error()
		case !m.SameSA:
			rw.same = "CHANGED: " + m.Diff
			rw.Err = fmt.Errorf("failover %d renegotiated the VPN: %s", m.N, m.Diff)
		case m.Lost > 0 || m.Registrations != 0:
			rw.same = fmt.Sprintf("binding lost %d, laptop re-registered %d", m.Lost, m.Registrations)
			rw.Err = fmt.Errorf("failover %d: %s", m.N, rw.same)
		default:
			rw.same = "same SA, no re-registration"
		}
		rows = append(rows, rw)
		moved(rw, d.moves)
		if err == nil {
			err = rw.Err
		}
	}
	stop()
	if terr := account("failover-vpn", "TCP connection", p, s, "crash"); err == nil {
		err = terr
	}
	fmt.Fprintln(out)
	if st := vpn.Stats(v.Client.Log()); err == nil && (st.IKEInitiated != 1 || st.IKERekeyed != 0 || st.Reauth != 0) {
		err = fmt.Errorf("IKE activity during the failovers: %+v", st)
	}
	return rows, err
}

// timeline is the picture of one scenario: its probe stream, if it had
// one, and a mark per move.
func (d *demo) timeline(name string, rows []row) demoplot.TimelineData {
	t := demoplot.TimelineData{Title: title(name), Detail: d.detail}
	if sec := rfc4093[name]; sec != "" && sec != "—" && !strings.Contains(t.Title, sec) {
		t.Title += " — RFC 4093 " + sec
	}
	if d.probe != nil {
		for _, pt := range d.probe.Timeline() {
			t.Probes = append(t.Probes, demoplot.Probe{Seq: pt.Seq, Sent: pt.Sent, Echo: pt.Echo})
		}
	}
	for _, r := range rows {
		t.Marks = append(t.Marks, demoplot.Mark{N: r.N, At: r.at, Gap: r.Gap, Lost: r.Lost, SA: r.ike, VPN: r.same})
	}
	return t
}

// summary is the gap per scenario, median and worst, in the table's order;
// the baselines are the same moves without mip4d.
func summary(rows []row) []demoplot.Bar {
	gaps := map[string][]time.Duration{}
	var order []string
	for _, r := range rows {
		if _, ok := gaps[r.scenario]; !ok {
			order = append(order, r.scenario)
		}
		gaps[r.scenario] = append(gaps[r.scenario], r.Gap)
	}
	var bars []demoplot.Bar
	for _, s := range order {
		g := slices.Clone(gaps[s])
		slices.Sort(g)
		bars = append(bars, demoplot.Bar{Scenario: s, Median: g[len(g)/2], Worst: g[len(g)-1], Baseline: strings.HasPrefix(s, "baseline-")})
	}
	return bars
}
