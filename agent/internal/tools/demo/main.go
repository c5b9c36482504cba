// Command demo is `make demo`: it builds the roaming lab of DESIGN.md §3 in
// network namespaces, starts a mip4d home agent and mobile node in it, runs
// a UDP probe stream and a long-lived TCP connection from the mobile
// node's home address to a correspondent node, moves the mobile node
// between two NATed access networks, and prints what each handoff cost.
// It tears everything down when it ends, fails, or is interrupted.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/internal/scenario"
)

func main() {
	bin := flag.String("bin", "bin/mip4d", "the mip4d binary")
	moves := flag.Int("moves", 5, "number of handoffs")
	dwell := flag.Duration("dwell", 2*time.Second, "time on each access network")
	keep := flag.Bool("keep-logs", false, "keep the lab directory with the daemons' logs")
	flag.Parse()
	if err := run(*bin, *moves, *dwell, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
}

func run(bin string, moves int, dwell time.Duration, keep bool) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the lab builds network namespaces: run as root (sudo make demo)")
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("mip4d binary: %w (run make build)", err)
	}
	dir, err := os.MkdirTemp("", "mip4d-demo-")
	if err != nil {
		return err
	}
	l, err := lab.New(dir)
	if err != nil {
		return err
	}
	// Tear down on every way out, Ctrl-C included.
	cleanup := func() {
		l.Close()
		if !keep {
			os.RemoveAll(dir)
		}
	}
	defer cleanup()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			fmt.Fprintln(os.Stderr, "\ninterrupted: tearing the lab down")
			cleanup()
			os.Exit(130)
		}
	}()

	fmt.Println("mip4d roaming demo: mobile node behind two NATs, home agent on the Internet side")
	fmt.Println()
	fmt.Println("  [cn] 10.0.0.2 ── [ha] 198.51.100.1 (home network 10.10.0.0/16) ── [inet]")
	fmt.Println("                                                         ├── [nat1] ── hs1 192.168.1.0/24 ─┐")
	fmt.Println("                                                         └── [nat2] ── hs2 192.168.2.0/24 ─┴─ [mn] home address 10.10.0.5")
	fmt.Println()
	step := func(s string) { fmt.Printf("\r\033[K%s", s) }
	step("building the lab ...")
	r, err := scenario.Build(l, bin)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		return fmt.Errorf("%w\n\ndaemon logs:\n%s", err, r.Logs())
	}
	step("starting the home agent and the mobile node on hs1 ...")
	if err := r.MoveTo(1); err != nil {
		return err
	}
	if err := r.StartHA(); err != nil {
		return fail(err)
	}
	if err := r.StartMN(); err != nil {
		return fail(err)
	}
	st, err := r.WaitRegistered(scenario.CoAs[1], 10*time.Second)
	if err != nil {
		return fail(err)
	}
	b, _ := r.WaitBinding(scenario.CoAs[1], false, 5*time.Second)
	step(fmt.Sprintf("registered: home address %v, care-of %v, tunnel %s, the HA sees the NAT mapping %v\n",
		st.HomeAddr, st.CareOf, b.Tunnel, b.Endpoint))
	p, err := scenario.StartProbe(l, "mn", "cn", scenario.CN, 7007, 10*time.Millisecond)
	if err != nil {
		return fail(err)
	}
	defer p.Stop()
	s, err := scenario.StartStream(l, "mn", "cn", scenario.CN, 7008, 20*time.Millisecond)
	if err != nil {
		return fail(err)
	}
	defer s.Stop()
	fmt.Println("probes: UDP echo every 10 ms and a TCP connection, both from 10.10.0.5 to cn")
	fmt.Println()
	time.Sleep(500 * time.Millisecond)

	// Live progress line while the moves run.
	progressDone := make(chan struct{})
	var current string
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-progressDone:
				return
			case <-t.C:
				sent, echoed := p.Totals()
				step(fmt.Sprintf("%s | probes %d sent, %d echoed | TCP %d kB", current, sent, echoed, s.Received()/1000))
			}
		}
	}()
	var results []scenario.MoveResult
	for i := 1; i <= moves; i++ {
		current = fmt.Sprintf("move %d/%d: hs%d -> hs%d", i, moves, r.At, 3-r.At)
		res := r.Handoffs(p, 1, dwell, nil)
		res[0].N = i
		results = append(results, res[0])
		if res[0].Err != nil {
			break
		}
	}
	close(progressDone)
	time.Sleep(100 * time.Millisecond)
	step("\n")
	sent, echoed := p.Totals()
	tcpErr := s.Err()

	fmt.Println("move  path        care-of         NAT mapping at HA    binding after  gap     probes lost")
	fmt.Println("----  ----------  --------------  -------------------  -------------  ------  -----------")
	var gaps []time.Duration
	var failed error
	for _, m := range results {
		fmt.Printf("%4d  hs%d -> hs%d  %-14v  %-19v  %10d ms  %3d ms  %11d\n", m.N, m.From, m.To, m.CareOf, m.NAT,
			m.Elapsed.Milliseconds(), m.Gap.Milliseconds(), m.Lost)
		if m.Err != nil && failed == nil {
			failed = m.Err
		}
		gaps = append(gaps, m.Gap)
	}
	slices.Sort(gaps)
	fmt.Println()
	if len(gaps) > 0 {
		fmt.Printf("handoff gap: median %d ms, worst %d ms (goal: median ≤ 50 ms)\n",
			gaps[len(gaps)/2].Milliseconds(), gaps[len(gaps)-1].Milliseconds())
	}
	fmt.Printf("UDP probes: %d sent, %d echoed (%.2f%% lost overall)\n", sent, echoed, 100*float64(sent-echoed)/float64(max(sent, 1)))
	if tcpErr != nil {
		fmt.Printf("TCP connection: BROKEN: %v\n", tcpErr)
	} else {
		fmt.Printf("TCP connection: survived every move (%d kB exchanged)\n", s.Received()/1000)
	}
	if keep {
		fmt.Printf("logs: %s\n", strings.TrimSpace(dir))
	}
	if failed != nil {
		return fail(failed)
	}
	if tcpErr != nil {
		return fail(tcpErr)
	}
	return nil
}
