package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/mip4d/mip4d/agent/fa"
	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/wire"
)

// FAConfig configures a foreign agent plane.
type FAConfig struct {
	// CareOf is the care-of address the agent offers: the outer source of
	// its reverse tunnels (RFC 3024 §4.2), where home agents tunnel to,
	// the inner source of its RFC 3519 keepalives.
	CareOf netip.Addr
	Options
}

// FA is the foreign agent's data plane: the home agent plane turned
// around. Tunnelled datagrams from a visitor's home agent (RFC 5944
// §4.2.2) are taken apart and written to the device for the kernel to
// deliver on the visitors' link; datagrams the kernel routes into the
// device from a visitor (the daemon's policy rule: from the visitor's
// home address, arriving on the link) are reverse-tunnelled to its home
// agent (RFC 3024 §4.2, direct delivery style), in IP-in-IP, GRE or RFC
// 3519 UDP as the registration set up. A tunnelled datagram must come
// from the home agent of a visitor and be addressed to that visitor's
// home address; anything else is dropped and counted.
type FA struct {
	h *HA

	kaMu  sync.Mutex
	kaBuf []byte
	kaMsg [1]Msg
	kaSeq uint16
}

// NewFA returns a foreign agent plane over dev and conns (UDP: the
// agent's port 434 on the care-of address, shared with signalling). It
// takes ownership of them: Run and Close close them.
func NewFA(cfg FAConfig, dev Device, conns HAConns) (*FA, error) {
	if !cfg.CareOf.Is4() {
		return nil, errors.New("dataplane: the care-of address must be IPv4")
	}
	h, err := NewHA(HAConfig{Addr: cfg.CareOf, Options: cfg.Options}, dev, conns)
	if err != nil {
		return nil, err
	}
	h.fa = true
	return &FA{h: h, kaBuf: make([]byte, headroom+256)}, nil
}

// DeviceMTU is the TUN MTU for a foreign agent with this path MTU: every
// encapsulation it may use must fit.
func (cfg *FAConfig) DeviceMTU(gre bool) int {
	h := HAConfig{Options: cfg.Options}
	return h.DeviceMTU(gre)
}

// Apply updates the plane from the engine's visitor events, in order.
// Visitors with a co-located care-of address are only relayed for, so
// they have no tunnel here.
func (f *FA) Apply(evs ...fa.Event) error {
	var errs []error
	for _, ev := range evs {
		v := ev.Visitor
		if v.Colocated {
			continue
		}
		b := visitorBinding(v)
		kind := ha.BindingRenewed // added or updated: the table adds or replaces
		if ev.Kind == fa.VisitorRemoved {
			kind = ha.BindingRemoved
		}
		errs = append(errs, f.h.table.apply(ha.Event{Kind: kind, Binding: b}, f.route))
	}
	return errors.Join(errs...)
}

// visitorBinding is a visitor seen as a tunnel: its home address, its
// home agent as the far end (port 434 with RFC 3519).
func visitorBinding(v fa.Visitor) ha.Binding {
	b := ha.Binding{HomeAddr: v.HomeAddr, CareOf: v.HomeAgent, UDP: v.UDP, Encap: ha.EncapIPIP,
		Endpoint: netip.AddrPortFrom(v.HomeAgent, 0)}
	if v.UDP {
		b.Endpoint = netip.AddrPortFrom(v.HomeAgent, wire.Port)
	}
	if v.GRE {
		b.Encap = ha.EncapGRE
	}
	return b
}

func (f *FA) route(b *ha.Binding) (*route, error) {
	if err := checkBinding(b); err != nil {
		return nil, err
	}
	// careOf holds the home agent: the table's key is (home address, home agent).
	return newRoute(b.HomeAddr, b.CareOf, f.h.addr, b.Endpoint, b.UDP, b.Encap, false, 0, f.h.opt.PathMTU), nil
}

// Visitors is how many tunnelled visitors the plane holds.
func (f *FA) Visitors() int { return int(f.h.table.n.Load()) }

// Control is the channel of control messages received on the UDP socket
// (Registration Replies and revocations from home agents).
func (f *FA) Control() <-chan ControlMessage { return f.h.Control() }

// SendControl sends a control message from the UDP socket (a relayed
// request, a revocation acknowledgement). It may be called from any
// goroutine.
func (f *FA) SendControl(m ControlMessage) error { return f.h.SendControl(m) }

// SendKeepalive sends an RFC 3519 §4.9 keepalive to a home agent the
// agent has UDP-tunnelled visitors with: an ICMP echo request from the
// care-of address, in the tunnel, so the NAT in front of the agent keeps
// its mapping. The answer is counted as KeepaliveReplies.
func (f *FA) SendKeepalive(homeAgent netip.Addr) error {
	ep := netip.AddrPortFrom(homeAgent, wire.Port)
	rs := f.h.table.lookupEndpoint(ep)
	if len(rs) == 0 {
		return fmt.Errorf("dataplane: no UDP tunnel to %v", homeAgent)
	}
	r := rs[0]
	c := f.h.conns[kindUDP]
	f.kaMu.Lock()
	defer f.kaMu.Unlock()
	f.kaSeq++
	ip := echoRequest(f.kaBuf[headroom:], f.h.addr, homeAgent, 0x4d49, f.kaSeq, f.h.nextID())
	msg, d := r.encapsulate(f.kaBuf, headroom, len(ip), f.h.nextID())
	if d != DropNone {
		f.h.ctr.drop(d)
		return errors.New("dataplane: keepalive: " + d.String())
	}
	f.kaMsg[0] = msg
	_, err := c.WriteBatch(f.kaMsg[:])
	f.kaMsg[0] = Msg{}
	if err != nil {
		f.h.ctr.WriteErrors.Add(1)
		return err
	}
	f.h.ctr.KeepalivesSent.Add(1)
	return nil
}

// Counters are the plane's live counters.
func (f *FA) Counters() *Counters { return &f.h.ctr }

// Stats copies the counters.
func (f *FA) Stats() Stats { return f.h.Stats() }

// Run runs the plane until ctx ends or a descriptor fails (HA.Run).
func (f *FA) Run(ctx context.Context) error { return f.h.Run(ctx) }

// Close closes the device and the sockets; Run returns.
func (f *FA) Close() error { return f.h.Close() }
