package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/config"
	"github.com/mip4d/mip4d/agent/control"
	"github.com/mip4d/mip4d/agent/dataplane"
	"github.com/mip4d/mip4d/agent/linkio"
	"github.com/mip4d/mip4d/agent/mn"
	"github.com/mip4d/mip4d/agent/netconf"
	"github.com/mip4d/mip4d/agent/nmwatch"
	"github.com/mip4d/mip4d/agent/wire"
)

// mnRunner is the mobile node role with a co-located care-of address: the
// address DHCP (or anyone) puts on the uplink is the care-of address, the
// home address lives on the TUN device, and the routes configured send
// traffic through it.
type mnRunner struct {
	o        Options
	log      *slog.Logger
	c        *config.MN
	eng      *mn.Engine
	plane    *dataplane.MN
	nc       *netconf.Net
	started  time.Time
	uplink   string
	hoaOnTun netip.Addr
	routed   bool
	haRoute  netconf.Route
	// fa mode
	link      *mnLink
	hoaOnLink netip.Addr
	faRoute   netconf.Route
}

// deregWait is how long shutdown waits for the reply to its deregistration.
const deregWait = 2 * time.Second

func runMN(ctx context.Context, c *config.Config, o Options, srv *control.Server) error {
	m := c.MN
	r := &mnRunner{o: o, log: o.Log.With("role", "mn"), c: m, started: o.now(), uplink: m.Uplink}
	var err error
	if r.eng, err = mn.New(m.Engine, nil); err != nil {
		return err
	}
	if r.nc, err = netconf.New(); err != nil {
		return err
	}
	defer r.nc.Close()

	heard := make(chan struct{}, 1)
	dpc := dataplane.MNConfig{Options: dataplane.Options{PathMTU: m.MTU}, Heard: func() {
		select {
		case heard <- struct{}{}:
		default:
		}
	}}
	tun, err := dataplane.OpenTUN(m.Interface, dpc.DeviceMTU())
	if err != nil {
		return fmt.Errorf("TUN device %s: %w", m.Interface, err)
	}
	udp, err := dataplane.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), wire.Port))
	if err != nil {
		tun.Close()
		return fmt.Errorf("registration socket: %w", err)
	}
	ipip, err := dataplane.ListenRaw(wire.ProtoIPIP, netip.Addr{})
	if err != nil {
		tun.Close()
		udp.Close()
		return fmt.Errorf("IP-in-IP socket: %w", err)
	}
	if r.plane, err = dataplane.NewMN(dpc, tun, dataplane.MNConns{UDP: udp, IPIP: ipip}); err != nil {
		return err
	}
	defer r.plane.Close()
	defer r.unroute()

	changes := make(chan netconf.Change, 64)
	if err := r.nc.Watch(ctx, changes); err != nil {
		return err
	}
	// NetworkManager, where there is one, often knows of a move before the
	// addresses change.
	nmEvents := make(chan nmwatch.Event, 8)
	if err := nmwatch.Watch(ctx, nmEvents); err != nil {
		r.log.Debug("no NetworkManager on the system bus; movement detection uses netlink", "err", err)
	} else {
		r.log.Info("following NetworkManager state changes")
	}
	l := newLoop()
	srv.Handle("status", func(ctx context.Context) (any, error) {
		var s Status
		err := l.do(ctx, func() { s = r.status() })
		return s, err
	})
	srv.Handle("bindings", func(ctx context.Context) (any, error) {
		return nil, errors.New("bindings are kept by the home agent; use mip4d status on a mobile node")
	})

	var frames <-chan linkio.Frame
	var solicit <-chan time.Time
	if m.Mode == "fa" {
		// The link outlives ctx a little: the deregistration's reply comes
		// back on it during shutdown.
		linkCtx, stopLink := context.WithCancel(context.Background())
		defer stopLink()
		if r.link, err = openMNLink(linkCtx, m.Uplink); err != nil {
			return err
		}
		frames = r.link.frames
		t := time.NewTicker(solicitEvery)
		defer t.Stop()
		solicit = t.C
	}
	planeErr := make(chan error, 1)
	planeCtx, stopPlane := context.WithCancel(context.Background())
	defer stopPlane()
	go func() { planeErr <- r.plane.Run(planeCtx) }()
	r.log.Info("mobile node running", "home_agent", m.Engine.HomeAgent, "home", m.Engine.HomeAddr, "nai", m.Engine.NAI,
		"tun", m.Interface, "tun_mtu", tun.MTU())
	if r.link != nil {
		r.exec(mn.Output{Send: []mn.Packet{r.eng.Solicit()}})
	} else {
		r.recheck()
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timerAt(timer, r.eng.NextTimer(), o.now())
		select {
		case <-ctx.Done():
			r.shutdown()
			return nil
		case err := <-planeErr:
			return fmt.Errorf("data plane stopped: %w", err)
		case f := <-l.calls:
			f()
		case <-changes:
			// Something changed on an interface: re-read the care-of
			// address (merging bursts of notifications). In fa mode the
			// agents' advertisements say where we are.
			drain(changes)
			if r.link == nil {
				r.recheck()
			}
		case f, ok := <-frames:
			if !ok {
				return errors.New("the uplink's packet socket closed")
			}
			r.link.handle(r, f)
		case <-solicit:
			if r.eng.ForeignAgent() == (netip.Addr{}) {
				r.exec(mn.Output{Send: []mn.Packet{r.eng.Solicit()}})
			}
		case ev := <-nmEvents:
			r.log.Debug("NetworkManager state changed", "object", ev.Path, "state", ev.State)
			r.recheck()
		case cm := <-r.plane.Control():
			if r.link == nil && len(cm.Data) > 0 && wire.MsgType(cm.Data[0]) == wire.MsgRegistrationReply {
				r.exec(r.eng.HandleReply(cm.Data, o.now()))
			}
		case <-heard:
			r.eng.KeepaliveAnswered(o.now())
		case <-timer.C:
			r.exec(r.eng.Tick(o.now()))
		case <-o.Reload:
			r.log.Warn("reload: a mobile node applies configuration changes on restart")
		}
	}
}

