package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/daemon"
	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/wire"
)

// The pair of TestRedundancyLab: two home agents and a mobile node on one
// switch; the virtual address is added and moved by hand, as keepalived
// would.
var (
	rVIP   = netip.MustParseAddr("198.51.100.10")
	rHA1   = netip.MustParseAddr("198.51.100.11")
	rHA2   = netip.MustParseAddr("198.51.100.12")
	rMN    = netip.MustParseAddr("198.51.100.50")
	rNodes = 20
	rKey   = strings.Repeat("5a17", 16)
)

func rHoA(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 10, 0, byte(10 + i)}) }

func rSA(i int) *auth.SA {
	return &auth.SA{SPI: 1000, Key: auth.Secret(fmt.Sprintf("mobile-node-%03d", i))}
}

func rConfig(dir, name string, local, peer netip.Addr, role string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "config mip4d 'globals'\n\toption role 'ha'\n\toption dataplane 'userspace'\n\toption log_level 'info'\n"+
		"\toption state_dir '%s/%s-state'\n\toption run_dir '%s/%s-run'\n\toption control_socket '%s/%s.sock'\n",
		dir, name, dir, name, dir, name)
	fmt.Fprintf(&b, "config homeagent 'homeagent'\n\toption address '%v'\n\toption home_network '10.10.0.0/16'\n"+
		"\toption redundancy_role '%s'\n", rVIP, role)
	for i := range rNodes {
		fmt.Fprintf(&b, "config mobile_node\n\toption home_address '%v'\n\toption spi '1000'\n\toption key '%s'\n", rHoA(i), string(rSA(i).Key))
	}
	fmt.Fprintf(&b, "config ha_peer 'peer'\n\toption address '%v'\n\toption local_address '%v'\n\toption key '%s'\n", peer, local, rKey)
	p := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		panic(err)
	}
	return p
}

// rRequest is a co-located registration of node i stamped at.
func rRequest(i int, at time.Time, life uint16) []byte {
	m := wire.RegistrationRequest{Flags: wire.FlagD | wire.FlagT, Lifetime: life, HomeAddr: rHoA(i), HomeAgent: rVIP,
		CareOf: rMN, ID: auth.NTPTime(at)}
	b, _ := m.AppendBinary(nil)
	return auth.Append(b, auth.MNHA, rSA(i))
}

// register sends one request from the mobile node's socket to dst and
// returns the reply code, or -1 when none came within wait.
func register(t *testing.T, c *net.UDPConn, dst netip.Addr, req []byte, wait time.Duration) int {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(req, netip.AddrPortFrom(dst, wire.Port)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	c.SetReadDeadline(time.Now().Add(wait))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return -1
	}
	if from.Addr() != dst {
		t.Fatalf("reply from %v to a request sent to %v", from, dst)
	}
	var m wire.RegistrationReply
	if err := m.UnmarshalBinary(buf[:n]); err != nil {
		t.Fatalf("reply: %v", err)
	}
	return int(m.Code)
}

type rStatus struct {
	Redundancy daemon.RedundancyStatus `json:"redundancy"`
	HA         struct {
		Counters struct {
			Accepted int64 `json:"accepted"`
		} `json:"counters"`
	} `json:"ha"`
}

func acceptedOf(t *testing.T, sock string) int64 {
	t.Helper()
	rc, out, errb := runCmd("status", "--json", "--socket", sock)
	if rc != 0 {
		t.Fatalf("status: %s", errb)
	}
	var s rStatus
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	return s.HA.Counters.Accepted
}

func haStatusOf(t *testing.T, sock string) daemon.RedundancyStatus {
	t.Helper()
	s, err := tryStatus(sock)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tryStatus is the redundancy status, or an error while the daemon is not
// answering yet (its socket opens before the home agent's commands are
// registered).
func tryStatus(sock string) (daemon.RedundancyStatus, error) {
	rc, out, errb := runCmd("status", "--json", "--socket", sock)
	if rc != 0 {
		return daemon.RedundancyStatus{}, fmt.Errorf("status: %s", errb)
	}
	var s rStatus
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return daemon.RedundancyStatus{}, err
	}
	return s.Redundancy, nil
}

