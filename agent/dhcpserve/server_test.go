package dhcpserve

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

var (
	t0      = time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	gw      = netip.MustParseAddr("10.10.0.1")
	linkGW  = netip.MustParseAddr("169.254.1.1")
	hoa     = netip.MustParseAddr("10.10.9.7")
	laptop  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	strange = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
)

// fakeLeaser is the proxy's side: which MACs are admitted, and which are
// bound to what.
type fakeLeaser struct {
	admit map[string]bool
	bound map[string]netip.Addr
	until time.Time
}

func newLeaser() *fakeLeaser {
	return &fakeLeaser{admit: map[string]bool{laptop.String(): true}, bound: map[string]netip.Addr{},
		until: t0.Add(300 * time.Second)}
}

func (f *fakeLeaser) Admits(m net.HardwareAddr) bool { return f.admit[m.String()] }
func (f *fakeLeaser) Lease(m net.HardwareAddr, now time.Time) (netip.Addr, time.Duration, bool) {
	a, ok := f.bound[m.String()]
	if !ok || !now.Before(f.until) {
		return netip.Addr{}, 0, false
	}
	return a, f.until.Sub(now), true
}

func newServer(t *testing.T, mod func(*Config)) (*Server, *fakeLeaser) {
	t.Helper()
	cfg := Config{ServerID: linkGW, DNS: []netip.Addr{netip.MustParseAddr("10.10.0.53")}, Domain: "home.example.net", MTU: 1400}
	if mod != nil {
		mod(&cfg)
	}
	f := newLeaser()
	s, err := New(cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	return s, f
}

func msg(t *testing.T, mac net.HardwareAddr, mt dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(mt),
		dhcpv4.WithTransactionID(dhcpv4.TransactionID{1, 2, 3, 4})}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	// Through bytes, as from the wire.
	m, err = dhcpv4.FromBytes(m.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func requested(a netip.Addr) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip(a)))
}

func serverID(a netip.Addr) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptServerIdentifier(ip(a)))
}

// checkReply asserts an OFFER/ACK for hoa with the /32 + option 121
// layout and the configured options.
func checkReply(t *testing.T, r *dhcpv4.DHCPv4, mt dhcpv4.MessageType, lease time.Duration) {
	t.Helper()
	if r == nil {
		t.Fatalf("no %v", mt)
	}
	if r.MessageType() != mt || r.OpCode != dhcpv4.OpcodeBootReply || !bytes.Equal(r.ClientHWAddr, laptop) ||
		r.TransactionID != (dhcpv4.TransactionID{1, 2, 3, 4}) {
		t.Fatalf("reply %v", r.Summary())
	}
	if addrOf(r.YourIPAddr) != hoa || addrOf(r.ServerIdentifier()) != linkGW {
		t.Fatalf("yiaddr %v server id %v", r.YourIPAddr, r.ServerIdentifier())
	}
	if got := r.IPAddressLeaseTime(0); got != lease {
		t.Fatalf("lease %v, want %v", got, lease)
	}
	if r.IPAddressRenewalTime(0) != (lease/2).Truncate(time.Second) || r.IPAddressRebindingTime(0) != (lease*7/8).Truncate(time.Second) {
		t.Fatalf("T1 %v T2 %v", r.IPAddressRenewalTime(0), r.IPAddressRebindingTime(0))
	}
	if ones, _ := r.SubnetMask().Size(); ones != 32 {
		t.Fatalf("mask /%d, want /32 (gateway outside any client subnet)", ones)
	}
	if rt := r.Router(); len(rt) != 1 || addrOf(rt[0]) != linkGW {
		t.Fatalf("router %v", rt)
	}
	routes := r.ClasslessStaticRoute()
	if len(routes) != 2 || routes[0].String() != "route to 169.254.1.1/32 via 0.0.0.0" ||
		routes[1].String() != "route to 0.0.0.0/0 via 169.254.1.1" {
		t.Fatalf("option 121 %v", routes)
	}
	if d := r.DNS(); len(d) != 1 || d[0].String() != "10.10.0.53" || r.DomainName() != "home.example.net" {
		t.Fatalf("dns %v domain %q", d, r.DomainName())
	}
	if mtu := r.GetOneOption(dhcpv4.OptionInterfaceMTU); !bytes.Equal(mtu, []byte{0x05, 0x78}) {
		t.Fatalf("mtu %x", mtu)
	}
}

