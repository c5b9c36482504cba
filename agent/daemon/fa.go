package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/config"
	"github.com/mip4d/mip4d/agent/control"
	"github.com/mip4d/mip4d/agent/dataplane"
	"github.com/mip4d/mip4d/agent/fa"
	"github.com/mip4d/mip4d/agent/linkio"
	"github.com/mip4d/mip4d/agent/netconf"
	"github.com/mip4d/mip4d/agent/wire"
)

// faRunner is the foreign agent role.
type faRunner struct {
	o        Options
	log      *slog.Logger
	c        *config.FA
	eng      *fa.Engine
	plane    *faPlane
	nc       *netconf.Net
	sock     *linkio.Socket
	frames   chan linkio.Frame
	started  time.Time
	coa      netip.Addr
	linkAddr netip.Prefix
	rl       *rateLog
	visitors *linkDelivery
	advAt    time.Time
	ka       keepalives
}

// behindNAT reports whether a care-of address is private (RFC 1918, or
// RFC 6598 shared address space): a NAT sits between it and the home
// agents.
func behindNAT(a netip.Addr) bool {
	for _, p := range []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"),
	} {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// newFAEngine builds the engine once the addresses are known.
func newFAEngine(c *config.FA, coa netip.Addr, link netip.Prefix) (*fa.Engine, error) {
	cfg := c.Engine
	cfg.CareOf, cfg.Addr, cfg.LinkPrefix = coa, link.Addr(), link.Bits()
	cfg.Local = []netip.Addr{coa, link.Addr()}
	switch c.BehindNAT {
	case "1":
		cfg.BehindNAT = true
	case "auto":
		cfg.BehindNAT = behindNAT(coa)
	}
	sas := auth.NewStore()
	for _, p := range c.Peers {
		sas.Add(auth.FAHA, auth.PeerAddr(p.Addr), p.SA)
	}
	for _, m := range c.MobileNodes {
		if m.HomeAddr.IsValid() {
			sas.Add(auth.MNFA, auth.PeerAddr(m.HomeAddr), m.SA)
		}
		if m.NAI != "" {
			sas.Add(auth.MNFA, auth.PeerNAI(m.NAI), m.SA)
		}
	}
	return fa.New(cfg, sas, nil)
}

// faAddresses finds the care-of address (configured, or the uplink's) and
// the address of the visitors' link.
func faAddresses(nc *netconf.Net, c *config.FA) (coa netip.Addr, link netip.Prefix, err error) {
	as, err := nc.Addrs(c.Interface)
	if err != nil {
		return coa, link, fmt.Errorf("visitors' interface %s: %w", c.Interface, err)
	}
	if len(as) == 0 {
		return coa, link, fmt.Errorf("visitors' interface %s has no IPv4 address", c.Interface)
	}
	coa, err = uplinkAddress(nc, c.Uplink, c.Engine.CareOf)
	return coa, as[0], err
}

func runFA(ctx context.Context, c *config.Config, o Options, srv *control.Server) error {
	a := c.FA
	r := &faRunner{o: o, log: o.Log.With("role", "fa"), c: a, started: o.now(), ka: keepalives{}}
	r.rl = newRateLog(r.log, 20, 10*time.Second, o.now)
	nc, changes, err := openNetconf(ctx)
	if err != nil {
		return err
	}
	r.nc = nc
	defer r.nc.Close()
	if !waitAddresses(ctx, r.rl, changes, "waiting for addresses", func() (err error) {
		r.coa, r.linkAddr, err = faAddresses(r.nc, a)
		return err
	}) {
		return nil
	}
	if r.eng, err = newFAEngine(a, r.coa, r.linkAddr); err != nil {
		return err
	}
	r.visitors = newLinkDelivery(r.nc, a.Interface)
	for _, k := range []string{"net.ipv4.ip_forward", "net.ipv4.conf." + a.Interface + ".rp_filter"} {
		v := "1"
		if k != "net.ipv4.ip_forward" {
			v = "0" // visitors' home addresses are not of this link
		}
		if err := netconf.Sysctl(k, v); err != nil {
			r.log.Warn("cannot set "+k, "err", err)
		}
	}

	plane, closePlane, err := openFAPlane(ctx, c, r.nc, r.log, r.coa, a.TUN, a.MTU)
	if err != nil {
		return err
	}
	r.plane = plane
	defer closePlane()

	if r.sock, err = linkio.Open(a.Interface); err != nil {
		return fmt.Errorf("visitors' link %s: %w", a.Interface, err)
	}
	r.frames = make(chan linkio.Frame, 256)
	go r.readLink(ctx)
	defer r.visitors.removeAll()

	l := newLoop()
	srv.Handle("status", func(ctx context.Context) (any, error) {
		var s Status
		err := l.do(ctx, func() { s = r.status() })
		return s, err
	})
	srv.Handle("bindings", func(ctx context.Context) (any, error) {
		var vs []fa.Visitor
		err := l.do(ctx, func() { vs = r.eng.Visitors() })
		return vs, err
	})

	planeErr := make(chan error, 1)
	go func() { planeErr <- r.plane.Run(ctx) }()
	cfg := r.eng.Config()
	r.log.Info("foreign agent running", "care_of", r.coa, "link", a.Interface, "link_address", r.linkAddr,
		"behind_nat", cfg.BehindNAT, "reverse_tunnel", cfg.ReverseTunnel, "advertise_every", a.AdvInterval, "tun", a.TUN)
	r.advertise(netip.AddrPort{}, nil) // at once (§2.3.2: on coming up)

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := o.now()
		timerAt(timer, r.nextTimer(), now)
		select {
		case <-ctx.Done():
			return nil
		case err := <-planeErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("data plane stopped: %w", err)
		case f := <-l.calls:
			f()
		case f, ok := <-r.frames:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("the visitors' link socket closed")
			}
			r.frame(f)
		case m := <-r.plane.Control():
			r.control(m)
		case <-changes:
			drain(changes)
			r.plane.accel.routesChanged()
			if err := r.recheck(); err != nil {
				return err
			}
		case <-timer.C:
			r.tick(o.now())
		}
	}
}

