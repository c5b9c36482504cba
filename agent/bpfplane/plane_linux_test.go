package bpfplane

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/dataplane"
	"github.com/mip4d/mip4d/agent/encap"
	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/internal/lab"
)

// The home agent lab of these tests:
//
//	[ha] up0 192.0.2.1/24 ──── eth0 192.0.2.2/24, 192.0.2.3/24 [peer]
//	     mip0 (TUN): 10.10.0.0/16
var (
	haAddr  = netip.MustParseAddr("192.0.2.1")
	peer    = netip.MustParseAddr("192.0.2.2")
	peer2   = netip.MustParseAddr("192.0.2.3")
	home1   = netip.MustParseAddr("10.10.0.5") // RFC 3519 UDP binding at peer:40000
	home2   = netip.MustParseAddr("10.10.0.6") // IP-in-IP binding at peer2
	spoofed = netip.MustParseAddr("10.10.0.9")
)

type haLab struct {
	l     *lab.Lab
	plane *Plane
	tun   *dataplane.TUN
}

func newHALab(t *testing.T) *haLab {
	t.Helper()
	l := lab.ForTest(t)
	for _, ns := range []string{"ha", "peer"} {
		must(t, l.AddNS(ns))
	}
	must(t, l.Veth("ha", "up0", "peer", "eth0"))
	must(t, l.Addr("ha", "up0", haAddr.String()+"/24"))
	must(t, l.Addr("peer", "eth0", peer.String()+"/24"))
	must(t, l.Addr("peer", "eth0", peer2.String()+"/24"))
	x := &haLab{l: l}
	must(t, l.In("ha", func() error {
		var err error
		x.tun, err = dataplane.OpenTUN("mip0", 1480)
		return err
	}))
	t.Cleanup(func() { x.tun.Close() })
	must(t, l.IP("ha", "link", "set", "mip0", "up"))
	must(t, l.Route("ha", "10.10.0.0/16", "dev", "mip0"))
	must(t, l.Sysctl("ha", "net.ipv4.conf.all.rp_filter", "0"))
	must(t, l.Sysctl("ha", "net.ipv4.conf.mip0.rp_filter", "0"))
	must(t, l.In("ha", func() error {
		var err error
		x.plane, err = Open(Config{Role: RoleHA, Local: haAddr, Port: 434, TUN: "mip0"})
		return err
	}))
	t.Cleanup(func() { x.plane.Close() })
	return x
}

func (x *haLab) apply(t *testing.T, evs ...ha.Event) {
	t.Helper()
	must(t, x.l.In("ha", func() error { return x.plane.Apply(HAChanges(haAddr, evs)...) }))
}

