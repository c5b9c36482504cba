package dataplane

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/encap"
	"golang.org/x/sys/unix"
)

// TestRawSocketFacts pins what this kernel does with raw IPv4 sockets of
// protocol 4, the facts the planes rely on (see the package doc). Two
// namespaces, a and b, on a veth.
func TestRawSocketFacts(t *testing.T) {
	l := newLab(t, "a", "b")
	must(t, l.Veth("a", "eth0", "b", "eth0"))
	must(t, l.Addr("a", "eth0", "10.9.0.1/24"))
	must(t, l.Addr("b", "eth0", "10.9.0.2/24"))
	ha, hb := l.Handle(t, "a"), l.Handle(t, "b")
	A, B := netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")
	inner := udpPacket(netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("192.0.2.2"), 60, false)
	inner[1] = 0x28 // a TOS the kernel would not copy
	encap.IPv4(inner).UpdateChecksum()

	var send, recv *SocketConn
	var plain, icmp int
	inNS(t, ha, func() {
		var err error
		send, err = ListenRaw(protoIPIP, netip.Addr{})
		must(t, err)
		plain, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, protoIPIP)
		must(t, err)
		icmp, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		must(t, err)
	})
	t.Cleanup(func() { send.Close(); unix.Close(plain); unix.Close(icmp) })
	inNS(t, hb, func() {
		var err error
		recv, err = ListenRaw(protoIPIP, netip.Addr{})
		must(t, err)
	})
	t.Cleanup(func() { recv.Close() })

	msgs := []Msg{{Buf: make([]byte, 4096)}}
	read := func(what string) encap.IPv4 {
		t.Helper()
		got := make(chan int, 1)
		go func() {
			n, err := recv.ReadBatch(msgs)
			if err != nil {
				n = -1
			}
			got <- n
		}()
		select {
		case n := <-got:
			if n != 1 {
				t.Fatalf("%s: ReadBatch %d", what, n)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: nothing received", what)
		}
		return encap.IPv4(msgs[0].Buf[:msgs[0].N])
	}

	// 1. Without IP_HDRINCL the kernel writes the outer header: DF set
	// (IP_PMTUDISC_WANT), TOS 0 rather than the inner TOS, its own ID.
	// The receiver gets the outer header too.
	must(t, unix.Sendto(plain, inner, 0, &unix.SockaddrInet4{Addr: B.As4()}))
	o := read("plain")
	if len(o) != ipv4HeaderLen+len(inner) || o.Protocol() != protoIPIP || o.Src() != A || o.Dst() != B || msgs[0].Addr != netip.AddrPortFrom(A, 0) {
		t.Fatalf("receive without the outer header? %d octets from %v", len(o), msgs[0].Addr)
	}
	if !o.DF() || o.TOS() != 0 {
		t.Errorf("kernel-built outer header: DF %v TOS %#x", o.DF(), o.TOS())
	}

	// 2. With IP_HDRINCL (SocketConn): our TOS, DF and TTL are kept; the
	// checksum and Total Length are always filled in; ID and source
	// when zero.
	pkt := ipip(A, B, inner)
	h := encap.IPv4(pkt)
	h.SetTOS(0x28)
	h.SetTTL(33)
	h.SetID(0)
	h.SetSrc(netip.IPv4Unspecified())
	h.SetTotalLength(9999)
	h.SetChecksum(0)
	if _, err := send.WriteBatch([]Msg{{Buf: pkt, Addr: netip.AddrPortFrom(B, 0)}}); err != nil {
		t.Fatal(err)
	}
	o = read("hdrincl")
	if o.TOS() != 0x28 || o.TTL() != 33 || o.DF() || o.ID() == 0 || o.Src() != A || int(o.TotalLength()) != len(o) || !o.IsChecksumValid() {
		t.Errorf("HDRINCL header as received: %+v", o.Fields())
	}

	// 3. With IP_HDRINCL nothing is fragmented: too big is EMSGSIZE.
	big := ipip(A, B, udpPacket(A, B, 1600, false))
	if _, err := send.WriteBatch([]Msg{{Buf: big, Addr: netip.AddrPortFrom(B, 0)}}); !errors.Is(err, unix.EMSGSIZE) {
		t.Errorf("oversized HDRINCL send: %v, want EMSGSIZE", err)
	}
	// 4. ...while the kernel fragments its own outer header, and the
	// receiver gets the datagram reassembled.
	bigInner := udpPacket(netip.MustParseAddr("10.1.0.2"), B, 1600, false)
	must(t, unix.Sendto(plain, bigInner, 0, &unix.SockaddrInet4{Addr: B.As4()}))
	if o = read("fragmented"); len(o) != ipv4HeaderLen+1600 || o.IsFragment() {
		t.Errorf("fragmented send arrived as %d octets, fragment %v", len(o), o.IsFragment())
	}

	// 5. While a protocol-4 socket is open, no ICMP protocol unreachable.
	icmpAfter := func() (typ, code int, ok bool) {
		buf := make([]byte, 1500)
		must(t, unix.SetsockoptTimeval(icmp, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 300000}))
		for {
			n, _, err := unix.Recvfrom(icmp, buf, 0)
			if err != nil {
				return 0, 0, false
			}
			if n >= 22 && buf[20] == 3 {
				return int(buf[20]), int(buf[21]), true
			}
		}
	}
	if typ, code, ok := icmpAfter(); ok {
		t.Errorf("ICMP %d/%d while the socket was open", typ, code)
	}
	// 6. Once none is open, and no IPIP module is loaded, the kernel
	// answers protocol unreachable: the plane must hold its socket open
	// before bindings exist.
	recv.Close()
	must(t, unix.Sendto(plain, inner, 0, &unix.SockaddrInet4{Addr: B.As4()}))
	if typ, code, ok := icmpAfter(); !ok || typ != 3 || code != 2 {
		t.Logf("no ICMP protocol unreachable without a socket (an ipip module may be loaded): %d/%d %v", typ, code, ok)
	}

	// 7. net.IPConn.ReadFrom strips the outer header (so the planes use
	// recvmmsg through SocketConn instead).
	var ic *net.IPConn
	inNS(t, hb, func() {
		c, err := net.ListenPacket("ip4:4", "0.0.0.0")
		must(t, err)
		ic = c.(*net.IPConn)
	})
	defer ic.Close()
	must(t, unix.Sendto(plain, inner, 0, &unix.SockaddrInet4{Addr: B.As4()}))
	buf := make([]byte, 2000)
	ic.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := ic.ReadFrom(buf)
	if err != nil || n != len(inner) || binary.BigEndian.Uint16(buf[2:]) != uint16(len(inner)) {
		t.Errorf("net.IPConn.ReadFrom: %d octets (%v), want the inner %d", n, err, len(inner))
	}
}

