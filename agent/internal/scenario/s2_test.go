package scenario

import (
	"fmt"
	"testing"
	"time"

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
	r := labRoaming(t, BuildS2)
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

	vpnMoves(t, r, v, 10, func() {
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
	})
	checkDataPlane(t, r, "ha", fmt.Sprintf("fa%d", r.At))
}
