package dhcpserve

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/mip4d/mip4d/agent/internal/order"
)

// Leaser is what the server asks about a client: the proxy engine
// (agent/proxy.Engine implements it).
type Leaser interface {
	// Admits reports whether the client may be served at all. The server
	// keeps no state for a client it does not admit.
	Admits(mac net.HardwareAddr) bool
	// Lease returns the client's home address and how long its binding
	// has left, once the home agent has granted it.
	Lease(mac net.HardwareAddr, now time.Time) (addr netip.Addr, left time.Duration, ok bool)
}

// Config is what the server hands out besides the address.
type Config struct {
	// ServerID is the Server Identifier (option 54) and the address the
	// clients renew with. It is the same on every hotspot (RFC 5563 §10
	// item 6: the DHCP servers of all access routers share one address),
	// so a client that moved renews with the new hotspot without
	// noticing. It must be an address of the served interface.
	ServerID netip.Addr
	// Gateway is the Router option (3); zero means ServerID. The same on
	// every hotspot; the daemon answers ARP for it.
	Gateway netip.Addr
	// Network is the client subnet. When it holds both the home address
	// and the gateway the Subnet Mask (option 1) is its prefix length and
	// the gateway is on-link for every DHCP client. Otherwise the mask is
	// /32 and the route to the gateway comes as RFC 3442 classless static
	// routes (option 121): "gateway/32 on-link, default via gateway".
	Network netip.Prefix
	// DNS servers (option 6), Domain (option 15), MTU (option 26: the
	// tunnel to the home agent costs 20–32 bytes); zero values omit them.
	DNS    []netip.Addr
	Domain string
	MTU    uint16
	// MaxLease caps the lease (zero: DefaultMaxLease); MinLease is the
	// shortest lease offered while the binding lasts longer (zero:
	// DefaultMinLease).
	MaxLease time.Duration
	MinLease time.Duration
	// PendingTimeout is how long a DISCOVER or REQUEST waits for the
	// binding before it is forgotten (zero: DefaultPendingTimeout), and
	// MaxPending how many may wait (zero: DefaultMaxPending).
	PendingTimeout time.Duration
	MaxPending     int
}

// Defaults.
const (
	DefaultMaxLease       = time.Hour
	DefaultMinLease       = 30 * time.Second
	DefaultPendingTimeout = 10 * time.Second
	DefaultMaxPending     = 64
)

// Validate checks the configuration.
func (c *Config) Validate() error {
	gw := c.Gateway
	if !gw.IsValid() {
		gw = c.ServerID
	}
	switch {
	case !c.ServerID.Is4() || c.ServerID.IsUnspecified():
		return errors.New("dhcpserve: the server identifier must be an IPv4 address")
	case !gw.Is4() || gw.IsUnspecified():
		return errors.New("dhcpserve: the gateway must be an IPv4 address")
	case c.Network.IsValid() && !c.Network.Addr().Is4():
		return errors.New("dhcpserve: the client network must be IPv4")
	case c.MTU != 0 && c.MTU < 576:
		return errors.New("dhcpserve: the MTU must be at least 576 (RFC 2132 §5.1)")
	case len(c.Domain) > 255:
		return errors.New("dhcpserve: domain name too long")
	}
	for _, a := range c.DNS {
		if !a.Is4() {
			return errors.New("dhcpserve: DNS servers must be IPv4")
		}
	}
	return nil
}

// EventKind says what a message means for the proxy.
type EventKind uint8

const (
	None EventKind = iota
	// Attach: an admitted client asked for an address and has no binding;
	// its answer waits (Ready or Fail) — call proxy Attach.
	Attach
	// Present: the client was answered from its binding (a renewal, a
	// DISCOVER while bound): it is attached — call proxy ClientPresent.
	Present
	// Release: DHCPRELEASE (RFC 2131 §4.3.4) — call proxy Release.
	Release
	// Decline: DHCPDECLINE, the address is in use on the link (RFC 2131
	// §4.3.3) — call proxy Release.
	Decline
	// LeaseExpired: a lease ran out without a renewal (from Tick): the
	// client left — call proxy Release (RFC 5563 §6.3).
	LeaseExpired
	// Continued: a REQUEST with no binding behind it that continues the
	// exchange whose OFFER this server sent from a binding since gone —
	// same transaction ID (RFC 2131 §4.4.1), within PendingTimeout. The
	// client never left while the binding was taken away (a MAC conflict,
	// not a move back); its answer waits like Attach's — call proxy
	// Continued.
	Continued
)

