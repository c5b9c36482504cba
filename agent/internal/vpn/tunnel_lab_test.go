package vpn

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
)

// TestTunnels brings each VPN up in the direct lab (the client on
// 192.0.2.2, no mip4d): the client reaches the intranet host through it
// and is reached back at its inner address, the gateway sees the client
// at its bound address, the session reads the same twice while nothing
// moves, and it was set up once.
func TestTunnels(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			RequireKind(t, kind)
			l := lab.ForTest(t)
			buildLab(t, l, false)
			tun, err := Open(l, kind, TunnelConfig{GatewayNS: "gw", ClientNS: "cl", Gateway: gwAddr,
				Intranet: []netip.Prefix{intranet}, LocalAddr: clAddr})
			must(t, err)
			t.Cleanup(func() {
				if t.Failed() {
					t.Log(tun.Logs())
				}
			})
			first := tun.First()
			t.Logf("%s up in %v: %v", tun.Version(), tun.SetupTime(), first)
			if tun.Kind() != kind || !strings.HasPrefix(tun.Version(), map[Kind]string{StrongSwan: "strongSwan 5.", OpenVPN: "OpenVPN 2.", WireGuard: "wireguard-go v"}[kind]) {
				t.Errorf("kind %s version %q", tun.Kind(), tun.Version())
			}
			if !DefaultPool.Contains(tun.VirtualIP()) || first.VirtualIP != tun.VirtualIP() {
				t.Errorf("virtual IP %v (session %v), want one from %v", tun.VirtualIP(), first.VirtualIP, DefaultPool)
			}
			if first.Peer.Addr() != clAddr || first.Setups != 1 || first.Rekeys != 0 {
				t.Errorf("first session %v: want the client at %v, set up once", first, clAddr)
			}
			if !l.Ping("cl", intraHost, 2) {
				t.Fatal("no ping from the client to the intranet host through the VPN")
			}
			if !l.Ping("intra", tun.VirtualIP(), 2) {
				t.Fatalf("no ping from the intranet host to the client's inner address %v", tun.VirtualIP())
			}
			again, err := tun.Session()
			must(t, err)
			if !first.Same(again) {
				t.Fatalf("session changed while nothing moved: %s", first.Diff(again))
			}
			if len(again.counters) == 0 || again.counters[0] <= first.counters[0] {
				t.Errorf("counters %v -> %v after pings through the VPN", first.counters, again.counters)
			}
			if w, ok := tun.(*WireGuardTunnel); ok {
				// wireguard-tools, when installed, sees what UAPI said.
				out, err := w.Show(l, "server")
				if err == nil {
					t.Logf("wg show (gateway):\n%s", out)
					if !strings.Contains(out, w.ClientPublic) || !strings.Contains(out, "endpoint: "+first.Peer.String()) {
						t.Errorf("wg show does not show peer %s at %v", w.ClientPublic, first.Peer)
					}
				} else if ToolsRequired() || !strings.Contains(err.Error(), "missing") {
					t.Error(err)
				}
			}

			// A re-established session is seen as one.
			took, err := tun.Reestablish()
			must(t, err)
			if !l.Ping("cl", intraHost, 2) {
				t.Fatal("no ping through the re-established VPN")
			}
			again, err = tun.Session()
			must(t, err)
			t.Logf("re-established in %v: %v (%s)", took.Round(time.Millisecond), again, first.Diff(again))
			if first.Same(again) || again.Setups != 2 {
				t.Fatalf("re-established session %v not told from the first %v", again, first)
			}
			must(t, tun.Close())
		})
	}
}
