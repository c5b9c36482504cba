package scenario

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
)

func newRoaming(t *testing.T) *Roaming { return labRoaming(t, Build) }

// labRoaming builds a lab with build for this test, torn down with it; the
// daemons' logs are shown when the test fails.
func labRoaming(t *testing.T, build func(*lab.Lab, string) (*Roaming, error)) *Roaming {
	t.Helper()
	r, err := build(lab.ForTest(t), mip4d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(r.Logs())
		}
	})
	return r
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRegisterThroughNAT: the mobile node behind nat1 registers with RFC
// 3519 UDP tunnelling, and traffic flows both ways via its home address.
func TestRegisterThroughNAT(t *testing.T) {
	r := newRoaming(t)
	must(t, r.MoveTo(1))
	must(t, r.StartHA())
	must(t, r.StartMN())
	st, err := r.WaitRegistered(CoAs[1], 10*time.Second)
	must(t, err)
	if !st.UDP || st.HomeAddr != HoA {
		t.Fatalf("mobile node state %+v: want a UDP tunnel for %v", st, HoA)
	}
	b, err := r.WaitBinding(CoAs[1], false, 5*time.Second)
	must(t, err)
	if b.Endpoint.Addr() != NATAddrs[1] || b.Tunnel != "udp/ipip" {
		t.Fatalf("binding %+v: want the NAT mapping %v as endpoint", b, NATAddrs[1])
	}
	if !r.L.Ping("mn", CN, 3) {
		t.Fatal("mn cannot reach cn through the tunnel")
	}
	p, err := StartProbe(r.L, "mn", "cn", CN, 7007, 10*time.Millisecond)
	must(t, err)
	time.Sleep(500 * time.Millisecond)
	p.Stop()
	sent, echoed := p.Totals()
	if echoed < sent-2 {
		t.Fatalf("probe: %d sent, %d echoed", sent, echoed)
	}
}

// startRegistered builds the lab, attaches the mobile node to hs1 and
// starts both daemons.
func startRegistered(t *testing.T) *Roaming {
	r := newRoaming(t)
	must(t, r.MoveTo(1))
	must(t, r.StartHA())
	must(t, r.StartMN())
	_, err := r.WaitRegistered(CoAs[1], 10*time.Second)
	must(t, err)
	return r
}

// TestHandoffs moves the mobile node five times between the two NATed
// access networks while a 100/s UDP echo stream and a TCP connection run
// from its home address to cn.
func TestHandoffs(t *testing.T) {
	r := startRegistered(t)
	p, err := StartProbe(r.L, "mn", "cn", CN, 7007, 10*time.Millisecond)
	must(t, err)
	defer p.Stop()
	s, err := StartStream(r.L, "mn", "cn", CN, 7008, 20*time.Millisecond)
	must(t, err)
	defer s.Stop()
	time.Sleep(300 * time.Millisecond)
	results := r.Handoffs(p, 5, 400*time.Millisecond, nil)
	for _, m := range results {
		t.Logf("move %d hs%d->hs%d care-of %v NAT %v: gap %v, lost %d, binding after %v", m.N, m.From, m.To, m.CareOf, m.NAT,
			m.Gap.Round(time.Millisecond), m.Lost, m.Elapsed.Round(time.Millisecond))
		if m.Err != nil {
			t.Fatal(m.Err)
		}
		if m.NAT.Addr() != NATAddrs[m.To] {
			t.Errorf("move %d: the HA's endpoint %v is not nat%d's address", m.N, m.NAT, m.To)
		}
	}
	must(t, s.Alive("the TCP connection across the handoffs"))
	checkDataPlane(t, r, "ha", "mn")
}

