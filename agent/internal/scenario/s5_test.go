package scenario

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
	r := labRoaming(t, BuildS5)
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
	checkDataPlane(t, r, "ha", fmt.Sprintf("fa%d", r.At))
}

// TestS5HostileDHCP: with the laptop bound through proxy 1, 5000 strangers
// (random MACs, DISCOVER and REQUEST each) and 2000 malformed datagrams
// hit the proxy's DHCP server from the link. No stranger gets an entry or
// a binding (the default rule refuses unknown clients), the proxy's memory
// stays bounded, every message is accounted for, and the laptop's
// binding keeps working.
func TestS5HostileDHCP(t *testing.T) {
	r := labRoaming(t, BuildS5)
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

// TestS5MACSpoof is the MAC-conflict rule end to end (agent/proxy package
// doc): the laptop is bound through proxy 1 when a second machine on
// hotspot 2 takes its MAC and asks for an address with busybox udhcpc.
// Proxy 2 registers it — the home agent cannot tell — and the home agent
// revokes proxy 1; proxy 1's ARP probe finds the laptop still there and,
// as the incumbent, takes the binding back; the home agent revokes proxy
// 2, whose client proves it is still there too — by answering the probe
// for the address it took (answering), or, keeping the address to itself
// (silent), by the REQUEST of the very DHCP exchange the revoked binding
// offered — so proxy 2, the newcomer, quarantines the MAC. A silent
// spoofer whose REQUEST was acknowledged before the revocation (a race
// with the revocation: it happens) is, to proxy 2, a client that moved
// away; it tries once more with a fresh DHCP client, and may be caught
// then, or not: either way the laptop keeps its binding.
//
// The binding ends at proxy 1 and stays there, the laptop's traffic flows,
// the conflicts are counted. (The reclaim budget that bounds a spoofer
// that is never caught is the engine's TestConflictNoPingPong.)
func TestS5MACSpoof(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure bool
	}{{"answering", true}, {"silent", false}} {
		t.Run(tc.name, func(t *testing.T) {
			r := labRoaming(t, BuildS5)
			// A short conflict window: the laptop is the incumbent after 2 s.
			r.ProxyOptions = []string{"conflict_window", "2", "quarantine", "120"}
			must(t, r.StartS5Access())
			time.Sleep(3 * time.Second)
			sp, err := r.AddSpoofer(2, tc.configure)
			must(t, err)
			t.Cleanup(sp.Stop)
			quarantined := func() bool {
				cs, err := r.ProxyClients(2)
				return err == nil && len(cs) == 1 && cs[0].State == "quarantined"
			}
			tries := 0
			for !quarantined() {
				if tries == 2 {
					if tc.configure {
						t.Fatalf("proxy 2 never quarantined the answering spoofer: %+v", proxyCounters(t, r, 2))
					}
					break
				}
				tries++
				before := proxyCounters(t, r, 2).Registrations
				must(t, sp.Start())
				// Proxy 2 registers the spoofer (the home agent grants it)...
				waitFor(t, 15*time.Second, fmt.Sprintf("try %d: proxy 2 registers the spoofer", tries), func() bool {
					return proxyCounters(t, r, 2).Registrations > before
				})
				// ... and proxy 1 takes the binding back.
				waitFor(t, 10*time.Second, fmt.Sprintf("try %d: proxy 1 reclaims", tries), func() bool {
					rows, err := r.Bindings()
					return err == nil && proxyCounters(t, r, 1).Reclaims >= int64(tries) && len(rows) == 1 && rows[0].CareOf == FACoAs[1]
				})
				deadline := time.Now().Add(4 * time.Second) // the probe, or the exchange, settles
				for !quarantined() && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
				}
			}
			// Settled: the binding stays at proxy 1.
			for i := 0; i < 8; i++ {
				rows, err := r.Bindings()
				must(t, err)
				if len(rows) != 1 || rows[0].CareOf != FACoAs[1] {
					t.Fatalf("the binding moved again: %+v", rows)
				}
				time.Sleep(250 * time.Millisecond)
			}
			if !r.L.Ping("mn", HAAddr, 3) {
				t.Fatal("the laptop's traffic does not flow after the conflict")
			}
			c1, c2 := proxyCounters(t, r, 1), proxyCounters(t, r, 2)
			cs1, err := r.ProxyClients(1)
			must(t, err)
			t.Logf("%d spoofer DHCP exchange(s); proxy 1: %+v, conflicts %d, reclaims %d, quarantines %d; "+
				"proxy 2: registrations %d, conflicts %d, quarantines %d",
				tries, cs1, c1.Conflicts, c1.Reclaims, c1.Quarantines, c2.Registrations, c2.Conflicts, c2.Quarantines)
			if len(cs1) != 1 || cs1[0].State != "bound" || c1.Quarantines != 0 || c1.Reclaims < 1 || c1.Reclaims > 4 {
				t.Fatalf("proxy 1 did not keep the laptop: %+v, counters %+v", cs1, c1)
			}
			if quarantined() && (c2.Conflicts != 1 || c2.Quarantines != 1) {
				t.Fatalf("proxy 2 did not count the conflict: %+v", c2)
			}
			if !quarantined() {
				// Never caught: to proxy 2 it moved away each time; the
				// reclaims undid every try, within the budget.
				t.Logf("the silent spoofer was never caught at proxy 2 (its REQUESTs beat the revocations)")
				return
			}
			// The spoofer's DHCP is refused from now on.
			refused := proxyDHCPRefused(t, r, 2)
			must(t, sp.Start())
			waitFor(t, 10*time.Second, "proxy 2 refuses the spoofer's DHCP", func() bool {
				return proxyDHCPRefused(t, r, 2) > refused
			})
			if c := proxyCounters(t, r, 2); c.Registrations != c2.Registrations {
				t.Fatalf("proxy 2 registered the quarantined MAC: %+v", c)
			}
		})
	}
}

