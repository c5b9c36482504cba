package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/bpfplane"
	"github.com/mip4d/mip4d/agent/config"
	"github.com/mip4d/mip4d/agent/control"
	"github.com/mip4d/mip4d/agent/dataplane"
	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/hasync"
	"github.com/mip4d/mip4d/agent/netconf"
	"github.com/mip4d/mip4d/agent/wire"
)

// StateFileName is the home agent's state file inside state_dir.
const StateFileName = "ha.state"

// saveDelay batches state writes: bindings changed within it are written
// together (flash wear), and at most this much is lost on a power cut.
const saveDelay = time.Second

// controlBatch is how many waiting registrations the loop handles before
// it replicates (and serves its other inputs).
const controlBatch = 64

// haRunner is the home agent role.
type haRunner struct {
	o       Options
	log     *slog.Logger
	c       *config.Config
	eng     *ha.Engine
	plane   *dataplane.HA
	accel   *accel
	nc      *netconf.Net
	started time.Time
	state   string
	saved   time.Time
	dirty   bool
	rl      *rateLog
	// red is the redundant pair (nil without an ha_peer section).
	red *redundancy
}

// newHAEngine builds an engine from the configuration.
func newHAEngine(h *config.HA) (*ha.Engine, error) {
	sas := auth.NewStore()
	for _, p := range h.Peers {
		sas.Add(auth.FAHA, auth.PeerAddr(p.Addr), p.SA)
	}
	eng, err := ha.New(h.Engine, sas, nil)
	if err != nil {
		return nil, err
	}
	for _, m := range h.MobileNodes {
		if err := eng.AddMobileNode(m); err != nil {
			return nil, err
		}
	}
	return eng, nil
}

