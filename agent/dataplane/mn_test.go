package dataplane

import (
	"bytes"
	"maps"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/mip4d/mip4d/agent/encap"
	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/mn"
)

func testMN(t testing.TB, heard func()) (*MN, *fakeDevice, [numKinds]*fakeConn) {
	t.Helper()
	dev := newFakeDevice(true)
	var cs [numKinds]*fakeConn
	for k := range cs {
		cs[k] = newFakeConn(true)
	}
	cs[kindUDP].port = epMNUDP.Port()
	m, err := NewMN(MNConfig{Heard: heard}, dev, MNConns{UDP: cs[kindUDP], IPIP: cs[kindIPIP]})
	if err != nil {
		t.Fatal(err)
	}
	return m, dev, cs
}

var (
	udpTunnel = mn.Tunnel{Up: true, HomeAddr: addrHoA, Local: addrCoA, Remote: epHA, UDP: true, Reverse: true}
	rawTunnel = mn.Tunnel{Up: true, HomeAddr: addrHoA, Local: addrCoA, Remote: epRawHA, Reverse: true}
)

// TestMNForward tunnels what the device gives from the home address to
// the home agent, from the care-of address.
func TestMNForward(t *testing.T) {
	pkt := udpPacket(addrHoA, addrCN, 120, true)
	t.Run("udp", func(t *testing.T) {
		m, _, cs := testMN(t, nil)
		m.SetTunnel(udpTunnel)
		fromDevice(m.newWorker(true), pkt)
		sent := cs[kindUDP].take()
		if len(sent) != 1 || sent[0].Addr != epHA || sent[0].Local != addrCoA {
			t.Fatalf("sent %+v", sent)
		}
		if want := append([]byte{4, 4, 0, 0}, pkt...); !bytes.Equal(sent[0].Buf, want) {
			t.Errorf("sent % x, want % x", sent[0].Buf, want)
		}
	})
	t.Run("ipip", func(t *testing.T) {
		m, _, cs := testMN(t, nil)
		m.SetTunnel(rawTunnel)
		fromDevice(m.newWorker(true), pkt)
		sent := cs[kindIPIP].take()
		if len(sent) != 1 || sent[0].Addr != epRawHA {
			t.Fatalf("sent %+v", sent)
		}
		o, in, err := encap.DecapsulateIPIP(sent[0].Buf)
		if err != nil {
			t.Fatal(err)
		}
		checkOuter(t, o, protoIPIP, addrCoA, addrHA, in)
		if !bytes.Equal(in, pkt) {
			t.Error("inner changed")
		}
	})
	for _, tc := range []struct {
		name string
		tun  mn.Tunnel
		pkt  []byte
		drop Drop
	}{
		{"no tunnel", mn.Tunnel{}, pkt, DropNoTunnel},
		{"via a foreign agent", func() mn.Tunnel { x := udpTunnel; x.ViaFA = true; return x }(), pkt, DropNoTunnel},
		{"not from the home address", udpTunnel, udpPacket(addrCoA, addrCN, 60, false), DropSourceNotHome},
		{"ipv6", udpTunnel, append([]byte{0x60}, make([]byte, 39)...), DropNotIPv4},
		{"too big with DF", udpTunnel, udpPacket(addrHoA, addrCN, 1500, true), DropTooBig},
		{"raw tunnel without a raw socket", rawTunnel, pkt, DropUnsupportedEncapsulation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, dev, cs := testMN(t, nil)
			if tc.name == "raw tunnel without a raw socket" {
				m.conns[kindIPIP] = nil
			}
			m.SetTunnel(tc.tun)
			fromDevice(m.newWorker(true), tc.pkt)
			if d := drops(&m.ctr); !maps.Equal(d, map[string]int64{tc.drop.String(): 1}) {
				t.Errorf("drops %v, want %v", d, tc.drop)
			}
			if len(cs[kindUDP].take())+len(cs[kindIPIP].take()) != 0 {
				t.Error("sent something")
			}
			if tc.drop == DropTooBig {
				got := dev.take()
				if len(got) != 1 || encap.IPv4(got[0]).Src() != addrCoA || encap.IPv4(got[0]).Dst() != addrHoA {
					t.Errorf("ICMP %x", got)
				}
			}
		})
	}
	t.Run("fragmented", func(t *testing.T) {
		m, _, cs := testMN(t, nil)
		m.SetTunnel(udpTunnel)
		fromDevice(m.newWorker(true), udpPacket(addrHoA, addrCN, 2000, false))
		if n := len(cs[kindUDP].take()); n != 2 {
			t.Errorf("%d fragments", n)
		}
	})
}

