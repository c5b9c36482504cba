package dataplane

import (
	"bytes"
	"fmt"
	"github.com/mip4d/mip4d/agent/encap"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/mn"
	"golang.org/x/net/ipv4"
)

var benchSizes = []int{64, 1400}

// memcpyBaseline times n copies of a size-octet datagram, the baseline
// every per-packet benchmark is compared with in the same run.
func memcpyBaseline(n, size int) time.Duration {
	src, dst := make([]byte, size), make([]byte, size)
	t0 := time.Now()
	for range n {
		copy(dst, src)
		src[0]++
	}
	return time.Since(t0)
}

// benchPackets runs fn b.N times, each fn handling perOp datagrams of
// size octets, and reports datagrams per second and the time relative to
// copying the same octets (the memcpy baseline, measured in this run).
func benchPackets(b *testing.B, size, perOp int, fn func()) {
	b.SetBytes(int64(size * perOp))
	b.ReportAllocs()
	base := memcpyBaseline(b.N*perOp, size)
	b.ResetTimer()
	for range b.N {
		fn()
	}
	b.StopTimer()
	el := b.Elapsed()
	b.ReportMetric(float64(b.N*perOp)/el.Seconds(), "pkt/s")
	if base > 0 {
		b.ReportMetric(float64(el)/float64(base), "x-memcpy")
	}
}

// BenchmarkHAForward is the home agent's per-datagram forward path: the
// datagram copied into the ring (as a read would), looked up, tunnelled,
// handed to a counting socket.
func BenchmarkHAForward(b *testing.B) {
	for _, dst := range []struct {
		name string
		hoa  netip.Addr
	}{{"ipip", addrHoA}, {"udp", addrHoA2}, {"gre-key", netip.MustParseAddr("10.1.0.4")}} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", dst.name, size), func(b *testing.B) {
				h := allocHA(b)
				w := h.newWorker(true)
				pkt := udpPacket(addrCN, dst.hoa, size, false)
				benchPackets(b, size, 1, func() { fromDevice(w, pkt) })
			})
		}
	}
}

// BenchmarkHAReverse is the per-datagram reverse path: decapsulation,
// the RFC 3024 checks, the write to a counting device.
func BenchmarkHAReverse(b *testing.B) {
	hoa3 := netip.MustParseAddr("10.1.0.4")
	for _, src := range []struct {
		name string
		k    kind
		from netip.AddrPort
		pkt  func(int) []byte
	}{
		{"ipip", kindIPIP, epCoA, func(n int) []byte { return ipip(addrCoA, addrHA, udpPacket(addrHoA, addrCN, n, false)) }},
		{"udp", kindUDP, epNAT, func(n int) []byte { return tunnelData(4, udpPacket(addrHoA2, addrCN, n, false)) }},
		{"gre-key", kindGRE, epCoA2, func(n int) []byte { return gre(addrCoA2, addrHA, true, 7, udpPacket(hoa3, addrCN, n, false)) }},
	} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", src.name, size), func(b *testing.B) {
				h := allocHA(b)
				w := h.newWorker(false)
				pkt := src.pkt(size)
				benchPackets(b, size, 1, func() { fromConn(w, src.k, src.from, pkt) })
				if h.ctr.Reverse.PacketsOut.Load() == 0 {
					b.Fatal("nothing accepted")
				}
			})
		}
	}
}

// BenchmarkMN is the mobile node's forward and reverse paths (UDP).
func BenchmarkMN(b *testing.B) {
	for _, size := range benchSizes {
		m, err := NewMN(MNConfig{}, newFakeDevice(false), MNConns{UDP: newFakeConn(false)})
		if err != nil {
			b.Fatal(err)
		}
		m.SetTunnel(mn.Tunnel{Up: true, HomeAddr: addrHoA, Local: addrCoA, Remote: epHA, UDP: true})
		fw, rw := m.newWorker(true), m.newWorker(false)
		up := udpPacket(addrHoA, addrCN, size, false)
		down := tunnelData(4, udpPacket(addrCN, addrHoA, size, false))
		b.Run(fmt.Sprintf("forward/%d", size), func(b *testing.B) { benchPackets(b, size, 1, func() { fromDevice(fw, up) }) })
		b.Run(fmt.Sprintf("reverse/%d", size), func(b *testing.B) { benchPackets(b, size, 1, func() { fromConn(rw, kindUDP, epHA, down) }) })
	}
}

