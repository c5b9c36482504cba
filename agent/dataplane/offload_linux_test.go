package dataplane

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/mip4d/mip4d/agent/encap"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/mn"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// tunnelLab is a home agent plane and a mobile node plane with real TUN
// devices and sockets in three namespaces, an RFC 3519 UDP binding (or IP
// in IP) between them, and traffic to pass:
//
//	cn 192.0.2.2 ── 192.0.2.1 ha 198.51.100.1 ── 198.51.100.2 mn (home address 10.1.0.2)
type tunnelLab struct {
	l          *lab.Lab
	h          *HA
	m          *MN
	hdev, mdev *TUN
	hoa, cn    netip.Addr
}

// newTunnelLab builds the lab, with the TUN offloads and UDP GSO or
// without, and runs both planes until the test ends.
func newTunnelLab(tb testing.TB, offload, udp bool) *tunnelLab {
	tb.Helper()
	lab.RequireRoot(tb)
	dir, err := os.MkdirTemp("", "mip4d-lab-")
	must(tb, err)
	l, err := lab.New(dir)
	must(tb, err)
	tb.Cleanup(func() { l.Close(); os.RemoveAll(dir) })
	for _, n := range []string{"cn", "ha", "mn"} {
		must(tb, l.AddNS(n))
	}
	must(tb, l.Veth("cn", "eth0", "ha", "lan"))
	must(tb, l.Veth("ha", "wan", "mn", "eth0"))
	must(tb, l.Addr("cn", "eth0", "192.0.2.2/24"))
	must(tb, l.Route("cn", "default", "via", "192.0.2.1"))
	must(tb, l.Addr("ha", "lan", "192.0.2.1/24"))
	must(tb, l.Addr("ha", "wan", "198.51.100.1/24"))
	must(tb, l.Router("ha"))
	must(tb, l.Addr("mn", "eth0", "198.51.100.2/24"))
	handle := func(name string) netns.NsHandle {
		h, err := netns.GetFromPath(filepath.Join("/run/netns", l.NS(name)))
		must(tb, err)
		tb.Cleanup(func() { h.Close() })
		return h
	}
	hha, hmn := handle("ha"), handle("mn")
	x := &tunnelLab{l: l, hoa: netip.MustParseAddr("10.1.0.2"), cn: netip.MustParseAddr("192.0.2.2")}
	haAddr, coa := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")

	hcfg, mcfg := HAConfig{Addr: haAddr}, MNConfig{}
	var hc HAConns
	var mc MNConns
	var mport uint16
	inNS(tb, hha, func() {
		x.hdev, err = openTUN("m4ha", hcfg.DeviceMTU(false), offload)
		must(tb, err)
		sc, err := listenUDP(netip.MustParseAddrPort("0.0.0.0:434"), offload)
		must(tb, err)
		rc, err := ListenRaw(protoIPIP, netip.Addr{})
		must(tb, err)
		hc = HAConns{UDP: sc, IPIP: rc}
	})
	inNS(tb, hmn, func() {
		x.mdev, err = openTUN("m4mn", mcfg.DeviceMTU(), offload)
		must(tb, err)
		sc, err := listenUDP(netip.MustParseAddrPort("0.0.0.0:0"), offload)
		must(tb, err)
		mport = sc.LocalAddr().Port()
		rc, err := ListenRaw(protoIPIP, netip.Addr{})
		must(tb, err)
		mc = MNConns{UDP: sc, IPIP: rc}
	})
	must(tb, l.IP("ha", "route", "add", x.hoa.String()+"/32", "dev", "m4ha"))
	must(tb, l.IP("mn", "addr", "add", x.hoa.String()+"/32", "dev", "m4mn"))
	must(tb, l.IP("mn", "route", "add", "192.0.2.0/24", "dev", "m4mn", "src", x.hoa.String()))
	x.h, err = NewHA(hcfg, x.hdev, hc)
	must(tb, err)
	x.m, err = NewMN(mcfg, x.mdev, mc)
	must(tb, err)
	b := ha.Binding{HomeAddr: x.hoa, CareOf: coa, Endpoint: netip.AddrPortFrom(coa, 0), Encap: ha.EncapIPIP, ReverseTunnel: true}
	tun := mn.Tunnel{Up: true, HomeAddr: x.hoa, Local: coa, Remote: netip.AddrPortFrom(haAddr, 0), Reverse: true}
	if udp {
		b.UDP, b.Endpoint = true, netip.AddrPortFrom(coa, mport)
		tun.UDP, tun.Remote = true, netip.AddrPortFrom(haAddr, 434)
	}
	must(tb, x.h.Apply(ha.Event{Kind: ha.BindingAdded, Binding: b}))
	x.m.SetTunnel(tun)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{x.h.Run, x.m.Run} {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				tb.Errorf("Run: %v", err)
			}
		})
	}
	tb.Cleanup(func() { cancel(); wg.Wait() })
	if !l.Ping("mn", x.cn, 5) {
		tb.Fatalf("the mobile node cannot ping cn; HA %+v MN %+v", x.h.Stats(), x.m.Stats())
	}
	return x
}