// readLink feeds the frames of the visitors' link to the engine goroutine.
func (r *faRunner) readLink(ctx context.Context) {
	go func() {
		<-ctx.Done()
		r.sock.Close()
	}()
	buf := make([]byte, 4096)
	for {
		f, err := r.sock.Read(buf)
		if err != nil {
			close(r.frames)
			return
		}
		f.SrcMAC = append(net.HardwareAddr(nil), f.SrcMAC...)
		f.DstMAC = nil
		f.Payload = append([]byte(nil), f.Payload...)
		select {
		case r.frames <- f:
		default:
			r.rl.Log(slog.LevelWarn, "link-queue", "visitors' link: engine behind, frame dropped")
		}
	}
}

// recheck notices a change of the care-of address (the uplink got a new
// one): the agent must restart with it — its sockets are bound to it and
// home agents' bindings name it; visitors register again when the new
// advertisements reach them. A visitors' link that came back up gets an
// advertisement at once.
func (r *faRunner) recheck() error {
	coa, link, err := faAddresses(r.nc, r.c)
	if err != nil {
		r.rl.Log(slog.LevelWarn, "addresses", "addresses gone", "err", err)
		return nil
	}
	if coa != r.coa || link != r.linkAddr {
		return fmt.Errorf("care-of address %v or link address %v changed to %v, %v: restarting", r.coa, r.linkAddr, coa, link)
	}
	return nil
}

func (r *faRunner) nextTimer() time.Time {
	return earliest(r.eng.NextTimer(), r.advAt, r.ka.next())
}

func (r *faRunner) tick(now time.Time) {
	r.apply(r.eng.Expire(now))
	if !now.Before(r.advAt) {
		r.advertise(netip.AddrPort{}, nil)
	}
	for _, ha := range r.ka.due(now, r.keepaliveEvery) {
		if err := r.plane.SendKeepalive(ha); err != nil {
			r.log.Debug("keepalive not sent", "home_agent", ha, "err", err)
		}
	}
}

