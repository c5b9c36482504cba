package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/bpfplane"
	"github.com/mip4d/mip4d/agent/config"
	"github.com/mip4d/mip4d/agent/control"
	"github.com/mip4d/mip4d/agent/dataplane"
	"github.com/mip4d/mip4d/agent/linkio"
	"github.com/mip4d/mip4d/agent/mn"
	"github.com/mip4d/mip4d/agent/netconf"
	"github.com/mip4d/mip4d/agent/nmwatch"
	"github.com/mip4d/mip4d/agent/wire"
)

// A mobile node runs one registration layer ("leg"), or two in RFC 5265
// dual mode: the external layer (x-MIP, to the x-HA) and the internal one
// (i-MIP, to the i-HA). Each leg has its own engine, TUN device, sockets
// and data plane; the runner decides which care-of address each gets.
type leg struct {
	name  string // "x" or "i", in logs
	eng   *mn.Engine
	plane *dataplane.MN
	// accel is the kernel plane in front of plane (the external leg
	// only; nil on the internal one, whose tunnel runs through the VPN).
	accel    *accel
	port     uint16    // the registration port: RFC 3519 tunnels' source port
	tunState mn.Tunnel // what accel was last given
	dev      string
	routes   []netip.Prefix
	heard    chan struct{}
	planeErr chan error
	log      *slog.Logger
	hoaOnTun netip.Addr
	routed   bool
	// selfRule sends the home address's traffic to the home agent's own
	// address into the tunnel (external leg; zero when not installed).
	selfRule netconf.Rule
}

// iTable is the policy routing table of the internal leg, consulted
// before strongSwan's table 220 (rule priority iRulePrio), so intranet
// destinations go through the i-MIP tunnel while the tunnel's own packets
// to the i-HA fall through to the VPN (a throw route).
const (
	iTable    = 150
	iRulePrio = 210
)

// haSelfTable routes traffic from the home address to the home agent's
// own address through the tunnel (rule haSelfPrio, ahead of the host
// route that keeps the tunnel itself on the uplink): a service on the home
// agent's box — a VPN gateway combined with it (RFC 4093 §2.3) — is then
// reached from the home address like any other host.
const (
	haSelfTable = 152
	haSelfPrio  = 100
)

// iDirectTable holds the i-HA routed via the uplink; rule iDirectPrio
// sends the requests and tunnel packets we address to the i-HA from the
// access network's own address there, ahead of the VPN's table 220 and of
// the x-MIP tunnel's routes (RFC 5265 §3.3: both home agents are tried
// directly on every attachment; only from inside does the i-HA answer).
const (
	iDirectTable = 149
	iDirectPrio  = 209
)

// mnRunner is the mobile node role.
type mnRunner struct {
	o       Options
	log     *slog.Logger
	c       *config.MN
	nc      *netconf.Net
	started time.Time
	x       *leg
	i       *leg // nil unless dual mode
	haRoute netconf.Route
	// iDirect is the rule routing to the i-HA from the care-of address
	// via the uplink (dual mode); zero when none is installed.
	iDirect netconf.Rule
	// fa mode
	link      *mnLink
	hoaOnLink netip.Addr
	faRoute   netconf.Route
	// dual mode
	loop     *loop
	ctx      context.Context
	location string // "", "inside", "outside"
	vpnUp    bool
	vip      netip.Addr
}

// deregWait is how long shutdown waits for the reply to its deregistration.
const deregWait = 2 * time.Second

// openLeg creates a leg's engine, TUN device, sockets and plane.
func (r *mnRunner) openLeg(name string, cfg mn.Config, dev string, port uint16, routes []netip.Prefix, mtu int) (*leg, error) {
	g := &leg{name: name, dev: dev, port: port, routes: routes, heard: make(chan struct{}, 1), planeErr: make(chan error, 1),
		log: r.log.With("layer", name)}
	var err error
	if g.eng, err = mn.New(cfg, nil); err != nil {
		return nil, err
	}
	dpc := dataplane.MNConfig{Options: dataplane.Options{PathMTU: mtu}, Heard: func() {
		select {
		case g.heard <- struct{}{}:
		default:
		}
	}}
	tun, err := dataplane.OpenTUN(dev, dpc.DeviceMTU())
	if err != nil {
		return nil, fmt.Errorf("TUN device %s: %w", dev, err)
	}
	udp, err := dataplane.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), port))
	if err != nil {
		tun.Close()
		return nil, fmt.Errorf("registration socket on port %d: %w", port, err)
	}
	ipip, err := dataplane.ListenRaw(wire.ProtoIPIP, netip.Addr{})
	if err != nil {
		tun.Close()
		udp.Close()
		return nil, fmt.Errorf("IP-in-IP socket: %w", err)
	}
	if g.plane, err = dataplane.NewMN(dpc, tun, dataplane.MNConns{UDP: udp, IPIP: ipip}); err != nil {
		return nil, err
	}
	return g, nil
}