// TestNATFlush: nat2 (random ports) reboots and forgets every mapping. The
// node's keepalives go unanswered, it registers again through the new
// mapping, and traffic resumes.
func TestNATFlush(t *testing.T) {
	r := newRoaming(t)
	must(t, r.MoveTo(2))
	must(t, r.StartHA())
	must(t, r.StartMN())
	_, err := r.WaitRegistered(CoAs[2], 10*time.Second)
	must(t, err)
	b0, err := r.WaitBinding(CoAs[2], false, 5*time.Second)
	must(t, err)
	p, err := StartProbe(r.L, "mn", "cn", CN, 7007, 20*time.Millisecond)
	must(t, err)
	defer p.Stop()
	time.Sleep(300 * time.Millisecond)
	at := p.Now()
	must(t, r.L.FlushConntrack("nat2"))
	// Recovery takes up to one keepalive interval, three retries and a
	// registration.
	deadline := time.Now().Add(time.Duration(r.Keepalive+8) * time.Second)
	var b1 = b0
	for time.Now().Before(deadline) && b1.Endpoint == b0.Endpoint {
		time.Sleep(200 * time.Millisecond)
		b1, _ = r.WaitBinding(CoAs[2], false, time.Second)
	}
	if b1.Endpoint == b0.Endpoint {
		t.Fatalf("binding still on the lost mapping %v after %v", b0.Endpoint, time.Duration(r.Keepalive+8)*time.Second)
	}
	time.Sleep(500 * time.Millisecond)
	h := p.Measure(at, p.Now()-200*time.Millisecond)
	if !h.Recovered {
		t.Fatal("traffic did not resume after the NAT flush")
	}
	t.Logf("NAT mapping %v -> %v; outage %v, %d probes lost", b0.Endpoint, b1.Endpoint, h.Gap.Round(time.Millisecond), h.Lost)
}

// TestHARestart: the home agent crashes and comes back; it restores the
// binding from its state file and traffic resumes without the node
// registering again.
func TestHARestart(t *testing.T) {
	r := startRegistered(t)
	_, err := r.WaitBinding(CoAs[1], false, 5*time.Second)
	must(t, err)
	time.Sleep(1500 * time.Millisecond) // the state file is written within a second of a change
	p, err := StartProbe(r.L, "mn", "cn", CN, 7007, 20*time.Millisecond)
	must(t, err)
	defer p.Stop()
	time.Sleep(200 * time.Millisecond)
	at := p.Now()
	r.HA.Kill()
	time.Sleep(300 * time.Millisecond)
	must(t, r.StartHA())
	b, err := r.WaitBinding(CoAs[1], false, 5*time.Second)
	must(t, err)
	if !strings.Contains(r.HA.Output(), "restored=1") {
		t.Fatalf("the binding was not restored from the state file:\n%s", r.HA.Output())
	}
	time.Sleep(500 * time.Millisecond)
	h := p.Measure(at, p.Now()-200*time.Millisecond)
	if !h.Recovered {
		t.Fatal("traffic did not resume after the HA restart")
	}
	if st, _ := r.MNStatus(); st.State != "registered" {
		t.Fatalf("mobile node state %+v", st)
	}
	t.Logf("restored binding %v via %v; outage %v", b.HomeAddr, b.Endpoint, h.Gap.Round(time.Millisecond))
}

// TestExpiryAndDeregistration: a node that vanishes (killed) loses its
// binding when the lifetime runs out; a node that stops cleanly
// deregisters at once.
func TestExpiryAndDeregistration(t *testing.T) {
	r := newRoaming(t)
	r.Lifetime = 3
	must(t, r.MoveTo(1))
	must(t, r.StartHA())
	must(t, r.StartMN())
	_, err := r.WaitRegistered(CoAs[1], 10*time.Second)
	must(t, err)
	r.MN.Kill()
	start := time.Now()
	_, err = r.WaitBinding(netip.Addr{}, true, 8*time.Second)
	must(t, err)
	if d := time.Since(start); d < 1*time.Second {
		t.Fatalf("binding gone after %v: before its lifetime", d)
	}
	if !strings.Contains(r.HA.Output(), "reason=expired") {
		t.Fatal("no expiry logged")
	}
	if r.L.Ping("cn", HoA, 1) {
		t.Fatal("the home address is still reachable after expiry")
	}
	// Clean stop: deregistration.
	r.Lifetime = 60
	must(t, r.StartMN())
	_, err = r.WaitRegistered(CoAs[1], 10*time.Second)
	must(t, err)
	if err := r.MN.Stop(5 * time.Second); err != nil {
		t.Fatalf("mn exit: %v\n%s", err, r.MN.Output())
	}
	rows, err := r.Bindings()
	must(t, err)
	if len(rows) != 0 {
		t.Fatalf("bindings after deregistration: %+v", rows)
	}
	if !strings.Contains(r.HA.Output(), "reason=deregistered") {
		t.Fatal("no deregistration logged")
	}
}