func bindingsOf(t *testing.T, sock string) []daemon.BindingRow {
	t.Helper()
	rc, out, errb := runCmd("bindings", "--json", "--socket", sock)
	if rc != 0 {
		t.Fatalf("bindings: %s", errb)
	}
	var rows []daemon.BindingRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

// waitFor polls cond every 20 ms for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

// sameRows compares the binding sets of the active and the standby: home
// address, care-of address, endpoint, lifetime and Identification.
func sameRows(a, b []daemon.BindingRow) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.HomeAddr != y.HomeAddr || x.CareOf != y.CareOf || x.Endpoint != y.Endpoint || x.Lifetime != y.Lifetime ||
			x.ID != y.ID || x.Tunnel != y.Tunnel || !x.Registered.Equal(y.Registered) {
			return false
		}
	}
	return true
}

// TestRedundancyLab runs two real mip4d home agents: registrations
// accepted by the master appear in mip4d bindings --json on the backup,
// which installs no data plane and answers nothing; a connection to the
// replication port from elsewhere is refused and counted; mip4d ha-role
// (keepalived's notify form) makes the backup master: it installs the
// data plane for every binding, answers from the virtual address, refuses
// an Identification older than one the old master accepted (133, RFC 5944
// §5.7), and replicates back to the old master, now backup.
func TestRedundancyLab(t *testing.T) {
	l := lab.ForTest(t)
	bin := filepath.Join(t.TempDir(), "mip4d")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building mip4d: %v\n%s", err, out)
	}
	for _, ns := range []string{"sw", "ha1", "ha2", "mn"} {
		if err := l.AddNS(ns); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.IPBatch("sw", "link add br0 type bridge", "link set br0 up"); err != nil {
		t.Fatal(err)
	}
	for ns, a := range map[string]netip.Addr{"ha1": rHA1, "ha2": rHA2, "mn": rMN} {
		if err := l.Veth(ns, "eth0", "sw", ns); err != nil {
			t.Fatal(err)
		}
		if err := l.IPBatch("sw", "link set "+ns+" master br0", "link set "+ns+" up"); err != nil {
			t.Fatal(err)
		}
		if err := l.IPBatch(ns, "addr add "+a.String()+"/24 dev eth0", "link set eth0 up", "link set lo up"); err != nil {
			t.Fatal(err)
		}
	}
	// keepalived's part, by hand: the virtual address on ha1.
	if err := l.IP("ha1", "addr", "add", rVIP.String()+"/32", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	dir := l.Dir()
	sock1, sock2 := filepath.Join(dir, "ha1.sock"), filepath.Join(dir, "ha2.sock")
	// ha2 (the backup, without the virtual address) starts first.
	p2, err := l.Start("ha2", "ha2", bin, "run", "--config", rConfig(dir, "ha2", rHA2, rHA1, "backup"))
	if err != nil {
		t.Fatal(err)
	}
	p1, err := l.Start("ha1", "ha1", bin, "run", "--config", rConfig(dir, "ha1", rHA1, rHA2, "master"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "both control sockets", func() bool {
		_, e1 := os.Stat(sock1)
		_, e2 := os.Stat(sock2)
		return e1 == nil && e2 == nil && p1.Running() && p2.Running()
	})
	waitFor(t, 10*time.Second, "the replication link", func() bool {
		s1, err1 := tryStatus(sock1)
		s2, err2 := tryStatus(sock2)
		return err1 == nil && err2 == nil && s1.Connected && s2.Connected
	})

	var mn *net.UDPConn
	if err := l.In("mn", func() (err error) {
		mn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(rMN, 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer mn.Close()
	t1 := time.Now()
	for i := range rNodes {
		if code := register(t, mn, rVIP, rRequest(i, t1, 300), 2*time.Second); code != 0 {
			t.Fatalf("node %d: code %d from the master", i, code)
		}
	}
	waitFor(t, 5*time.Second, "the bindings on the backup", func() bool {
		return len(bindingsOf(t, sock2)) == rNodes
	})
	if a, b := bindingsOf(t, sock1), bindingsOf(t, sock2); !sameRows(a, b) {
		t.Fatalf("the backup's bindings differ from the master's:\n%+v\n%+v", a, b)
	}
	s1, s2 := haStatusOf(t, sock1), haStatusOf(t, sock2)
	t.Logf("master: %+v", s1)
	t.Logf("backup: %+v", s2)
	if s1.Role != "master" || s2.Role != "backup" || s1.DataPlaneBindings != rNodes || s2.DataPlaneBindings != 0 ||
		s2.Applied < int64(rNodes) || s1.Acked < int64(rNodes) || s2.SnapshotsApplied < 1 || s1.PeerRole != "backup" {
		t.Fatalf("status: master %+v, backup %+v", s1, s2)
	}
	if rc, out, _ := runCmd("status", "--socket", sock2); rc != 0 || !strings.Contains(out, "home agent, redundancy backup\n") ||
		!strings.Contains(out, "redundancy  backup; peer 198.51.100.11:4340 connected; 0 entries, 0 ms behind\n") {
		t.Errorf("status text of the backup:\n%s", out)
	}
	// The backup answers no registration, even sent to its own address.
	if code := register(t, mn, rHA2, rRequest(0, time.Now(), 300), 300*time.Millisecond); code != -1 {
		t.Fatalf("the backup answered a registration with %d", code)
	}
	// A stranger on the replication port: refused, counted, nothing changed.
	if err := l.In("mn", func() error {
		c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(rHA2, 4340).String(), time.Second)
		if err == nil {
			c.Write(make([]byte, 64))
			c.Close()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the stranger counted", func() bool {
		s := haStatusOf(t, sock2)
		return s.RejectedAuth >= 1 && s.StandbyDropped >= 1 && s.Connected
	})

	// 10000 registrations at 10000/s on the master: the backup keeps up
	// (no overflow) and ends with the same bindings. Paced in 1 ms steps
	// of 10; bounded in count and time.
	const burst = 10000
	before := acceptedOf(t, sock1)
	base := time.Now()
	start := time.Now()
	for k := 0; k < burst && time.Since(start) < 5*time.Second; k++ {
		if k%10 == 0 {
			time.Sleep(time.Until(start.Add(time.Duration(k/10) * time.Millisecond)))
		}
		req := rRequest(k%rNodes, base.Add(time.Duration(k)*time.Microsecond), 300)
		if _, err := mn.WriteToUDPAddrPort(req, netip.AddrPortFrom(rVIP, wire.Port)); err != nil {
			t.Fatal(err)
		}
	}
	sent := time.Since(start)
	replies := 0
	buf := make([]byte, 1500)
	for {
		mn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, _, err := mn.ReadFromUDPAddrPort(buf); err != nil {
			break
		}
		replies++
	}
	waitFor(t, 10*time.Second, "the backup to catch up with the burst", func() bool {
		return sameRows(bindingsOf(t, sock1), bindingsOf(t, sock2)) && haStatusOf(t, sock1).LagEntries == 0
	})
	s1, s2 = haStatusOf(t, sock1), haStatusOf(t, sock2)
	accepted := acceptedOf(t, sock1) - before
	t.Logf("burst: %d requests in %v (%.0f/s), %d accepted, %d replies read after it (the rest overflow the test socket's buffer); master sent %d node records (changes of one node coalesce), acked %d, %d snapshots, %d overflows; backup applied %d",
		burst, sent, burst/sent.Seconds(), accepted, replies, s1.Sent, s1.Acked, s1.SnapshotsSent, s1.Overflows, s2.Applied)
	if accepted < burst*9/10 {
		t.Errorf("the master accepted only %d of %d", accepted, burst)
	}
	if s1.Overflows != 0 || s1.Acked != s1.Sent {
		t.Fatalf("the backup did not keep up: %+v", s1)
	}

	// Failover: keepalived moves the address and notifies both.
	if err := l.IP("ha1", "addr", "del", rVIP.String()+"/32", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := l.IPBatch("ha2", "addr add "+rVIP.String()+"/32 dev eth0"); err != nil {
		t.Fatal(err)
	}
	l.Exec("mn", "ip", "neigh", "flush", "dev", "eth0") // as the gratuitous ARP of keepalived would
	if rc, out, errb := runCmd("ha-role", "--socket", sock2, "INSTANCE", "VI_1", "MASTER", "150"); rc != 0 || !strings.Contains(out, `"role":"master"`) {
		t.Fatalf("ha-role on ha2: rc %d %s %s", rc, out, errb)
	}
	if rc, _, errb := runCmd("ha-role", "--socket", sock1, "backup"); rc != 0 {
		t.Fatalf("ha-role on ha1: %s", errb)
	}
	if rc, _, _ := runCmd("ha-role", "--socket", sock1, "primary"); rc != 2 {
		t.Fatal("a bad role is not a usage error")
	}
	s1, s2 = haStatusOf(t, sock1), haStatusOf(t, sock2)
	if s2.Role != "master" || s2.DataPlaneBindings != rNodes || s1.Role != "backup" || s1.DataPlaneBindings != 0 {
		t.Fatalf("after failover: old master %+v, new master %+v", s1, s2)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "ha2-run", daemon.RoleFileName)); err != nil || string(b) != "master\n" {
		t.Fatalf("role file: %q %v", b, err)
	}
	// The new master answers from the virtual address; an Identification
	// older than the one the old master accepted is a replay: 133.
	if code := register(t, mn, rVIP, rRequest(3, t1.Add(-time.Second), 300), 2*time.Second); code != int(wire.CodeHAIDMismatch) {
		t.Fatalf("an old Identification after failover: code %d, want 133", code)
	}
	t2 := time.Now().Add(time.Second)
	for i := range rNodes {
		if code := register(t, mn, rVIP, rRequest(i, t2, 200), 2*time.Second); code != 0 {
			t.Fatalf("node %d: code %d from the new master", i, code)
		}
	}
	// And the old master, now backup, follows.
	waitFor(t, 5*time.Second, "the renewals on the old master", func() bool {
		rows := bindingsOf(t, sock1)
		return len(rows) == rNodes && rows[0].ID == auth.NTPTime(t2) && sameRows(rows, bindingsOf(t, sock2))
	})
	if s := haStatusOf(t, sock2); s.LagEntries != 0 || s.Sent < int64(rNodes) {
		t.Fatalf("new master's replication: %+v", s)
	}

	// SIGUSR2 and SIGUSR1 (notify scripts that only have kill).
	for _, sig := range []struct {
		s    syscall.Signal
		role string
		dp   int
	}{{syscall.SIGUSR2, "backup", 0}, {syscall.SIGUSR1, "master", rNodes}} {
		if err := p2.Cmd.Process.Signal(sig.s); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 3*time.Second, "the role from "+sig.s.String(), func() bool {
			s := haStatusOf(t, sock2)
			return s.Role == sig.role && s.DataPlaneBindings == sig.dp
		})
	}

	// The old master crashes and restarts: it resumes the role it was last
	// told (backup, though its configuration says master) and gets the
	// bindings again from its peer's snapshot (and its own state file).
	p1.Kill()
	os.Remove(sock1)
	p1, err = l.Start("ha1", "ha1-restarted", bin, "run", "--config", filepath.Join(dir, "ha1.conf"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the restarted home agent's replication", func() bool {
		s, err := tryStatus(sock1)
		return err == nil && s.Connected && s.SnapshotsApplied >= 1
	})
	if s := haStatusOf(t, sock1); s.Role != "backup" || s.DataPlaneBindings != 0 || !sameRows(bindingsOf(t, sock1), bindingsOf(t, sock2)) {
		t.Fatalf("restarted: %+v", s)
	}
}