func runHA(ctx context.Context, c *config.Config, o Options, srv *control.Server) error {
	h := c.HA
	r := &haRunner{o: o, log: o.Log.With("role", "ha"), c: c, started: o.now(),
		state: filepath.Join(c.StateDir, StateFileName)}
	r.rl = newRateLog(r.log, 20, 10*time.Second, o.now)
	var err error
	if r.eng, err = newHAEngine(h); err != nil {
		return err
	}
	if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	var redEvents chan hasync.LinkEvent
	var redWake chan struct{}
	var redErr chan error
	var redTick <-chan time.Time
	if h.Redundancy != nil {
		r.red = newRedundancy(c, o.now(), localAddrHeld, r.log)
		r.eng.TrackChanges(true)
		redEvents, redWake, redErr = r.red.events, r.red.wake, r.red.linkErr
		t := time.NewTicker(hasync.Heartbeat / 2)
		defer t.Stop()
		redTick = t.C
	}
	if err := netconf.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		r.log.Warn("cannot enable IPv4 forwarding; reverse-tunnelled traffic will not be routed", "err", err)
	}
	if r.nc, err = netconf.New(); err != nil {
		return err
	}
	defer r.nc.Close()

	// The data plane: TUN device, the UDP port shared with signalling, raw
	// IP-in-IP and GRE sockets.
	dpc := dataplane.HAConfig{Addr: h.Engine.Addr, Options: dataplane.Options{PathMTU: h.MTU}}
	tun, err := dataplane.OpenTUN(h.Interface, dpc.DeviceMTU(h.Engine.GRE))
	if err != nil {
		return fmt.Errorf("TUN device %s: %w", h.Interface, err)
	}
	var conns dataplane.HAConns
	closeAll := func() {
		tun.Close()
		for _, c := range []dataplane.Conn{conns.UDP, conns.IPIP, conns.GRE} {
			if c != nil {
				c.Close()
			}
		}
	}
	if conns.UDP, err = dataplane.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), wire.Port)); err != nil {
		closeAll()
		return fmt.Errorf("UDP port %d: %w", wire.Port, err)
	}
	if conns.IPIP, err = dataplane.ListenRaw(wire.ProtoIPIP, netip.Addr{}); err != nil {
		closeAll()
		return fmt.Errorf("IP-in-IP socket: %w", err)
	}
	if h.Engine.GRE {
		if conns.GRE, err = dataplane.ListenRaw(wire.ProtoGRE, netip.Addr{}); err != nil {
			closeAll()
			return fmt.Errorf("GRE socket: %w", err)
		}
	}
	if r.plane, err = dataplane.NewHA(dpc, tun, conns); err != nil {
		closeAll()
		return err
	}
	defer r.plane.Close()
	r.accel = openAccel(ctx, c.DataPlane, r.log, bpfplane.Config{Role: bpfplane.RoleHA, Local: h.Engine.Addr,
		Port: wire.Port, TUN: h.Interface, PathMTU: h.MTU})
	defer r.accel.close()
	if h.HomeLink == "" {
		// A virtual home network: the whole prefix lives behind the TUN.
		if err := r.nc.ReplaceRoute(netconf.Route{Dst: h.Engine.HomeNet, Dev: h.Interface}); err != nil {
			return err
		}
	}

	// Restore what the last run knew.
	st, err := ha.LoadState(r.state)
	if err != nil {
		r.log.Error("state file unreadable; starting with no bindings", "file", r.state, "err", err)
	} else {
		evs, dropped, err := r.eng.Restore(st, o.now())
		if err != nil {
			r.log.Error("state file not restored", "file", r.state, "err", err)
		} else {
			r.log.Info("bindings restored", "file", r.state, "restored", len(evs), "expired_or_unknown", dropped)
			r.apply(evs)
		}
	}

	l := newLoop()
	srv.Handle("status", func(ctx context.Context) (any, error) {
		var s Status
		err := l.do(ctx, func() { s = r.status() })
		return s, err
	})
	srv.HandleArgs("ha-role", func(ctx context.Context, args []string) (any, error) {
		var res any
		var rerr error
		err := l.do(ctx, func() { res, rerr = r.roleCommand(args); r.replicate() })
		if err != nil {
			return nil, err
		}
		return res, rerr
	})
	srv.Handle("bindings", func(ctx context.Context) (any, error) {
		var rows []BindingRow
		err := l.do(ctx, func() {
			rows = bindingRows(r.eng.Bindings(), o.now())
			for i := range rows {
				rows[i].Kernel = r.accel.binding(bpfplane.Key{Home: rows[i].HomeAddr, Peer: rows[i].CareOf})
			}
		})
		return rows, err
	})

	planeErr := make(chan error, 1)
	go func() { planeErr <- r.plane.Run(ctx) }()
	r.log.Info("home agent running", "address", h.Engine.Addr, "home_network", h.Engine.HomeNet,
		"mobile_nodes", len(h.MobileNodes), "peers", len(h.Peers), "tun", h.Interface, "tun_mtu", tun.MTU())
	if r.red != nil {
		r.log.Info("redundancy", "role", r.red.role, "peer", r.red.cfg.Peer, "local", r.red.cfg.Local)
		r.red.start(ctx)
	}

	timer := time.NewTimer(time.Hour)
	saveT := time.NewTimer(time.Hour)
	saveT.Stop()
	defer timer.Stop()
	for {
		now := o.now()
		timerAt(timer, r.eng.NextTimer(), now)
		select {
		case <-ctx.Done():
			r.save()
			return nil
		case err := <-planeErr:
			r.save()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("data plane stopped: %w", err)
		case f := <-l.calls:
			f()
		case m := <-r.plane.Control():
			changed := r.control(m)
			// Under load, take what else is waiting before replicating,
			// so one frame to the standby carries many registrations.
		more:
			for range controlBatch - 1 {
				select {
				case m := <-r.plane.Control():
					changed = r.control(m) || changed
				default:
					break more
				}
			}
			if changed {
				timerAt(saveT, o.now().Add(saveDelay), o.now())
			}
		case <-timer.C:
			now := o.now()
			evs := r.eng.Expire(now)
			r.apply(evs)
			for _, p := range r.eng.RevocationsDue(now) {
				r.send(p)
			}
			if len(evs) > 0 {
				timerAt(saveT, now.Add(saveDelay), now)
			}
		case <-saveT.C:
			r.save()
		case <-o.Reload:
			r.reload()
			timerAt(saveT, o.now().Add(saveDelay), o.now())
		case ev := <-redEvents:
			if r.linkEvent(ev) {
				timerAt(saveT, o.now().Add(saveDelay), o.now())
			}
		case <-redWake:
		case <-redTick:
			r.tick()
		case err := <-redErr:
			r.save()
			return err
		case s := <-o.HARole:
			if r.red != nil {
				r.setRole(s, "signal")
			}
		}
		r.replicate()
	}
}

