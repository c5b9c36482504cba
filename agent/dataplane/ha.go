package dataplane

import (
	"context"
	"errors"
	"net/netip"

	"github.com/mip4d/mip4d/agent/encap"
	"github.com/mip4d/mip4d/agent/ha"
)

// HAConfig configures a home agent plane.
type HAConfig struct {
	// Addr is the home agent's address (ha.Config.Addr): the outer source
	// of every tunnelled datagram (RFC 5944 §4.2.3), the destination of
	// RFC 3519 keepalives, and the source of the ICMP errors the plane
	// writes.
	Addr netip.Addr
	Options
}

// HAConns are a home agent plane's sockets. UDP (port 434) and IPIP are
// required; GRE may be nil when GRE is not offered (ha.Config.GRE).
type HAConns struct {
	UDP, IPIP, GRE Conn
}

// HA is the home agent's data plane (RFC 5944 §4.2.3, RFC 3024 §4.3, RFC
// 3519). Datagrams the kernel routes into the device toward a bound home
// address are tunnelled to each of its bindings; tunnelled datagrams from
// the sockets that pass the RFC 3024 §4.3.2 checks are written to the
// device for the kernel to route on. Bindings come from ha.Event through
// Apply.
type HA struct {
	plane
	addr  netip.Addr
	table *table
	// fa turns the plane around for a foreign agent (NewFA): the device
	// carries visitors' datagrams keyed by their source, the tunnels
	// bring datagrams keyed by their destination.
	fa bool
}

// NewHA returns a home agent plane over dev and conns. It takes ownership
// of them: Run and Close close them.
func NewHA(cfg HAConfig, dev Device, conns HAConns) (*HA, error) {
	switch {
	case !cfg.Addr.Is4():
		return nil, errors.New("dataplane: the home agent address must be IPv4")
	case dev == nil || conns.UDP == nil || conns.IPIP == nil:
		return nil, errors.New("dataplane: a home agent plane needs a device, the UDP socket and the IP-in-IP socket")
	}
	h := &HA{addr: cfg.Addr, table: newTable()}
	h.init(cfg.Options, dev, [numKinds]Conn{kindUDP: conns.UDP, kindIPIP: conns.IPIP, kindGRE: conns.GRE})
	return h, nil
}

// DeviceMTU is the TUN MTU for a home agent with this path MTU that offers
// GRE (with keys) or not: every mode it may use must fit.
func (cfg *HAConfig) DeviceMTU(gre bool) int {
	modes := []Mode{{}, {UDP: true}}
	if gre {
		modes = append(modes, Mode{Encap: ha.EncapGRE, GREKey: true}, Mode{UDP: true, Encap: ha.EncapGRE, GREKey: true})
	}
	return DeviceMTU(cfg.PathMTU, modes...)
}

// Apply updates the binding table from the engine's events, in order.
// Call it from one goroutine (the engine's); the packet goroutines read
// the table without locks and see each change atomically. An event for a
// binding the plane cannot tunnel (not IPv4) is skipped with an error.
func (h *HA) Apply(evs ...ha.Event) error {
	var errs []error
	for _, ev := range evs {
		errs = append(errs, h.table.apply(ev, h.route))
	}
	return errors.Join(errs...)
}

func (h *HA) route(b *ha.Binding) (*route, error) {
	if err := checkBinding(b); err != nil {
		return nil, err
	}
	return newRoute(b.HomeAddr, b.CareOf, h.addr, b.Endpoint, b.UDP, b.Encap, b.HasGREKey, b.GREKey, h.opt.PathMTU), nil
}

// Bindings is how many bindings the plane holds.
func (h *HA) Bindings() int { return int(h.table.n.Load()) }

// Control is the channel of control messages received on the UDP socket,
// for the engine goroutine (ha.Engine.Handle(ha.Packet(m), now)). When it
// is full, messages are dropped and counted (DropControlQueueFull).
func (h *HA) Control() <-chan ControlMessage { return h.ctrl }

// SendControl sends a control message (a registration reply, a
// revocation) from the UDP socket. It may be called from any goroutine.
func (h *HA) SendControl(m ControlMessage) error { return h.sendControl(m) }

// Counters are the plane's live counters.
func (h *HA) Counters() *Counters { return &h.ctr }

// Stats copies the counters.
func (h *HA) Stats() Stats { return h.ctr.Snapshot() }

// Run runs one reader goroutine per descriptor until ctx ends or a
// descriptor fails, then closes them all and returns once every goroutine
// has. It returns nil after ctx ends or Close.
func (h *HA) Run(ctx context.Context) error {
	return h.run(ctx, h.newWorker)
}

// Close closes the device and the sockets; Run returns.
func (h *HA) Close() error { return h.close() }

func (h *HA) newWorker(device bool) *worker {
	w := h.plane.newWorker(device)
	w.ha = h
	return w
}