// TestDiscoverWaitsForBinding: RFC 5563 §4.1.1 — DISCOVER triggers the
// registration; the OFFER goes when the binding is ready.
func TestDiscoverWaitsForBinding(t *testing.T) {
	s, f := newServer(t, nil)
	r, ev := s.Handle(msg(t, laptop, dhcpv4.MessageTypeDiscover), t0)
	if r != nil || ev.Kind != Attach || !bytes.Equal(ev.MAC, laptop) || s.NumPending() != 1 {
		t.Fatalf("reply %v event %+v pending %d", r, ev, s.NumPending())
	}
	// The client retransmits: still one held message.
	if _, ev := s.Handle(msg(t, laptop, dhcpv4.MessageTypeDiscover), t0.Add(time.Second)); ev.Kind != Attach || s.NumPending() != 1 {
		t.Fatal("retransmission")
	}
	if s.Ready(laptop, t0) != nil {
		t.Fatal("Ready before the binding answered")
	}
	f.bound[laptop.String()] = hoa
	offer := s.Ready(laptop, t0.Add(2*time.Second))
	checkReply(t, offer, dhcpv4.MessageTypeOffer, 149*time.Second) // half of 298 s, whole seconds
	if s.NumPending() != 0 || Destination(offer).String() != "255.255.255.255:68" {
		t.Fatalf("pending %d destination %v", s.NumPending(), Destination(offer))
	}
	// DISCOVER while bound: offered at once, and proof of presence.
	r, ev = s.Handle(msg(t, laptop, dhcpv4.MessageTypeDiscover), t0.Add(4*time.Second))
	if r == nil || r.MessageType() != dhcpv4.MessageTypeOffer || ev.Kind != Present {
		t.Fatalf("bound DISCOVER: %v %+v", r, ev)
	}
}

// TestContinuedExchange: the REQUEST of the exchange whose OFFER came from
// a binding that has since been taken away (the proxy forgot the client on
// a revocation) is a Continued event, not an Attach: the client never left.
// Another transaction, a REQUEST without our server identifier, or one
// after PendingTimeout is a new attachment.
func TestContinuedExchange(t *testing.T) {
	// offered: a server that offered the laptop its binding's address at
	// t0; with revoke, the binding is gone again and the client forgotten.
	offered := func(revoke bool) *Server {
		s, f := newServer(t, nil)
		s.Handle(msg(t, laptop, dhcpv4.MessageTypeDiscover), t0)
		f.bound[laptop.String()] = hoa
		if o := s.Ready(laptop, t0); o == nil || o.MessageType() != dhcpv4.MessageTypeOffer {
			t.Fatalf("offer %v", o)
		}
		if revoke {
			delete(f.bound, laptop.String())
			s.Forget(laptop)
		}
		return s
	}
	s := offered(true)
	now := t0.Add(20 * time.Millisecond)
	other := dhcpv4.WithTransactionID(dhcpv4.TransactionID{9, 9, 9, 9})
	if r, ev := s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, requested(hoa), serverID(linkGW), other), now); r != nil || ev.Kind != Attach {
		t.Fatalf("another transaction: %v %+v", r, ev)
	}
	if r, ev := s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, requested(hoa)), now); r != nil || ev.Kind != Attach {
		t.Fatalf("INIT-REBOOT (no server identifier): %v %+v", r, ev)
	}
	r, ev := s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, requested(hoa), serverID(linkGW)), now)
	if r != nil || ev.Kind != Continued || !bytes.Equal(ev.MAC, laptop) || s.NumPending() != 1 || s.Counters.Continued.Load() != 1 {
		t.Fatalf("the same exchange: %v %+v pending %d", r, ev, s.NumPending())
	}
	// Once only: a retransmission of it is an attachment like any other.
	if _, ev := s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, requested(hoa), serverID(linkGW)), now); ev.Kind != Attach {
		t.Fatalf("retransmission: %+v", ev)
	}
	// Too late: a new exchange.
	s2 := offered(true)
	late := t0.Add(DefaultPendingTimeout)
	s2.Tick(late)
	if _, ev := s2.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, requested(hoa), serverID(linkGW)), late); ev.Kind != Attach {
		t.Fatalf("after PendingTimeout: %+v", ev)
	}
	// An ACK completes the exchange: nothing of it is kept.
	s3 := offered(false)
	if r, _ := s3.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, requested(hoa), serverID(linkGW)), t0); r == nil || r.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("ack %v", r)
	}
	if len(s3.offered) != 0 {
		t.Fatal("an acknowledged exchange is still remembered")
	}
}

