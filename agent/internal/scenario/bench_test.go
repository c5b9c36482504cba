package scenario

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/internal/vpn"
)

// Lab benchmarks: they run the real daemons in the namespace lab, once
// (whatever b.N), and report their figures as metrics, with the baselines
// measured in the same run. `make bench` prints them and writes them to
// bench-results.json.

func benchLab(b *testing.B) *Roaming {
	r, err := Build(newBenchLab(b), mip4d)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// newBenchLab is an empty namespace lab torn down with the benchmark
// (root only: the benchmark is skipped, visibly, otherwise).
func newBenchLab(b *testing.B) *lab.Lab {
	if os.Geteuid() != 0 {
		b.Skip("SKIP: lab benchmarks build network namespaces and need root")
	}
	dir, err := os.MkdirTemp("", "mip4d-bench-")
	if err != nil {
		b.Fatal(err)
	}
	l, err := lab.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close(); os.RemoveAll(dir) })
	return l
}

// reportGaps reports the median and 95th percentile of the handoff gaps,
// their names prefixed by prefix.
func reportGaps(b *testing.B, prefix string, gaps []time.Duration) {
	b.ReportMetric(float64(percentile(gaps, 0.5).Microseconds())/1000, prefix+"gap_median_ms")
	b.ReportMetric(float64(percentile(gaps, 0.95).Microseconds())/1000, prefix+"gap_p95_ms")
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// requireDataPlane fails the benchmark unless each named daemon runs the
// data plane mode: a figure must say what it measured.
func requireDataPlane(b *testing.B, r *Roaming, mode string, names ...string) {
	for _, name := range names {
		var st struct {
			DataPlane struct {
				Mode   string `json:"mode"`
				Reason string `json:"mode_reason"`
			} `json:"dataplane"`
		}
		if err := r.Control(name, "status", &st); err != nil {
			b.Fatal(err)
		}
		if st.DataPlane.Mode != mode {
			b.Fatalf("%s runs the %s data plane (%s), not %s", name, st.DataPlane.Mode, st.DataPlane.Reason, mode)
		}
	}
}

// BenchmarkHandoffGap moves the mobile node 20 times between the NATed
// access networks under a 100/s UDP echo stream and reports the median
// and 95th percentile gap (goal: median ≤ 50 ms), with the kernel (BPF)
// data plane on both ends and then with the userspace one, in one run.
func BenchmarkHandoffGap(b *testing.B) {
	r := benchLab(b)
	if err := r.MoveTo(1); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for _, mode := range []string{"bpf", "userspace"} {
		r.DataPlane = mode
		if err := r.StartHA(); err != nil {
			b.Fatal(err)
		}
		if err := r.StartMN(); err != nil {
			b.Fatal(err)
		}
		if _, err := r.WaitRegistered(CoAs[r.At], 10*time.Second); err != nil {
			b.Fatal(err)
		}
		requireDataPlane(b, r, mode, "ha", "mn")
		p, err := StartProbe(r.L, "mn", "cn", CN, 7007, 10*time.Millisecond)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		res := r.Handoffs(p, 20, 400*time.Millisecond, nil)
		p.Stop()
		var gaps []time.Duration
		lost := 0
		for _, m := range res {
			if m.Err != nil {
				b.Fatal(m.Err)
			}
			gaps = append(gaps, m.Gap)
			lost += m.Lost
		}
		reportGaps(b, mode+"_", gaps)
		b.ReportMetric(float64(lost)/float64(len(res)), mode+"_lost/move")
		if err := errors.Join(r.MN.Stop(2*time.Second), r.HA.Stop(2*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

// iperf runs an iperf3 client in ns against the server in cn and returns
// the receiver's bits per second and packets per second.
func iperf(b *testing.B, r *Roaming, ns string, args ...string) (bps, pps float64) {
	srv, err := r.L.Start("cn", "iperf3-server", "iperf3", "-s", "-1", "-p", "5201")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop(time.Second)
	time.Sleep(200 * time.Millisecond)
	out, err := r.L.Exec(ns, append([]string{"iperf3", "-c", CN.String(), "-p", "5201", "-J", "-t", "4"}, args...)...)
	if err != nil {
		b.Fatalf("iperf3: %v\n%s", err, out)
	}
	var res struct {
		End struct {
			SumReceived struct {
				BPS     float64 `json:"bits_per_second"`
				Packets float64 `json:"packets"`
				Lost    float64 `json:"lost_packets"`
				Seconds float64 `json:"seconds"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		b.Fatalf("iperf3 output: %v\n%s", err, out)
	}
	s := res.End.SumReceived
	if s.Packets > 0 { // UDP: what arrived, per second
		pps = (s.Packets - s.Lost) / max(s.Seconds, 1e-9)
	}
	return s.BPS, pps
}

// BenchmarkThroughput measures TCP throughput and the small-packet rate
// from the mobile node to cn, in one run on one topology: first through
// plain kernel routing on the same path (mn → nat1 → inet → ha → cn, no
// Mobile IP), then through mip4d's RFC 3519 tunnel with the userspace data
// plane, then with the kernel (BPF) data plane on both ends. It reports
// each and its ratio to kernel routing (goals: userspace TCP ≥ 0.5 and
// small packets ≥ 0.3; BPF TCP ≥ 0.9 and small packets ≥ 0.7).
func BenchmarkThroughput(b *testing.B) {
	r := benchLab(b)
	if err := r.MoveTo(1); err != nil {
		b.Fatal(err)
	}
	// Plain routing: inet learns the cn network behind ha.
	if err := r.L.Route("inet", "10.0.0.0/24", "via", HAAddr.String()); err != nil {
		b.Fatal(err)
	}
	baseTCP, _ := iperf(b, r, "mn")
	_, basePPS := iperf(b, r, "mn", "-u", "-b", "0", "-l", "64")
	b.ResetTimer()
	type leg struct{ tcp, pps float64 }
	legs := map[string]leg{}
	for _, mode := range []string{"userspace", "bpf"} {
		r.DataPlane = mode
		if err := r.StartHA(); err != nil {
			b.Fatal(err)
		}
		if err := r.StartMN(); err != nil {
			b.Fatal(err)
		}
		if _, err := r.WaitRegistered(CoAs[1], 10*time.Second); err != nil {
			b.Fatal(err)
		}
		requireDataPlane(b, r, mode, "ha", "mn")
		time.Sleep(200 * time.Millisecond)
		var l leg
		l.tcp, _ = iperf(b, r, "mn", "-B", HoA.String())
		_, l.pps = iperf(b, r, "mn", "-B", HoA.String(), "-u", "-b", "0", "-l", "64")
		legs[mode] = l
		if err := errors.Join(r.MN.Stop(2*time.Second), r.HA.Stop(2*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(baseTCP/1e6, "kernel_tcp_Mbit/s")
	b.ReportMetric(basePPS/1e3, "kernel_64B_kpps")
	for _, mode := range []string{"userspace", "bpf"} {
		l := legs[mode]
		b.ReportMetric(l.tcp/1e6, mode+"_tcp_Mbit/s")
		b.ReportMetric(l.tcp/baseTCP, mode+"_tcp_ratio")
		b.ReportMetric(l.pps/1e3, mode+"_64B_kpps")
		b.ReportMetric(l.pps/max(basePPS, 1), mode+"_small_pkt_ratio")
	}
	u, k := legs["userspace"], legs["bpf"]
	fmt.Fprintf(os.Stderr, "throughput: kernel routing %.0f Mbit/s; userspace %.0f Mbit/s (%.2f); bpf %.0f Mbit/s (%.2f)\n",
		baseTCP/1e6, u.tcp/1e6, u.tcp/baseTCP, k.tcp/1e6, k.tcp/baseTCP)
	fmt.Fprintf(os.Stderr, "64 B: kernel routing %.0f kpps; userspace %.0f kpps (%.2f); bpf %.0f kpps (%.2f)\n",
		basePPS/1e3, u.pps/1e3, u.pps/max(basePPS, 1), k.pps/1e3, k.pps/max(basePPS, 1))
}

func benchAcceptance(b *testing.B) *Roaming {
	if err := vpn.Available(); err != nil {
		b.Skipf("SKIP: strongSwan: %v", err)
	}
	r, err := BuildAcceptance(newBenchLab(b), mip4d)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.MoveTo(1); err != nil {
		b.Fatal(err)
	}
	return r
}

func startS1(b *testing.B, r *Roaming) *VPN {
	if err := r.StartHA(); err != nil {
		b.Fatal(err)
	}
	return startLaptop(b, r)
}

// startLaptop starts the mobile node on hs1, waits for its registration
// and brings its VPN up over the x-home address (S1), the home agent
// (or pair) already running.
func startLaptop(tb testing.TB, r *Roaming) *VPN {
	tb.Helper()
	if err := r.StartMN(); err != nil {
		tb.Fatal(err)
	}
	if _, err := r.WaitRegistered(CoAs[1], 10*time.Second); err != nil {
		tb.Fatal(err)
	}
	v, err := r.StartVPN(HoA, false)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// BenchmarkAcceptanceHandoff moves the laptop 20 times under a 100/s UDP
// echo stream through the VPN and reports the gap median and p95 and how
// many moves renegotiated IKE: S1 (mip4d, VPN over the x-home address),
// S3 (dual mode: outside, outside, inside, ...; the stream to the i-home
// address) and the baselines without mip4d (MOBIKE; re-establishment),
// each in its own lab in the same run.
func BenchmarkAcceptanceHandoff(b *testing.B) {
	for _, sc := range []string{"s1", "s2", "s3", "s5", "baseline-mobike", "baseline-reestablish"} {
		b.Run(sc, func(b *testing.B) {
			r := benchAcceptance(b)
			if sc == "s3" {
				benchS3(b, r)
				return
			}
			var v *VPN
			var err error
			switch {
			case sc == "s2" || sc == "s5":
				if err := r.AddFAs(); err != nil {
					b.Fatal(err)
				}
				if sc == "s5" {
					if err := r.L.IP("mn", "link", "set", MNUplink, "address", LaptopMAC); err != nil {
						b.Fatal(err)
					}
					v, err = r.StartS5()
				} else {
					v, err = r.StartS2()
				}
				if err != nil {
					b.Fatal(err)
				}
			case sc == "s1":
				v = startS1(b, r)
			default:
				if v, err = r.StartVPN(netip.Addr{}, sc == "baseline-mobike"); err != nil {
					b.Fatal(err)
				}
			}
			p, err := StartProbe(r.L, "mn", "cn", Corp, 7007, 10*time.Millisecond)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Stop()
			time.Sleep(300 * time.Millisecond)
			b.ResetTimer()
			var moves []VPNMove
			if sc == "s1" || sc == "s2" || sc == "s5" {
				moves = r.VPNHandoffs(v, p, 20, 400*time.Millisecond, true, nil)
			} else {
				moves = r.Baseline(v, p, 20, 400*time.Millisecond, sc == "baseline-mobike", nil)
			}
			b.StopTimer()
			var gaps []time.Duration
			renegotiated := 0
			for _, m := range moves {
				if m.Err != nil {
					b.Fatal(m.Err)
				}
				gaps = append(gaps, m.Gap)
				if !m.SameIKE {
					renegotiated++
				}
			}
			reportGaps(b, "", gaps)
			b.ReportMetric(float64(renegotiated), "ike_renegotiations")
		})
	}
}

// benchS3 is BenchmarkAcceptanceHandoff's S3: ike_renegotiations counts
// outside → outside moves that changed the VPN's SA (0 is the goal);
// vpn_restarts counts the returns from inside, where RFC 5265 brings a new
// VPN up by design.
func benchS3(b *testing.B, r *Roaming) {
	s3, err := r.StartS3()
	if err != nil {
		b.Fatal(err)
	}
	p, err := StartProbeFrom(r.L, "mn", IHoA, "cn", Corp, 7007, 10*time.Millisecond)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Stop()
	time.Sleep(300 * time.Millisecond)
	b.ResetTimer()
	moves := s3.Moves(p, 20, 400*time.Millisecond, nil)
	b.StopTimer()
	var gaps []time.Duration
	restarts := 0
	for _, m := range moves {
		if m.Err != nil {
			b.Fatal(m.Err) // includes an outside move that renegotiated
		}
		gaps = append(gaps, m.Gap)
		if m.From == 3 {
			restarts++
		}
	}
	reportGaps(b, "", gaps)
	b.ReportMetric(0, "ike_renegotiations")
	b.ReportMetric(float64(restarts), "vpn_restarts")
}

// BenchmarkVPNThroughput measures TCP throughput from the laptop's VPN
// address to the enterprise host: the VPN alone (client on the hotspot
// address, no mip4d), then the VPN inside mip4d's x-MIP tunnel, in two
// labs in the same run. Goal: the MIP layer costs less than 20%
// (vpn_in_mip_ratio ≥ 0.8).
func BenchmarkVPNThroughput(b *testing.B) {
	alone := benchAcceptance(b)
	if _, err := alone.StartVPN(netip.Addr{}, false); err != nil {
		b.Fatal(err)
	}
	base, err := vpn.Throughput(alone.L, "mn", "cn", Corp, 4*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	alone.L.Close()
	r := benchAcceptance(b)
	startS1(b, r)
	b.ResetTimer()
	both, err := vpn.Throughput(r.L, "mn", "cn", Corp, 4*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(base, "vpn_alone_Mbit/s")
	b.ReportMetric(both, "vpn_in_mip_Mbit/s")
	b.ReportMetric(both/base, "vpn_in_mip_ratio")
}