// forward decides one datagram read from the device (RFC 5944 §4.2.3):
// tunnel it to every binding of its destination, after the MTU and MSS
// rules.
func (h *HA) forward(w *worker, slot []byte, n int) {
	ctr := &h.ctr
	ctr.Forward.PacketsIn.Add(1)
	ctr.Forward.BytesIn.Add(int64(n))
	ip, d := deviceIPv4(slot[headroom : headroom+n])
	if d != DropNone {
		ctr.drop(d)
		return
	}
	home := ip.Dst()
	if h.fa {
		home = ip.Src() // RFC 3024 §4.2: reverse tunnel by the visitor's home address
	}
	rs := h.table.lookupHome(home)
	if len(rs) == 0 {
		ctr.drop(DropNoBinding)
		return
	}
	if h.fa && len(rs) > 1 {
		// Parallel registrations of one home address (RFC 5265 §3.5):
		// the latest one carries its traffic.
		rs = rs[len(rs)-1:]
	}
	mtu, mss := rs[0].mtu, rs[0].mss
	for _, r := range rs[1:] {
		mtu, mss = min(mtu, r.mtu), min(mss, r.mss)
	}
	if len(ip) > mtu && ip.DF() {
		w.tooBig(ip, mtu, h.addr)
		return
	}
	if clampMSS(ip, mss) {
		ctr.MSSClamped.Add(1)
	}
	for i, r := range rs {
		if r.loopsBack(ip) {
			ctr.drop(DropRoutingLoop)
			continue
		}
		w.send(r, slot, ip, i == len(rs)-1)
	}
}

// receive decides one tunnelled datagram from the socket of kind k: take
// the tunnel apart, apply RFC 3024 §4.3.2 and RFC 3519 §3.3, answer a
// keepalive (RFC 3519 §4.9) or hand the inner datagram to the kernel.
func (h *HA) receive(w *worker, k kind, m *Msg, slot []byte) {
	ctr := &h.ctr
	pkt := m.Buf[:m.N]
	var (
		ep    netip.AddrPort
		next  uint8
		gre   encap.GREHeader
		inner encap.IPv4
		d     Drop
	)
	switch k {
	case kindUDP:
		ep = m.Addr
		inner, next, gre, d = decapUDP(pkt)
	case kindIPIP:
		var outer encap.IPv4
		var err error
		if outer, inner, err = encap.DecapsulateIPIP(pkt); err != nil {
			d = dropFor(err)
		} else {
			ep, next = netip.AddrPortFrom(outer.Src(), 0), protoIPIP
		}
	case kindGRE:
		var outer encap.IPv4
		var err error
		if outer, gre, inner, err = encap.DecapsulateGRE(pkt); err != nil {
			d = dropFor(err)
		} else {
			ep, next = netip.AddrPortFrom(outer.Src(), 0), protoGRE
		}
	}
	if d != DropNone {
		ctr.drop(d)
		return
	}
	home := inner.Src()
	if h.fa {
		if isEchoReplyTo(inner, h.addr) {
			// The home agent's answer to our RFC 3519 §4.9 keepalive.
			ctr.KeepaliveReplies.Add(1)
			return
		}
		home = inner.Dst() // RFC 5944 §4.2.2: decapsulate for a visitor
	} else if isEchoRequestTo(inner, h.addr) && h.table.careOfAt(ep, inner.Src()) != nil {
		// A foreign agent's keepalive: its inner source is its care-of
		// address, not a home address (RFC 3519 §4.9).
		r := h.table.careOfAt(ep, inner.Src())
		echoReplyInPlace(inner)
		rm, d := r.encapsulate(slot, offsetIn(slot, inner), len(inner), h.nextID())
		if d != DropNone {
			ctr.drop(d)
			return
		}
		ctr.KeepalivesAnswered.Add(1)
		w.emit(r.kind, rm)
		return
	}
	r, d := h.table.reverse(ep, k == kindUDP, next, &gre, home)
	if d == DropInnerSourceMismatch && h.fa {
		d = DropInnerDestinationMismatch // from a home agent, but for none of its visitors here
	}
	if d != DropNone {
		ctr.drop(d)
		return
	}
	// RFC 2784 §3.1 (and RFC 2003 §3.2 in spirit): a datagram for the
	// tunnel's own far end would go straight back into the tunnel.
	if inner.Dst() == ep.Addr() {
		ctr.drop(DropRoutingLoop)
		return
	}
	if isEchoRequestTo(inner, h.addr) {
		// An RFC 3519 §4.9 keepalive (or any ping of the home agent
		// through the tunnel): answer it in the same tunnel.
		echoReplyInPlace(inner)
		rm, d := r.encapsulate(slot, offsetIn(slot, inner), len(inner), h.nextID())
		if d != DropNone {
			ctr.drop(d)
			return
		}
		ctr.KeepalivesAnswered.Add(1)
		w.emit(r.kind, rm)
		return
	}
	if clampMSS(inner, r.mss) {
		ctr.MSSClamped.Add(1)
	}
	w.writeDevice(inner)
}

// decapUDP takes apart an RFC 3519 Tunnel Data message: the header, then
// an IPv4 datagram (Next Header 4) or a GRE header and one (47).
func decapUDP(pkt []byte) (inner encap.IPv4, next uint8, gre encap.GREHeader, d Drop) {
	td := wireTunnelData(pkt)
	if td == nil {
		return nil, 0, gre, DropMalformed
	}
	next = td.NextHeader()
	payload := td.Payload()
	switch next {
	case protoIPIP:
	case protoGRE:
		var n int
		var err error
		if gre, n, err = encap.ParseGREHeader(payload); err != nil {
			return nil, next, gre, dropFor(err)
		}
		if gre.Protocol != encap.GREProtocolIPv4 {
			return nil, next, gre, DropMalformed
		}
		payload = payload[n:]
	default:
		return nil, next, gre, DropWrongNextHeader
	}
	inner, d = innerIPv4(payload)
	return inner, next, gre, d
}