// BenchmarkEncapsulateBatch decides and encapsulates a whole batch of
// device datagrams (as one TUN ReadBatch hands over) and flushes it with
// one WriteBatch per socket.
func BenchmarkEncapsulateBatch(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			h := allocHA(b)
			w := h.newWorker(true)
			pkt := udpPacket(addrCN, addrHoA2, size, false)
			for i := range w.slots {
				copy(w.slots[i][headroom:], pkt)
				w.sizes[i] = size
			}
			n := len(w.slots)
			benchPackets(b, size, n, func() { w.deviceBatch(n) })
		})
	}
}

// BenchmarkLoopbackBatch sends and receives a batch of 32 datagrams over
// UDP on loopback: SocketConn (sendmmsg/recvmmsg, no allocation) against
// golang.org/x/net/ipv4 PacketConn WriteBatch/ReadBatch (the same system
// calls, but a *net.UDPAddr allocated per received datagram) and against
// one WriteTo/ReadFrom system call per datagram, all in this run.
func BenchmarkLoopbackBatch(b *testing.B) {
	const n = 32
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("socketconn/%d", size), func(b *testing.B) {
			c, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			out, in := make([]Msg, n), make([]Msg, n)
			for i := range out {
				out[i] = Msg{Buf: make([]byte, size), Addr: c.LocalAddr()}
				in[i].Buf = make([]byte, 2048)
			}
			benchPackets(b, size, n, func() {
				if _, err := c.WriteBatch(out); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < n; {
					k, err := c.ReadBatch(in[got:])
					if err != nil {
						b.Fatal(err)
					}
					got += k
				}
			})
		})
		b.Run(fmt.Sprintf("xnet-ipv4/%d", size), func(b *testing.B) {
			uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer uc.Close()
			pc := ipv4.NewPacketConn(uc)
			out, in := make([]ipv4.Message, n), make([]ipv4.Message, n)
			for i := range out {
				out[i] = ipv4.Message{Buffers: [][]byte{make([]byte, size)}, Addr: uc.LocalAddr()}
				in[i].Buffers = [][]byte{make([]byte, 2048)}
			}
			benchPackets(b, size, n, func() {
				if _, err := pc.WriteBatch(out, 0); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < n; {
					k, err := pc.ReadBatch(in[got:], 0)
					if err != nil {
						b.Fatal(err)
					}
					got += k
				}
			})
		})
		b.Run(fmt.Sprintf("one-per-syscall/%d", size), func(b *testing.B) {
			uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer uc.Close()
			to := uc.LocalAddr().(*net.UDPAddr).AddrPort()
			out, in := make([]byte, size), make([]byte, 2048)
			benchPackets(b, size, n, func() {
				for range n {
					if _, err := uc.WriteToUDPAddrPort(out, to); err != nil {
						b.Fatal(err)
					}
				}
				for range n {
					if _, _, err := uc.ReadFromUDPAddrPort(in); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// coalescingDevice is a counting fake device that gathers each batch as a
// TUN device with offloads does (the coalescer and merge, without the
// system calls).
type coalescingDevice struct {
	*fakeDevice
	co     coalescer
	vh     virtioNetHdr
	supers int
}

func (d *coalescingDevice) WriteBatch(pkts [][]byte) error {
	d.co.reset(len(pkts))
	for i := range pkts {
		if d.co.written(i) {
			continue
		}
		if g := d.co.next(pkts, i); len(g) > 1 {
			merge(pkts, g, &d.vh)
			d.supers++
		}
		d.packets.Add(1)
	}
	return nil
}

// BenchmarkOffload compares, in one run, the planes' own work for 64 KiB
// of TCP (45 segments of 1416 octets) with offloads and without. Forward
// on a mobile node: a TSO super-packet cut into the ring (what
// TUN.ReadBatch does) against the 45 datagrams copied in (a plain read
// each), then decided, encapsulated and queued to a counting socket.
// Reverse on a home agent: one UDP GRO message holding the 45 against 45
// messages, then decided and handed to a device that gathers them (the
// coalescer, checksums verified) against one that takes them one by one.
// System calls are left out: BenchmarkTunnelTCP measures them.
func BenchmarkOffload(b *testing.B) {
	const segs, mss = 45, 1416
	s := flow()
	s.src, s.payload = addrHoA, make([]byte, segs*mss)
	super := s.build()
	vh := virtioNetHdr{flags: virtioFlagNeedsCsum, gsoType: virtioGSOTCPv4, gsoSize: mss, csumStart: 20, csumOffset: 16}
	frame := make([]byte, virtioNetHdrLen+len(super))
	vh.encode(frame)
	plain := cutAll(b, vh, bytes.Clone(super), 1500)
	opt := Options{Batch: offloadBatch}
	newMN := func() (*MN, *worker) {
		m, err := NewMN(MNConfig{Options: opt}, newFakeDevice(false), MNConns{UDP: newFakeConn(false)})
		if err != nil {
			b.Fatal(err)
		}
		m.SetTunnel(udpTunnel)
		return m, m.newWorker(true)
	}
	b.Run("forward/segmented", func(b *testing.B) {
		_, w := newMN()
		var seg segmenter
		benchPackets(b, mss, segs, func() {
			copy(frame[virtioNetHdrLen:], super) // the read
			if _, ok := readFrame(frame, w.views[0], &seg); !ok {
				b.Fatal("not a super-packet")
			}
			n := 0
			for seg.more() {
				w.sizes[n] = seg.next(w.views[n])
				n++
			}
			w.deviceBatch(n)
		})
	})
	b.Run("forward/unsegmented", func(b *testing.B) {
		_, w := newMN()
		benchPackets(b, mss, segs, func() {
			for i, p := range plain {
				w.sizes[i] = copy(w.views[i], p) // the reads
			}
			w.deviceBatch(len(plain))
		})
	})
	tds := make([][]byte, len(plain))
	for i, p := range plain {
		tds[i] = tunnelData(4, p)
	}
	newHA := func(dev Device) *worker {
		h, err := NewHA(HAConfig{Addr: addrHA, Options: opt}, dev, HAConns{UDP: newFakeConn(false), IPIP: newFakeConn(false)})
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Apply(ha.Event{Kind: ha.BindingAdded, Binding: binding(addrHoA, addrCoA, epNAT, true, ha.EncapIPIP)}); err != nil {
			b.Fatal(err)
		}
		return h.newWorker(false)
	}
	b.Run("reverse/coalesced", func(b *testing.B) {
		dev := &coalescingDevice{fakeDevice: newFakeDevice(false)}
		w := newHA(dev)
		w.superRing(groBatch)
		benchPackets(b, mss, segs, func() { fromConnGRO(w, kindUDP, epNAT, tds...) })
		if dev.supers == 0 {
			b.Fatal("nothing gathered")
		}
	})
	b.Run("reverse/uncoalesced", func(b *testing.B) {
		w := newHA(newFakeDevice(false))
		benchPackets(b, mss, segs, func() {
			for i, td := range tds {
				m := &w.msgs[i]
				m.N = copy(m.Buf, td)
				m.Addr, m.Local = epNAT, addrHA
			}
			w.connBatch(kindUDP, len(tds))
		})
	})
	b.Run("checksum", func(b *testing.B) {
		p := plain[0][ipv4HeaderLen:]
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			encap.SumAdd(p, 0)
		}
	})
}
