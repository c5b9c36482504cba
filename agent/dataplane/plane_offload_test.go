package dataplane

import (
	"bytes"
	"errors"
	"maps"
	"net/netip"
	"testing"

	"github.com/mip4d/mip4d/agent/encap"
)

// fakeBatchDevice is a fakeDevice that takes batches (BatchWriter), as a
// TUN device does, and refuses the next failNext datagrams.
type fakeBatchDevice struct {
	*fakeDevice
	batches  int
	failNext int
}

func (d *fakeBatchDevice) WriteBatch(pkts [][]byte) error {
	d.batches++
	var first error
	for i, p := range pkts {
		if d.failNext > 0 {
			d.failNext--
			pkts[i] = nil
			first = errors.New("fake: refused")
			continue
		}
		if _, err := d.Write(p); err != nil {
			pkts[i] = nil
			first = err
		}
	}
	return first
}

// fromConnGRO runs one message holding pkts back to back, as a socket
// with UDP GRO returns them (all of the first one's size but the last),
// through w's socket path for kind k.
func fromConnGRO(w *worker, k kind, from netip.AddrPort, pkts ...[]byte) {
	m := &w.msgs[0]
	n := 0
	for _, p := range pkts {
		n += copy(m.Buf[n:], p)
	}
	m.N, m.Seg, m.Addr, m.Local, m.Truncated = n, len(pkts[0]), from, addrHA, false
	w.connBatch(k, 1)
	m.Seg = 0
}

// TestHAReceiveGRO: the datagrams of one GRO message are decided one by
// one, exactly as if they had come apart: each inner source checked, a
// keepalive among them answered in place without harming its neighbours,
// a registration among them handed to the engine; and the same whether
// the device takes batches or not.
func TestHAReceiveGRO(t *testing.T) {
	// 48 octets each: tunnel data header and a 44-octet datagram.
	up := udpPacket(addrHoA2, addrCN, 44, false)
	spoofed := udpPacket(addrHoA, addrCN, 44, false)
	ka := echo(addrHoA2, addrHA, icmpEchoRequest, 9, 1)
	reg := append([]byte{1}, make([]byte, 47)...)
	last := udpPacket(addrHoA2, addrCN, 30, false)
	segs := [][]byte{tunnelData(4, up), tunnelData(4, spoofed), tunnelData(4, ka), reg, tunnelData(4, last)}
	for _, batch := range []bool{false, true} {
		t.Run(map[bool]string{false: "device", true: "batch-device"}[batch], func(t *testing.T) {
			dev := newFakeDevice(true)
			var d Device = dev
			if batch {
				d = &fakeBatchDevice{fakeDevice: dev}
			}
			cs := [numKinds]*fakeConn{newFakeConn(true), newFakeConn(true), newFakeConn(true)}
			cs[kindUDP].port = 434
			h, err := NewHA(HAConfig{Addr: addrHA}, d, HAConns{UDP: cs[kindUDP], IPIP: cs[kindIPIP], GRE: cs[kindGRE]})
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Apply(haReverseBindings()...); err != nil {
				t.Fatal(err)
			}
			w := h.newWorker(false)
			fromConnGRO(w, kindUDP, epNAT, segs...)
			if got := dev.take(); len(got) != 2 || !bytes.Equal(got[0], up) || !bytes.Equal(got[1], last) {
				t.Errorf("device got %x", got)
			}
			if d := drops(&h.ctr); !maps.Equal(d, map[string]int64{"inner_source_mismatch": 1}) {
				t.Errorf("drops %v", d)
			}
			sent := cs[kindUDP].take()
			if len(sent) != 1 || sent[0].Addr != epNAT || len(sent[0].Buf) != 48 || sent[0].Buf[0] != 4 {
				t.Fatalf("keepalive reply %+v", sent)
			}
			reply := encap.IPv4(sent[0].Buf[tdHeaderLen:])
			if reply.Src() != addrHA || reply.Dst() != addrHoA2 || reply[ipv4HeaderLen] != icmpEchoReply || !reply.IsChecksumValid() ||
				encap.Checksum(reply.Payload()) != 0 || !bytes.Equal(reply.Payload()[4:], ka[ipv4HeaderLen+4:]) {
				t.Errorf("keepalive reply % x", reply)
			}
			select {
			case m := <-h.Control():
				if !bytes.Equal(m.Data, reg) || m.Src != epNAT {
					t.Errorf("control message %+v", m)
				}
			default:
				t.Error("the registration was not handed over")
			}
			s := h.Stats()
			if s.Reverse.PacketsIn != 4 || s.Reverse.PacketsOut != 2 || s.Reverse.BytesOut != int64(len(up)+len(last)) ||
				s.KeepalivesAnswered != 1 || s.ControlIn != 1 {
				t.Errorf("counters %+v", s)
			}
		})
	}
}