func (k EventKind) String() string {
	return [...]string{"none", "attach", "present", "release", "decline", "lease-expired", "continued"}[k]
}

// Event is what the daemon passes on to the proxy engine.
type Event struct {
	Kind EventKind
	MAC  net.HardwareAddr
	Addr netip.Addr
}

type hw [6]byte

type pending struct {
	req *dhcpv4.DHCPv4
	at  time.Time
}

type lease struct {
	addr    netip.Addr
	expires time.Time
}

// offer is the exchange an OFFER answered from a binding belongs to.
type offer struct {
	xid dhcpv4.TransactionID
	at  time.Time
}

// Server is the DHCP server of one interface. It is not safe for
// concurrent use: the daemon's loop owns it.
type Server struct {
	cfg      Config
	leaser   Leaser
	pending  map[hw]*pending
	leases   map[hw]lease
	offered  map[hw]offer // bounded like pending: admitted clients only, expired by Tick
	Counters Counters
}

// New returns a server answering from l.
func New(cfg Config, l Leaser) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Gateway.IsValid() {
		cfg.Gateway = cfg.ServerID
	}
	if cfg.MaxLease <= 0 {
		cfg.MaxLease = DefaultMaxLease
	}
	if cfg.MinLease <= 0 {
		cfg.MinLease = DefaultMinLease
	}
	if cfg.PendingTimeout <= 0 {
		cfg.PendingTimeout = DefaultPendingTimeout
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	return &Server{cfg: cfg, leaser: l, pending: map[hw]*pending{}, leases: map[hw]lease{},
		offered: map[hw]offer{}}, nil
}

// Config returns the configuration in use.
func (s *Server) Config() Config { return s.cfg }

// HandleBytes parses a datagram received on port 67 and handles it.
// Undecodable ones are dropped and counted.
func (s *Server) HandleBytes(b []byte, now time.Time) (*dhcpv4.DHCPv4, Event) {
	m, err := dhcpv4.FromBytes(b)
	if err != nil {
		s.Counters.Received.Add(1)
		s.Counters.Malformed.Add(1)
		return nil, Event{}
	}
	return s.Handle(m, now)
}

// Handle decides the answer to one client message (RFC 2131 §4.3): an
// OFFER, ACK or NAK to send, or nil; and the event for the proxy. A
// DISCOVER or REQUEST from an admitted client with no binding yet is held:
// the answer comes from Ready once the proxy's registration is accepted
// (RFC 5563 §4.1.1 step 5: DHCP answers after the PMIPv4 signalling), or a
// NAK from Fail.
func (s *Server) Handle(req *dhcpv4.DHCPv4, now time.Time) (*dhcpv4.DHCPv4, Event) {
	s.Counters.Received.Add(1)
	mac, ok := clientMAC(req)
	if !ok {
		s.Counters.Malformed.Add(1)
		return nil, Event{}
	}
	if g := req.GatewayIPAddr; g != nil && !g.IsUnspecified() {
		s.Counters.Relayed.Add(1) // this server serves its own link only
		return nil, Event{}
	}
	hwa := net.HardwareAddr(bytes.Clone(mac[:]))
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest:
		if !s.leaser.Admits(hwa) {
			s.Counters.Refused.Add(1)
			delete(s.pending, mac)
			return nil, Event{}
		}
		reply, ev, hold := s.answer(req, mac, now)
		if hold {
			if _, ok := s.pending[mac]; !ok && len(s.pending) >= s.cfg.MaxPending {
				s.Counters.PendingFull.Add(1)
				return nil, Event{}
			}
			s.pending[mac] = &pending{req: req, at: now}
			s.Counters.Held.Add(1)
		} else {
			delete(s.pending, mac)
		}
		return reply, ev
	case dhcpv4.MessageTypeRelease:
		// RFC 2131 §4.3.4: by hardware address, for the address it holds.
		addr, ok := netip.AddrFromSlice(req.ClientIPAddr.To4())
		l, had := s.leases[mac]
		if !ok || !had || l.addr != addr {
			s.Counters.Ignored.Add(1)
			return nil, Event{}
		}
		delete(s.leases, mac)
		delete(s.pending, mac)
		s.Counters.Releases.Add(1)
		return nil, Event{Kind: Release, MAC: hwa, Addr: addr}
	case dhcpv4.MessageTypeDecline:
		addr, ok := netip.AddrFromSlice(req.RequestedIPAddress().To4())
		l, had := s.leases[mac]
		if !ok || !had || l.addr != addr {
			s.Counters.Ignored.Add(1)
			return nil, Event{}
		}
		delete(s.leases, mac)
		delete(s.pending, mac)
		s.Counters.Declines.Add(1)
		return nil, Event{Kind: Decline, MAC: hwa, Addr: addr}
	case dhcpv4.MessageTypeInform:
		// RFC 2131 §4.3.5: an ACK with the configuration, no address, no
		// lease time, to the client's address.
		ci, ok := netip.AddrFromSlice(req.ClientIPAddr.To4())
		if !ok || ci.IsUnspecified() || !s.leaser.Admits(hwa) {
			s.Counters.Refused.Add(1)
			return nil, Event{}
		}
		reply := s.reply(req, dhcpv4.MessageTypeAck, ci, 0, true)
		s.Counters.Informs.Add(1)
		return reply, Event{}
	}
	s.Counters.Ignored.Add(1)
	return nil, Event{}
}