func TestRequestStates(t *testing.T) {
	s, f := newServer(t, nil)
	f.bound[laptop.String()] = hoa
	// SELECTING: our server identifier and the offered address.
	r, ev := s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, serverID(linkGW), requested(hoa)), t0)
	checkReply(t, r, dhcpv4.MessageTypeAck, 150*time.Second)
	if ev.Kind != Present || ev.Addr != hoa {
		t.Fatalf("event %+v", ev)
	}
	if st := s.Status(t0); len(st.Leases) != 1 || st.Leases[0].Addr != hoa || st.Leases[0].Left != 150 {
		t.Fatalf("lease table %+v", st)
	}
	// SELECTING another server: not ours to answer.
	if r, _ := s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, serverID(gw), requested(hoa)), t0); r != nil ||
		s.Counters.OtherServer.Load() != 1 {
		t.Fatal("answered a REQUEST for another server")
	}
	// INIT-REBOOT with the right address, then with a wrong one (the
	// laptop was last on some other network): NAK.
	r, _ = s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, requested(hoa)), t0)
	if r == nil || r.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatal("init-reboot")
	}
	r, _ = s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, requested(netip.MustParseAddr("192.168.1.50"))), t0)
	if r == nil || r.MessageType() != dhcpv4.MessageTypeNak || addrOf(r.ServerIdentifier()) != linkGW || r.YourIPAddr != nil && !r.YourIPAddr.IsUnspecified() {
		t.Fatalf("wrong address: %v", r)
	}
	if !r.IsBroadcast() || Destination(r).String() != "255.255.255.255:68" {
		t.Fatal("a NAK is broadcast")
	}
	// RENEWING / REBINDING: ciaddr, no server identifier, no requested
	// address; the ACK is unicast to the client.
	r, ev = s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(ip(hoa))), t0.Add(75*time.Second))
	if r == nil || r.MessageType() != dhcpv4.MessageTypeAck || ev.Kind != Present {
		t.Fatalf("renewal %v %+v", r, ev)
	}
	if Destination(r) != netip.AddrPortFrom(hoa, 68) {
		t.Fatalf("renewal ACK to %v", Destination(r))
	}
	r, _ = s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(ip(netip.MustParseAddr("10.10.9.8")))), t0)
	if r == nil || r.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatal("renewing someone else's address")
	}
	// A REQUEST with no address at all is malformed.
	if r, _ := s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest), t0); r != nil {
		t.Fatal("answered an empty REQUEST")
	}
}

// TestMovedClient: the laptop arrives at a new hotspot still holding its
// lease and renews with the shared server identifier: the REQUEST waits
// for the registration, then is ACKed with the same address.
func TestMovedClient(t *testing.T) {
	s, f := newServer(t, nil)
	req := msg(t, laptop, dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(ip(hoa)))
	if r, ev := s.Handle(req, t0); r != nil || ev.Kind != Attach {
		t.Fatalf("renewal without a binding: %v %+v", r, ev)
	}
	f.bound[laptop.String()] = hoa
	r := s.Ready(laptop, t0.Add(100*time.Millisecond))
	if r == nil || r.MessageType() != dhcpv4.MessageTypeAck || addrOf(r.YourIPAddr) != hoa || Destination(r) != netip.AddrPortFrom(hoa, 68) {
		t.Fatalf("ack %v", r)
	}
	// Registration refused: the held REQUEST is NAKed, a held DISCOVER
	// just forgotten.
	s, _ = newServer(t, nil)
	s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, requested(hoa)), t0)
	if r := s.Fail(laptop, t0); r == nil || r.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatal("Fail must NAK a held REQUEST")
	}
	s.Handle(msg(t, laptop, dhcpv4.MessageTypeDiscover), t0)
	if r := s.Fail(laptop, t0); r != nil || s.NumPending() != 0 {
		t.Fatal("Fail of a DISCOVER")
	}
}