// control handles one message from the UDP port; it reports whether the
// bindings changed.
func (r *haRunner) control(m dataplane.ControlMessage) bool {
	if !r.active() {
		// A standby answers nothing: the active does (and when the
		// virtual address is here, keepalived has made this one active).
		r.red.standbyDropped.Add(1)
		return false
	}
	if len(m.Data) == 0 {
		m.Data = []byte{0} // an empty datagram: let the engine count it
	}
	switch wire.MsgType(m.Data[0]) {
	case wire.MsgRevocationAck:
		if r.eng.HandleRevocationAck(ha.Packet(m)) {
			r.log.Debug("revocation acknowledged", "from", m.Src)
		}
	default:
		// Requests, and anything else (counted and dropped by the engine).
		res := r.eng.Handle(ha.Packet(m), r.o.now())
		if res.Reply == nil {
			r.rl.Log(slog.LevelDebug, "drop", "message dropped", "from", m.Src, "reason", res.Drop)
			return false
		}
		v := wire.RequestView(m.Data)
		if res.Code.Accepted() {
			r.log.Debug("registration accepted", "from", m.Src, "home", v.HomeAddr(), "care_of", v.CareOf(), "lifetime", v.Lifetime())
		} else {
			lvl := slog.LevelInfo
			if res.Code == wire.CodeHAMNAuthFailed || res.Code == wire.CodeHAFAAuthFailed {
				lvl = slog.LevelWarn // RFC 5944 §3.8.2.1: a security exception
			}
			r.rl.Log(lvl, "denied", "registration denied", "from", m.Src, "home", v.HomeAddr(), "care_of", v.CareOf(), "code", int(res.Code), "reason", res.Code.String())
		}
		// The data planes first: once the reply is out, no packet may
		// still take the old tunnel.
		r.apply(res.Events)
		r.send(*res.Reply)
		for _, p := range res.Revocations {
			r.send(p)
		}
		return len(res.Events) > 0
	}
	return false
}

func (r *haRunner) send(p ha.Packet) {
	if err := r.plane.SendControl(dataplane.ControlMessage(p)); err != nil {
		r.log.Warn("cannot send", "to", p.Dst, "err", err)
	}
}

// apply pushes binding changes to the data plane and, with a real home
// link, to proxy ARP (RFC 5944 §4.6).
// A standby only records them (its state file) and logs them at debug
// level: it installs nothing until it becomes active.
func (r *haRunner) apply(evs []ha.Event) {
	if len(evs) == 0 {
		return
	}
	r.dirty = true
	if !r.active() {
		for _, ev := range evs {
			r.log.Debug("standby binding "+ev.Kind.String(), "home", ev.Binding.HomeAddr, "care_of", ev.Binding.CareOf, "reason", ev.Reason)
		}
		return
	}
	r.applyPlane(evs)
	link := r.c.HA.HomeLink
	for _, ev := range evs {
		b := ev.Binding
		switch ev.Kind {
		case ha.BindingAdded, ha.BindingMoved:
			r.log.Info("binding "+ev.Kind.String(), "home", b.HomeAddr, "care_of", b.CareOf, "endpoint", b.Endpoint,
				"tunnel", tunnelName(b), "lifetime", b.Lifetime, "nai", b.NAI)
			if link != "" && len(r.eng.Lookup(b.HomeAddr)) == 1 && ev.Kind == ha.BindingAdded {
				r.intercept(b.HomeAddr, true)
			}
		case ha.BindingRemoved:
			r.log.Info("binding removed", "home", b.HomeAddr, "care_of", b.CareOf, "reason", ev.Reason)
			if link != "" && len(r.eng.Lookup(b.HomeAddr)) == 0 {
				r.intercept(b.HomeAddr, false)
			}
		}
	}
}

// applyPlane pushes binding changes to the userspace and kernel planes.
func (r *haRunner) applyPlane(evs []ha.Event) {
	if err := r.plane.Apply(evs...); err != nil {
		r.log.Error("data plane refused a binding", "err", err)
	}
	r.accel.apply(bpfplane.HAChanges(r.c.HA.Engine.Addr, evs))
}

// intercept starts (or stops) capturing a home address on the home link:
// a host route into the TUN, a proxy ARP entry, and a gratuitous ARP so
// neighbours update their caches at once.
func (r *haRunner) intercept(hoa netip.Addr, on bool) {
	h := r.c.HA
	rt := netconf.Route{Dst: netip.PrefixFrom(hoa, 32), Dev: h.Interface}
	if !on {
		errs := errors.Join(r.nc.DelProxyARP(h.HomeLink, hoa), r.nc.DelRoute(rt))
		if errs != nil {
			r.log.Warn("cannot stop intercepting", "home", hoa, "err", errs)
		}
		return
	}
	if err := errors.Join(r.nc.ReplaceRoute(rt), r.nc.AddProxyARP(h.HomeLink, hoa)); err != nil {
		r.log.Warn("cannot intercept the home address on the home link", "home", hoa, "err", err)
		return
	}
	idx, err1 := r.nc.LinkIndex(h.HomeLink)
	mac, err2 := r.nc.HardwareAddr(h.HomeLink)
	if err := errors.Join(err1, err2); err == nil {
		err = netconf.GratuitousARP(idx, hoa, net.HardwareAddr(mac))
		if err != nil {
			r.log.Warn("gratuitous ARP failed", "home", hoa, "err", err)
		}
	}
}