// recheck reads the care-of address again and tells the engine; a new
// address first gets the home agent routed through the new uplink, so the
// registration leaves by it.
func (r *mnRunner) recheck() {
	coa := r.careOf()
	if coa.IsValid() && coa != r.eng.CareOf() {
		r.refreshHARoute()
	}
	r.exec(r.eng.SetCareOf(coa, r.o.now()))
}

func drain(ch chan netconf.Change) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// careOf is the uplink's primary IPv4 address: the configured uplink, or
// the interface of the default route.
func (r *mnRunner) careOf() netip.Addr {
	dev := r.uplink
	if dev == "" {
		rt, ok, err := r.nc.DefaultRoute()
		if err != nil || !ok {
			return netip.Addr{}
		}
		dev = rt.Dev
	}
	as, err := r.nc.Addrs(dev)
	if err != nil || len(as) == 0 {
		return netip.Addr{}
	}
	return as[0].Addr()
}

// exec carries out the engine's decisions.
func (r *mnRunner) exec(out mn.Output) {
	if out.Tunnel != nil {
		r.tunnel(*out.Tunnel)
	}
	if r.eng.State() == mn.AtHome && (r.routed || r.hoaOnTun.IsValid()) {
		// Home (perhaps straight from detached, so no tunnel change):
		// the home link carries the home address now.
		r.log.Info("at home", "address", r.eng.CareOf())
		r.unroute()
	}
	for _, p := range out.Send {
		if r.link != nil && (p.TTL1 || p.TTL255) {
			if err := r.link.send(p); err != nil {
				r.log.Warn("cannot send on the uplink", "to", p.Dst, "err", err)
			} else if !p.TTL1 {
				v := wire.RequestView(p.Data)
				r.log.Debug("registration sent via foreign agent", "to", p.Dst, "care_of", v.CareOf(), "lifetime", v.Lifetime())
			}
			continue
		}
		if p.TTL1 {
			continue // solicitations need the link socket (mode fa)
		}
		if err := r.plane.SendControl(dataplane.ControlMessage{Src: netip.AddrPortFrom(p.Src, 0), Dst: p.Dst, Data: p.Data}); err != nil {
			r.log.Warn("cannot send registration", "to", p.Dst, "from", p.Src, "err", err)
		} else {
			v := wire.RequestView(p.Data)
			r.log.Debug("registration sent", "to", p.Dst, "from", p.Src, "care_of", v.CareOf(), "lifetime", v.Lifetime(), "id", v.ID())
		}
	}
	if out.Keepalive {
		if err := r.plane.SendKeepalive(); err != nil {
			r.log.Debug("keepalive not sent", "err", err)
		}
	}
}

// tunnel applies a new tunnel state to the data plane and the kernel.
func (r *mnRunner) tunnel(t mn.Tunnel) {
	r.plane.SetTunnel(t)
	st := r.eng.Status()
	if !t.Up {
		if r.eng.State() == mn.AtHome {
			r.log.Info("at home: tunnel down", "care_of", st.CareOf)
			r.unroute()
		} else {
			r.log.Info("tunnel down", "state", st.State, "last_reply", st.LastCode)
		}
		return
	}
	mode := "ipip"
	if t.UDP {
		mode = "udp"
	}
	if t.ViaFA {
		r.log.Info("registered via foreign agent", "home", t.HomeAddr, "care_of", t.Local, "foreign_agent", r.eng.ForeignAgent(),
			"home_agent", t.Remote.Addr(), "lifetime", st.Lifetime)
		if err := r.routeViaFA(t); err != nil {
			r.log.Error("cannot set up routes through the foreign agent", "err", err)
		}
		return
	}
	r.log.Info("registered", "home", t.HomeAddr, "care_of", t.Local, "home_agent", t.Remote.Addr(), "tunnel", mode, "lifetime", st.Lifetime)
	if err := r.route(t); err != nil {
		r.log.Error("cannot set up routes through the tunnel", "err", err)
	}
}