func TestReleaseDeclineInform(t *testing.T) {
	s, f := newServer(t, nil)
	f.bound[laptop.String()] = hoa
	s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, serverID(linkGW), requested(hoa)), t0)
	// RELEASE for another address: ignored.
	if _, ev := s.Handle(msg(t, laptop, dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(ip(gw))), t0); ev.Kind != None {
		t.Fatal("release of an address not leased")
	}
	r, ev := s.Handle(msg(t, laptop, dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(ip(hoa)), serverID(linkGW)), t0)
	if r != nil || ev.Kind != Release || ev.Addr != hoa || len(s.Status(t0).Leases) != 0 {
		t.Fatalf("release: %v %+v", r, ev)
	}
	s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, serverID(linkGW), requested(hoa)), t0)
	r, ev = s.Handle(msg(t, laptop, dhcpv4.MessageTypeDecline, requested(hoa), serverID(linkGW)), t0)
	if r != nil || ev.Kind != Decline || ev.Addr != hoa {
		t.Fatalf("decline: %v %+v", r, ev)
	}
	// INFORM: configuration only.
	r, ev = s.Handle(msg(t, laptop, dhcpv4.MessageTypeInform, dhcpv4.WithClientIP(ip(hoa))), t0)
	if r == nil || r.MessageType() != dhcpv4.MessageTypeAck || ev.Kind != None {
		t.Fatalf("inform: %v", r)
	}
	if (r.YourIPAddr != nil && !r.YourIPAddr.IsUnspecified()) || r.Options.Has(dhcpv4.OptionIPAddressLeaseTime) ||
		Destination(r) != netip.AddrPortFrom(hoa, 68) || len(r.DNS()) != 1 {
		t.Fatalf("inform reply %v", r.Summary())
	}
	if r, _ := s.Handle(msg(t, strange, dhcpv4.MessageTypeInform, dhcpv4.WithClientIP(ip(hoa))), t0); r != nil {
		t.Fatal("informed a stranger")
	}
}

func TestOnLinkGatewayLayout(t *testing.T) {
	s, f := newServer(t, func(c *Config) {
		c.ServerID, c.Gateway, c.Network = gw, gw, netip.MustParsePrefix("10.10.0.0/16")
	})
	f.bound[laptop.String()] = hoa
	r, _ := s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, requested(hoa)), t0)
	if ones, _ := r.SubnetMask().Size(); ones != 16 || addrOf(r.Router()[0]) != gw || r.Options.Has(dhcpv4.OptionClasslessStaticRoute) {
		t.Fatalf("in-subnet layout: %v", r.Summary())
	}
	// Asked for option 121: it must then carry the default route.
	r, _ = s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, requested(hoa),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionClasslessStaticRoute)), t0)
	if rt := r.ClasslessStaticRoute(); len(rt) != 1 || rt[0].String() != "route to 0.0.0.0/0 via 10.10.0.1" {
		t.Fatalf("requested 121: %v", rt)
	}
}

func TestLeaseTime(t *testing.T) {
	s, _ := newServer(t, func(c *Config) { c.MaxLease = 10 * time.Minute })
	for left, want := range map[time.Duration]time.Duration{
		300 * time.Second:       150 * time.Second,
		3600 * time.Second:      10 * time.Minute, // capped
		40 * time.Second:        30 * time.Second, // the floor, still inside the binding
		20 * time.Second:        20 * time.Second, // never past the binding
		1500 * time.Millisecond: time.Second,
	} {
		if got := s.leaseTime(left); got != want {
			t.Errorf("left %v: lease %v, want %v", left, got, want)
		}
	}
}

func TestExpiry(t *testing.T) {
	s, f := newServer(t, nil)
	f.bound[laptop.String()] = hoa
	s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, requested(hoa)), t0)
	f.admit[strange.String()] = true
	s.Handle(msg(t, strange, dhcpv4.MessageTypeDiscover), t0)
	if next := s.NextTimer(); !next.Equal(t0.Add(DefaultPendingTimeout)) {
		t.Fatalf("next timer %v", next.Sub(t0))
	}
	if ev := s.Tick(t0.Add(DefaultPendingTimeout)); len(ev) != 0 || s.NumPending() != 0 || s.Counters.PendingExpired.Load() != 1 {
		t.Fatal("held DISCOVER not expired")
	}
	ev := s.Tick(t0.Add(150 * time.Second))
	if len(ev) != 1 || ev[0].Kind != LeaseExpired || ev[0].Addr != hoa || !bytes.Equal(ev[0].MAC, laptop) {
		t.Fatalf("expiry %+v", ev)
	}
	if !s.NextTimer().IsZero() {
		t.Fatal("timers left")
	}
	// Forget drops leases and held messages.
	s.Handle(msg(t, laptop, dhcpv4.MessageTypeRequest, requested(hoa)), t0)
	s.Forget(laptop)
	if len(s.Status(t0).Leases) != 0 {
		t.Fatal("Forget")
	}
}