// answer decides a DISCOVER or REQUEST from an admitted client; hold says
// the answer waits for the binding.
func (s *Server) answer(req *dhcpv4.DHCPv4, mac hw, now time.Time) (reply *dhcpv4.DHCPv4, ev Event, hold bool) {
	hwa := net.HardwareAddr(bytes.Clone(mac[:]))
	addr, left, bound := s.leaser.Lease(hwa, now)
	if req.MessageType() == dhcpv4.MessageTypeDiscover {
		if !bound {
			return nil, Event{Kind: Attach, MAC: hwa}, true
		}
		s.Counters.Offers.Add(1)
		return s.reply(req, dhcpv4.MessageTypeOffer, addr, s.leaseTime(left), false), Event{Kind: Present, MAC: hwa, Addr: addr}, false
	}
	// REQUEST, RFC 2131 §4.3.2.
	sid := req.ServerIdentifier()
	want, _ := netip.AddrFromSlice(req.RequestedIPAddress().To4())
	if sid != nil {
		// SELECTING: answered only if we are the server it chose.
		if s.cfg.ServerID != addrOf(sid) {
			s.Counters.OtherServer.Add(1)
			return nil, Event{}, false
		}
	} else if ci, ok := netip.AddrFromSlice(req.ClientIPAddr.To4()); ok && !ci.IsUnspecified() {
		want = ci // RENEWING or REBINDING
	}
	if !want.IsValid() || want.IsUnspecified() {
		s.Counters.Malformed.Add(1)
		return nil, Event{}, false
	}
	if !bound {
		if o, ok := s.offered[mac]; ok && sid != nil && o.xid == req.TransactionID && now.Sub(o.at) < s.cfg.PendingTimeout {
			delete(s.offered, mac)
			s.Counters.Continued.Add(1)
			return nil, Event{Kind: Continued, MAC: hwa}, true
		}
		return nil, Event{Kind: Attach, MAC: hwa}, true
	}
	if want != addr {
		// The client asks for an address that is not its home address
		// (one from another network, say): NAK, and it starts over
		// (§4.3.2: "client has moved to a new subnet").
		s.Counters.Naks.Add(1)
		delete(s.leases, mac)
		return s.nak(req), Event{}, false
	}
	lt := s.leaseTime(left)
	delete(s.offered, mac)
	s.leases[mac] = lease{addr: addr, expires: now.Add(lt)}
	s.Counters.Acks.Add(1)
	return s.reply(req, dhcpv4.MessageTypeAck, addr, lt, false), Event{Kind: Present, MAC: hwa, Addr: addr}, false
}