// route puts the home address on the TUN device and the configured
// destinations through it, and keeps the home agent itself reachable over
// the uplink. A default route is installed as two halves (0/1 and 128/1)
// so the uplink's own default route stays and still tells us the gateway
// after every move.
func (r *mnRunner) route(t mn.Tunnel) error {
	dev := r.c.Interface
	if r.hoaOnTun != t.HomeAddr {
		if r.hoaOnTun.IsValid() {
			_ = r.nc.DelAddr(dev, netip.PrefixFrom(r.hoaOnTun, 32))
		}
		if err := r.nc.ReplaceAddr(dev, netip.PrefixFrom(t.HomeAddr, 32)); err != nil {
			return err
		}
		r.hoaOnTun = t.HomeAddr
		r.routed = false
	}
	r.refreshHARoute()
	if r.routed {
		return nil
	}
	for _, p := range tunnelRoutes(r.c.Routes) {
		if err := r.nc.ReplaceRoute(netconf.Route{Dst: p, Dev: dev, Src: t.HomeAddr}); err != nil {
			return err
		}
	}
	r.routed = true
	return nil
}

// refreshHARoute keeps a host route to the home agent through the
// uplink's current gateway, so tunnel and signalling traffic never loops
// into the tunnel itself.
func (r *mnRunner) refreshHARoute() {
	def, ok, err := r.nc.DefaultRoute()
	if err != nil || !ok {
		return
	}
	// Always replace: the kernel deletes the route when the uplink's
	// address goes, even if the same gateway comes back later.
	har := netconf.Route{Dst: netip.PrefixFrom(r.c.Engine.HomeAgent, 32), Gw: def.Gw, Dev: def.Dev}
	if err := r.nc.ReplaceRoute(har); err != nil {
		r.log.Warn("cannot route to the home agent via the uplink", "gateway", def.Gw, "dev", def.Dev, "err", err)
		return
	}
	r.log.Debug("home agent routed via the uplink", "gateway", def.Gw, "dev", def.Dev)
	r.haRoute = har
}

func tunnelRoutes(ps []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if p.Bits() == 0 {
			out = append(out, netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1"))
		} else {
			out = append(out, p)
		}
	}
	return out
}

func (r *mnRunner) unroute() {
	r.unrouteFA()
	if r.hoaOnTun.IsValid() {
		// At home the home address belongs to the home link.
		_ = r.nc.DelAddr(r.c.Interface, netip.PrefixFrom(r.hoaOnTun, 32))
		r.hoaOnTun = netip.Addr{}
	}
	if r.routed {
		for _, p := range tunnelRoutes(r.c.Routes) {
			_ = r.nc.DelRoute(netconf.Route{Dst: p, Dev: r.c.Interface})
		}
		r.routed = false
	}
	if r.haRoute.Dst.IsValid() {
		_ = r.nc.DelRoute(r.haRoute)
		r.haRoute = netconf.Route{}
	}
}

// shutdown deregisters (RFC 5944 §3.6.1.2) and waits briefly for the reply.
func (r *mnRunner) shutdown() {
	out := r.eng.Stop(r.o.now())
	if len(out.Send) == 0 {
		return
	}
	r.exec(out)
	deadline := time.After(deregWait)
	var frames <-chan linkio.Frame
	if r.link != nil {
		frames = r.link.frames
	}
	for r.eng.State() == mn.Registering {
		select {
		case cm := <-r.plane.Control():
			if r.link == nil {
				r.exec(r.eng.HandleReply(cm.Data, r.o.now()))
			}
		case f, ok := <-frames:
			if !ok {
				frames = nil
				continue
			}
			r.link.handle(r, f)
		case <-deadline:
			r.log.Warn("no reply to the deregistration; the binding will expire at the home agent")
			return
		}
	}
	r.log.Info("deregistered")
}

func (r *mnRunner) status() Status {
	now := r.o.now()
	return Status{Role: "mn", Version: r.o.Version, Started: r.started, UptimeSec: int64(now.Sub(r.started) / time.Second),
		MN:        &MNStatus{State: r.eng.Status(), Counters: r.eng.Counters.Snapshot()},
		DataPlane: mustJSON(r.plane.Stats())}
}
