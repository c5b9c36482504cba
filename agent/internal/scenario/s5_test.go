package scenario

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/internal/vpn"
)

// TestS5Proxy is scenario S5 (RFC 5563): the laptop runs only busybox
// udhcpc and the unmodified strongSwan client; hs1 and hs2 run mip4d as
// proxies behind their NATs and register it with the x-HA, which gives it
// its address. Ten moves: the laptop's address never changes, the same
// IKE and CHILD SA throughout, a TCP connection inside the VPN survives,
// and the proxy left behind forgets the laptop (RFC 3543 revocation).
func TestS5Proxy(t *testing.T) {
	vpn.Require(t)
	r, err := BuildS5(lab.ForTest(t), mip4d)
	must(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(r.Logs())
		}
	})
	v, err := r.StartS5()
	must(t, err)
	t.Logf("laptop has %v by DHCP through proxy 1; VPN up from it: virtual IP %v, %v", HoA, v.VIP, v.SA)
	if v.SA.LocalHost != HoA {
		t.Fatalf("the VPN runs from %v, not from the DHCP address %v", v.SA.LocalHost, HoA)
	}
	vpnMoves(t, r, v, 10, func() {
		out, err := r.L.Exec("mn", "ip", "-4", "-o", "addr", "show", "dev", MNUplink)
		must(t, err)
		if strings.Count(out, " inet ") != 1 || !strings.Contains(out, " "+HoA.String()+"/") {
			t.Fatalf("the laptop's address changed: %s", out)
		}
		// The proxy left behind was told (RFC 3543): it holds no binding
		// for the laptop and no route to it any more.
		old := 3 - r.At
		deadline := time.Now().Add(3 * time.Second)
		for {
			cs, err := r.ProxyClients(old)
			must(t, err)
			held := false
			for _, c := range cs {
				if macEqual(c.MAC, LaptopMAC) {
					held = c.State != "revoked"
				}
			}
			routes, err := r.L.Exec(fmt.Sprintf("fa%d", old), "ip", "-4", "route", "show", HoA.String())
			must(t, err)
			if !held && strings.TrimSpace(routes) == "" {
				t.Logf("proxy %d after the last move: %+v, no route to %v", old, cs, HoA)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("proxy %d still holds the laptop: %+v, routes %q", old, cs, routes)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestS5HostileDHCP: with the laptop bound through proxy 1, 5000 strangers
// (random MACs, DISCOVER and REQUEST each) and 2000 malformed datagrams
// hit the proxy's DHCP server from the link. No stranger gets an entry or
// a binding (the default rule refuses unknown clients), the proxy's memory
// stays bounded, every message is accounted for, and the laptop's
// binding keeps working.
func TestS5HostileDHCP(t *testing.T) {
	r, err := BuildS5(lab.ForTest(t), mip4d)
	must(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(r.Logs())
		}
	})
	must(t, r.StartS5Access())
	p1 := r.FAProcs[0]
	rss0, err := ProcRSS(p1)
	must(t, err)
	const strangers, malformed = 5000, 2000
	start := time.Now()
	must(t, r.FloodDHCP(strangers, malformed, 1))
	time.Sleep(time.Second)
	if !p1.Running() {
		t.Fatalf("proxy 1 died:\n%s", p1.Output())
	}
	rss1, err := ProcRSS(p1)
	must(t, err)
	var st struct {
		Proxy struct {
			Proxy struct {
				Clients []S5Client `json:"clients"`
			} `json:"proxy"`
			Counters struct {
				Unknown int64 `json:"unknown_refused"`
			} `json:"counters"`
			DHCP struct {
				Counters struct {
					Received, Malformed, Refused, QueueDrops int64
				} `json:"counters"`
			} `json:"dhcp"`
		} `json:"proxy"`
	}
	must(t, r.Control("fa1", "status", &st))
	c := st.Proxy.DHCP.Counters
	kdrops, err := r.UDPDrops("fa1", 67)
	must(t, err)
	t.Logf("flood of %d strangers x2 and %d malformed in %v: DHCP received %d, malformed %d, refused %d, queue drops %d, "+
		"kernel socket drops %d; engine refused %d unknown; clients %d; RSS %d -> %d kB",
		strangers, malformed, time.Since(start).Round(time.Millisecond), c.Received, c.Malformed, c.Refused, c.QueueDrops,
		kdrops, st.Proxy.Counters.Unknown, len(st.Proxy.Proxy.Clients), rss0/1024, rss1/1024)
	if n := len(st.Proxy.Proxy.Clients); n != 1 || !macEqual(st.Proxy.Proxy.Clients[0].MAC, LaptopMAC) {
		t.Fatalf("client table after the flood: %+v", st.Proxy.Proxy.Clients)
	}
	// Everything that reached the proxy's socket is counted (received,
	// or dropped by the kernel or the daemon's queue); the bridge between
	// the namespaces may lose a few under the host's load.
	if sent := int64(2*strangers + malformed); c.Received+c.QueueDrops+kdrops < sent*95/100 || c.Malformed == 0 || c.Refused == 0 {
		t.Fatalf("the flood is not accounted for: %+v", c)
	}
	if rss1-rss0 > 16<<20 {
		t.Fatalf("proxy memory grew by %d MB under the flood", (rss1-rss0)>>20)
	}
	rows, err := r.Bindings()
	must(t, err)
	if len(rows) != 1 || rows[0].HomeAddr != HoA {
		t.Fatalf("home agent bindings after the flood: %+v", rows)
	}
	if !r.L.Ping("mn", HAAddr, 3) {
		t.Fatal("the laptop's binding stopped working")
	}
}