// cpuTime is the user and system time of this process so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// iperf runs iperf3 for secs seconds from the home address to cn (extra
// arguments appended) and returns the receiver's bits per second.
func (x *tunnelLab) iperf(tb testing.TB, secs int, args ...string) float64 {
	tb.Helper()
	srv, err := x.l.Start("cn", fmt.Sprintf("iperf3-%d", time.Now().UnixNano()), "iperf3", "-s", "-1", "-p", "5201")
	must(tb, err)
	defer srv.Stop(time.Second)
	time.Sleep(200 * time.Millisecond)
	out, err := x.l.Exec("mn", append([]string{"iperf3", "-c", x.cn.String(), "-B", x.hoa.String(), "-p", "5201", "-J", "-t", fmt.Sprint(secs)}, args...)...)
	if err != nil {
		tb.Fatalf("iperf3: %v\n%s", err, out)
	}
	var res struct {
		End struct {
			SumReceived struct {
				BPS float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		tb.Fatalf("iperf3 output: %v\n%s", err, out)
	}
	return res.End.SumReceived.BPS
}

// BenchmarkTunnelTCP is TCP throughput from the mobile node's home address
// to cn through the two planes over RFC 3519 UDP, with the offloads (TUN
// TSO/GRO, UDP GSO) and without, in the same run. Like the lab benchmarks
// it measures once, whatever b.N.
func BenchmarkTunnelTCP(b *testing.B) {
	if _, err := os.Stat("/usr/bin/iperf3"); err != nil {
		b.Skip("SKIP: iperf3 not installed")
	}
	for _, offload := range []bool{true, false} {
		b.Run(map[bool]string{true: "offload", false: "plain"}[offload], func(b *testing.B) {
			x := newTunnelLab(b, offload, true)
			cpu0 := cpuTime()
			b.ResetTimer()
			bps := x.iperf(b, 3)
			b.StopTimer()
			cpu := cpuTime() - cpu0
			b.ReportMetric(bps/1e6, "Mbit/s")
			// The planes' CPU time (this process: both planes, and the
			// kernel work their system calls do) per MB carried, which
			// other load on the machine disturbs less than throughput.
			b.ReportMetric(float64(cpu.Microseconds())/(bps*3/8/1e6), "cpu-µs/MB")
			ho, mo := x.hdev.OffloadStats(), x.mdev.OffloadStats()
			if mo.SuperPacketsIn > 0 {
				b.ReportMetric(float64(mo.SegmentsIn)/float64(mo.SuperPacketsIn), "segs/read")
			}
			if ho.SuperPacketsOut > 0 {
				b.ReportMetric(float64(ho.SegmentsOut)/float64(ho.SuperPacketsOut), "segs/write")
			}
			b.Logf("HA %+v %+v; MN %+v %+v", x.hdev.Offloads(), ho, x.mdev.Offloads(), mo)
			// Losses on the way (a full socket or device queue) show as
			// retransmissions.
			if out, err := x.l.Exec("mn", "nstat", "-az", "TcpRetransSegs"); err == nil {
				if f := strings.Fields(out); len(f) >= 2 {
					if v, err := strconv.ParseFloat(f[len(f)-2], 64); err == nil {
						b.ReportMetric(v, "retransmits")
					}
				}
			}
			b.Logf("HA fwd %+v rev %+v; MN fwd %+v rev %+v", x.h.Stats().Forward, x.h.Stats().Reverse, x.m.Stats().Forward, x.m.Stats().Reverse)
		})
	}
}

// writeSuper writes pkt into the device after vh (the test's way to hand
// the kernel a super-packet of its own making).
func writeSuper(t testing.TB, d *TUN, vh virtioNetHdr, pkt []byte) {
	t.Helper()
	d.wmu.Lock()
	defer d.wmu.Unlock()
	vh.encode(d.vh[:])
	setIovec(&d.iov[0], d.vh[:])
	setIovec(&d.iov[1], pkt)
	must(t, d.writeIovecs(2))
}

// TestTUNOffloadForward passes TCP segments and a UDP super-packet through
// the kernel between two TUN devices: written into one (gathered by
// WriteBatch into a super-packet, or as they are without offloads), routed
// by the kernel to the other (as one super-packet, its TTL decremented),
// read from it and cut by ReadBatch. What comes out must be what went in
// but for the TTL and the header checksum.
func TestTUNOffloadForward(t *testing.T) {
	for _, offload := range []bool{true, false} {
		t.Run(map[bool]string{true: "offload", false: "plain"}[offload], func(t *testing.T) {
			l := newLab(t, "f")
			must(t, l.Router("f"))
			var a, b *TUN
			inNS(t, l.Handle(t, "f"), func() {
				var err error
				a, err = openTUN("m4a", 1500, offload)
				must(t, err)
				b, err = openTUN("m4b", 1500, offload)
				must(t, err)
			})
			defer a.Close()
			defer b.Close()
			for _, k := range []string{"all", "default", "m4a", "m4b"} {
				must(t, l.Sysctl("f", "net.ipv4.conf."+k+".rp_filter", "0"))
			}
			must(t, l.Addr("f", "m4a", "10.80.0.1/24"))
			must(t, l.Addr("f", "m4b", "10.81.0.1/24"))
			if offload && !a.Offloads().TSO {
				t.Skip("SKIP: the kernel refused TUN_F_TSO4")
			}

			// TCP: 20 segments from 10.80.0.9 to 10.81.0.9.
			segs := bulk(20, 1400, 333)
			for _, s := range segs {
				copy(s[12:16], []byte{10, 80, 0, 9})
				copy(s[16:20], []byte{10, 81, 0, 9})
				fixChecksums(s)
			}
			want := make([][]byte, len(segs))
			for i, s := range segs {
				want[i] = forwarded(s)
			}
			must(t, a.WriteBatch(segs))
			got := readN(t, b, len(want))
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("segment %d:\n got % x\nwant % x", i, got[i][:min(60, len(got[i]))], want[i][:60])
				}
			}
			if offload {
				if o := a.OffloadStats(); o.SuperPacketsOut != 1 || o.SegmentsOut != 20 {
					t.Errorf("written: %+v", o)
				}
				if o := b.OffloadStats(); o.SuperPacketsIn != 1 || o.SegmentsIn != 20 {
					t.Errorf("read: %+v", o)
				}
			}
			// Gathering, writing, reading and cutting allocate nothing.
			if !raceEnabled {
				bufs, sizes := make([][]byte, len(want)), make([]int, len(want))
				for i := range bufs {
					bufs[i] = make([]byte, 2048)
					segs[i] = make([]byte, len(want[i]))
				}
				src := bulk(20, 1400, 333)
				for _, s := range src {
					copy(s[12:16], []byte{10, 80, 0, 9})
					copy(s[16:20], []byte{10, 81, 0, 9})
					fixChecksums(s)
				}
				if a := testing.AllocsPerRun(20, func() {
					for i := range segs {
						copy(segs[i], src[i])
					}
					if err := a.WriteBatch(segs); err != nil {
						t.Fatal(err)
					}
					for got := 0; got < len(bufs); {
						k, err := b.ReadBatch(bufs[got:], sizes[got:])
						if err != nil {
							t.Fatal(err)
						}
						got += k
					}
				}); a != 0 {
					t.Errorf("%v allocations per batch", a)
				}
			}

			// A super-packet the kernel refuses (EINVAL, for the
			// offload): the segments go one by one, the head as it
			// was, and coalescing stays off.
			if offload {
				refused := false
				a.superFn = func(int) error {
					refused = true
					a.werr = unix.EINVAL
					return os.NewSyscallError("writev", unix.EINVAL)
				}
				src := bulk(20, 1400, 333)
				for i, s := range src {
					copy(s[12:16], []byte{10, 80, 0, 9})
					copy(s[16:20], []byte{10, 81, 0, 9})
					fixChecksums(s)
					segs[i] = s
				}
				must(t, a.WriteBatch(segs))
				for i, g := range readN(t, b, len(want)) {
					if !bytes.Equal(g, want[i]) {
						t.Errorf("after a refusal, segment %d:\n got % x\nwant % x", i, g[:min(60, len(g))], want[i][:60])
					}
				}
				if !refused || a.Offloads().GRO {
					t.Errorf("refused %v, offloads %+v", refused, a.Offloads())
				}
				a.superFn = a.writeIovecs
				a.gro.Store(true)
			}

			// UDP: a super-packet of five datagrams of 1000 octets and
			// one of 10, where the kernel takes UDP segmentation.
			if !offload || !b.Offloads().USO {
				return
			}
			n := 5*1000 + 10
			sp := udpPacket(netip.MustParseAddr("10.80.0.9"), netip.MustParseAddr("10.81.0.9"), ipv4HeaderLen+udpHeaderLen+n, false)
			binary.BigEndian.PutUint16(sp[ipv4HeaderLen+udpCsumOffset:], encap.SumFold(pseudoSum(sp, protoUDP, len(sp)-ipv4HeaderLen)))
			before := b.OffloadStats()
			writeSuper(t, a, virtioNetHdr{flags: virtioFlagNeedsCsum, gsoType: virtioGSOUDPL4, hdrLen: 28, gsoSize: 1000, csumStart: 20, csumOffset: udpCsumOffset}, sp)
			got = readN(t, b, 6)
			payload := sp[ipv4HeaderLen+udpHeaderLen:]
			for i, g := range got {
				size := min(1000, n-i*1000)
				if len(g) != ipv4HeaderLen+udpHeaderLen+size || g[8] != 62 || !checksumsOK(g) ||
					!bytes.Equal(g[ipv4HeaderLen+udpHeaderLen:], payload[i*1000:i*1000+size]) {
					t.Errorf("UDP datagram %d: % x", i, g[:min(40, len(g))])
				}
			}
			if o := b.OffloadStats(); o.SuperPacketsIn != before.SuperPacketsIn+1 || o.SegmentsIn != before.SegmentsIn+6 {
				t.Errorf("read: %+v, before %+v", o, before)
			}
		})
	}
}