// keepaliveEvery is the shortest keepalive interval the home agent gave
// for this agent's UDP-tunnelled visitors.
func (r *faRunner) keepaliveEvery(ha netip.Addr) time.Duration {
	d := time.Duration(0)
	for _, v := range r.eng.Visitors() {
		if v.HomeAgent == ha && v.UDP && v.Keepalive > 0 && (d == 0 || v.Keepalive < d) {
			d = v.Keepalive
		}
	}
	if d == 0 {
		d = keepaliveDefault
	}
	return d
}

// advertise sends an Agent Advertisement: broadcast on schedule, or to
// the node that solicited (to its MAC and address; broadcast when it has
// no address yet).
func (r *faRunner) advertise(to netip.AddrPort, mac net.HardwareAddr) {
	msg := r.eng.Advertisement(to)
	dst := netip.AddrFrom4([4]byte{255, 255, 255, 255})
	if to.IsValid() && !to.Addr().IsUnspecified() {
		dst = to.Addr()
	}
	if mac == nil {
		mac = linkio.Broadcast
		r.advAt = r.o.now().Add(r.c.AdvInterval)
	}
	// RFC 5944 §2.3.2 (via RFC 1256): TTL 1.
	if err := r.sock.Write(linkio.AppendICMP(nil, mac, r.sock.MAC, r.linkAddr.Addr(), dst, 1, msg)); err != nil {
		r.rl.Log(slog.LevelWarn, "adv", "cannot send an advertisement", "err", err)
	}
}

// frame handles one frame from the visitors' link: a Solicitation or a
// Registration Request.
func (r *faRunner) frame(f linkio.Frame) {
	switch {
	case f.Proto == 1 && fa.IsSolicitation(f.Payload):
		// Answer the soliciting node directly (§2.3.2 allows unicast).
		r.log.Debug("solicited", "from", f.Src, "mac", net.HardwareAddr(f.SrcMAC))
		r.advertise(netip.AddrPortFrom(f.Src, 0), f.SrcMAC)
	case f.Proto == 17 && f.DstPort == wire.Port && len(f.Payload) > 0 && wire.MsgType(f.Payload[0]) == wire.MsgRegistrationRequest:
		req := fa.Request{Src: netip.AddrPortFrom(f.Src, f.SrcPort), Dst: f.Dst, TTL: f.TTL, MAC: fa.MACFrom(f.SrcMAC), Data: f.Payload}
		res := r.eng.HandleRequest(req, r.o.now())
		v := wire.RequestView(f.Payload)
		switch {
		case res.Code != 0:
			r.rl.Log(slog.LevelInfo, "denied", "registration denied", "mac", req.MAC, "home", v.HomeAddr(), "home_agent", v.HomeAgent(),
				"code", int(res.Code), "reason", res.Code.String())
		case len(res.Send) > 0:
			r.log.Debug("registration relayed", "mac", req.MAC, "home", v.HomeAddr(), "home_agent", v.HomeAgent(), "lifetime", v.Lifetime())
		default:
			r.rl.Log(slog.LevelDebug, "drop", "request dropped", "mac", req.MAC, "reason", res.Drop)
		}
		r.apply(res)
	}
}

// control handles a message from a home agent on the care-of address's
// port 434: a Registration Reply or a Registration Revocation.
func (r *faRunner) control(m dataplane.ControlMessage) {
	if len(m.Data) == 0 {
		return
	}
	now := r.o.now()
	var res fa.Result
	switch wire.MsgType(m.Data[0]) {
	case wire.MsgRegistrationReply:
		res = r.eng.HandleReply(m.Src, m.Data, now)
		if res.Drop == 0 {
			v := wire.ReplyView(m.Data)
			r.log.Debug("reply relayed", "from", m.Src, "home", v.HomeAddr(), "code", int(v.Code()))
		}
	case wire.MsgRevocation:
		res = r.eng.HandleRevocation(m.Src, m.Data, now)
	default:
		r.rl.Log(slog.LevelDebug, "drop", "unexpected message from the uplink", "from", m.Src, "type", m.Data[0])
		return
	}
	if res.Drop != 0 {
		r.rl.Log(slog.LevelDebug, "drop", "message from a home agent dropped", "from", m.Src, "reason", res.Drop)
	}
	r.apply(res)
}

