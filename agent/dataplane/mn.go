package dataplane

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/mip4d/mip4d/agent/encap"
	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/mn"
)

// MNConfig configures a mobile node plane.
type MNConfig struct {
	Options
	// Heard is called, from a reader goroutine, after a batch that held a
	// valid datagram from the home agent through the tunnel — a keepalive
	// reply or anything else, which proves the NAT mapping as well (RFC
	// 3519 §4.10). It must not block: typically it pokes the engine
	// goroutine, which calls mn.Engine.KeepaliveAnswered.
	Heard func()
}

// MNConns are a mobile node plane's sockets: UDP is the registration
// socket (required), IPIP the raw protocol-4 socket (needed unless every
// tunnel is RFC 3519 UDP).
type MNConns struct {
	UDP, IPIP Conn
}

// MN is the mobile node's data plane for a co-located care-of address
// (RFC 5944 §3.6.1.1 with RFC 3024 reverse tunnelling, or RFC 3519): it
// tunnels what the kernel routes into the device from the home address to
// the home agent, and writes what the home agent tunnels back into the
// device. The tunnel comes from mn.Tunnel through SetTunnel.
type MN struct {
	plane
	heard func()
	tun   atomic.Pointer[route]

	kaID  uint16
	kaSeq atomic.Uint32
	kaMu  sync.Mutex
	kaBuf []byte
	kaMsg [1]Msg
}

// NewMN returns a mobile node plane over dev and conns; it takes
// ownership of them. No tunnel is up until SetTunnel.
func NewMN(cfg MNConfig, dev Device, conns MNConns) (*MN, error) {
	if dev == nil || conns.UDP == nil {
		return nil, errors.New("dataplane: a mobile node plane needs a device and the registration socket")
	}
	m := &MN{heard: cfg.Heard, kaID: uint16(rand.Uint32()), kaBuf: make([]byte, headroom+ipv4HeaderLen+icmpHeaderLen+keepalivePayload)}
	m.init(cfg.Options, dev, [numKinds]Conn{kindUDP: conns.UDP, kindIPIP: conns.IPIP})
	return m, nil
}

// DeviceMTU is the TUN MTU for a mobile node with this path MTU: RFC 3519
// UDP (the larger overhead) must fit.
func (cfg *MNConfig) DeviceMTU() int {
	return DeviceMTU(cfg.PathMTU, Mode{}, Mode{UDP: true})
}

// SetTunnel applies the engine's tunnel state. With Up false, or ViaFA
// (the foreign agent tunnels; the node sends natively on the link), the
// plane tunnels nothing and drops what the device gives it. Otherwise it
// tunnels from Local (the co-located care-of address) to Remote (the home
// agent; port 434 with UDP), IP in IP inside RFC 3519 UDP or raw. Safe to
// call while packets flow.
func (m *MN) SetTunnel(t mn.Tunnel) {
	if !t.Up || t.ViaFA || !t.HomeAddr.Is4() || !t.Local.Is4() || !t.Remote.Addr().Is4() {
		m.tun.Store(nil)
		return
	}
	m.tun.Store(newRoute(t.HomeAddr, t.Local, t.Local, t.Remote, t.UDP, ha.EncapIPIP, false, 0, m.opt.PathMTU))
}

// Control is the channel of control messages received on the
// registration socket (registration replies, revocations) for the engine
// goroutine (mn.Engine.HandleReply(m.Data, now)).
func (m *MN) Control() <-chan ControlMessage { return m.ctrl }

// SendControl sends a control message (a registration request, with
// Src.Addr() the care-of address) from the registration socket.
func (m *MN) SendControl(c ControlMessage) error { return m.sendControl(c) }

