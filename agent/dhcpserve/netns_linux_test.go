package dhcpserve

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// These tests run stock Debian DHCP clients — ISC dhclient with its
// dhclient-script and RFC 3442 hook, busybox udhcpc with its default
// script — against the server in a pair of network namespaces joined by
// a veth, and check what the client configured: address, mask, routes,
// and a ping to the gateway. They need root, ip(8) and the client; they
// skip cleanly otherwise. All traffic stays on the veth.

func needNetns(t *testing.T, client string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8)")
	}
	p, err := exec.LookPath(client)
	if err != nil {
		t.Skipf("needs %s (apt-get install isc-dhcp-client udhcpc)", client)
	}
	return p
}

type nsLab struct {
	t        *testing.T
	srv, cli string // namespace names
	dir      string
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNSLab makes a server and a client namespace joined by dhs0–dhc0 and
// removes them (and so the veth) when the test ends, failed or not.
func newNSLab(t *testing.T, serverAddr string) *nsLab {
	t.Helper()
	id := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	l := &nsLab{t: t, srv: "mip4d-dhs-" + id, cli: "mip4d-dhc-" + id, dir: t.TempDir()}
	for _, ns := range []string{l.srv, l.cli} {
		// ip netns exec bind-mounts /etc/netns/NAME/resolv.conf over
		// /etc/resolv.conf: the clients' scripts write there, never the
		// host's file.
		etc := filepath.Join("/etc/netns", ns)
		if err := os.MkdirAll(etc, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(etc) })
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	run(t, "ip", "link", "add", "dhs0", "netns", l.srv, "type", "veth", "peer", "name", "dhc0", "netns", l.cli)
	run(t, "ip", "-n", l.srv, "addr", "add", serverAddr, "dev", "dhs0")
	run(t, "ip", "-n", l.srv, "link", "set", "dhs0", "up")
	run(t, "ip", "-n", l.srv, "link", "set", "lo", "up")
	run(t, "ip", "-n", l.cli, "link", "set", "lo", "up")
	run(t, "ip", "-n", l.cli, "link", "set", "dhc0", "up")
	return l
}

// listen opens the server socket inside the server namespace.
func (l *nsLab) listen(ctr *Counters) *Conn {
	l.t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		l.t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.GetFromName(l.srv)
	if err != nil {
		l.t.Fatal(err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		l.t.Fatal(err)
	}
	c, err := Listen("dhs0", ctr)
	if e := netns.Set(orig); e != nil {
		panic("cannot return to the test's namespace: " + e.Error())
	}
	if err != nil {
		l.t.Fatal(err)
	}
	return c
}

// daemon is the daemon's loop in miniature: datagrams in, replies out,
// and a registration that takes 300 ms (the proxy's round trip to the
// home agent) before Ready.
type daemon struct {
	mu     sync.Mutex
	events []Event
}

func (d *daemon) run(ctx context.Context, s *Server, lr *fakeLeaser, c *Conn) {
	in := make(chan []byte, 16)
	go func() { _ = c.Run(ctx, in) }()
	ready := make(chan string, 16)
	scheduled := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-in:
			r, ev := s.HandleBytes(b, time.Now())
			if r != nil {
				_ = c.Send(r)
			}
			if ev.Kind == None {
				continue
			}
			d.mu.Lock()
			d.events = append(d.events, ev)
			d.mu.Unlock()
			if ev.Kind == Attach && !scheduled[ev.MAC.String()] {
				scheduled[ev.MAC.String()] = true
				mac := ev.MAC.String()
				time.AfterFunc(300*time.Millisecond, func() { ready <- mac })
			}
		case mac := <-ready:
			lr.bound[mac] = hoa
			lr.until = time.Now().Add(300 * time.Second)
			hw, _ := net.ParseMAC(mac)
			if r := s.Ready(hw, time.Now()); r != nil {
				_ = c.Send(r)
			}
		}
	}
}

func (d *daemon) seen(k EventKind) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.events {
		if e.Kind == k {
			return true
		}
	}
	return false
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func (l *nsLab) clientShows(what ...string) (string, bool) {
	out, _ := exec.Command("ip", "-n", l.cli, "-4", "addr", "show", "dev", "dhc0").CombinedOutput()
	rt, _ := exec.Command("ip", "-n", l.cli, "-4", "route", "show", "dev", "dhc0").CombinedOutput()
	all := string(out) + string(rt)
	for _, w := range what {
		if !strings.Contains(all, w) {
			return all, false
		}
	}
	return all, true
}

func startServer(t *testing.T, l *nsLab, cfg Config) (*daemon, *Server) {
	lr := newLeaser()
	lr.admit = map[string]bool{}
	mac := clientMAC0(t, l)
	lr.admit[mac.String()] = true
	s, err := New(cfg, lr)
	if err != nil {
		t.Fatal(err)
	}
	c := l.listen(&s.Counters)
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{}
	done := make(chan struct{})
	go func() { d.run(ctx, s, lr, c); close(done) }()
	t.Cleanup(func() { cancel(); _ = c.Close(); <-done })
	return d, s
}