// proxyDHCPRefused is proxy hs's count of DHCP messages from clients it
// does not admit.
func proxyDHCPRefused(t *testing.T, r *Roaming, hs int) int64 {
	t.Helper()
	var st struct {
		Proxy struct {
			DHCP struct {
				Counters struct {
					Refused int64 `json:"refused"`
				} `json:"counters"`
			} `json:"dhcp"`
		} `json:"proxy"`
	}
	must(t, r.Control(fmt.Sprintf("fa%d", hs), "status", &st))
	return st.Proxy.DHCP.Counters.Refused
}

// s5Counters is the part of a proxy's counters the spoof test reads.
type s5Counters struct {
	Registrations int64 `json:"registrations"`
	Conflicts     int64 `json:"conflicts"`
	Reclaims      int64 `json:"reclaims"`
	Quarantines   int64 `json:"quarantines"`
}

func proxyCounters(t *testing.T, r *Roaming, hs int) s5Counters {
	t.Helper()
	var st struct {
		Proxy struct {
			Counters s5Counters `json:"counters"`
		} `json:"proxy"`
	}
	must(t, r.Control(fmt.Sprintf("fa%d", hs), "status", &st))
	return st.Proxy.Counters
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestS5ProxyRestart: the proxy the laptop is on restarts — stopped and
// started again (a configuration change, an upgrade), or killed and
// respawned (a crash) — while the laptop, which knows nothing of it, keeps
// its DHCP lease. The proxy takes its client back from its state file:
// the home agent's binding never moves, traffic flows again within a
// second or two of the start, with no DHCP from the laptop, and the
// proxy confirms the laptop is there and registers it again (RFC 5563
// §4.4).
func TestS5ProxyRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := map[bool]string{false: "stop-start", true: "crash"}[crash]
		t.Run(name, func(t *testing.T) {
			r := labRoaming(t, BuildS5)
			must(t, r.StartS5Access())
			if !r.L.Ping("mn", HAAddr, 2) {
				t.Fatal("no traffic before the restart")
			}
			dhcpBefore := strings.Count(r.DHCPClient.Output(), "udhcpc ")
			regsBefore := haAccepted(t, r)
			start := time.Now()
			must(t, r.RestartProxy(1, crash))
			up := time.Since(start)
			// Traffic again, through the restored client.
			pingUntil(t, r, 10*time.Second, "no traffic after the restart")
			flowing := time.Since(start)
			cs := laptopAt(t, r, 1)
			// Confirmed and registered again (a renewal at the home agent).
			waitFor(t, 10*time.Second, "the restored client registered again", func() bool {
				return haAccepted(t, r) > regsBefore
			})
			if n := strings.Count(r.DHCPClient.Output(), "udhcpc "); n != dhcpBefore {
				t.Fatalf("the laptop's DHCP client had to act: %s", r.DHCPClient.Output())
			}
			t.Logf("%s: daemon up in %v, traffic in %v, client %+v", name, up.Round(time.Millisecond),
				flowing.Round(time.Millisecond), cs[0])
		})
	}
}

