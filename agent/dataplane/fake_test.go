package dataplane

import (
	"encoding/binary"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mip4d/mip4d/agent/encap"
	"github.com/mip4d/mip4d/agent/ha"
)

// fakeDevice is an in-memory Device (like wireguard-go's tun/tuntest):
// Read takes datagrams from in, Write records copies (or only counts them
// when record is false, for the allocation tests).
type fakeDevice struct {
	mtu    int
	in     chan []byte
	record bool

	mu      sync.Mutex
	written [][]byte
	notify  chan struct{}
	packets atomic.Int64

	closeOnce sync.Once
	closed    chan struct{}
}

func newFakeDevice(record bool) *fakeDevice {
	return &fakeDevice{mtu: 1500, in: make(chan []byte, 64), record: record, notify: make(chan struct{}, 1024), closed: make(chan struct{})}
}

func (d *fakeDevice) Name() string { return "fake0" }
func (d *fakeDevice) MTU() int     { return d.mtu }

func (d *fakeDevice) Read(b []byte) (int, error) {
	select {
	case p := <-d.in:
		return copy(b, p), nil
	case <-d.closed:
		return 0, os.ErrClosed
	}
}

func (d *fakeDevice) Write(b []byte) (int, error) {
	select {
	case <-d.closed:
		return 0, os.ErrClosed
	default:
	}
	d.packets.Add(1)
	if d.record {
		d.mu.Lock()
		d.written = append(d.written, append([]byte(nil), b...))
		d.mu.Unlock()
		select {
		case d.notify <- struct{}{}:
		default:
		}
	}
	return len(b), nil
}

func (d *fakeDevice) Close() error {
	d.closeOnce.Do(func() { close(d.closed) })
	return nil
}

// take returns and forgets what was written.
func (d *fakeDevice) take() [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.written
	d.written = nil
	return w
}

// fakeConn is an in-memory Conn (like wireguard-go's conn/bindtest):
// ReadBatch takes messages from in, WriteBatch records copies.
type fakeConn struct {
	in     chan Msg
	record bool
	port   uint16
	fail   error // WriteBatch fails the first message with it, once

	mu      sync.Mutex
	sent    []Msg
	notify  chan struct{}
	packets atomic.Int64

	closeOnce sync.Once
	closed    chan struct{}
}

func newFakeConn(record bool) *fakeConn {
	return &fakeConn{in: make(chan Msg, 64), record: record, notify: make(chan struct{}, 1024), closed: make(chan struct{})}
}

func (c *fakeConn) LocalAddr() netip.AddrPort {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), c.port)
}

func (c *fakeConn) fill(dst *Msg, m Msg) {
	dst.N = copy(dst.Buf, m.Buf)
	dst.Truncated = len(m.Buf) > len(dst.Buf) || m.Truncated
	dst.Addr, dst.Local = m.Addr, m.Local
}

