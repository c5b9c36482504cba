package scenario

import (
	"slices"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/vpn"
)

// tunnelGapBound bounds every move's gap, whichever VPN. A move costs
// mip4d's registration through the new NAT: measured here 17–70 ms per
// move over 120 moves (10 per VPN, with each data plane and with -race;
// README "Which VPNs are proven"); the bound leaves seven times that for
// a loaded machine. A VPN that had to
// notice the move and renegotiate would cost seconds (DPD, ping-restart,
// WireGuard's 15 s handshake retry), far above it.
const tunnelGapBound = 500 * time.Millisecond

// tunnelScenario is S1 (RFC 4093 §2.4, RFC 5265) with the VPN of kind:
// the laptop registered through nat1, the VPN over the x-home address, a
// UDP probe and a TCP connection to the enterprise host through it, ten
// moves between the NATed hotspots. Every move recovers within
// tunnelGapBound, the VPN keeps its first session throughout (no
// re-establishment: vpn.Session), and the TCP connection survives.
func tunnelScenario(t *testing.T, kind vpn.Kind) {
	vpn.RequireKind(t, kind)
	r := labRoaming(t, BuildAcceptance)
	tun, err := r.StartS1Tunnel(kind)
	must(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(tun.Logs())
		}
	})
	first := tun.First()
	t.Logf("%s up in %v: %v", tun.Version(), tun.SetupTime().Round(time.Millisecond), first)
	if first.Peer.Addr() != HoA {
		t.Fatalf("the gateway sees the VPN from %v, not from the x-home address %v", first.Peer, HoA)
	}
	if first.Setups != 1 {
		t.Fatalf("%d session setups to bring the VPN up, want 1", first.Setups)
	}
	p, s, stop := corpTraffic(t, r)
	defer stop()

	var gaps []time.Duration
	lost := 0
	for _, m := range r.TunnelHandoffs(tun, p, 10, 500*time.Millisecond, nil) {
		t.Logf("move %2d hs%d->hs%d care-of %v NAT %v: gap %v, lost %d, registered in %v, %s (same: %v)", m.N, m.From, m.To,
			m.CareOf, m.NAT, m.Gap.Round(time.Millisecond), m.Lost, m.Elapsed.Round(time.Millisecond), m.Session.Short, m.Same)
		if m.Err != nil {
			t.Fatal(m.Err)
		}
		if !m.Same {
			t.Fatalf("move %d: %s re-established or changed its session: %s", m.N, kind, m.Diff)
		}
		if m.Gap > tunnelGapBound {
			t.Fatalf("move %d: gap %v, over the bound %v", m.N, m.Gap, tunnelGapBound)
		}
		gaps = append(gaps, m.Gap)
		lost += m.Lost
	}
	last, err := tun.Session()
	must(t, err)
	if last.Setups != 1 || last.Peer != first.Peer {
		t.Fatalf("after the moves: %v, want the first session (%v)", last, first)
	}
	must(t, s.Alive("the TCP connection inside "+string(kind)))
	checkDataPlane(t, r, "ha", "mn")
	slices.Sort(gaps)
	t.Logf("%s: 10 moves, gap median %v worst %v, %d probes lost in all, session %s kept, %d setups, %d timer rekeys",
		tun.Version(), gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond), lost, last.ID, last.Setups, last.Rekeys)
	must(t, tun.Close())
}

// TestOpenVPN is S1 with Debian's unmodified OpenVPN (UDP, TLS, userspace
// TUN) as the laptop's VPN.
func TestOpenVPN(t *testing.T) { tunnelScenario(t, vpn.OpenVPN) }

// TestWireGuard is S1 with wireguard-go (userspace WireGuard) as the
// laptop's VPN.
func TestWireGuard(t *testing.T) { tunnelScenario(t, vpn.WireGuard) }

// TestStrongSwanTunnel is S1 with strongSwan through the same Tunnel
// abstraction, so that the three VPNs are measured the same way.
func TestStrongSwanTunnel(t *testing.T) { tunnelScenario(t, vpn.StrongSwan) }

// TestTunnelBaselines moves the laptop without mip4d, its VPN client on
// the hotspot address. OpenVPN (the server has float) follows the client
// to its new address by itself and keeps its session: the gateway sees
// it from each NAT in turn (Kept; Same only back on hs1). WireGuard set
// up again after each move (as wg-quick down and up would) makes a new
// handshake each time; left to itself, wireguard-go recovers from one
// move only by its handshake retry about 15 s later (TunnelBaseline),
// with a new handshake. These are what mip4d is compared with for them:
// through mip4d the gateway never has to follow the client, nothing is
// set up again, and the gap is mip4d's registration.
func TestTunnelBaselines(t *testing.T) {
	for _, c := range []struct {
		name        string
		kind        vpn.Kind
		reestablish bool
		moves       int
		dwell       time.Duration
	}{
		{"openvpn-float", vpn.OpenVPN, false, 3, 500 * time.Millisecond},
		{"wireguard-reestablish", vpn.WireGuard, true, 3, 500 * time.Millisecond},
		{"wireguard-alone", vpn.WireGuard, false, 1, 18 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			vpn.RequireKind(t, c.kind)
			r := labRoaming(t, BuildAcceptance)
			tun, err := r.StartBaselineTunnel(c.kind)
			must(t, err)
			t.Cleanup(func() {
				if t.Failed() {
					t.Log(tun.Logs())
				}
			})
			first := tun.First()
			if first.Peer.Addr() != NATAddrs[1] {
				t.Fatalf("the gateway sees the VPN from %v, want nat1's %v", first.Peer, NATAddrs[1])
			}
			p, err := StartProbe(r.L, "mn", "cn", Corp, 7007, 10*time.Millisecond)
			must(t, err)
			defer p.Stop()
			time.Sleep(300 * time.Millisecond)
			for _, m := range r.TunnelBaseline(tun, p, c.moves, c.dwell, c.reestablish, nil) {
				t.Logf("move %d hs%d->hs%d: gap %v, lost %d, the gateway sees %v, %s, %d setups (kept %v)", m.N, m.From, m.To,
					m.Gap.Round(time.Millisecond), m.Lost, m.NAT, m.Session.Short, m.Session.Setups, m.Kept)
				if m.Err != nil {
					t.Fatal(m.Err)
				}
				if m.NAT.Addr() != NATAddrs[m.To] {
					t.Fatalf("move %d: the gateway sees %v, want nat%d's %v", m.N, m.NAT, m.To, NATAddrs[m.To])
				}
				switch {
				case c.name == "wireguard-alone":
					// Not asserted beyond recovering: how long
					// wireguard-go takes is its own business.
				case m.Kept == c.reestablish || (c.reestablish && m.Session.Setups != 1+m.N):
					t.Fatalf("move %d: kept %v with %d setups (%s), re-established: %v", m.N, m.Kept, m.Session.Setups, m.Diff, c.reestablish)
				}
			}
		})
	}
}