// TestMNReceiveGRO: the mobile node checks every datagram of a GRO
// message too.
func TestMNReceiveGRO(t *testing.T) {
	m, dev, _ := testMN(t, nil)
	m.SetTunnel(udpTunnel)
	down := udpPacket(addrCN, addrHoA, 60, false)
	other := udpPacket(addrCN, addrHoA2, 60, false)
	kaReply := echo(addrHA, addrHoA, icmpEchoReply, m.kaID, 1)
	kaReply = append(kaReply[:len(kaReply):len(kaReply)], make([]byte, 16)...) // to 60 octets
	encap.IPv4(kaReply).SetTotalLength(60)
	encap.IPv4(kaReply).UpdateChecksum()
	w := m.newWorker(false)
	fromConnGRO(w, kindUDP, epHA, tunnelData(4, down), tunnelData(4, other), tunnelData(4, kaReply), tunnelData(4, down[:40:40]))
	if got := dev.take(); len(got) != 1 || !bytes.Equal(got[0], down) {
		t.Errorf("device got %x", got)
	}
	s := m.Stats()
	if s.Reverse.PacketsIn != 4 || s.Reverse.PacketsOut != 1 || s.KeepaliveReplies != 1 ||
		!maps.Equal(s.Drops, map[string]int64{"inner_destination_mismatch": 1, "malformed": 1}) {
		t.Errorf("counters %+v", s)
	}
	if !w.heard {
		t.Error("not heard")
	}
}

// TestDeviceBatchErrors: what a batch-writing device refuses is counted
// as write errors and drops, the rest as written, octets exactly.
func TestDeviceBatchErrors(t *testing.T) {
	dev := &fakeBatchDevice{fakeDevice: newFakeDevice(true), failNext: 1}
	h, err := NewHA(HAConfig{Addr: addrHA}, dev, HAConns{UDP: newFakeConn(true), IPIP: newFakeConn(true)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Apply(haReverseBindings()[:2]...); err != nil {
		t.Fatal(err)
	}
	w := h.newWorker(false)
	pkts := [][]byte{udpPacket(addrHoA2, addrCN, 100, false), udpPacket(addrHoA2, addrCN, 200, false), udpPacket(addrHoA2, addrCN, 300, false)}
	for i, p := range pkts {
		m := &w.msgs[i]
		m.N = copy(m.Buf, tunnelData(4, p))
		m.Addr, m.Local = epNAT, addrHA
	}
	w.connBatch(kindUDP, len(pkts))
	s := h.Stats()
	if dev.batches != 1 || s.Reverse.PacketsOut != 2 || s.Reverse.BytesOut != 500 || s.WriteErrors != 1 ||
		!maps.Equal(s.Drops, map[string]int64{"write_error": 1}) {
		t.Errorf("%d batches, counters %+v", dev.batches, s)
	}
	if got := dev.take(); len(got) != 2 || !bytes.Equal(got[0], pkts[1]) || !bytes.Equal(got[1], pkts[2]) {
		t.Errorf("device got %x", got)
	}
	// More than the queue holds in one batch: written as it fills.
	n := 2*cap(w.devq) + 3
	for i := range n {
		m := &w.msgs[i%len(w.msgs)]
		m.N = copy(m.Buf, tunnelData(4, pkts[0]))
		m.Addr, m.Local = epNAT, addrHA
		if i%len(w.msgs) == len(w.msgs)-1 || i == n-1 {
			w.connBatch(kindUDP, i%len(w.msgs)+1)
		}
	}
	if s := h.Stats(); s.Reverse.PacketsOut != 2+int64(n) || dev.batches < 3 {
		t.Errorf("%d batches, counters %+v", dev.batches, s.Reverse)
	}
	// A GRO message with more datagrams than the queue holds.
	segs := make([][]byte, cap(w.devq)+8)
	for i := range segs {
		segs[i] = tunnelData(4, udpPacket(addrHoA2, addrCN, 40, false))
	}
	before, out := dev.batches, h.Stats().Reverse.PacketsOut
	fromConnGRO(w, kindUDP, epNAT, segs...)
	if s := h.Stats(); dev.batches != before+2 || s.Reverse.PacketsOut != out+int64(len(segs)) {
		t.Errorf("%d batches, counters %+v", dev.batches-before, s.Reverse)
	}
}

// TestDeviceDiscarded: a datagram the device read but could not make
// sense of (size -1) is counted in and dropped as malformed.
func TestDeviceDiscarded(t *testing.T) {
	h := allocHA(t)
	w := h.newWorker(true)
	w.sizes[0] = -1
	w.deviceBatch(1)
	if s := h.Stats(); s.Forward.PacketsIn != 1 || !maps.Equal(s.Drops, map[string]int64{"malformed": 1}) {
		t.Errorf("counters %+v", s)
	}
}
