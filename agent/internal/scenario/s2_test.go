package scenario

import (
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/internal/vpn"
)

// TestS2ViaFA is scenario S2 (RFC 4093 §4.2): mip4d runs as the foreign
// agent of each hotspot, itself behind the hotspot's NAT (RFC 3519 from
// the agent: UDP tunnel, keepalives); the laptop registers through it with
// the agent's care-of address and runs its unmodified VPN client over its
// home address. Ten moves: the same IKE and CHILD SA throughout, a TCP
// connection inside the VPN survives, the agent being left forgets the
// laptop once its registration moves on.
func TestS2ViaFA(t *testing.T) {
	vpn.Require(t)
	r, err := BuildS2(lab.ForTest(t), mip4d)
	must(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(r.Logs())
		}
	})
	v, err := r.StartS2()
	must(t, err)
	t.Logf("VPN up through fa1: virtual IP %v, %v", v.VIP, v.SA)
	vis, err := r.WaitVisitor(1, 5*time.Second)
	must(t, err)
	if !vis.UDP || !vis.Reverse {
		t.Fatalf("fa1's visitor entry: %+v, want an RFC 3519 UDP tunnel with reverse tunnelling (the agent is behind a NAT)", vis)
	}
	b, err := r.WaitBinding(FACoAs[1], false, 5*time.Second)
	must(t, err)
	if b.Endpoint.Addr() != NATAddrs[1] || b.FA != FACoAs[1] {
		t.Fatalf("HA binding %+v: want the agent's care-of address relayed through nat1", b)
	}

	p, err := StartProbe(r.L, "mn", "cn", Corp, 7007, 10*time.Millisecond)
	must(t, err)
	defer p.Stop()
	s, err := StartStream(r.L, "mn", "cn", Corp, 7008, 20*time.Millisecond)
	must(t, err)
	defer s.Stop()
	time.Sleep(500 * time.Millisecond)
	for _, m := range r.VPNHandoffs(v, p, 10, 500*time.Millisecond, true, nil) {
		t.Logf("move %2d hs%d->hs%d via fa%d (care-of %v, NAT %v): gap %v, lost %d, registered in %v, IKE SA #%d (same: %v)", m.N, m.From, m.To, m.To,
			m.CareOf, m.NAT, m.Gap.Round(time.Millisecond), m.Lost, m.Elapsed.Round(time.Millisecond), m.SA.UniqueID, m.SameSA)
		if m.Err != nil {
			t.Fatal(m.Err)
		}
		if !m.SameSA {
			t.Fatalf("move %d renegotiated the VPN: %s", m.N, m.Diff)
		}
	}
	// The agent left behind was told by the home agent (RFC 3543
	// revocation) and forgot the laptop; the current one holds it.
	if _, err := r.WaitVisitor(r.At, time.Second); err != nil {
		t.Fatal(err)
	}
	old := 3 - r.At
	deadline := time.Now().Add(3 * time.Second)
	for {
		vs, err := r.Visitors(old)
		must(t, err)
		if len(vs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fa%d still lists %+v after the laptop moved on: no revocation", old, vs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := vpn.Stats(v.Client.Log()); st.IKEInitiated != 1 || st.IKERekeyed != 0 || st.Reauth != 0 {
		t.Fatalf("IKE activity during the moves: %+v", st)
	}
	before := s.Received()
	time.Sleep(300 * time.Millisecond)
	if err := s.Err(); err != nil {
		t.Fatalf("the TCP connection inside the VPN broke: %v", err)
	}
	if s.Received() <= before {
		t.Fatal("the TCP connection inside the VPN stalled")
	}
}