func clientMAC0(t *testing.T, l *nsLab) net.HardwareAddr {
	out := run(t, "ip", "-n", l.cli, "-o", "link", "show", "dev", "dhc0")
	f := strings.Fields(out[strings.Index(out, "link/ether"):])
	mac, err := net.ParseMAC(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

func ping(t *testing.T, l *nsLab, to string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", l.cli, "ping", "-c", "1", "-W", "2", to).CombinedOutput()
	if err != nil {
		t.Fatalf("ping %s from the client: %v\n%s", to, err, out)
	}
}

// TestDhclientLinkLocalGateway: /32 and option 121 with a gateway outside
// every subnet; dhclient's RFC 3442 hook installs both routes; the client
// renews (unicast to the shared server identifier) and the renewal is
// answered.
func TestDhclientLinkLocalGateway(t *testing.T) {
	bin := needNetns(t, "dhclient")
	l := newNSLab(t, "169.254.1.1/32")
	// The daemon routes the bound home address to the link (ClientBound).
	run(t, "ip", "-n", l.srv, "route", "add", hoa.String()+"/32", "dev", "dhs0")
	d, s := startServer(t, l, Config{ServerID: linkGW, MaxLease: 10 * time.Second, MinLease: 4 * time.Second})
	cmd := exec.Command("ip", "netns", "exec", l.cli, bin, "-d", "-v", "-1",
		"-lf", filepath.Join(l.dir, "leases"), "-pf", filepath.Join(l.dir, "pid"), "dhc0")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ok := waitFor(15*time.Second, func() bool {
		_, ok := l.clientShows("10.10.9.7/32", "169.254.1.1 scope link", "default via 169.254.1.1")
		return ok
	})
	got, _ := l.clientShows()
	if !ok {
		t.Fatalf("dhclient did not configure the home address and the routes:\n%s\n--- dhclient:\n%s", got, out)
	}
	t.Logf("dhclient configured:\n%s", got)
	ping(t, l, "169.254.1.1")
	// T1 is 5 s: the unicast renewal comes back as an ACK.
	if !waitFor(10*time.Second, func() bool { return s.Counters.Acks.Load() >= 2 }) {
		t.Fatalf("no renewal answered (acks %d)\n%s", s.Counters.Acks.Load(), out)
	}
	if !d.seen(Attach) || !d.seen(Present) {
		t.Fatal("events missing")
	}
}

// TestUdhcpcLinkLocalGateway: busybox's default script ignores option 121
// but installs a /32's router with "onlink"; -R releases on exit.
func TestUdhcpcLinkLocalGateway(t *testing.T) {
	bin := needNetns(t, "udhcpc")
	l := newNSLab(t, "169.254.1.1/32")
	run(t, "ip", "-n", l.srv, "route", "add", hoa.String()+"/32", "dev", "dhs0")
	d, s := startServer(t, l, Config{ServerID: linkGW})
	out, err := exec.Command("ip", "netns", "exec", l.cli, bin, "-i", "dhc0", "-f", "-q", "-n", "-t", "5", "-T", "2",
		"-s", "/etc/udhcpc/default.script").CombinedOutput()
	if err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, out)
	}
	got, ok := l.clientShows("10.10.9.7/32", "default via 169.254.1.1")
	if !ok {
		t.Fatalf("udhcpc did not configure the home address and the route:\n%s\n--- udhcpc:\n%s", got, out)
	}
	t.Logf("udhcpc configured:\n%s", got)
	ping(t, l, "169.254.1.1")
	// A running udhcpc told to release (SIGUSR2) unicasts a RELEASE to
	// the server identifier: a Release event. (udhcpc -q -R exits before
	// it is BOUND and releases nothing.)
	cmd := exec.Command("ip", "netns", "exec", l.cli, bin, "-i", "dhc0", "-f", "-t", "5", "-T", "2",
		"-s", "/etc/udhcpc/default.script")
	cout := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = cout, cout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if !waitFor(10*time.Second, func() bool { return s.Counters.Acks.Load() >= 2 }) {
		t.Fatalf("second lease not obtained\n%s", cout)
	}
	if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	if !waitFor(3*time.Second, func() bool { return d.seen(Release) }) {
		t.Fatalf("no release seen: %+v\n%s", s.Counters.Snapshot(), cout)
	}
}

// TestClientsOnLinkSubnet: the layout every client takes: a mask that
// holds the home address and the gateway.
func TestClientsOnLinkSubnet(t *testing.T) {
	for _, client := range []string{"dhclient", "udhcpc"} {
		t.Run(client, func(t *testing.T) {
			bin := needNetns(t, client)
			l := newNSLab(t, "10.10.0.1/16")
			_, _ = startServer(t, l, Config{ServerID: gw, Network: netip.MustParsePrefix("10.10.0.0/16")})
			var cmd *exec.Cmd
			if client == "dhclient" {
				cmd = exec.Command("ip", "netns", "exec", l.cli, bin, "-d", "-v", "-1",
					"-lf", filepath.Join(l.dir, "leases"), "-pf", filepath.Join(l.dir, "pid"), "dhc0")
			} else {
				cmd = exec.Command("ip", "netns", "exec", l.cli, bin, "-i", "dhc0", "-f", "-n", "-t", "5", "-T", "2",
					"-s", "/etc/udhcpc/default.script")
			}
			out := &strings.Builder{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			ok := waitFor(15*time.Second, func() bool {
				_, ok := l.clientShows("10.10.9.7/16", "default via 10.10.0.1")
				return ok
			})
			got, _ := l.clientShows()
			if !ok {
				t.Fatalf("%s:\n%s\n--- client:\n%s", client, got, out)
			}
			ping(t, l, "10.10.0.1")
		})
	}
}