func tunnelName(b ha.Binding) string {
	s := b.Encap.String()
	if b.UDP {
		s = "udp/" + s
	}
	return s
}

func (r *haRunner) save() {
	if !r.dirty {
		return
	}
	now := r.o.now()
	if err := r.eng.SaveState(r.state, now); err != nil {
		r.log.Error("cannot save state", "file", r.state, "err", err)
		return
	}
	r.dirty, r.saved = false, now
}

// reload re-reads the configuration (SIGHUP). Mobile nodes, keys, peers
// and policy change without dropping bindings: a new engine takes over the
// old one's state, and only bindings whose node is gone are removed.
// Addresses, interfaces and the role need a restart.
func (r *haRunner) reload() {
	c, err := config.Load(r.c.Path)
	if err == nil {
		err = c.CheckPermissions()
	}
	if err != nil {
		r.log.Error("reload: configuration rejected; keeping the running one", "err", err)
		return
	}
	old, nw := r.c.HA, c.HA
	if c.Role != r.c.Role || nw == nil || old.Interface != nw.Interface || old.HomeLink != nw.HomeLink ||
		old.Engine.Addr != nw.Engine.Addr || old.Engine.HomeNet != nw.Engine.HomeNet || old.MTU != nw.MTU || old.Engine.GRE != nw.Engine.GRE {
		r.log.Error("reload: role, addresses, interfaces, MTU or GRE changed; restart mip4d to apply")
		return
	}
	if (old.Redundancy == nil) != (nw.Redundancy == nil) || old.Redundancy != nil &&
		(old.Redundancy.Peer != nw.Redundancy.Peer || old.Redundancy.Local != nw.Redundancy.Local || string(old.Redundancy.Key) != string(nw.Redundancy.Key)) {
		r.log.Error("reload: the ha_peer section changed; restart mip4d to apply")
		return
	}
	eng, err := newHAEngine(nw)
	if err != nil {
		r.log.Error("reload: configuration rejected; keeping the running one", "err", err)
		return
	}
	eng.TrackChanges(r.red != nil)
	now := r.o.now()
	before := r.eng.Bindings()
	evs, dropped, err := eng.Restore(r.eng.State(now), now)
	if err != nil {
		r.log.Error("reload failed", "err", err)
		return
	}
	kept := map[[2]netip.Addr]bool{}
	for _, ev := range evs {
		kept[[2]netip.Addr{ev.Binding.HomeAddr, ev.Binding.CareOf}] = true
	}
	var removed []ha.Event
	for _, b := range before {
		if !kept[[2]netip.Addr{b.HomeAddr, b.CareOf}] {
			removed = append(removed, ha.Event{Kind: ha.BindingRemoved, Binding: b, Reason: "unconfigured"})
		}
	}
	r.eng, r.c = eng, &config.Config{Path: c.Path, Role: c.Role, Enabled: c.Enabled, LogLevel: c.LogLevel,
		StateDir: r.c.StateDir, RunDir: r.c.RunDir, ControlSocket: r.c.ControlSocket, HasSecrets: c.HasSecrets, HA: nw}
	r.apply(removed)
	r.apply(evs)
	r.log.Info("configuration reloaded", "mobile_nodes", len(nw.MobileNodes), "bindings_kept", len(evs), "bindings_dropped", dropped)
}

func (r *haRunner) status() Status {
	now := r.o.now()
	e := r.eng
	cfg := e.Config()
	s := Status{Role: "ha", Version: r.o.Version, Started: r.started, UptimeSec: int64(now.Sub(r.started) / time.Second)}
	s.HA = &HAStatus{Address: cfg.Addr, HomeNetwork: cfg.HomeNet, Bindings: e.NumBindings(),
		MobileNodes: len(r.c.HA.MobileNodes), Revocations: e.PendingRevocations(),
		Counters: e.Counters.Snapshot(), StateFile: r.state, StateSaved: r.saved}
	s.HA.PoolSize, s.HA.PoolUsed = e.PoolUsage()
	s.DataPlane = r.accel.status(r.plane.Stats())
	s.Redundancy = r.redundancyStatus()
	return r.o.withEvents(s)
}

func bindingRows(bs []ha.Binding, now time.Time) []BindingRow {
	rows := make([]BindingRow, 0, len(bs))
	for _, b := range bs {
		rows = append(rows, BindingRow{HomeAddr: b.HomeAddr, CareOf: b.CareOf, NAI: b.NAI, Endpoint: b.Endpoint,
			Tunnel: tunnelName(b), ReverseTunnel: b.ReverseTunnel, FA: b.FA, Lifetime: b.Lifetime,
			Remaining: b.Remaining(now), Registered: b.Registered, ID: b.ID})
	}
	return rows
}