// fixChecksums recomputes ip's header and TCP checksums (references).
func fixChecksums(ip []byte) {
	binary.BigEndian.PutUint16(ip[10:], refIPChecksum(ip))
	binary.BigEndian.PutUint16(ip[ipv4HeaderLen+tcpCsumOffset:], refL4Checksum(ip, tcpCsumOffset))
}

// forwarded is ip as a router passes it on: TTL one less, header
// checksum updated.
func forwarded(ip []byte) []byte {
	f := bytes.Clone(ip)
	f[8]--
	binary.BigEndian.PutUint16(f[10:], refIPChecksum(f))
	return f
}

// readN reads n datagrams from d, within five seconds.
func readN(t testing.TB, d *TUN, n int) [][]byte {
	t.Helper()
	bufs, sizes := make([][]byte, n), make([]int, n)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	done := make(chan error, 1)
	got := 0
	go func() {
		for got < n {
			k, err := d.ReadBatch(bufs[got:], sizes[got:])
			if err != nil {
				done <- err
				return
			}
			got += k
		}
		done <- nil
	}()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(5 * time.Second):
		d.Close()
		<-done
		t.Fatalf("read %d of %d datagrams", got, n)
	}
	out := make([][]byte, n)
	for i := range out {
		if sizes[i] < 0 {
			t.Fatalf("datagram %d discarded by the device", i)
		}
		out[i] = bufs[i][:sizes[i]]
	}
	return out
}

