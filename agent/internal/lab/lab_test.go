package lab

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"
)

// TestLabNAT builds inside — nat — outside, checks a ping crosses the NAT
// with the source rewritten, and that teardown leaves no namespace behind.
func TestLabNAT(t *testing.T) {
	l := ForTest(t)
	for _, ns := range []string{"in", "nat", "out"} {
		if err := l.AddNS(ns); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Veth("in", "eth0", "nat", "lan"))
	must(l.Veth("nat", "wan", "out", "eth0"))
	must(l.Addr("in", "eth0", "192.168.1.2/24"))
	must(l.Addr("nat", "lan", "192.168.1.1/24"))
	must(l.Addr("nat", "wan", "203.0.113.2/24"))
	must(l.Addr("out", "eth0", "203.0.113.1/24"))
	must(l.Route("in", "default", "via", "192.168.1.1"))
	must(l.NAT("nat", "wan", false))
	if !l.Ping("in", netip.MustParseAddr("203.0.113.1"), 2) {
		t.Fatal("no connectivity through the NAT")
	}
	out, err := l.Exec("nat", "conntrack", "-L")
	if err != nil || !strings.Contains(out, "src=192.168.1.2") {
		t.Fatalf("conntrack shows no NATed flow: %v\n%s", err, out)
	}
	must(l.FlushConntrack("nat"))
	p, err := l.Start("out", "sleeper", "sleep", "60")
	must(err)
	names := []string{l.NS("in"), l.NS("nat"), l.NS("out")}
	must(l.Close())
	if p.Running() {
		t.Fatal("process survived Close")
	}
	list, _ := exec.Command("ip", "netns", "list").Output()
	for _, n := range names {
		if strings.Contains(string(list), n) {
			t.Fatalf("namespace %s left behind", n)
		}
	}
}