// leaseTime ties the lease to the binding: half of what the binding has
// left, so the client renews — and so shows it is still here — well
// before the binding would lapse; at least MinLease, at most MaxLease and
// never past the binding (RFC 5563 §6.3).
func (s *Server) leaseTime(left time.Duration) time.Duration {
	lt := min(max(left/2, s.cfg.MinLease), s.cfg.MaxLease, left)
	return max(lt.Truncate(time.Second), time.Second)
}

// Ready is called when the proxy bound the client: the held DISCOVER or
// REQUEST is answered now. Nil when nothing was waiting.
func (s *Server) Ready(h net.HardwareAddr, now time.Time) *dhcpv4.DHCPv4 {
	mac, ok := hwOf(h)
	if !ok {
		return nil
	}
	p := s.pending[mac]
	if p == nil {
		return nil
	}
	reply, _, hold := s.answer(p.req, mac, now)
	if !hold {
		delete(s.pending, mac)
	}
	if reply != nil && reply.MessageType() == dhcpv4.MessageTypeOffer {
		s.offered[mac] = offer{xid: p.req.TransactionID, at: now}
	}
	return reply
}

// Fail is called when the proxy could not bind the client: a held REQUEST
// is NAKed (RFC 2131 §4.3.2), a held DISCOVER forgotten.
func (s *Server) Fail(h net.HardwareAddr, now time.Time) *dhcpv4.DHCPv4 {
	mac, ok := hwOf(h)
	if !ok {
		return nil
	}
	p := s.pending[mac]
	delete(s.pending, mac)
	if p == nil || p.req.MessageType() != dhcpv4.MessageTypeRequest {
		return nil
	}
	s.Counters.Naks.Add(1)
	return s.nak(p.req)
}

// Forget drops everything about a client (the proxy released it or it was
// revoked): its lease and any held message.
func (s *Server) Forget(h net.HardwareAddr) {
	if mac, ok := hwOf(h); ok {
		delete(s.pending, mac)
		delete(s.leases, mac)
	}
}

// Tick expires leases and held messages; it returns a LeaseExpired event
// for each lease that ran out.
func (s *Server) Tick(now time.Time) []Event {
	var evs []Event
	for mac, l := range s.leases {
		if !now.Before(l.expires) {
			delete(s.leases, mac)
			s.Counters.Expired.Add(1)
			evs = append(evs, Event{Kind: LeaseExpired, MAC: net.HardwareAddr(bytes.Clone(mac[:])), Addr: l.addr})
		}
	}
	for mac, p := range s.pending {
		if now.Sub(p.at) >= s.cfg.PendingTimeout {
			delete(s.pending, mac)
			s.Counters.PendingExpired.Add(1)
		}
	}
	for mac, o := range s.offered {
		if now.Sub(o.at) >= s.cfg.PendingTimeout {
			delete(s.offered, mac)
		}
	}
	order.By(evs, func(a, b Event) int { return bytes.Compare(a.MAC, b.MAC) })
	return evs
}

// NextTimer is when Tick next has work (zero: never).
func (s *Server) NextTimer() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, l := range s.leases {
		consider(l.expires)
	}
	for _, p := range s.pending {
		consider(p.at.Add(s.cfg.PendingTimeout))
	}
	return next
}

// NumPending is the number of held messages.
func (s *Server) NumPending() int { return len(s.pending) }

// reply builds an OFFER or ACK (RFC 2131 §4.3.1 table 3): yiaddr, the
// server identifier, the lease with T1/T2, and the link configuration.
// inform leaves out yiaddr and the lease times (§4.3.5).
func (s *Server) reply(req *dhcpv4.DHCPv4, t dhcpv4.MessageType, addr netip.Addr, lt time.Duration, inform bool) *dhcpv4.DHCPv4 {
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(t),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(ip(s.cfg.ServerID))),
	}
	if !inform {
		// Table 3: ciaddr is the REQUEST's (0 in an OFFER); T1 = ½ and
		// T2 = ⅞ of the lease (§4.4.5), in whole seconds.
		if t == dhcpv4.MessageTypeAck && req.ClientIPAddr != nil {
			mods = append(mods, dhcpv4.WithClientIP(req.ClientIPAddr))
		}
		mods = append(mods, dhcpv4.WithYourIP(ip(addr)),
			dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(lt)),
			dhcpv4.WithOption(dhcpv4.OptRenewTimeValue((lt / 2).Truncate(time.Second))),
			dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue((lt * 7 / 8).Truncate(time.Second))))
	} else {
		mods = append(mods, dhcpv4.WithClientIP(ip(addr)))
	}
	mods = append(mods, s.linkOptions(req, addr)...)
	m, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		return nil
	}
	return m
}