func runMN(ctx context.Context, c *config.Config, o Options, srv *control.Server) error {
	m := c.MN
	r := &mnRunner{o: o, log: o.Log.With("role", "mn"), c: m, started: o.now()}
	var err error
	if r.nc, err = netconf.New(); err != nil {
		return err
	}
	defer r.nc.Close()
	if r.x, err = r.openLeg("x", m.Engine, m.Interface, wire.Port, m.Routes, m.MTU); err != nil {
		return err
	}
	defer r.x.plane.Close()
	acfg := bpfplane.Config{Role: bpfplane.RoleMN, Port: wire.Port, TUN: m.Interface, PathMTU: m.MTU}
	if m.Internal != nil {
		acfg.Exclude = []string{m.Internal.Interface}
		acfg.PuntUnknown = true // the internal leg's tunnels may arrive at the same address
	}
	r.x.accel = openAccel(ctx, c.DataPlane, r.x.log, acfg)
	defer r.x.accel.close()
	if in := m.Internal; in != nil {
		if r.i, err = r.openLeg("i", in.Engine, in.Interface, in.Port, in.Routes, m.MTU); err != nil {
			return err
		}
		defer r.i.plane.Close()
	}
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
	r.loop, r.ctx = l, ctx
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
	var lastSolicit time.Time
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
	planeCtx, stopPlane := context.WithCancel(context.Background())
	defer stopPlane()
	for _, g := range r.legs() {
		go func() { g.planeErr <- g.plane.Run(planeCtx) }()
	}
	r.log.Info("mobile node running", "home_agent", m.Engine.HomeAgent, "home", m.Engine.HomeAddr, "nai", m.Engine.NAI,
		"tun", m.Interface, "dual_mode", r.i != nil)
	if r.link != nil {
		r.exec(r.x, mn.Output{Send: []mn.Packet{r.x.eng.Solicit()}})
	} else {
		r.recheck()
	}

	var iHeard <-chan struct{}
	var iPlaneErr <-chan error
	var iCtrl <-chan dataplane.ControlMessage
	if r.i != nil {
		iHeard, iPlaneErr, iCtrl = r.i.heard, r.i.planeErr, r.i.plane.Control()
	}
	xt := time.NewTimer(time.Hour)
	it := time.NewTimer(time.Hour)
	defer xt.Stop()
	defer it.Stop()
	for {
		timerAt(xt, r.x.eng.NextTimer(), o.now())
		if r.i != nil {
			timerAt(it, r.i.eng.NextTimer(), o.now())
		}
		select {
		case <-ctx.Done():
			r.shutdown()
			return nil
		case err := <-r.x.planeErr:
			return fmt.Errorf("data plane stopped: %w", err)
		case err := <-iPlaneErr:
			return fmt.Errorf("internal data plane stopped: %w", err)
		case f := <-l.calls:
			f()
		case c := <-changes:
			// Something changed on an interface: re-read the care-of
			// address (merging bursts of notifications). In fa mode the
			// agents' advertisements say where we are.
			linkUp := c.Link && c.Up
			r.x.accel.routesChanged()
			for more := true; more; {
				select {
				case c := <-changes:
					linkUp = linkUp || c.Link && c.Up
				default:
					more = false
				}
			}
			if r.link == nil {
				r.recheck()
			} else if now := o.now(); linkUp && now.Sub(lastSolicit) >= linkSolicitGap {
				// A link coming up is a "positive indication" of a move
				// (RFC 5944 §2.4.2): ask the agents there now rather than
				// wait for their next advertisement. Each such event
				// allows one solicitation, flapping links at most one per
				// linkSolicitGap.
				lastSolicit = now
				r.log.Debug("link event: soliciting agents")
				r.exec(r.x, mn.Output{Send: []mn.Packet{r.x.eng.Solicit()}})
			}
			r.checkVPN()
		case ev := <-nmEvents:
			r.log.Debug("NetworkManager state changed", "object", ev.Path, "state", ev.State)
			if r.link == nil {
				r.recheck()
			}
		case f, ok := <-frames:
			if !ok {
				return errors.New("the uplink's packet socket closed")
			}
			r.link.handle(r, f)
		case <-solicit:
			if r.x.eng.ForeignAgent() == (netip.Addr{}) {
				r.exec(r.x, mn.Output{Send: []mn.Packet{r.x.eng.Solicit()}})
			}
		case cm := <-r.x.plane.Control():
			if r.link == nil && isReply(cm) {
				r.exec(r.x, r.x.eng.HandleReply(cm.Data, o.now()))
			}
		case cm := <-iCtrl:
			if isReply(cm) {
				r.exec(r.i, r.i.eng.HandleReply(cm.Data, o.now()))
			}
		case <-r.x.heard:
			r.x.eng.KeepaliveAnswered(o.now())
		case <-iHeard:
			r.i.eng.KeepaliveAnswered(o.now())
		case <-xt.C:
			r.exec(r.x, r.x.eng.Tick(o.now()))
		case <-it.C:
			if r.i != nil {
				r.exec(r.i, r.i.eng.Tick(o.now()))
			}
		case <-o.Reload:
			r.log.Warn("reload: a mobile node applies configuration changes on restart")
		}
	}
}

