package dataplane

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/mip4d/mip4d/agent/encap"
	"github.com/mip4d/mip4d/agent/fa"
	"github.com/mip4d/mip4d/agent/ha"
)

var (
	addrFACoA = netip.MustParseAddr("192.168.1.2") // the foreign agent's care-of address (behind a NAT)
	addrHA2   = netip.MustParseAddr("10.20.1.2")   // a second (internal) home agent
)

// testFA returns a foreign agent plane over recording fakes.
func testFA(t *testing.T) (*FA, *fakeDevice, [numKinds]*fakeConn) {
	t.Helper()
	dev := newFakeDevice(true)
	var cs [numKinds]*fakeConn
	for k := range cs {
		cs[k] = newFakeConn(true)
	}
	cs[kindUDP].port = 434
	f, err := NewFA(FAConfig{CareOf: addrFACoA}, dev, HAConns{UDP: cs[kindUDP], IPIP: cs[kindIPIP], GRE: cs[kindGRE]})
	if err != nil {
		t.Fatal(err)
	}
	return f, dev, cs
}

func visitor(hoa, homeAgent netip.Addr, udp bool) fa.Visitor {
	return fa.Visitor{MAC: fa.MAC{2, 0, 0, 0, 0, 5}, HomeAddr: hoa, HomeAgent: homeAgent, UDP: udp, ReverseTunnel: true, Lifetime: 300}
}

// TestFAReverseTunnel: a visitor's datagram from the device goes to its
// home agent from the care-of address (RFC 3024 §4.2), in UDP or IP-in-IP
// as registered; a datagram from an address that is no visitor's is
// dropped.
func TestFAReverseTunnel(t *testing.T) {
	for _, udp := range []bool{true, false} {
		f, dev, cs := testFA(t)
		if err := f.Apply(fa.Event{Kind: fa.VisitorAdded, Visitor: visitor(addrHoA, addrHA, udp)}); err != nil {
			t.Fatal(err)
		}
		w := f.h.newWorker(true)
		up := udpPacket(addrHoA, addrCN, 200, false)
		fromDevice(w, up)
		k, to := kindIPIP, netip.AddrPortFrom(addrHA, 0)
		if udp {
			k, to = kindUDP, netip.AddrPortFrom(addrHA, 434)
		}
		sent := cs[k].take()
		if len(sent) != 1 || sent[0].Addr != to {
			t.Fatalf("udp=%v: sent %+v on %v, want one to %v; drops %v", udp, sent, k, to, drops(&f.h.ctr))
		}
		pkt := sent[0].Buf
		if udp {
			if sent[0].Local != addrFACoA || !bytes.Equal(pkt[:4], []byte{4, 4, 0, 0}) || !bytes.Equal(pkt[4:], up) {
				t.Fatalf("UDP tunnel from %v: % x", sent[0].Local, pkt[:8])
			}
		} else {
			o := encap.IPv4(pkt)
			checkOuter(t, o, 4, addrFACoA, addrHA, up)
			if !bytes.Equal(pkt[o.HeaderLength():], up) {
				t.Fatal("inner datagram changed")
			}
		}
		fromDevice(w, udpPacket(addrHoA2, addrCN, 200, false))
		if n := len(cs[k].take()); n != 0 || drops(&f.h.ctr)["no_binding"] != 1 {
			t.Fatalf("a stranger's datagram: %d sent, drops %v", n, drops(&f.h.ctr))
		}
		if len(dev.take()) != 0 {
			t.Fatal("wrote to the device")
		}
	}
}