// TestSocketGSOGRO sends batches over loopback with UDP_SEGMENT and
// receives them with UDP_GRO: runs of equal datagrams to one destination
// travel as one message and come back as one (Msg.Seg), everything else
// as it was, in order, without allocating.
func TestSocketGSOGRO(t *testing.T) {
	r, err := listenUDP(netip.MustParseAddrPort("127.0.0.1:0"), true)
	must(t, err)
	defer r.Close()
	r2, err := listenUDP(netip.MustParseAddrPort("127.0.0.1:0"), true)
	must(t, err)
	defer r2.Close()
	s, err := listenUDP(netip.MustParseAddrPort("127.0.0.1:0"), true)
	must(t, err)
	defer s.Close()
	if !s.GSO() || !r.enableGRO() || !r.GRO() {
		t.Skip("SKIP: no UDP_SEGMENT or UDP_GRO")
	}
	// 16 of 200 octets and one of 100 (which ends the run), then 3 of 300;
	// one to another socket in between, which splits nothing of the rest.
	var out []Msg
	add := func(to netip.AddrPort, size int) {
		b := make([]byte, size)
		binary.BigEndian.PutUint16(b, uint16(len(out)))
		out = append(out, Msg{Buf: b, Addr: to, Local: netip.MustParseAddr("127.0.0.1")})
	}
	for range 16 {
		add(r.LocalAddr(), 200)
	}
	add(r.LocalAddr(), 100)
	add(r2.LocalAddr(), 200)
	for range 3 {
		add(r.LocalAddr(), 300)
	}
	in := make([]Msg, 4)
	for i := range in {
		in[i].Buf = make([]byte, maxSuperPacket)
	}
	other := []Msg{{Buf: make([]byte, maxSuperPacket)}}
	var got [][]byte
	var segs []int
	roundTrip := func() {
		got, segs = got[:0], segs[:0]
		if n, err := s.WriteBatch(out); err != nil || n != len(out) {
			t.Fatalf("WriteBatch: %d %v", n, err)
		}
		for total := 0; total < 16*200+100+3*300; {
			n, err := r.ReadBatch(in)
			must(t, err)
			for _, m := range in[:n] {
				segs = append(segs, m.Seg)
				step := m.N
				if m.Seg > 0 {
					step = m.Seg
				}
				for off := 0; off < m.N; off += step {
					got = append(got, m.Buf[off:off+min(step, m.N-off)])
				}
				total += m.N
			}
		}
		if _, err := r2.ReadBatch(other); err != nil || other[0].N != 200 {
			t.Fatalf("other socket: %d %v", other[0].N, err)
		}
	}
	roundTrip()
	if len(segs) != 2 || segs[0] != 200 || segs[1] != 300 {
		t.Errorf("messages with segment sizes %v, want [200 300]", segs)
	}
	for i, g := range got {
		j := i
		if i >= 17 {
			j++ // the one to r2
		}
		if len(g) != len(out[j].Buf) || int(binary.BigEndian.Uint16(g)) != j {
			t.Errorf("datagram %d: %d octets, number %d", i, len(g), binary.BigEndian.Uint16(g))
		}
	}
	if !raceEnabled {
		got, segs = make([][]byte, 0, 32), make([]int, 0, 8)
		if a := testing.AllocsPerRun(50, roundTrip); a != 0 {
			t.Errorf("%v allocations per round trip", a)
		}
	}
}