func TestBadInput(t *testing.T) {
	s, _ := newServer(t, nil)
	reply := msg(t, laptop, dhcpv4.MessageTypeOffer)
	reply.OpCode = dhcpv4.OpcodeBootReply
	relayed := msg(t, laptop, dhcpv4.MessageTypeDiscover, dhcpv4.WithGatewayIP(net.IP{10, 0, 0, 1}))
	token := msg(t, laptop, dhcpv4.MessageTypeDiscover)
	token.HWType = iana.HWTypeIEEE802
	noType := msg(t, laptop, dhcpv4.MessageTypeDiscover)
	noType.Options.Del(dhcpv4.OptionDHCPMessageType)
	mcast := msg(t, net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}, dhcpv4.MessageTypeDiscover)
	for name, m := range map[string]*dhcpv4.DHCPv4{"BOOTREPLY": reply, "relayed": relayed, "token ring": token,
		"no message type": noType, "multicast chaddr": mcast, "stranger": msg(t, strange, dhcpv4.MessageTypeDiscover),
		"an OFFER from the link": msg(t, laptop, dhcpv4.MessageTypeOffer)} {
		if r, ev := s.Handle(m, t0); r != nil || ev.Kind != None {
			t.Errorf("%s answered: %v %+v", name, r, ev)
		}
	}
	for _, b := range [][]byte{nil, {1}, bytes.Repeat([]byte{0xff}, 300), msg(t, laptop, dhcpv4.MessageTypeDiscover).ToBytes()[:200]} {
		if r, _ := s.HandleBytes(b, t0); r != nil {
			t.Error("answered garbage")
		}
	}
	if s.NumPending() != 0 || s.Counters.Malformed.Load() < 6 || s.Counters.Refused.Load() != 1 {
		t.Fatalf("pending %d malformed %d refused %d", s.NumPending(), s.Counters.Malformed.Load(), s.Counters.Refused.Load())
	}
}

// TestFloodBounded: admitted clients that never get bound hold at most
// MaxPending messages; strangers hold none.
func TestFloodBounded(t *testing.T) {
	s, f := newServer(t, func(c *Config) { c.MaxPending = 8 })
	for i := range 5000 {
		mac := net.HardwareAddr{0x02, 1, byte(i >> 16), byte(i >> 8), byte(i), 0}
		if i%2 == 0 {
			f.admit[mac.String()] = true
		}
		s.Handle(msg(t, mac, dhcpv4.MessageTypeDiscover), t0)
	}
	if s.NumPending() != 8 || s.Counters.PendingFull.Load() != 2500-8 || s.Counters.Refused.Load() != 2500 {
		t.Fatalf("pending %d full %d refused %d", s.NumPending(), s.Counters.PendingFull.Load(), s.Counters.Refused.Load())
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{
		{},
		{ServerID: netip.MustParseAddr("::1")},
		{ServerID: gw, MTU: 100},
		{ServerID: gw, DNS: []netip.Addr{netip.MustParseAddr("::1")}},
		{ServerID: gw, Network: netip.MustParsePrefix("::/0")},
	} {
		if _, err := New(c, newLeaser()); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

// FuzzHandleBytes: no datagram crashes the server or makes it answer a
// client the proxy does not admit, and held state stays bounded.
func FuzzHandleBytes(f *testing.F) {
	for _, mt := range []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest,
		dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeDecline, dhcpv4.MessageTypeInform} {
		m, _ := dhcpv4.New(dhcpv4.WithHwAddr(laptop), dhcpv4.WithMessageType(mt), dhcpv4.WithClientIP(ip(hoa)),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip(hoa))), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(ip(linkGW))))
		f.Add(m.ToBytes())
	}
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0}, 240))
	f.Fuzz(func(t *testing.T, b []byte) {
		lr := newLeaser()
		lr.bound[laptop.String()] = hoa
		s, err := New(Config{ServerID: linkGW, MaxPending: 2}, lr)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := s.HandleBytes(b, t0)
		if r != nil {
			if !bytes.Equal(r.ClientHWAddr, laptop) {
				t.Fatalf("answered %v", r.ClientHWAddr)
			}
			_ = r.ToBytes()
		}
		if s.NumPending() > 2 {
			t.Fatal("unbounded")
		}
		s.Tick(t0.Add(time.Hour))
	})
}