func (c *fakeConn) ReadBatch(msgs []Msg) (int, error) {
	select {
	case m := <-c.in:
		c.fill(&msgs[0], m)
	case <-c.closed:
		return 0, os.ErrClosed
	}
	n := 1
	for n < len(msgs) {
		select {
		case m := <-c.in:
			c.fill(&msgs[n], m)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

func (c *fakeConn) WriteBatch(msgs []Msg) (int, error) {
	select {
	case <-c.closed:
		return 0, os.ErrClosed
	default:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		err := c.fail
		c.fail = nil
		return 0, err
	}
	c.packets.Add(int64(len(msgs)))
	if c.record {
		for _, m := range msgs {
			m.Buf = append([]byte(nil), m.Buf...)
			c.sent = append(c.sent, m)
		}
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}
	return len(msgs), nil
}

func (c *fakeConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

func (c *fakeConn) take() []Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sent
	c.sent = nil
	return s
}

// Addresses of the test topology.
var (
	addrHA    = netip.MustParseAddr("198.51.100.1") // home agent
	addrCoA   = netip.MustParseAddr("203.0.113.7")  // co-located care-of address
	addrCoA2  = netip.MustParseAddr("203.0.113.8")  // a second care-of address
	addrNAT   = netip.MustParseAddr("192.0.2.100")  // a NAT's public address
	addrHoA   = netip.MustParseAddr("10.1.0.2")     // mobile node's home address
	addrHoA2  = netip.MustParseAddr("10.1.0.3")     // another mobile node
	addrCN    = netip.MustParseAddr("192.0.2.2")    // correspondent node
	addrOther = netip.MustParseAddr("203.0.113.99") // someone else
	epNAT     = netip.AddrPortFrom(addrNAT, 40000)  // the NAT mapping of the mobile node's port 434
	epHA      = netip.AddrPortFrom(addrHA, 434)     // the home agent's UDP endpoint
	epCoA     = netip.AddrPortFrom(addrCoA, 0)      // a raw tunnel endpoint
	epCoA2    = netip.AddrPortFrom(addrCoA2, 0)     //
	epRawHA   = netip.AddrPortFrom(addrHA, 0)       //
	epMNUDP   = netip.AddrPortFrom(addrCoA, 3434)   // the mobile node's registration socket
)

// ipPacket builds an IPv4 datagram with payload.
func ipPacket(src, dst netip.Addr, proto uint8, df bool, payload []byte) []byte {
	b := make([]byte, ipv4HeaderLen+len(payload))
	var flags uint8
	if df {
		flags = encap.IPv4FlagDF
	}
	ip := encap.IPv4(b)
	ip.Encode(&encap.IPv4Fields{TotalLength: uint16(len(b)), ID: 0x1234, Flags: flags, TTL: 63, Protocol: proto, Src: src, Dst: dst})
	ip.UpdateChecksum()
	copy(b[ipv4HeaderLen:], payload)
	return b
}

// udpPacket builds an IPv4/UDP datagram of total length n (checksum 0,
// allowed for UDP over IPv4).
func udpPacket(src, dst netip.Addr, n int, df bool) []byte {
	p := make([]byte, n-ipv4HeaderLen)
	binary.BigEndian.PutUint16(p[0:], 5000)
	binary.BigEndian.PutUint16(p[2:], 6000)
	binary.BigEndian.PutUint16(p[4:], uint16(len(p)))
	for i := 8; i < len(p); i++ {
		p[i] = byte(i)
	}
	return ipPacket(src, dst, 17, df, p)
}

// tcpChecksum computes the TCP checksum of ip (pseudo-header included).
func tcpChecksum(ip encap.IPv4) uint16 {
	seg := ip.Payload()
	ph := make([]byte, 12+len(seg))
	s, d := ip.Src().As4(), ip.Dst().As4()
	copy(ph[0:], s[:])
	copy(ph[4:], d[:])
	ph[9] = protoTCP
	binary.BigEndian.PutUint16(ph[10:], uint16(len(seg)))
	copy(ph[12:], seg)
	ph[12+16], ph[12+17] = 0, 0
	return encap.Checksum(ph)
}

// tcpSYN builds a TCP SYN (ack: SYN-ACK) with an MSS option after nops
// NOP options (to place it at an odd or even offset) and a correct
// checksum.
func tcpSYN(src, dst netip.Addr, mss uint16, nops int, ack bool) []byte {
	opts := make([]byte, 0, 40)
	for range nops {
		opts = append(opts, ipOptionNOP)
	}
	opts = append(opts, tcpOptMSS, tcpOptMSSLen, byte(mss>>8), byte(mss))
	opts = append(opts, 4, 2) // SACK permitted
	for len(opts)%4 != 0 {
		opts = append(opts, ipOptionEnd)
	}
	seg := make([]byte, tcpHeaderMinLen+len(opts))
	binary.BigEndian.PutUint16(seg[0:], 40000)
	binary.BigEndian.PutUint16(seg[2:], 22)
	binary.BigEndian.PutUint32(seg[4:], 0x01020304)
	seg[12] = byte(len(seg)/4) << 4
	seg[13] = tcpFlagSYN
	if ack {
		seg[13] |= 0x10
	}
	binary.BigEndian.PutUint16(seg[14:], 64240)
	copy(seg[tcpHeaderMinLen:], opts)
	b := ipPacket(src, dst, protoTCP, true, seg)
	binary.BigEndian.PutUint16(b[ipv4HeaderLen+16:], tcpChecksum(encap.IPv4(b)))
	return b
}

// echo builds an ICMP echo request (typ 8) or reply (typ 0).
func echo(src, dst netip.Addr, typ uint8, id, seq uint16) []byte {
	icmp := make([]byte, icmpHeaderLen+16)
	icmp[0] = typ
	binary.BigEndian.PutUint16(icmp[4:], id)
	binary.BigEndian.PutUint16(icmp[6:], seq)
	copy(icmp[8:], "0123456789abcdef")
	binary.BigEndian.PutUint16(icmp[2:], encap.Checksum(icmp))
	return ipPacket(src, dst, protoICMP, false, icmp)
}

// ipip wraps inner in an outer IPv4 header from src to dst (protocol 4).
func ipip(src, dst netip.Addr, inner []byte) []byte {
	return ipPacket(src, dst, protoIPIP, false, inner)
}

// gre wraps inner in GRE (with key when hasKey) and an outer header.
func gre(src, dst netip.Addr, hasKey bool, key uint32, inner []byte) []byte {
	h := encap.GREHeader{KeyPresent: hasKey, Key: key, Protocol: encap.GREProtocolIPv4}
	p := make([]byte, h.Len()+len(inner))
	copy(p[h.Len():], inner)
	if err := h.Encode(p); err != nil {
		panic(err)
	}
	return ipPacket(src, dst, protoGRE, false, p)
}

// tunnelData prepends a Tunnel Data header (RFC 3519 §3.3).
func tunnelData(next uint8, payload []byte) []byte {
	return append([]byte{4, next, 0, 0}, payload...)
}

// testHA returns a home agent plane over recording fakes.
func testHA(t testing.TB, opt Options, withGRE bool) (*HA, *fakeDevice, [numKinds]*fakeConn) {
	t.Helper()
	dev := newFakeDevice(true)
	var cs [numKinds]*fakeConn
	for k := range cs {
		cs[k] = newFakeConn(true)
	}
	cs[kindUDP].port = 434
	conns := HAConns{UDP: cs[kindUDP], IPIP: cs[kindIPIP]}
	if withGRE {
		conns.GRE = cs[kindGRE]
	}
	h, err := NewHA(HAConfig{Addr: addrHA, Options: opt}, dev, conns)
	if err != nil {
		t.Fatal(err)
	}
	return h, dev, cs
}

// binding returns an ha.Binding for tests.
func binding(hoa, coa netip.Addr, ep netip.AddrPort, udp bool, enc ha.Encap) ha.Binding {
	return ha.Binding{HomeAddr: hoa, CareOf: coa, Endpoint: ep, UDP: udp, Encap: enc, ReverseTunnel: true, Lifetime: 600}
}

// fromDevice runs one datagram through w's device path.
func fromDevice(w *worker, pkt []byte) {
	copy(w.slots[0][headroom:], pkt)
	w.sizes[0] = len(pkt)
	w.deviceBatch(1)
}

// fromConn runs one datagram through w's socket path for kind k.
func fromConn(w *worker, k kind, from netip.AddrPort, pkt []byte) {
	m := &w.msgs[0]
	m.N = copy(m.Buf, pkt)
	m.Addr, m.Local, m.Truncated = from, addrHA, len(pkt) > len(m.Buf)
	w.connBatch(k, 1)
}

// drops returns the non-zero drop counters.
func drops(c *Counters) map[string]int64 { return c.Snapshot().Drops }