// TestSocketGSOFallback: where the kernel refuses a segmented message
// (here a route MTU smaller than the segments: EMSGSIZE), its datagrams go
// one by one and all arrive.
func TestSocketGSOFallback(t *testing.T) {
	l := newLab(t, "a", "b")
	must(t, l.Veth("a", "eth0", "b", "eth0"))
	must(t, l.Addr("a", "eth0", "10.9.0.1/24"))
	must(t, l.Addr("b", "eth0", "10.9.0.2/24"))
	must(t, l.IP("a", "route", "add", "10.9.1.2/32", "via", "10.9.0.2", "mtu", "1000"))
	must(t, l.Addr("b", "lo", "10.9.1.2/32"))
	var r, s *SocketConn
	var rerr, serr error
	inNS(t, l.Handle(t, "b"), func() { r, rerr = listenUDP(netip.MustParseAddrPort("10.9.1.2:9"), false) })
	inNS(t, l.Handle(t, "a"), func() { s, serr = listenUDP(netip.MustParseAddrPort("10.9.0.1:0"), true) })
	must(t, rerr)
	must(t, serr)
	defer r.Close()
	defer s.Close()
	if !s.GSO() {
		t.Skip("SKIP: no UDP_SEGMENT")
	}
	out := make([]Msg, 8)
	for i := range out {
		out[i] = Msg{Buf: make([]byte, 1200), Addr: r.LocalAddr()}
		out[i].Buf[0] = byte(i)
	}
	if n, err := s.WriteBatch(out); err != nil || n != len(out) {
		t.Fatalf("WriteBatch: %d %v", n, err)
	}
	in := make([]Msg, 8)
	for i := range in {
		in[i].Buf = make([]byte, 2000)
	}
	for got := 0; got < len(out); {
		n, err := r.ReadBatch(in[got:])
		must(t, err)
		for _, m := range in[got : got+n] {
			if m.N != 1200 || m.Buf[0] != byte(got) {
				t.Errorf("datagram %d: %d octets, number %d", got, m.N, m.Buf[0])
			}
			got++
		}
	}
	if !s.GSO() {
		t.Error("EMSGSIZE turned UDP_SEGMENT off for good")
	}
}
