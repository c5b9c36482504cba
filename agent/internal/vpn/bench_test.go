package vpn

import (
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
)

// Lab benchmarks of the unmodified VPN: the baselines of the acceptance
// lab. Like the scenario benchmarks they run once, whatever b.N, and
// report their figures as metrics.

func benchLab(b *testing.B, nat bool) *lab.Lab {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("SKIP: lab benchmarks build network namespaces and need root")
	}
	Require(b)
	dir, err := os.MkdirTemp("", "mip4d-bench-")
	must(b, err)
	l, err := lab.New(dir)
	must(b, err)
	b.Cleanup(func() { l.Close(); os.RemoveAll(dir) })
	buildLab(b, l, nat)
	return l
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkVPNSetup brings the VPN up and down 10 times and reports the
// median IKE setup (IKE_SA_INIT + IKE_AUTH with virtual IP and CHILD SA,
// from the client's log) and the median wall time of swanctl --initiate.
func BenchmarkVPNSetup(b *testing.B) {
	l := benchLab(b, false)
	_, cl, _ := startVPN(b, l, true, ClientConfig{})
	var walls []time.Duration
	for range 10 {
		must(b, cl.Terminate())
		wall, err := cl.Initiate(10 * time.Second)
		must(b, err)
		walls = append(walls, wall)
	}
	setups := Stats(cl.Log()).Setups
	b.ReportMetric(ms(percentile(setups, 0.5)), "ike_setup_ms")
	b.ReportMetric(ms(percentile(walls, 0.5)), "initiate_wall_ms")
}

// BenchmarkVPNMove moves the client's address 10 times (back and forth)
// under a UDP echo stream every 5 ms and reports the median and 95th
// percentile gap, and IKE SAs set up per move: with MOBIKE (the IKE SA
// follows) and without (charon reauthenticates: a new IKE SA per move).
func BenchmarkVPNMove(b *testing.B) {
	for _, mobike := range []bool{true, false} {
		b.Run(map[bool]string{true: "mobike", false: "reauth"}[mobike], func(b *testing.B) {
			l := benchLab(b, false)
			_, cl, first := startVPN(b, l, mobike, ClientConfig{})
			p := startProbe(b, l, probeInterval)
			if !p.waitEchoes(0, 20, 3*time.Second) {
				b.Fatal("no echoes through the VPN")
			}
			addrs := [2]netip.Addr{clAddr, clAddr2}
			var gaps []time.Duration
			const moves = 10
			var last SA
			for i := range moves {
				gap, _, after := roam(b, l, cl, p, mobike, addrs[i%2], addrs[(i+1)%2])
				gaps = append(gaps, gap)
				last = after
				time.Sleep(200 * time.Millisecond)
			}
			st := Stats(cl.Log())
			b.ReportMetric(ms(percentile(gaps, 0.5)), "gap_median_ms")
			b.ReportMetric(ms(percentile(gaps, 0.95)), "gap_p95_ms")
			b.ReportMetric(float64(st.IKEInitiated-1)/moves, "ike_setups/move")
			if mobike && !first.SameIKE(last) {
				b.Errorf("MOBIKE: IKE SA re-established over the moves: %s", first.Diff(last))
			}
		})
	}
}

// BenchmarkVPNThroughput measures TCP from the client to the intranet
// host: first plainly routed on the same path (no VPN), then through the
// VPN (libipsec, the client's virtual IP), in the same run.
func BenchmarkVPNThroughput(b *testing.B) {
	l := benchLab(b, false)
	must(b, l.Router("gw"))
	must(b, l.Route("cl", intranet.String(), "via", gwAddr.String()))
	plain, err := Throughput(l, "cl", "intra", intraHost, 4*time.Second)
	must(b, err)
	startVPN(b, l, true, ClientConfig{})
	vpn, err := Throughput(l, "cl", "intra", intraHost, 4*time.Second)
	must(b, err)
	b.ReportMetric(plain, "plain_Mbit/s")
	b.ReportMetric(vpn, "vpn_Mbit/s")
	b.ReportMetric(vpn/plain, "vpn/plain")
}
