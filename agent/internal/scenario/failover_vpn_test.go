package scenario

import (
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/vpn"
)

// TestFailoverVPN is issue 10's failover proof with the real traffic: the
// acceptance lab with a keepalived pair as x-HA; the laptop registers
// once from behind hotspot 1's NAT, brings its unmodified strongSwan VPN
// up over the x-home address and runs a UDP probe (10 ms) and a TCP
// connection to the enterprise host. The master box is crashed ten times,
// alternating. Each time: traffic through the VPN resumes via the new
// master (the gap, goal 1 s, bound 2 s), the probes lost are those sent
// in the gap, the new master held the old one's binding (with its RFC 3519 NAT
// mapping) and accepted no registration from the laptop, the IKE and
// CHILD SA are those the VPN started with, and at the end the TCP
// connection is alive and the client saw no IKE exchange but the first.
func TestFailoverVPN(t *testing.T) {
	vpn.Require(t)
	r := labRoaming(t, BuildRedundantAcceptance)
	must(t, r.MoveTo(1))
	f, err := r.StartHAPair()
	must(t, err)
	v := startLaptop(t, r)
	t.Logf("VPN up: virtual IP %v, %v", v.VIP, v.SA)
	p, s, stop := corpTraffic(t, r)
	defer stop()
	const n = 10
	var gaps []time.Duration
	res := r.VPNFailovers(f, v, p, n, 500*time.Millisecond, func(m VPNFailover) {
		t.Logf("failover %2d %s -> %s: traffic gap %4d ms, probes lost %2d, bindings %d -> %d (lost %d), "+
			"laptop registrations %d, IKE SA #%d (same: %v), notify MASTER %v, err %v",
			m.N, m.From, m.To, m.Probe.Gap.Milliseconds(), m.Probe.Lost, m.Before, m.After, m.Lost,
			m.Registrations, m.SA.UniqueID, m.SameSA, m.NotifyMaster, m.Err)
	})
	for _, m := range res {
		if m.Err != nil {
			t.Fatalf("failover %d: %v", m.N, m.Err)
		}
		if !m.SameSA {
			t.Fatalf("failover %d renegotiated the VPN: %s", m.N, m.Diff)
		}
		if m.Lost != 0 || m.After != m.Before || !m.NotifyMaster || m.Registrations != 0 {
			t.Errorf("failover %d: bindings %d -> %d, lost %d, notify MASTER %v, laptop registrations %d",
				m.N, m.Before, m.After, m.Lost, m.NotifyMaster, m.Registrations)
		}
		if inGap := int(m.Probe.Gap/p.Interval) + 3; m.Probe.Lost > inGap {
			t.Errorf("failover %d: %d probes lost, more than the %v gap holds (%d)", m.N, m.Probe.Lost, m.Probe.Gap, inGap)
		}
		gaps = append(gaps, m.Probe.Gap)
	}
	if len(res) != n {
		t.Fatalf("%d failovers", len(res))
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	t.Logf("traffic gap through the VPN: median %v, max %v", gaps[n/2], gaps[n-1])
	if gaps[n-1] > 2*time.Second {
		t.Errorf("worst gap %v > 2 s", gaps[n-1])
	}
	if st := vpn.Stats(v.Client.Log()); st.IKEInitiated != 1 || st.IKERekeyed != 0 || st.Reauth != 0 {
		t.Fatalf("IKE activity during the failovers: %+v", st)
	}
	must(t, s.Alive("the TCP connection inside the VPN"))
	mi, err := f.WaitMaster(5 * time.Second)
	must(t, err)
	checkDataPlane(t, r, f.Boxes[mi].Name, "mn")
}

// TestFailoverVPNReadme: the keepalived configuration the README shows
// for the VPN failover lab is the one StartHAPair gives box ha.
func TestFailoverVPNReadme(t *testing.T) {
	f := &Failover{VIP: netip.PrefixFrom(HAAddr, 24), Iface: "wan"}
	text, err := f.keepalived("ha", PairAddrs[0], PairAddrs[1], "/run/mip4d-lab/<lab>.d/ha-notify.sh").Render()
	if err != nil {
		t.Fatal(err)
	}
	// Without the renderer's comment lines.
	body := text[strings.Index(text, "global_defs"):]
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```\n"+body+"```\n") {
		t.Fatalf("README.md (Home agent redundancy, TestFailoverVPN) does not show the lab's keepalived configuration:\n%s", body)
	}
}

// BenchmarkFailoverVPN: ten crashes of the master under the laptop's
// VPN (as TestFailoverVPN); reports the traffic gap's median and p95
// through the VPN and the median's ratio to VRRP's dead interval (3
// adverts), the floor keepalived sets.
func BenchmarkFailoverVPN(b *testing.B) {
	vpn.Require(b)
	r, err := BuildRedundantAcceptance(newBenchLab(b), mip4d)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.MoveTo(1); err != nil {
		b.Fatal(err)
	}
	f, err := r.StartHAPair()
	if err != nil {
		b.Fatal(err)
	}
	v := startLaptop(b, r)
	p, err := StartProbe(r.L, "mn", "cn", Corp, 7007, 10*time.Millisecond)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Stop()
	time.Sleep(300 * time.Millisecond)
	var gaps []time.Duration
	for b.Loop() {
		for _, m := range r.VPNFailovers(f, v, p, 10, 400*time.Millisecond, nil) {
			if m.Err != nil || m.Lost != 0 || !m.SameSA {
				b.Fatalf("failover %d: bindings lost %d, same SA %v (%s), %v", m.N, m.Lost, m.SameSA, m.Diff, m.Err)
			}
			gaps = append(gaps, m.Probe.Gap)
		}
	}
	reportGaps(b, "failover_vpn_", gaps)
	dead := 3 * FailoverAdvert * 1000
	b.ReportMetric(float64(percentile(gaps, 0.5).Microseconds())/1000/dead, "failover_vpn_gap_vs_vrrp_dead")
}