// apply applies the engine's visitor changes to the data plane and the
// kernel, then sends what it decided: a visitor's tunnel is in place
// before the reply that tells it so is relayed.
func (r *faRunner) apply(res fa.Result) {
	defer func() {
		for _, p := range res.Send {
			r.send(p)
		}
	}()
	if len(res.Events) == 0 {
		return
	}
	if err := r.plane.Apply(res.Events...); err != nil {
		r.log.Error("data plane refused a visitor", "err", err)
	}
	for _, ev := range res.Events {
		v := ev.Visitor
		switch ev.Kind {
		case fa.VisitorRemoved:
			r.log.Info("visitor removed", "mac", v.MAC, "home", v.HomeAddr, "home_agent", v.HomeAgent, "reason", ev.Reason)
			r.visitors.remove(visitorKey(v), v.HomeAddr)
		default:
			if ev.Kind == fa.VisitorAdded {
				r.log.Info("visitor added", "mac", v.MAC, "home", v.HomeAddr, "home_agent", v.HomeAgent, "nai", v.NAI,
					"udp", v.UDP, "reverse_tunnel", v.ReverseTunnel, "colocated", v.Colocated, "lifetime", v.Lifetime)
			}
			if !v.Colocated {
				if err := r.visitors.add(visitorKey(v), net.HardwareAddr(v.MAC[:]), v.HomeAddr, v.ReverseTunnel); err != nil {
					r.log.Error("cannot set up delivery to a visitor", "home", v.HomeAddr, "err", err)
				}
			}
		}
	}
	live := map[netip.Addr]time.Duration{}
	for _, v := range r.eng.Visitors() {
		if v.UDP {
			live[v.HomeAgent] = r.keepaliveEvery(v.HomeAgent)
		}
	}
	r.ka.set(live, r.o.now())
}

func visitorKey(v fa.Visitor) fa.Key {
	return fa.Key{MAC: v.MAC, HomeAddr: v.HomeAddr, HomeAgent: v.HomeAgent}
}

// send puts one engine packet on its way: to a mobile node on the link,
// at the link layer to its MAC (RFC 5944 §4.6: no ARP for visitors); to a
// home agent from the care-of address.
func (r *faRunner) send(p fa.Packet) {
	if p.MAC != (fa.MAC{}) {
		src := p.Src
		if !src.Addr().IsValid() {
			src = netip.AddrPortFrom(r.linkAddr.Addr(), wire.Port)
		}
		frame := linkio.AppendUDP(nil, net.HardwareAddr(p.MAC[:]), r.sock.MAC, src, p.Dst, 255, p.Data)
		if err := r.sock.Write(frame); err != nil {
			r.rl.Log(slog.LevelWarn, "link-send", "cannot send to a visitor", "mac", p.MAC, "err", err)
		}
		return
	}
	if err := r.plane.SendControl(dataplane.ControlMessage{Src: p.Src, Dst: p.Dst, Data: p.Data}); err != nil {
		r.rl.Log(slog.LevelWarn, "send", "cannot send to a home agent", "to", p.Dst, "err", err)
	}
}

func (r *faRunner) status() Status {
	now := r.o.now()
	cfg := r.eng.Config()
	return r.o.withEvents(Status{Role: "fa", Version: r.o.Version, Started: r.started, UptimeSec: int64(now.Sub(r.started) / time.Second),
		FA: &FAStatus{CareOf: r.coa, Link: r.c.Interface, LinkAddress: r.linkAddr, BehindNAT: cfg.BehindNAT,
			Visitors: r.eng.Visitors(), Pending: r.eng.NumPending(), Counters: r.eng.Counters.Snapshot()},
		DataPlane: r.plane.Status()})
}