// TestHomeLink: with a real home link the home agent intercepts the away
// node's traffic with proxy ARP (RFC 5944 §4.6); when the node comes home
// it deregisters, the HA stops intercepting, and traffic flows natively;
// when it leaves again it registers again.
func TestHomeLink(t *testing.T) {
	r := newRoaming(t)
	r.HomeLink = true
	must(t, r.MoveTo(1))
	must(t, r.StartHA())
	must(t, r.StartMN())
	_, err := r.WaitRegistered(CoAs[1], 10*time.Second)
	must(t, err)
	out, err := r.L.Exec("ha", "ip", "neigh", "show", "proxy", "dev", "home")
	must(t, err)
	if !strings.Contains(out, HoA.String()) {
		t.Fatalf("no proxy ARP entry for the away node on the home link: %q", out)
	}
	if !r.L.Ping("cn", HoA, 2) {
		t.Fatal("cn cannot reach the away node through the HA")
	}
	// Home again.
	must(t, r.MoveHome())
	if _, err := r.WaitBinding(netip.Addr{}, true, 5*time.Second); err != nil {
		t.Fatalf("no deregistration on returning home: %v\n%s", err, r.Logs())
	}
	out, _ = r.L.Exec("ha", "ip", "neigh", "show", "proxy", "dev", "home")
	if strings.Contains(out, HoA.String()) {
		t.Fatalf("proxy ARP entry left after the node came home: %q", out)
	}
	if st, _ := r.MNStatus(); st.State != "at-home" {
		t.Fatalf("mobile node state %+v", st)
	}
	if !r.L.Ping("cn", HoA, 2) {
		a, _ := r.L.Exec("ha", "ip", "route")
		b, _ := r.L.Exec("mn", "ip", "route")
		c, _ := r.L.Exec("mn", "ip", "addr")
		d, _ := r.L.Exec("ha", "ip", "neigh")
		t.Fatalf("cn cannot reach the node at home\nha routes:\n%s\nmn routes:\n%s\nmn addrs:\n%s\nha neigh:\n%s\n%s", a, b, c, d, r.Logs())
	}
	// And away again.
	must(t, r.MoveTo(2))
	_, err = r.WaitRegistered(CoAs[2], 10*time.Second)
	must(t, err)
	if !r.L.Ping("cn", HoA, 2) {
		t.Fatal("cn cannot reach the node after it left home again")
	}
}

// checkDataPlane asserts that each named daemon runs the data plane the
// suite asked for (DataPlaneEnv) and, with bpf, that the kernel plane
// carried traffic both ways: a lab passing with the userspace plane
// behind a kernel plane that never loaded proves nothing.
func checkDataPlane(t *testing.T, r *Roaming, names ...string) {
	t.Helper()
	want := os.Getenv(DataPlaneEnv)
	if want != "bpf" && want != "userspace" {
		return
	}
	for _, name := range names {
		var s struct {
			DataPlane struct {
				Mode   string `json:"mode"`
				Reason string `json:"mode_reason"`
				BPF    *struct {
					Encap   int64            `json:"encap_packets"`
					Decap   int64            `json:"decap_packets"`
					Punted  map[string]int64 `json:"punted"`
					Dropped map[string]int64 `json:"dropped"`
				} `json:"bpf"`
			} `json:"dataplane"`
		}
		must(t, r.Control(name, "status", &s))
		dp := s.DataPlane
		if dp.Mode != want {
			t.Errorf("%s: data plane %q (%s), want %q", name, dp.Mode, dp.Reason, want)
			continue
		}
		if want == "bpf" {
			if dp.BPF == nil || dp.BPF.Encap == 0 || dp.BPF.Decap == 0 {
				t.Errorf("%s: the kernel plane carried nothing both ways: %+v", name, dp.BPF)
				continue
			}
			t.Logf("%s: kernel plane encapsulated %d, took apart %d; punted %v; dropped %v", name, dp.BPF.Encap, dp.BPF.Decap, dp.BPF.Punted, dp.BPF.Dropped)
		}
	}
}