func isReply(cm dataplane.ControlMessage) bool {
	return len(cm.Data) > 0 && wire.MsgType(cm.Data[0]) == wire.MsgRegistrationReply
}

func (r *mnRunner) legs() []*leg {
	if r.i != nil {
		return []*leg{r.x, r.i}
	}
	return []*leg{r.x}
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

// recheck reads the care-of address again and tells the engines; a new
// address first gets the home agent routed through the new uplink, so the
// registration leaves by it. In dual mode both layers register from the
// new address at once (RFC 5265 §3.3): the i-HA answers only from inside.
func (r *mnRunner) recheck() {
	coa := r.careOf()
	moved := coa.IsValid() && coa != r.x.eng.CareOf()
	if moved {
		r.refreshHARoute()
	}
	r.exec(r.x, r.x.eng.SetCareOf(coa, r.o.now()))
	if r.i != nil && (moved || !coa.IsValid()) {
		if r.location != "" {
			r.log.Info("attachment changed: registering with both home agents", "care_of", coa)
			r.location = ""
		}
		r.exec(r.i, r.i.eng.SetCareOf(coa, r.o.now()))
	}
}

// careOf is the uplink's primary IPv4 address: the configured uplink, or
// the interface of the default route.
func (r *mnRunner) careOf() netip.Addr {
	dev := r.c.Uplink
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

// exec carries out one leg's engine's decisions.
func (r *mnRunner) exec(g *leg, out mn.Output) {
	if out.Tunnel != nil {
		r.tunnel(g, *out.Tunnel)
	}
	if g == r.x && r.x.eng.State() == mn.AtHome && (g.routed || g.hoaOnTun.IsValid()) {
		// Home (perhaps straight from detached, so no tunnel change):
		// the home link carries the home address now.
		g.log.Info("at home", "address", g.eng.CareOf())
		r.unrouteLeg(g)
	}
	for _, p := range out.Send {
		if g == r.x && r.link != nil && (p.TTL1 || p.TTL255) {
			if err := r.link.send(p); err != nil {
				g.log.Warn("cannot send on the uplink", "to", p.Dst, "err", err)
			} else if !p.TTL1 {
				v := wire.RequestView(p.Data)
				g.log.Debug("registration sent via foreign agent", "to", p.Dst, "care_of", v.CareOf(), "lifetime", v.Lifetime())
			}
			continue
		}
		if p.TTL1 {
			continue // solicitations need the link socket (mode fa)
		}
		if err := g.plane.SendControl(dataplane.ControlMessage{Src: netip.AddrPortFrom(p.Src, 0), Dst: p.Dst, Data: p.Data}); err != nil {
			g.log.Warn("cannot send registration", "to", p.Dst, "from", p.Src, "err", err)
		} else {
			v := wire.RequestView(p.Data)
			g.log.Debug("registration sent", "to", p.Dst, "from", p.Src, "care_of", v.CareOf(), "lifetime", v.Lifetime(), "id", v.ID())
		}
	}
	if out.Keepalive {
		if err := g.plane.SendKeepalive(); err != nil {
			g.log.Debug("keepalive not sent", "err", err)
		}
	}
}

// tunnel applies a leg's new tunnel state to its data plane and the
// kernel, and in dual mode decides inside or outside.
func (r *mnRunner) tunnel(g *leg, t mn.Tunnel) {
	g.plane.SetTunnel(t)
	if g.accel != nil && g.accel.plane != nil {
		if t.Up && t.Local.IsValid() {
			if err := g.accel.plane.SetLocal(t.Local, g.port); err != nil {
				g.log.Warn("kernel data plane: care-of address not set", "err", err)
			}
		}
		g.accel.apply(bpfplane.MNChanges(g.tunState, t, g.port))
		g.tunState = t
	}
	st := g.eng.Status()
	if !t.Up {
		if g.eng.State() == mn.AtHome {
			g.log.Info("at home: tunnel down", "care_of", st.CareOf)
			r.unrouteLeg(g)
		} else {
			g.log.Info("tunnel down", "state", st.State, "last_reply", st.LastCode)
		}
		return
	}
	mode := "ipip"
	if t.UDP {
		mode = "udp"
	}
	if t.ViaFA {
		g.log.Info("registered via foreign agent", "home", t.HomeAddr, "care_of", t.Local, "foreign_agent", g.eng.ForeignAgent(),
			"home_agent", t.Remote.Addr(), "lifetime", st.Lifetime)
		if err := r.routeViaFA(t); err != nil {
			g.log.Error("cannot set up routes through the foreign agent", "err", err)
		}
	} else {
		g.log.Info("registered", "home", t.HomeAddr, "care_of", t.Local, "home_agent", t.Remote.Addr(), "tunnel", mode,
			"lifetime", st.Lifetime, "trusted", t.Trusted)
		if err := r.route(g, t); err != nil {
			g.log.Error("cannot set up routes through the tunnel", "err", err)
		}
	}
	if r.i != nil {
		r.locate(g, t)
	}
}

// locate is RFC 5265 §3.3: an i-HA reply with Trusted Networks Configured
// to a request sent directly from our address means we are inside — the
// x-MIP binding and the VPN go; a reply from the x-HA while the i-HA is
// silent means we are outside — the VPN comes up over the x-home address
// and i-MIP runs through it.
func (r *mnRunner) locate(g *leg, t mn.Tunnel) {
	switch {
	case g == r.i && t.Trusted && t.Local == r.x.eng.CareOf():
		if r.location != "inside" {
			r.location = "inside"
			r.log.Info("inside the intranet: i-MIP direct, no VPN", "care_of", t.Local)
			r.exec(r.x, r.x.eng.Stop(r.o.now()))
			r.unrouteLeg(r.x) // the intranet's own routes serve us now
			r.runVPN(false)
		}
	case g == r.x && r.location != "inside":
		if r.location != "outside" {
			r.location = "outside"
			r.log.Info("outside: VPN over the x-home address, i-MIP through it", "x_home", t.HomeAddr)
		}
		if !r.vpnUp {
			r.runVPN(true)
		}
		r.checkVPN()
	}
}

// runVPN runs the configured vpn_up or vpn_down command in the background.
func (r *mnRunner) runVPN(up bool) {
	cmd := r.c.VPNDown
	if up {
		cmd = r.c.VPNUp
	}
	r.vpnUp = up
	if !up {
		r.vip = netip.Addr{}
	}
	if cmd == "" {
		return
	}
	log := r.log.With("command", cmd)
	log.Info(map[bool]string{true: "bringing the VPN up", false: "taking the VPN down"}[up])
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := shell(ctx, cmd)
		if err != nil {
			log.Error("VPN command failed", "err", err, "output", out)
			return
		}
		if up && r.loop != nil {
			r.loop.post(r.ctx, r.vpnReady)
		}
	}()
}

// vpnReady runs when vpn_up has finished: the tunnel's policies are in
// place now, so a pending i-MIP request through it goes again at once
// rather than after its retransmission timer (the first one may have left
// while the VPN's address was there but its SA not yet).
func (r *mnRunner) vpnReady() {
	if r.i == nil || r.location != "outside" || !r.vpnUp {
		return
	}
	r.checkVPN()
	if r.vip.IsValid() && r.i.eng.CareOf() == r.vip {
		r.exec(r.i, r.i.eng.Resend(r.o.now()))
	}
}

// checkVPN looks for the VPN's inner address (the RFC 5265 TIA) and, when
// outside, keeps it as the i-MIP care-of address.
func (r *mnRunner) checkVPN() {
	if r.i == nil || r.location != "outside" || !r.vpnUp {
		return
	}
	as, err := r.nc.Addrs(r.c.VPNInterface)
	var vip netip.Addr
	if err == nil && len(as) > 0 {
		vip = as[0].Addr()
	}
	if vip != r.vip && vip.IsValid() {
		r.log.Info("VPN up: i-MIP through it", "vpn_address", vip)
	}
	r.vip = vip
	if vip.IsValid() && r.i.eng.CareOf() != vip {
		r.exec(r.i, r.i.eng.SetCareOf(vip, r.o.now()))
	}
}

// route puts a leg's home address on its TUN device and its destinations
// through it. The external leg installs a default route as two halves
// (0/1 and 128/1) so the uplink's own default route stays and still tells
// us the gateway after every move, and keeps the home agent reachable over
// the uplink. The internal leg uses its own table, consulted before the
// VPN's, with a throw route for the i-HA so the tunnel's own packets take
// the VPN (or, inside, the uplink).
func (r *mnRunner) route(g *leg, t mn.Tunnel) error {
	if g.hoaOnTun != t.HomeAddr {
		if g.hoaOnTun.IsValid() {
			_ = r.nc.DelAddr(g.dev, netip.PrefixFrom(g.hoaOnTun, 32))
		}
		if err := r.nc.ReplaceAddr(g.dev, netip.PrefixFrom(t.HomeAddr, 32)); err != nil {
			return err
		}
		g.hoaOnTun = t.HomeAddr
		g.routed = false
	}
	if g == r.x {
		r.refreshHARoute()
	}
	if g.routed {
		return nil
	}
	if g == r.i {
		ha := r.c.Internal.Engine.HomeAgent
		if err := r.nc.ReplaceRoute(netconf.Route{Dst: netip.PrefixFrom(ha, 32), Table: iTable, Type: netconf.RouteThrow}); err != nil {
			return err
		}
		for _, p := range g.routes {
			if err := r.nc.ReplaceRoute(netconf.Route{Dst: p, Dev: g.dev, Src: t.HomeAddr, Table: iTable}); err != nil {
				return err
			}
		}
		if err := r.nc.AddRule(netconf.Rule{Table: iTable, Priority: iRulePrio}); err != nil {
			return err
		}
		g.routed = true
		return nil
	}
	for _, p := range tunnelRoutes(g.routes) {
		if err := r.nc.ReplaceRoute(netconf.Route{Dst: p, Dev: g.dev, Src: t.HomeAddr}); err != nil {
			return err
		}
	}
	ha := netip.PrefixFrom(r.c.Engine.HomeAgent, 32)
	if err := r.nc.ReplaceRoute(netconf.Route{Dst: ha, Dev: g.dev, Src: t.HomeAddr, Table: haSelfTable}); err != nil {
		return err
	}
	if err := r.nc.AddRule(netconf.Rule{Src: netip.PrefixFrom(t.HomeAddr, 32), Dst: ha, Table: haSelfTable, Priority: haSelfPrio}); err != nil {
		return err
	}
	g.selfRule = netconf.Rule{Src: netip.PrefixFrom(t.HomeAddr, 32), Dst: ha, Table: haSelfTable, Priority: haSelfPrio}
	g.routed = true
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
	r.haRoute = har
	r.log.Debug("home agent routed via the uplink", "gateway", def.Gw, "dev", def.Dev)
	if r.i != nil {
		r.routeIHADirect(def)
	}
}

// routeIHADirect routes packets from the care-of address to the i-HA
// straight out of the uplink (table iDirectTable), whatever the VPN and
// the x-MIP tunnel route: inside they reach it, outside they die on the
// Internet as RFC 5265 §3.3 expects.
func (r *mnRunner) routeIHADirect(def netconf.Route) {
	iha := netip.PrefixFrom(r.c.Internal.Engine.HomeAgent, 32)
	coa := r.careOf()
	if err := r.nc.ReplaceRoute(netconf.Route{Dst: iha, Gw: def.Gw, Dev: def.Dev, Table: iDirectTable}); err != nil {
		r.log.Warn("cannot route to the internal home agent via the uplink", "gateway", def.Gw, "dev", def.Dev, "err", err)
		return
	}
	rule := netconf.Rule{Src: netip.PrefixFrom(coa, 32), Dst: iha, Table: iDirectTable, Priority: iDirectPrio}
	if !coa.IsValid() || rule == r.iDirect {
		return
	}
	r.unrouteIHADirect()
	if err := r.nc.AddRule(rule); err != nil {
		r.log.Warn("cannot add the rule to the internal home agent", "care_of", coa, "err", err)
		return
	}
	r.iDirect = rule
}

func (r *mnRunner) unrouteIHADirect() {
	if r.iDirect.Table != 0 {
		_ = r.nc.DelRule(r.iDirect)
		r.iDirect = netconf.Rule{}
	}
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

// unrouteLeg removes what route installed for a leg.
func (r *mnRunner) unrouteLeg(g *leg) {
	if g.hoaOnTun.IsValid() {
		// At home the home address belongs to the home link.
		_ = r.nc.DelAddr(g.dev, netip.PrefixFrom(g.hoaOnTun, 32))
		g.hoaOnTun = netip.Addr{}
	}
	if !g.routed {
		return
	}
	g.routed = false
	if g == r.i {
		_ = r.nc.DelRule(netconf.Rule{Table: iTable, Priority: iRulePrio})
		for _, p := range g.routes {
			_ = r.nc.DelRoute(netconf.Route{Dst: p, Dev: g.dev, Table: iTable})
		}
		_ = r.nc.DelRoute(netconf.Route{Dst: netip.PrefixFrom(r.c.Internal.Engine.HomeAgent, 32), Table: iTable, Type: netconf.RouteThrow})
		return
	}
	for _, p := range tunnelRoutes(g.routes) {
		_ = r.nc.DelRoute(netconf.Route{Dst: p, Dev: g.dev})
	}
	if g.selfRule.Table != 0 {
		_ = r.nc.DelRule(g.selfRule)
		_ = r.nc.DelRoute(netconf.Route{Dst: g.selfRule.Dst, Dev: g.dev, Table: haSelfTable})
		g.selfRule = netconf.Rule{}
	}
}

// unroute removes everything the runner installed.
func (r *mnRunner) unroute() {
	r.unrouteFA()
	for _, g := range r.legs() {
		r.unrouteLeg(g)
	}
	if r.haRoute.Dst.IsValid() {
		_ = r.nc.DelRoute(r.haRoute)
		r.haRoute = netconf.Route{}
	}
	if r.iDirect.Table != 0 {
		_ = r.nc.DelRoute(netconf.Route{Dst: r.iDirect.Dst, Table: iDirectTable})
		r.unrouteIHADirect()
	}
}

// shutdown deregisters (RFC 5944 §3.6.1.2) every layer and waits briefly
// for the replies.
func (r *mnRunner) shutdown() {
	pending := 0
	for _, g := range r.legs() {
		out := g.eng.Stop(r.o.now())
		if len(out.Send) > 0 {
			pending++
		}
		r.exec(g, out)
	}
	if pending == 0 {
		return
	}
	deadline := time.After(deregWait)
	var frames <-chan linkio.Frame
	if r.link != nil {
		frames = r.link.frames
	}
	var iCtrl <-chan dataplane.ControlMessage
	if r.i != nil {
		iCtrl = r.i.plane.Control()
	}
	registering := func() bool {
		for _, g := range r.legs() {
			if g.eng.State() == mn.Registering {
				return true
			}
		}
		return false
	}
	for registering() {
		select {
		case cm := <-r.x.plane.Control():
			if r.link == nil && isReply(cm) {
				r.exec(r.x, r.x.eng.HandleReply(cm.Data, r.o.now()))
			}
		case cm := <-iCtrl:
			if isReply(cm) {
				r.exec(r.i, r.i.eng.HandleReply(cm.Data, r.o.now()))
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
	st := Status{Role: "mn", Version: r.o.Version, Started: r.started, UptimeSec: int64(now.Sub(r.started) / time.Second),
		MN:        &MNStatus{State: r.x.eng.Status(), Counters: r.x.eng.Counters.Snapshot()},
		DataPlane: r.x.accel.status(r.x.plane.Stats())}
	if r.i != nil {
		st.MN.Location = r.location
		st.MN.Internal = &MNStatus{State: r.i.eng.Status(), Counters: r.i.eng.Counters.Snapshot()}
		st.MN.VPNAddress = r.vip
	}
	return r.o.withEvents(st)
}