// SendKeepalive sends an RFC 3519 §4.9 keepalive: an ICMP echo request
// from the home address to the home agent, inside the tunnel. The reply
// is counted and reported through Heard, not written to the device.
func (m *MN) SendKeepalive() error {
	r := m.tun.Load()
	if r == nil {
		return ErrNoTunnel
	}
	c := m.conns[r.kind]
	if c == nil {
		return errors.New("dataplane: no socket for the tunnel")
	}
	m.kaMu.Lock()
	defer m.kaMu.Unlock()
	ip := echoRequest(m.kaBuf[headroom:], r.home, r.ep.Addr(), m.kaID, uint16(m.kaSeq.Add(1)), m.nextID())
	msg, d := r.encapsulate(m.kaBuf, headroom, len(ip), m.nextID())
	if d != DropNone {
		m.ctr.drop(d)
		return errors.New("dataplane: keepalive: " + d.String())
	}
	m.kaMsg[0] = msg
	_, err := c.WriteBatch(m.kaMsg[:])
	m.kaMsg[0] = Msg{}
	if err != nil {
		m.ctr.WriteErrors.Add(1)
		return err
	}
	m.ctr.KeepalivesSent.Add(1)
	return nil
}

// Counters are the plane's live counters.
func (m *MN) Counters() *Counters { return &m.ctr }

// Stats copies the counters.
func (m *MN) Stats() Stats { return m.ctr.Snapshot() }

// Run runs one reader goroutine per descriptor until ctx ends or a
// descriptor fails, then closes them all and returns once every goroutine
// has.
func (m *MN) Run(ctx context.Context) error { return m.run(ctx, m.newWorker) }

// Close closes the device and the sockets; Run returns.
func (m *MN) Close() error { return m.close() }

func (m *MN) newWorker(device bool) *worker {
	w := m.plane.newWorker(device)
	w.mn = m
	return w
}

// forward tunnels one datagram read from the device to the home agent.
func (m *MN) forward(w *worker, slot []byte, n int) {
	ctr := &m.ctr
	ctr.Forward.PacketsIn.Add(1)
	ctr.Forward.BytesIn.Add(int64(n))
	r := m.tun.Load()
	if r == nil {
		ctr.drop(DropNoTunnel)
		return
	}
	ip, d := deviceIPv4(slot[headroom : headroom+n])
	if d != DropNone {
		ctr.drop(d)
		return
	}
	if ip.Src() != r.home {
		ctr.drop(DropSourceNotHome)
		return
	}
	if len(ip) > r.mtu && ip.DF() {
		w.tooBig(ip, r.mtu, r.local)
		return
	}
	if clampMSS(ip, r.mss) {
		ctr.MSSClamped.Add(1)
	}
	w.send(r, slot, ip, true)
}

// receive decides one tunnelled datagram: it must come from the home
// agent (address, and port 434 with UDP) in the tunnel's encapsulation,
// and be for the home address.
func (m *MN) receive(w *worker, k kind, msg *Msg) {
	ctr := &m.ctr
	r := m.tun.Load()
	if r == nil {
		ctr.drop(DropNoTunnel)
		return
	}
	pkt := msg.Buf[:msg.N]
	var (
		from  = msg.Addr
		inner encap.IPv4
		d     Drop
	)
	switch k {
	case kindUDP:
		var next uint8
		inner, next, _, d = decapUDP(pkt)
		if d == DropNone && next != protoIPIP {
			d = DropWrongNextHeader
		}
	case kindIPIP:
		outer, in, err := encap.DecapsulateIPIP(pkt)
		if err != nil {
			d = dropFor(err)
		} else {
			inner = in
			from = netip.AddrPortFrom(outer.Src(), 0)
		}
	default:
		d = DropWrongEncapsulation
	}
	switch {
	case d != DropNone:
	case k != r.kind:
		d = DropWrongEncapsulation
	case from != r.ep:
		d = DropOuterSourceMismatch
	case inner.Dst() != r.home && !inner.Dst().IsMulticast() && !isLimitedBroadcast(inner.Dst()):
		d = DropInnerDestinationMismatch
	}
	if d != DropNone {
		ctr.drop(d)
		return
	}
	w.heard = true
	if id, ok := echoReplyID(inner); ok && id == m.kaID && inner.Src() == r.ep.Addr() && inner.Dst() == r.home {
		ctr.KeepaliveReplies.Add(1)
		return
	}
	if clampMSS(inner, r.mss) {
		ctr.MSSClamped.Add(1)
	}
	w.writeDevice(inner)
}