// linkOptions are the mask, the gateway and the rest. The gateway must be
// on-link for a stock client: either the client subnet holds it, or
// classless static routes (RFC 3442) make it a /32 on-link route. RFC 3442
// §1: a client that takes option 121 ignores option 3, so option 121
// always carries the default route too.
func (s *Server) linkOptions(req *dhcpv4.DHCPv4, addr netip.Addr) []dhcpv4.Modifier {
	gw := s.cfg.Gateway
	inSubnet := s.cfg.Network.IsValid() && s.cfg.Network.Contains(addr) && s.cfg.Network.Contains(gw)
	bits := 32
	if inSubnet {
		bits = s.cfg.Network.Bits()
	}
	mods := []dhcpv4.Modifier{
		dhcpv4.WithNetmask(net.CIDRMask(bits, 32)),
		dhcpv4.WithOption(dhcpv4.OptRouter(ip(gw))),
	}
	if !inSubnet || req.ParameterRequestList() != nil && req.IsOptionRequested(dhcpv4.OptionClasslessStaticRoute) {
		var routes []*dhcpv4.Route
		if !inSubnet {
			routes = append(routes, &dhcpv4.Route{
				Dest:   &net.IPNet{IP: ip(gw), Mask: net.CIDRMask(32, 32)},
				Router: net.IPv4zero.To4(),
			})
		}
		routes = append(routes, &dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Router: ip(gw)})
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(routes...)))
	}
	if len(s.cfg.DNS) > 0 {
		var ips []net.IP
		for _, a := range s.cfg.DNS {
			ips = append(ips, ip(a))
		}
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDNS(ips...)))
	}
	if s.cfg.Domain != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDomainName(s.cfg.Domain)))
	}
	if s.cfg.MTU != 0 {
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{byte(s.cfg.MTU >> 8), byte(s.cfg.MTU)}))
	}
	return mods
}

// nak builds a DHCPNAK (RFC 2131 §4.3.2, table 3): no address, no
// configuration, the server identifier; broadcast.
func (s *Server) nak(req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	m, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(ip(s.cfg.ServerID))),
		dhcpv4.WithBroadcast(true))
	if err != nil {
		return nil
	}
	return m
}

// Destination is where a reply goes (RFC 2131 §4.1): to the client's
// address when it has one (ciaddr: renewing, rebinding, INFORM), else
// broadcast — a client without an address cannot answer ARP, and this
// server does not write the neighbour table, which §4.1 allows ("MAY be
// sent as an IP broadcast"). NAKs are always broadcast.
func Destination(reply *dhcpv4.DHCPv4) netip.AddrPort {
	bcast := netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), dhcpv4.ClientPort)
	if reply.MessageType() == dhcpv4.MessageTypeNak {
		return bcast
	}
	if ci, ok := netip.AddrFromSlice(reply.ClientIPAddr.To4()); ok && !ci.IsUnspecified() {
		return netip.AddrPortFrom(ci, dhcpv4.ClientPort)
	}
	return bcast
}

// clientMAC checks the fixed fields a request must have: BOOTREQUEST,
// Ethernet, a 6-byte unicast hardware address, a message type.
func clientMAC(req *dhcpv4.DHCPv4) (hw, bool) {
	if req.OpCode != dhcpv4.OpcodeBootRequest || req.HWType != iana.HWTypeEthernet ||
		req.MessageType() == dhcpv4.MessageTypeNone {
		return hw{}, false
	}
	return hwOf(req.ClientHWAddr)
}

func hwOf(h net.HardwareAddr) (hw, bool) {
	if len(h) != 6 || h[0]&1 != 0 || bytes.Equal(h, make([]byte, 6)) {
		return hw{}, false
	}
	return hw(h), true
}

func ip(a netip.Addr) net.IP { b := a.As4(); return net.IP(b[:]) }

func addrOf(b net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(b.To4())
	return a
}