// haAccepted is the home agent's count of accepted registrations.
func haAccepted(t *testing.T, r *Roaming) int64 {
	t.Helper()
	var st struct {
		HA struct {
			Counters struct {
				Accepted int64 `json:"accepted"`
			} `json:"counters"`
		} `json:"ha"`
	}
	must(t, r.Control("ha", "status", &st))
	return st.HA.Counters.Accepted
}

// TestS5NeighbourAttach: the proxy's secondary sign of a client (RFC 5563
// §4.1). The laptop got its address by DHCP on hotspot 1; then its DHCP
// client is gone (a static configuration, an OS that does not ask again
// on re-association) and it moves to hotspot 2, where it only flushes its
// ARP cache (as an OS does on losing carrier) and sends traffic. Proxy 2
// learns it from the neighbour entry its ARP leaves, checks it with an ARP
// probe of its own, and registers it: the home agent's binding follows,
// proxy 1 is revoked, the traffic flows — no DHCP at all.
func TestS5NeighbourAttach(t *testing.T) {
	r := labRoaming(t, BuildS5)
	must(t, r.StartS5Access())
	r.DHCPClient.Kill()
	r.AfterMove = nil
	start := time.Now()
	must(t, r.MoveTo(2))
	must(t, r.L.IP("mn", "neigh", "flush", "dev", MNUplink))
	pingUntil(t, r, 10*time.Second, "no traffic from hotspot 2")
	flowing := time.Since(start)
	laptopAt(t, r, 2)
	var st struct {
		Proxy struct {
			Counters struct {
				Attaches int64 `json:"attaches"`
				Seen     int64 `json:"seen_on_link"`
			} `json:"counters"`
			DHCP struct {
				Counters struct {
					Received int64 `json:"received"`
				} `json:"counters"`
			} `json:"dhcp"`
		} `json:"proxy"`
	}
	must(t, r.Control("fa2", "status", &st))
	if st.Proxy.Counters.Seen == 0 || st.Proxy.Counters.Attaches != 0 || st.Proxy.DHCP.Counters.Received != 0 {
		t.Fatalf("proxy 2 did not learn the laptop from its neighbour entry alone: %+v", st.Proxy)
	}
	waitFor(t, 5*time.Second, "proxy 1 revoked", func() bool {
		cs, err := r.ProxyClients(1)
		return err == nil && (len(cs) == 0 || cs[0].State == "revoked")
	})
	t.Logf("laptop's traffic through proxy 2 %v after the move, no DHCP; proxy 2 saw it on the link %d time(s)",
		flowing.Round(time.Millisecond), st.Proxy.Counters.Seen)
}

// pingUntil pings the home agent from the laptop until it answers, failing
// with why after timeout.
func pingUntil(t *testing.T, r *Roaming, timeout time.Duration, why string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !r.L.Ping("mn", HAAddr, 1) {
		if time.Now().After(deadline) {
			t.Fatal(why)
		}
	}
}

// laptopAt checks that the home agent binds the laptop at proxy hs and
// that proxy hs holds its binding (bound, or confirming and renewing it),
// and returns that proxy's client table.
func laptopAt(t *testing.T, r *Roaming, hs int) []S5Client {
	t.Helper()
	rows, err := r.Bindings()
	must(t, err)
	if len(rows) != 1 || rows[0].CareOf != FACoAs[hs] {
		t.Fatalf("home agent bindings: %+v, want the laptop at proxy %d", rows, hs)
	}
	cs, err := r.ProxyClients(hs)
	must(t, err)
	holds := len(cs) == 1 && (cs[0].State == "bound" || cs[0].State == "confirming" || cs[0].State == "renewing")
	if !holds || !macEqual(cs[0].MAC, LaptopMAC) || cs[0].HomeAddr != HoA {
		t.Fatalf("proxy %d's clients: %+v", hs, cs)
	}
	return cs
}
