package dataplane

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/mip4d/mip4d/agent/encap"
)

// TestTUNRoundTrip checks the Linux TUN device (IFF_NO_PI: bare IPv4
// datagrams; MTU; batch reads), with offloads (IFF_VNET_HDR) and without,
// and that its I/O allocates nothing: a batch sent with sendmmsg to an
// address routed into the device comes out of ReadBatch, and datagrams
// written into the device (Write and WriteBatch) arrive at the socket.
func TestTUNRoundTrip(t *testing.T) {
	for _, offload := range []bool{true, false} {
		t.Run(map[bool]string{true: "offload", false: "plain"}[offload], func(t *testing.T) { tunRoundTrip(t, offload) })
	}
}

func tunRoundTrip(t *testing.T, offload bool) {
	l := newLab(t, "t")
	var tun *TUN
	var c *SocketConn
	var kernelMTU int
	inNS(t, l.Handle(t, "t"), func() {
		var err error
		tun, err = openTUN("m4t%d", 1400, offload)
		must(t, err)
		must(t, l.Addr("t", tun.Name(), "10.77.0.1/24"))
		must(t, l.IP("t", "route", "add", "10.78.0.0/24", "dev", tun.Name()))
		c, err = listenUDP(netip.MustParseAddrPort("10.77.0.1:0"), offload)
		must(t, err)
		kernelMTU, err = ifMTU(tun.Name())
		must(t, err)
	})
	defer tun.Close()
	defer c.Close()
	if tun.Name() != "m4t0" || tun.MTU() != 1400 || tun.Index() == 0 {
		t.Errorf("device %s MTU %d index %d", tun.Name(), tun.MTU(), tun.Index())
	}
	if kernelMTU != 1400 {
		t.Errorf("kernel MTU %d", kernelMTU)
	}

	const n = 8
	far := netip.MustParseAddrPort("10.78.0.9:9")
	out := make([]Msg, n)
	for i := range out {
		out[i] = Msg{Buf: make([]byte, 100+i), Addr: far}
	}
	bufs, sizes := make([][]byte, n), make([]int, n)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	// Datagrams from 10.78.0.9:9 to the socket, written into the device.
	in := make([]Msg, n)
	back := make([][]byte, n)
	for i := range in {
		in[i].Buf = make([]byte, 2048)
		back[i] = udpPacket(far.Addr(), netip.MustParseAddr("10.77.0.1"), 60, false)
		u := back[i][ipv4HeaderLen:] // the UDP header (RFC 768)
		binary.BigEndian.PutUint16(u[0:], far.Port())
		binary.BigEndian.PutUint16(u[2:], c.LocalAddr().Port())
		binary.BigEndian.PutUint16(u[6:], 0) // no checksum
	}
	batch := make([][]byte, n-n/2)
	roundTrip := func() {
		if k, err := c.WriteBatch(out); err != nil || k != n {
			t.Fatalf("WriteBatch %d %v", k, err)
		}
		for got := 0; got < n; {
			k, err := tun.ReadBatch(bufs[got:], sizes[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += k
		}
		for i := range back[:n/2] {
			if _, err := tun.Write(back[i]); err != nil {
				t.Fatal(err)
			}
		}
		copy(batch, back[n/2:])
		if err := tun.WriteBatch(batch); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < n; {
			k, err := c.ReadBatch(in[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += k
		}
	}
	roundTrip()
	for i := range n {
		ip := encap.IPv4(bufs[i][:sizes[i]])
		if sizes[i] != ipv4HeaderLen+8+100+i || ip.Version() != 4 || ip.Dst() != far.Addr() || ip.Protocol() != 17 {
			t.Errorf("datagram %d from the device: % x", i, bufs[i][:min(sizes[i], 28)])
		}
		if in[i].N != 32 || in[i].Addr != far {
			t.Errorf("datagram %d at the socket: %d octets from %v", i, in[i].N, in[i].Addr)
		}
	}
	if !raceEnabled {
		if a := testing.AllocsPerRun(50, roundTrip); a != 0 {
			t.Errorf("%v allocations per round trip", a)
		}
	}
	if tun.Offloads().VnetHdr != offload {
		t.Errorf("offloads %+v", tun.Offloads())
	}
	must(t, tun.SetUp(false))
	must(t, tun.SetUp(true))
}