// TestPktinfoBroadcast shows the home agent can tell a registration sent
// to a broadcast address (RFC 5944 §3.8.2.1) from a unicast one.
func TestPktinfoBroadcast(t *testing.T) {
	l := newLab(t, "a", "b")
	must(t, l.Veth("a", "eth0", "b", "eth0"))
	must(t, l.Addr("a", "eth0", "10.9.0.1/24"))
	must(t, l.Addr("b", "eth0", "10.9.0.2/24"))
	var srv, cl *SocketConn
	inNS(t, l.Handle(t, "b"), func() {
		var err error
		srv, err = ListenUDP(netip.MustParseAddrPort("0.0.0.0:434"))
		must(t, err)
	})
	defer srv.Close()
	inNS(t, l.Handle(t, "a"), func() {
		var err error
		cl, err = ListenUDP(netip.MustParseAddrPort("0.0.0.0:0"))
		must(t, err)
	})
	defer cl.Close()
	must(t, cl.rc.Control(func(fd uintptr) {
		must(t, unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1))
		must(t, unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "eth0"))
	}))
	in := []Msg{{Buf: make([]byte, 100)}}
	for _, dst := range []string{"10.9.0.2", "10.9.0.255", "255.255.255.255"} {
		to := netip.AddrPortFrom(netip.MustParseAddr(dst), 434)
		if _, err := cl.WriteBatch([]Msg{{Buf: []byte{1, 2, 3}, Addr: to}}); err != nil {
			t.Fatal(err)
		}
		if n, err := srv.ReadBatch(in); err != nil || n != 1 {
			t.Fatal(n, err)
		}
		if in[0].Local != to.Addr() || in[0].Addr.Addr() != netip.MustParseAddr("10.9.0.1") {
			t.Errorf("sent to %v: arrived with destination %v from %v", to, in[0].Local, in[0].Addr)
		}
	}
}