func (x *haLab) listen(t *testing.T, ns string, ap netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	must(t, x.l.In(ns, func() error {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return c
}

func (x *haLab) counter(t *testing.T, group, name string) uint64 {
	t.Helper()
	s, err := x.plane.Stats()
	must(t, err)
	switch group {
	case "punted":
		return s.Punted[name]
	case "dropped":
		return s.Dropped[name]
	}
	t.Fatalf("no counter group %s", group)
	return 0
}

// inner builds an IPv4/UDP datagram (UDP checksum 0).
func inner(src, dst netip.Addr, sport, dport uint16, ttl uint8, payload []byte) []byte {
	b := make([]byte, 28+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8], b[9] = ttl, 17
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	encap.IPv4(b).UpdateChecksum()
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	copy(b[28:], payload)
	return b
}

// tunnelData is an RFC 3519 §3.3 Tunnel Data message around pkt.
func tunnelData(next uint8, pkt []byte) []byte {
	return append([]byte{4, next, 0, 0}, pkt...)
}

func read(t *testing.T, c *net.UDPConn, wait time.Duration) ([]byte, netip.AddrPort, bool) {
	t.Helper()
	buf := make([]byte, 65536)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, netip.AddrPort{}, false
	}
	return buf[:n], from, true
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestHAPlane runs the home agent programs in a namespace lab: datagrams
// for bound home addresses leave encapsulated (RFC 3519 UDP, IP in IP)
// without reaching userspace, reverse-tunnelled datagrams are taken apart
// and routed, every RFC 3024 §4.3.2 check drops in the kernel with its
// counter, and control traffic reaches the daemon's socket untouched.
func TestHAPlane(t *testing.T) {
	lab.RequireRoot(t)
	x := newHALab(t)
	now := time.Now()
	x.apply(t,
		ha.Event{Kind: ha.BindingAdded, Binding: ha.Binding{HomeAddr: home1, CareOf: peer,
			Endpoint: netip.AddrPortFrom(peer, 40000), UDP: true, Encap: ha.EncapIPIP, Registered: now}},
		ha.Event{Kind: ha.BindingAdded, Binding: ha.Binding{HomeAddr: home2, CareOf: peer2,
			Endpoint: netip.AddrPortFrom(peer2, 0), Encap: ha.EncapIPIP, Registered: now}})

	mnSock := x.listen(t, "peer", netip.AddrPortFrom(peer, 40000))
	strangerSock := x.listen(t, "peer", netip.AddrPortFrom(peer, 40001))
	control := x.listen(t, "ha", netip.AddrPortFrom(netip.IPv4Unspecified(), 434))
	app := x.listen(t, "ha", netip.AddrPortFrom(netip.IPv4Unspecified(), 5000))

	// Forward, RFC 3519: a datagram to the home address arrives at the
	// binding's endpoint in Tunnel Data, from the HA's port 434. The
	// first one waits for ARP (bpf_redirect_neigh), the second does not.
	for i := range 3 {
		if i == 2 {
			// A home agent forwards: bpf_fib_lookup's fast path.
			must(t, x.l.Router("ha"))
		}
		payload := []byte{'f', 'w', byte('0' + i)}
		_, err := app.WriteToUDPAddrPort(payload, netip.AddrPortFrom(home1, 7))
		must(t, err)
		got, from, ok := read(t, mnSock, 2*time.Second)
		if !ok {
			t.Fatalf("datagram %d not tunnelled to the care-of address; stats %+v", i, stats(t, x))
		}
		if from != netip.AddrPortFrom(haAddr, 434) {
			t.Errorf("tunnelled from %v, want %v:434", from, haAddr)
		}
		if len(got) < 4+28 || got[0] != 4 || got[1] != 4 {
			t.Fatalf("not Tunnel Data with Next Header 4: % x", got)
		}
		ip := encap.IPv4(got[4:])
		if ip.Src() != haAddr || ip.Dst() != home1 || !ip.IsChecksumValid() || !bytes.Equal(got[4+28:], payload) {
			t.Errorf("inner datagram %v → %v checksum ok %v payload %q", ip.Src(), ip.Dst(), ip.IsChecksumValid(), got[4+28:])
		}
	}
	if s := stats(t, x); s.EncapPackets != 3 || s.Punted["no_tunnel"] != 0 {
		t.Errorf("encapsulated %d, punted %v: want 3 in the kernel", s.EncapPackets, s.Punted)
	}

	// Reverse: Tunnel Data from the binding's endpoint is taken apart and
	// delivered; the daemon's port 434 sees none of it.
	_, err := mnSock.WriteToUDPAddrPort(tunnelData(4, inner(home1, haAddr, 7, 5000, 64, []byte("rev"))), netip.AddrPortFrom(haAddr, 434))
	must(t, err)
	got, from, ok := read(t, app, 2*time.Second)
	if !ok || string(got) != "rev" || from != netip.AddrPortFrom(home1, 7) {
		t.Fatalf("reverse-tunnelled datagram: %q from %v (ok %v); stats %+v", got, from, ok, stats(t, x))
	}

	// Control traffic: a registration request reaches the socket as sent.
	req := []byte{1, 0, 0, 60, 10, 10, 0, 5}
	_, err = strangerSock.WriteToUDPAddrPort(req, netip.AddrPortFrom(haAddr, 434))
	must(t, err)
	got, _, ok = read(t, control, 2*time.Second)
	if !ok || !bytes.Equal(got, req) {
		t.Fatalf("control message: got % x (ok %v), want % x: tunnel data leaked to the socket or control was lost", got, ok, req)
	}
	if c := stats(t, x).Control; c != 1 {
		t.Errorf("control counter %d, want 1", c)
	}

	// Every anti-spoofing rule drops in the kernel, counted by name.
	cases := []struct {
		name string
		from *net.UDPConn
		msg  []byte
		drop string
	}{
		{"inner source not the binding's", mnSock, tunnelData(4, inner(spoofed, haAddr, 7, 5000, 64, []byte("x"))), "inner_source_mismatch"},
		{"outer source port not the binding's", strangerSock, tunnelData(4, inner(home1, haAddr, 7, 5000, 64, []byte("x"))), "outer_source_mismatch"},
		{"stranger", strangerSock, tunnelData(4, inner(spoofed, haAddr, 7, 5000, 64, []byte("x"))), "no_binding"},
		{"wrong next header", mnSock, tunnelData(47, append([]byte{0, 0, 8, 0}, inner(home1, haAddr, 7, 5000, 64, []byte("x"))...)), "wrong_next_header"},
		{"inner TTL 0", mnSock, tunnelData(4, inner(home1, haAddr, 7, 5000, 0, []byte("x"))), "ttl_expired"},
		{"for the tunnel's far end", mnSock, tunnelData(4, inner(home1, peer, 7, 5000, 64, []byte("x"))), "routing_loop"},
		{"truncated inner header", mnSock, tunnelData(4, []byte{0x45, 0, 0}), "malformed"},
	}
	for _, c := range cases {
		before := x.counter(t, "dropped", c.drop)
		_, err := c.from.WriteToUDPAddrPort(c.msg, netip.AddrPortFrom(haAddr, 434))
		must(t, err)
		if got, _, ok := read(t, app, 200*time.Millisecond); ok {
			t.Errorf("%s: delivered %q", c.name, got)
		}
		if got, _, ok := read(t, control, 10*time.Millisecond); ok {
			t.Errorf("%s: reached the daemon's socket: % x", c.name, got)
		}
		if after := x.counter(t, "dropped", c.drop); after != before+1 {
			t.Errorf("%s: drop %s counted %d → %d", c.name, c.drop, before, after)
		}
	}

	// IP in IP: raw, to the second binding's care-of address.
	var raw *net.IPConn
	must(t, x.l.In("peer", func() error {
		var err error
		raw, err = net.ListenIP("ip4:4", &net.IPAddr{IP: peer2.AsSlice()})
		return err
	}))
	defer raw.Close()
	_, err = app.WriteToUDPAddrPort([]byte("ipip"), netip.AddrPortFrom(home2, 7))
	must(t, err)
	buf := make([]byte, 2048)
	_ = raw.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := raw.Read(buf)
	if err != nil {
		t.Fatalf("IP-in-IP not received: %v; stats %+v", err, stats(t, x))
	}
	outer := encap.IPv4(buf[:n])
	if outer.Src() != haAddr || outer.Dst() != peer2 || outer.Protocol() != 4 || !outer.IsChecksumValid() {
		t.Errorf("outer header %v → %v proto %d checksum ok %v", outer.Src(), outer.Dst(), outer.Protocol(), outer.IsChecksumValid())
	}
	in := encap.IPv4(buf[20:n])
	if in.Dst() != home2 || string(buf[20+28:n]) != "ipip" {
		t.Errorf("inner datagram to %v, payload %q", in.Dst(), buf[20+28:n])
	}

	// Per-binding counters.
	bs, ok, err := x.plane.Binding(Key{Home: home1, Peer: peer})
	must(t, err)
	if !ok || bs.EncapPackets != 3 || bs.DecapPackets != 1 {
		t.Errorf("binding counters of %v: %+v (held %v), want 3 out, 1 in", home1, bs, ok)
	}

	// A handoff: the binding moves to another endpoint in one update; the
	// next datagram goes there, none to the old one.
	x.apply(t,
		ha.Event{Kind: ha.BindingRemoved, Binding: ha.Binding{HomeAddr: home1, CareOf: peer}},
		ha.Event{Kind: ha.BindingAdded, Binding: ha.Binding{HomeAddr: home1, CareOf: peer,
			Endpoint: netip.AddrPortFrom(peer, 40001), UDP: true, Encap: ha.EncapIPIP, Registered: now}})
	_, err = app.WriteToUDPAddrPort([]byte("moved"), netip.AddrPortFrom(home1, 7))
	must(t, err)
	if got, _, ok := read(t, strangerSock, 2*time.Second); !ok || !bytes.HasSuffix(got, []byte("moved")) {
		t.Errorf("after the move: got %q (ok %v) at the new endpoint", got, ok)
	}
	if got, _, ok := read(t, mnSock, 100*time.Millisecond); ok {
		t.Errorf("after the move the old endpoint got %q", got)
	}
}

func stats(t *testing.T, x *haLab) Stats {
	t.Helper()
	s, err := x.plane.Stats()
	must(t, err)
	return s
}

// TestLoadPrograms loads every program of the embedded object with this
// package's own loader (the daemon's path): each passes this kernel's
// verifier.
func TestLoadPrograms(t *testing.T) {
	lab.RequireRoot(t)
	obj, err := ParseObject(object)
	must(t, err)
	raiseMemlock()
	fds := make([]int, len(obj.Maps))
	for i, s := range obj.Maps {
		m, err := newMap(s)
		must(t, err)
		defer m.Close()
		fds[i] = m.fd
	}
	if len(obj.Programs) != 3 {
		t.Errorf("%d programs, want 3", len(obj.Programs))
	}
	for _, p := range obj.Programs {
		insns, err := p.patched(obj.Order, fds)
		must(t, err)
		fd, err := loadProgram(p.Name, insns, obj.License)
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
			continue
		}
		closeFD(fd)
		t.Logf("%s: %d instructions loaded", p.Name, len(insns)/bpfInsnLen)
	}
}