// TestMNReceive accepts only what the home agent tunnels to the home
// address, in the tunnel's encapsulation.
func TestMNReceive(t *testing.T) {
	down := udpPacket(addrCN, addrHoA, 100, false)
	for _, tc := range []struct {
		name  string
		tun   mn.Tunnel
		k     kind
		from  netip.AddrPort
		pkt   []byte
		drop  Drop
		heard bool
	}{
		{"udp accepted", udpTunnel, kindUDP, epHA, tunnelData(4, down), DropNone, true},
		{"ipip accepted", rawTunnel, kindIPIP, epRawHA, ipip(addrHA, addrCoA, down), DropNone, true},
		{"multicast accepted", udpTunnel, kindUDP, epHA, tunnelData(4, udpPacket(addrCN, netip.MustParseAddr("224.0.0.251"), 60, false)), DropNone, true},
		{"udp from another port", udpTunnel, kindUDP, netip.AddrPortFrom(addrHA, 435), tunnelData(4, down), DropOuterSourceMismatch, false},
		{"udp from elsewhere", udpTunnel, kindUDP, netip.AddrPortFrom(addrOther, 434), tunnelData(4, down), DropOuterSourceMismatch, false},
		{"ipip from elsewhere", rawTunnel, kindIPIP, netip.AddrPortFrom(addrOther, 0), ipip(addrOther, addrCoA, down), DropOuterSourceMismatch, false},
		{"not for the home address", udpTunnel, kindUDP, epHA, tunnelData(4, udpPacket(addrCN, addrHoA2, 60, false)), DropInnerDestinationMismatch, false},
		{"wrong next header", udpTunnel, kindUDP, epHA, tunnelData(47, append([]byte{0, 0, 8, 0}, down...)), DropWrongNextHeader, false},
		{"ipip while the tunnel is udp", udpTunnel, kindIPIP, epRawHA, ipip(addrHA, addrCoA, down), DropWrongEncapsulation, false},
		{"udp while the tunnel is ipip", rawTunnel, kindUDP, epHA, tunnelData(4, down), DropWrongEncapsulation, false},
		{"no tunnel", mn.Tunnel{}, kindUDP, epHA, tunnelData(4, down), DropNoTunnel, false},
		{"malformed", udpTunnel, kindUDP, epHA, tunnelData(4, down[:30]), DropMalformed, false},
		{"gre", udpTunnel, kindGRE, epRawHA, gre(addrHA, addrCoA, false, 0, down), DropWrongEncapsulation, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var heard atomic.Int32
			m, dev, _ := testMN(t, func() { heard.Add(1) })
			m.SetTunnel(tc.tun)
			fromConn(m.newWorker(false), tc.k, tc.from, tc.pkt)
			got := dev.take()
			want := map[string]int64{}
			if tc.drop != DropNone {
				want[tc.drop.String()] = 1
			} else if len(got) != 1 {
				t.Errorf("device got %d datagrams", len(got))
			}
			if d := drops(&m.ctr); !maps.Equal(d, want) {
				t.Errorf("drops %v, want %v", d, want)
			}
			if (heard.Load() == 1) != tc.heard {
				t.Errorf("heard %d", heard.Load())
			}
		})
	}
}

// TestKeepaliveRoundTrip sends a mobile node's keepalive through a home
// agent plane and the answer back: both planes pure, wired by hand.
func TestKeepaliveRoundTrip(t *testing.T) {
	for _, tun := range []mn.Tunnel{udpTunnel, rawTunnel} {
		t.Run(map[bool]string{true: "udp", false: "ipip"}[tun.UDP], func(t *testing.T) {
			var heard atomic.Int32
			m, mdev, mcs := testMN(t, func() { heard.Add(1) })
			h, hdev, hcs := testHA(t, Options{}, false)
			m.SetTunnel(tun)
			ep := epCoA
			if tun.UDP {
				ep = netip.AddrPortFrom(addrNAT, 1024) // behind a NAT
			}
			_ = h.Apply(ha.Event{Kind: ha.BindingAdded, Binding: binding(addrHoA, addrCoA, ep, tun.UDP, ha.EncapIPIP)})
			k := kindIPIP
			if tun.UDP {
				k = kindUDP
			}
			if err := m.SendKeepalive(); err != nil {
				t.Fatal(err)
			}
			req := mcs[k].take()
			if len(req) != 1 {
				t.Fatalf("%d keepalives sent", len(req))
			}
			fromConn(h.newWorker(false), k, ep, req[0].Buf)
			rep := hcs[k].take()
			if len(rep) != 1 || rep[0].Addr != ep {
				t.Fatalf("home agent answered %+v; drops %v", rep, drops(&h.ctr))
			}
			from := epHA
			if !tun.UDP {
				from = epRawHA
			}
			fromConn(m.newWorker(false), k, from, rep[0].Buf)
			if heard.Load() != 1 || m.Stats().KeepaliveReplies != 1 || m.Stats().KeepalivesSent != 1 || h.Stats().KeepalivesAnswered != 1 {
				t.Errorf("heard %d, MN %+v, HA %+v", heard.Load(), m.Stats(), h.Stats())
			}
			if len(mdev.take())+len(hdev.take()) != 0 {
				t.Error("a keepalive reached a device")
			}
		})
	}
	m, _, _ := testMN(t, nil)
	if m.SendKeepalive() != ErrNoTunnel {
		t.Error("keepalive without a tunnel")
	}
}