// TestFADeliver: the home agent's tunnelled datagram for a visitor is
// written to the device (RFC 5944 §4.2.2); from another source, for
// another address, or in the wrong encapsulation it is dropped.
func TestFADeliver(t *testing.T) {
	f, dev, _ := testFA(t)
	if err := f.Apply(fa.Event{Kind: fa.VisitorAdded, Visitor: visitor(addrHoA, addrHA, true)}); err != nil {
		t.Fatal(err)
	}
	down := udpPacket(addrCN, addrHoA, 300, false)
	haEP := netip.AddrPortFrom(addrHA, 434)
	w := f.h.newWorker(false)
	fromConn(w, kindUDP, haEP, tunnelData(4, down))
	got := dev.take()
	if len(got) != 1 || !bytes.Equal(got[0], down) {
		t.Fatalf("device got %d datagrams; drops %v", len(got), drops(&f.h.ctr))
	}
	for _, tc := range []struct {
		name string
		k    kind
		from netip.AddrPort
		pkt  []byte
		drop string
	}{
		{"spoofed home agent", kindUDP, netip.AddrPortFrom(addrHA2, 434), tunnelData(4, down), "outer_source_mismatch"},
		{"not a visitor", kindUDP, haEP, tunnelData(4, udpPacket(addrCN, addrHoA2, 100, false)), "inner_destination_mismatch"},
		{"wrong encapsulation", kindIPIP, netip.AddrPortFrom(addrHA, 0), ipip(addrHA, addrFACoA, down), "outer_source_mismatch"},
	} {
		before := drops(&f.h.ctr)[tc.drop]
		w := f.h.newWorker(false)
		fromConn(w, tc.k, tc.from, tc.pkt)
		if len(dev.take()) != 0 || drops(&f.h.ctr)[tc.drop] != before+1 {
			t.Errorf("%s: delivered, or drops %v (want %s)", tc.name, drops(&f.h.ctr), tc.drop)
		}
	}
	// Removal ends delivery.
	if err := f.Apply(fa.Event{Kind: fa.VisitorRemoved, Visitor: visitor(addrHoA, addrHA, true)}); err != nil || f.Visitors() != 0 {
		t.Fatalf("remove: %v, %d left", err, f.Visitors())
	}
	fromConn(f.h.newWorker(false), kindUDP, haEP, tunnelData(4, down))
	if len(dev.take()) != 0 {
		t.Fatal("delivered after the visitor left")
	}
}

// TestFAParallelRegistrations: one visitor registered with two home
// agents (RFC 5265 §3.5); each home agent's traffic is delivered, and the
// visitor's own traffic goes to the latest.
func TestFAParallelRegistrations(t *testing.T) {
	f, dev, cs := testFA(t)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.Apply(fa.Event{Kind: fa.VisitorAdded, Visitor: visitor(addrHoA, addrHA, true)}))
	must(f.Apply(fa.Event{Kind: fa.VisitorAdded, Visitor: visitor(addrHoA, addrHA2, true)}))
	for _, h := range []netip.Addr{addrHA, addrHA2} {
		fromConn(f.h.newWorker(false), kindUDP, netip.AddrPortFrom(h, 434), tunnelData(4, udpPacket(addrCN, addrHoA, 64, false)))
	}
	if n := len(dev.take()); n != 2 {
		t.Fatalf("delivered %d of 2", n)
	}
	fromDevice(f.h.newWorker(true), udpPacket(addrHoA, addrCN, 64, false))
	if s := cs[kindUDP].take(); len(s) != 1 || s[0].Addr.Addr() != addrHA2 {
		t.Fatalf("reverse tunnel: %+v", s)
	}
}

// TestFAKeepalive: the agent's keepalive is an echo request from its
// care-of address to the home agent inside the UDP tunnel; the home agent
// plane answers it (its inner source is the agent's care-of address, no
// home address) and the agent counts the answer.
func TestFAKeepalive(t *testing.T) {
	f, _, fcs := testFA(t)
	if err := f.SendKeepalive(addrHA); err == nil {
		t.Fatal("keepalive without a UDP tunnel")
	}
	if err := f.Apply(fa.Event{Kind: fa.VisitorAdded, Visitor: visitor(addrHoA, addrHA, true)}); err != nil {
		t.Fatal(err)
	}
	if err := f.SendKeepalive(addrHA); err != nil {
		t.Fatal(err)
	}
	ka := fcs[kindUDP].take()
	if len(ka) != 1 || ka[0].Addr != netip.AddrPortFrom(addrHA, 434) {
		t.Fatalf("keepalive %+v", ka)
	}
	inner := encap.IPv4(ka[0].Buf[4:])
	if !isEchoRequestTo(inner, addrHA) || inner.Src() != addrFACoA {
		t.Fatalf("keepalive inner %v -> %v", inner.Src(), inner.Dst())
	}

	// The home agent: a binding relayed by this agent behind a NAT.
	h, _, hcs := testHA(t, Options{}, false)
	b := binding(addrHoA, addrFACoA, epNAT, true, 0)
	if err := h.Apply(ha.Event{Kind: ha.BindingAdded, Binding: b}); err != nil {
		t.Fatal(err)
	}
	fromConn(h.newWorker(false), kindUDP, epNAT, ka[0].Buf)
	ans := hcs[kindUDP].take()
	if len(ans) != 1 || ans[0].Addr != epNAT || h.Stats().KeepalivesAnswered != 1 {
		t.Fatalf("home agent answer %+v, drops %v", ans, drops(&h.ctr))
	}
	fromConn(f.h.newWorker(false), kindUDP, netip.AddrPortFrom(addrHA, 434), ans[0].Buf)
	if f.Stats().KeepaliveReplies != 1 {
		t.Fatalf("answer not counted; drops %v", drops(&f.h.ctr))
	}
}
