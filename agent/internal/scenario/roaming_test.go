package scenario

import (
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
)

func newRoaming(t *testing.T) *Roaming {
	t.Helper()
	l := lab.ForTest(t)
	r, err := Build(l, mip4d)
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
