package netconf

import (
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
)

func TestARPAnnouncement(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:00:aa:bb:cc")
	got := hex.EncodeToString(ARPAnnouncement(arpOpReply, netip.MustParseAddr("10.10.0.5"), mac))
	// htype 1, ptype 0x0800, hlen 6, plen 4, op 2, sha, spa, tha broadcast, tpa = spa
	want := "0001" + "0800" + "06" + "04" + "0002" + "020000aabbcc" + "0a0a0005" + "ffffffffffff" + "0a0a0005"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestNetconf drives a fresh namespace: addresses, routes, default route
// lookup, proxy ARP entries and change notifications.
func TestNetconf(t *testing.T) {
	l := lab.ForTest(t)
	if err := l.AddNS("nc"); err != nil {
		t.Fatal(err)
	}
	if err := l.IP("nc", "link", "add", "up0", "type", "veth", "peer", "name", "up0p"); err != nil { // no dummy module here
		t.Fatal(err)
	}
	n, err := At(l.Handle(t, "nc"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	changes := make(chan Change, 32)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := n.Watch(ctx, changes); err != nil {
		t.Fatal(err)
	}
	if err := n.LinkUp("up0p"); err != nil {
		t.Fatal(err)
	}
	if err := n.LinkUp("up0"); err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix("192.168.7.10/24")
	if err := n.ReplaceAddr("up0", p); err != nil {
		t.Fatal(err)
	}
	if err := n.ReplaceAddr("up0", p); err != nil {
		t.Fatalf("ReplaceAddr is not idempotent: %v", err)
	}
	if as, err := n.Addrs("up0"); err != nil || !slices.Contains(as, p) {
		t.Fatalf("Addrs %v %v", as, err)
	}
	// The address change is reported.
	deadline := time.After(3 * time.Second)
	for seen := false; !seen; {
		select {
		case c := <-changes:
			seen = !c.Link && c.New && c.Addr == p && c.Dev == "up0"
		case <-deadline:
			t.Fatal("no address notification")
		}
	}
	gw := netip.MustParseAddr("192.168.7.1")
	if err := n.ReplaceRoute(Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gw: gw, Dev: "up0"}); err != nil {
		t.Fatal(err)
	}
	if r, ok, err := n.DefaultRoute(); err != nil || !ok || r.Gw != gw || r.Dev != "up0" {
		t.Fatalf("DefaultRoute %+v %v %v", r, ok, err)
	}
	if r, err := n.RouteGet(netip.MustParseAddr("198.51.100.1")); err != nil || r.Gw != gw || r.Src != p.Addr() {
		t.Fatalf("RouteGet %+v %v", r, err)
	}
	host := Route{Dst: netip.MustParsePrefix("10.10.0.5/32"), Dev: "up0"}
	if err := n.ReplaceRoute(host); err != nil {
		t.Fatal(err)
	}
	if err := n.DelRoute(host); err != nil {
		t.Fatal(err)
	}
	if err := n.DelRoute(host); err != nil {
		t.Fatalf("DelRoute of a missing route: %v", err)
	}
	hoa := netip.MustParseAddr("192.168.7.55")
	if err := n.AddProxyARP("up0", hoa); err != nil {
		t.Fatal(err)
	}
	if ps, err := n.ProxyARPs("up0"); err != nil || !slices.Contains(ps, hoa) {
		t.Fatalf("ProxyARPs %v %v", ps, err)
	}
	if err := n.DelProxyARP("up0", hoa); err != nil {
		t.Fatal(err)
	}
	if ps, _ := n.ProxyARPs("up0"); slices.Contains(ps, hoa) {
		t.Fatal("proxy entry not removed")
	}
	if err := n.DelProxyARP("up0", hoa); err != nil {
		t.Fatalf("DelProxyARP of a missing entry: %v", err)
	}
	// Permanent neighbours and policy rules (a foreign agent's visitors).
	mac, _ := net.ParseMAC("02:00:00:00:00:42")
	if err := n.SetNeighbor("up0", hoa, mac); err != nil {
		t.Fatal(err)
	}
	out, _ := l.Exec("nc", "ip", "neigh", "show", "dev", "up0")
	if !strings.Contains(out, "192.168.7.55 lladdr 02:00:00:00:00:42 PERMANENT") {
		t.Fatalf("neighbour not installed: %q", out)
	}
	if err := n.DelNeighbor("up0", hoa); err != nil {
		t.Fatal(err)
	}
	rule := Rule{Src: netip.PrefixFrom(hoa, 32), IIf: "up0", Table: 100, Priority: 1000}
	if err := n.AddRule(rule); err != nil {
		t.Fatal(err)
	}
	if err := n.AddRule(rule); err != nil {
		t.Fatalf("AddRule is not idempotent: %v", err)
	}
	out, _ = l.Exec("nc", "ip", "rule")
	if !strings.Contains(out, "1000:	from 192.168.7.55 iif up0 lookup 100") {
		t.Fatalf("rule not installed: %q", out)
	}
	if err := n.DelRule(rule); err != nil {
		t.Fatal(err)
	}
	if err := n.DelRule(rule); err != nil {
		t.Fatalf("DelRule of a missing rule: %v", err)
	}
	if err := n.DelAddr("up0", p); err != nil {
		t.Fatal(err)
	}
	if _, err := n.LinkIndex("nope0"); err == nil {
		t.Fatal("missing interface not reported")
	}
}

// TestWatchNeighbors: a host on the link that ARPs for the gateway
// address is reported with its address and MAC — the proxy's secondary
// sign of a client (RFC 5563 §4.1) — while entries that prove nothing (a
// permanent one we install, one on another link) are not.
func TestWatchNeighbors(t *testing.T) {
	l := lab.ForTest(t)
	for _, ns := range []string{"gw", "host"} {
		if err := l.AddNS(ns); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Veth("gw", "lan", "host", "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := l.IP("gw", "link", "add", "other", "type", "veth", "peer", "name", "otherp"); err != nil {
		t.Fatal(err)
	}
	if err := l.IPBatch("gw", "link set other up", "link set otherp up", "addr add 10.10.0.1/32 dev lan"); err != nil {
		t.Fatal(err)
	}
	if err := l.Sysctl("gw", "net.ipv4.conf.lan.rp_filter", "0"); err != nil {
		t.Fatal(err)
	}
	if err := l.IPBatch("host", "link set eth0 address 02:00:00:00:00:55", "addr add 10.10.0.5/16 dev eth0"); err != nil {
		t.Fatal(err)
	}
	n, err := At(l.Handle(t, "gw"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ch := make(chan Neighbor, 8)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := n.WatchNeighbors(ctx, "lan", ch); err != nil {
		t.Fatal(err)
	}
	// Ours: permanent, and on another link. Neither is a sign of anyone.
	mac, _ := net.ParseMAC("02:00:00:00:00:77")
	if err := n.SetNeighbor("lan", netip.MustParseAddr("10.10.0.7"), mac); err != nil {
		t.Fatal(err)
	}
	if err := l.IP("gw", "neigh", "add", "10.10.0.8", "lladdr", "02:00:00:00:00:88", "dev", "other", "nud", "reachable"); err != nil {
		t.Fatal(err)
	}
	// The host ARPs for the gateway.
	l.Ping("host", netip.MustParseAddr("10.10.0.1"), 1)
	select {
	case nb := <-ch:
		if nb.Dev != "lan" || nb.Addr != netip.MustParseAddr("10.10.0.5") || nb.MAC.String() != "02:00:00:00:00:55" {
			t.Fatalf("neighbour %+v", nb)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no neighbour reported for the host")
	}
	select {
	case nb := <-ch:
		if nb.Addr != netip.MustParseAddr("10.10.0.5") {
			t.Fatalf("reported %+v", nb)
		}
	case <-time.After(300 * time.Millisecond):
	}
}
