package dhcpserve_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/dhcpserve"
	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/proxy"
	"github.com/mip4d/mip4d/agent/wire"
)

// The proxy engine is the DHCP server's Leaser.
var _ dhcpserve.Leaser = (*proxy.Engine)(nil)

// TestDaemonSequence wires the DHCP server, the proxy engine and a real
// home agent engine in memory the way the daemon does: attach → DHCP →
// registration → bound → OFFER/ACK → renewal after a probe → the laptop
// moves to a second hotspot (init-reboot REQUEST there, revocation of the
// first) → RELEASE. It is the reference for the daemon's glue.
func TestDaemonSequence(t *testing.T) {
	var (
		haAddr = netip.MustParseAddr("198.51.100.1")
		master = auth.Secret("master")
		mac    = net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 1}
		pmac   = proxy.MAC(mac)
		nai    = "laptop@example.net"
		gwAddr = netip.MustParseAddr("10.10.0.1")
		t0     = time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	)
	sas := auth.NewStore()
	faSA := map[netip.Addr]*auth.SA{}
	for i, coa := range []netip.Addr{netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.22")} {
		faSA[coa] = &auth.SA{SPI: 500, Key: auth.Secret{byte(i), 1, 2, 3}}
		sas.Add(auth.FAHA, auth.PeerAddr(coa), faSA[coa])
	}
	h, err := ha.New(ha.Config{Addr: haAddr, HomeNet: netip.MustParsePrefix("10.10.0.0/16"), MaxLifetime: 600,
		MaxBindings: 1, Revocation: true,
		Pool: ha.PoolRange{First: netip.MustParseAddr("10.10.9.1"), Last: netip.MustParseAddr("10.10.9.9")}}, sas, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The HA admin installs the derived key under the NAI.
	if err := h.AddMobileNode(ha.MobileNode{NAI: nai, SAs: []*auth.SA{{SPI: proxy.DefaultKeySPI, Key: proxy.DeriveKey(master, nai)}}}); err != nil {
		t.Fatal(err)
	}

	type hotspot struct {
		coa   netip.Addr
		p     *proxy.Engine
		s     *dhcpserve.Server
		toMN  []*dhcpv4.DHCPv4 // DHCP replies sent to the laptop
		probe []proxy.MAC
		ev    []proxy.Event
	}
	var hs []*hotspot
	for coa, sa := range faSA {
		p, err := proxy.New(proxy.Config{HomeAgent: haAddr, CareOf: coa, SA: sa, Revocation: true, MasterKey: master,
			Clients: []proxy.Client{{MAC: pmac, NAI: nai}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := dhcpserve.New(dhcpserve.Config{ServerID: gwAddr, Network: netip.MustParsePrefix("10.10.0.0/16")}, p)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, &hotspot{coa: coa, p: p, s: s})
	}
	if hs[0].coa != netip.MustParseAddr("192.0.2.11") {
		hs[0], hs[1] = hs[1], hs[0]
	}
	byCoA := func(a netip.Addr) *hotspot {
		for _, x := range hs {
			if x.coa == a {
				return x
			}
		}
		t.Fatalf("no hotspot %v", a)
		return nil
	}

	// apply is the daemon acting on a proxy Output: packets to the HA (and
	// the HA's answers and revocations back), probes, and the events that
	// drive the DHCP server.
	var apply func(x *hotspot, out proxy.Output, now time.Time)
	apply = func(x *hotspot, out proxy.Output, now time.Time) {
		x.probe = append(x.probe, out.Probe...)
		for _, e := range out.Events {
			x.ev = append(x.ev, e)
			hw := net.HardwareAddr(e.Binding.MAC[:])
			switch e.Kind {
			case proxy.ClientBound:
				// install neighbour, route, tunnel; then answer DHCP
				if r := x.s.Ready(hw, now); r != nil {
					x.toMN = append(x.toMN, r)
				}
			case proxy.ClientDenied:
				if r := x.s.Fail(hw, now); r != nil {
					x.toMN = append(x.toMN, r)
				}
			case proxy.ClientReleased, proxy.ClientRevoked:
				x.s.Forget(hw) // and remove neighbour, route, tunnel
			}
		}
		for _, p := range out.Send {
			if p.Data[0] == byte(wire.MsgRevocationAck) {
				if !h.HandleRevocationAck(ha.Packet{Src: p.Src, Dst: p.Dst, Data: p.Data}) {
					t.Fatal("revocation ack refused")
				}
				continue
			}
			res := h.Handle(ha.Packet{Src: p.Src, Dst: p.Dst, Data: p.Data}, now)
			if res.Reply != nil {
				apply(x, x.p.HandleReply(res.Reply.Src, res.Reply.Data, now), now)
			}
			for _, r := range res.Revocations {
				y := byCoA(r.Dst.Addr())
				apply(y, y.p.HandleRevocation(r.Src, r.Data, now), now)
			}
		}
	}
	// dhcp is the daemon handing a client message to the server.
	dhcp := func(x *hotspot, m *dhcpv4.DHCPv4, now time.Time) {
		r, ev := x.s.HandleBytes(m.ToBytes(), now)
		if r != nil {
			x.toMN = append(x.toMN, r)
		}
		switch ev.Kind {
		case dhcpserve.Attach:
			apply(x, x.p.Attach(pmac, now), now)
		case dhcpserve.Present:
			apply(x, x.p.ClientPresent(pmac, now), now)
		case dhcpserve.Release, dhcpserve.Decline, dhcpserve.LeaseExpired:
			apply(x, x.p.Release(pmac, ev.Kind.String(), now), now)
		}
	}
	last := func(x *hotspot) *dhcpv4.DHCPv4 {
		if len(x.toMN) == 0 {
			t.Fatal("no DHCP reply")
		}
		r := x.toMN[len(x.toMN)-1]
		x.toMN = nil
		return r
	}
	mk := func(mt dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
		m, _ := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(mt)}, mods...)...)
		return m
	}
	home := netip.MustParseAddr("10.10.9.1")
	hs1, hs2 := hs[0], hs[1]

	// 1. Attach at hs1: the DISCOVER triggers the registration; the OFFER
	//    follows the binding.
	dhcp(hs1, mk(dhcpv4.MessageTypeDiscover), t0)
	offer := last(hs1)
	if offer.MessageType() != dhcpv4.MessageTypeOffer || offer.YourIPAddr.String() != home.String() {
		t.Fatalf("offer %v", offer.Summary())
	}
	dhcp(hs1, mk(dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(offer.ServerIdentifier())),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr))), t0)
	if ack := last(hs1); ack.MessageType() != dhcpv4.MessageTypeAck || ack.IPAddressLeaseTime(0) != 150*time.Second {
		t.Fatalf("ack %v", ack.Summary())
	}

	// 2. Renewal: at ¾ of 300 s the proxy asks for a probe; the daemon's
	//    ARP is answered; the renewal goes.
	now := t0.Add(225 * time.Second)
	apply(hs1, hs1.p.Tick(now), now)
	if len(hs1.probe) != 1 {
		t.Fatal("no probe before the renewal")
	}
	hs1.ev = nil
	apply(hs1, hs1.p.ClientPresent(pmac, now), now)
	if len(hs1.ev) != 1 || hs1.ev[0].Kind != proxy.ClientRenewed {
		t.Fatalf("renewal events %+v", hs1.ev)
	}

	// 3. The laptop moves to hs2 and renews its lease with the shared
	//    server identifier: held until hs2's registration is accepted,
	//    then ACKed with the same address; hs1 is revoked.
	now = now.Add(10 * time.Second)
	dhcp(hs2, mk(dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(net.IP(home.AsSlice()))), now)
	ack := last(hs2)
	if ack.MessageType() != dhcpv4.MessageTypeAck || ack.YourIPAddr.String() != home.String() {
		t.Fatalf("ack at hs2 %v", ack.Summary())
	}
	if b := h.Lookup(home); len(b) != 1 || b[0].CareOf != hs2.coa {
		t.Fatalf("HA binding %+v", b)
	}
	if e := hs1.ev[len(hs1.ev)-1]; e.Kind != proxy.ClientRevoked {
		t.Fatalf("hs1 not revoked: %+v", hs1.ev)
	}
	if _, _, ok := hs1.p.Lease(mac, now); ok || hs1.p.Admits(mac) != true {
		t.Fatal("hs1 still leases")
	}

	// 4. RELEASE at hs2: deregistered at the HA.
	dhcp(hs2, mk(dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(net.IP(home.AsSlice()))), now.Add(time.Second))
	if h.NumBindings() != 0 || hs2.p.NumClients() != 0 {
		t.Fatalf("after RELEASE: %d bindings, %d clients", h.NumBindings(), hs2.p.NumClients())
	}
}
