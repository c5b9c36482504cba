package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/mip4d/mip4d/agent/config"
	"github.com/mip4d/mip4d/agent/control"
	"github.com/mip4d/mip4d/agent/dataplane"
	"github.com/mip4d/mip4d/agent/dhcpserve"
	"github.com/mip4d/mip4d/agent/fa"
	"github.com/mip4d/mip4d/agent/internal/atomicfile"
	"github.com/mip4d/mip4d/agent/linkio"
	"github.com/mip4d/mip4d/agent/netconf"
	"github.com/mip4d/mip4d/agent/proxy"
	"github.com/mip4d/mip4d/agent/wire"
)

// proxyRunner is the proxy role (RFC 5563): Mobile IP on the hotspot
// router for laptops with only a DHCP client. A client's DHCP request
// makes the engine register it with its home agent from this router's
// care-of address; the DHCP answer, held until then, gives it its home
// address and the gateway every hotspot shares; the data plane is the
// foreign agent's (the client is delivered to on the link, its traffic
// reverse-tunnelled to the home agent).
type proxyRunner struct {
	o       Options
	log     *slog.Logger
	c       *config.Proxy
	eng     *proxy.Engine
	dhcp    *dhcpserve.Server
	conn    *dhcpserve.Conn
	plane   *faPlane
	nc      *netconf.Net
	arp     *linkio.ARPSocket
	clients *linkDelivery
	ka      keepalives
	coa     netip.Addr
	gateway netip.Addr
	started time.Time
	rl      *rateLog
	// bound is what the data plane and the kernel serve per client.
	bound map[proxy.MAC]proxy.Binding
	// state is the file the client table is kept in across restarts of
	// the daemon (run_dir, tmpfs); saved is when it was last written.
	state string
	saved time.Time
	// hints are neighbour entries the kernel learnt for admitted clients
	// without a binding here, being checked with an ARP probe of our own:
	// a kernel entry says someone was there once; the answer to our probe
	// says it is there now.
	hints map[proxy.MAC]neighbourHint
}

type neighbourHint struct {
	addr  netip.Addr
	until time.Time
}

// Bounds of the neighbour hints being checked.
const (
	maxHints    = 64
	hintTimeout = 2 * time.Second
)

// ProxyStateFileName is the proxy's client table inside run_dir.
const ProxyStateFileName = "proxy.state"

type arpReply struct {
	mac net.HardwareAddr
	ip  netip.Addr
}

func runProxy(ctx context.Context, c *config.Config, o Options, srv *control.Server) error {
	pc := c.Proxy
	r := &proxyRunner{o: o, log: o.Log.With("role", "proxy"), c: pc, started: o.now(), ka: keepalives{},
		bound: map[proxy.MAC]proxy.Binding{}, hints: map[proxy.MAC]neighbourHint{}, gateway: pc.DHCP.ServerID,
		state: filepath.Join(c.RunDir, ProxyStateFileName)}
	r.rl = newRateLog(r.log, 20, 10*time.Second, o.now)
	nc, changes, err := openNetconf(ctx)
	if err != nil {
		return err
	}
	r.nc = nc
	defer r.nc.Close()
	if !waitAddresses(ctx, r.rl, changes, "waiting for the care-of address", func() (err error) {
		r.coa, err = uplinkAddress(r.nc, pc.Uplink, pc.Engine.CareOf)
		return err
	}) {
		return nil
	}
	cfg := pc.Engine
	cfg.CareOf = r.coa
	switch pc.UDPTunnel {
	case "1":
		cfg.UDPTunnel = true
	case "auto":
		cfg.UDPTunnel = behindNAT(r.coa)
	}
	if r.eng, err = proxy.New(cfg, nil); err != nil {
		return err
	}
	if r.dhcp, err = dhcpserve.New(pc.DHCP, r.eng); err != nil {
		return err
	}
	if err := r.setupLink(); err != nil {
		return err
	}
	r.clients = newLinkDelivery(r.nc, pc.Interface)
	defer r.clients.removeAll()

	plane, closePlane, err := openFAPlane(ctx, c, r.nc, r.log, r.coa, pc.TUN, pc.MTU)
	if err != nil {
		return err
	}
	r.plane = plane
	defer closePlane()

	// DHCP on the clients' link, and ARP to confirm a client is there.
	if r.conn, err = dhcpserve.Listen(pc.Interface, &r.dhcp.Counters); err != nil {
		return fmt.Errorf("DHCP server on %s: %w", pc.Interface, err)
	}
	defer r.conn.Close()
	dhcpIn := make(chan []byte, 64)
	go func() {
		if err := r.conn.Run(ctx, dhcpIn); err != nil {
			r.log.Error("DHCP socket failed", "err", err)
		}
	}()
	if r.arp, err = linkio.OpenARP(pc.Interface); err != nil {
		return fmt.Errorf("ARP on %s: %w", pc.Interface, err)
	}
	arpIn := make(chan arpReply, 64)
	go r.readARP(ctx, arpIn)
	// The secondary sign of a client: a neighbour entry the kernel learnt
	// from its ARP (a client that kept its address from the last hotspot).
	neighIn := make(chan netconf.Neighbor, 64)
	if err := r.nc.WatchNeighbors(ctx, pc.Interface, neighIn); err != nil {
		return err
	}

	l := newLoop()
	srv.Handle("status", func(ctx context.Context) (any, error) {
		var s Status
		err := l.do(ctx, func() { s = r.status() })
		return s, err
	})
	srv.Handle("bindings", func(ctx context.Context) (any, error) {
		var cs []proxy.ClientStatus
		err := l.do(ctx, func() { cs = r.eng.Status(r.o.now()).Clients })
		return cs, err
	})

	planeErr := make(chan error, 1)
	go func() { planeErr <- r.plane.Run(ctx) }()
	r.restore()
	r.log.Info("proxy running", "care_of", r.coa, "home_agent", cfg.HomeAgent, "clients_link", pc.Interface,
		"gateway", r.gateway, "udp_tunnel", cfg.UDPTunnel, "known_clients", len(cfg.Clients), "guests", cfg.UnknownNAI != "")

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := o.now()
		timerAt(timer, earliest(r.eng.NextTimer(), r.dhcp.NextTimer(), r.ka.next()), now)
		select {
		case <-ctx.Done():
			// A stop is most often a restart (a configuration change, an
			// upgrade): the clients' bindings stay with their home agents
			// and the next run takes them back from the state file. They
			// end at their lifetime if it never comes.
			r.save()
			r.log.Info("stopping; clients' bindings kept for the next start", "clients", len(r.bound), "state", r.state)
			return nil
		case err := <-planeErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("data plane stopped: %w", err)
		case f := <-l.calls:
			f()
		case b := <-dhcpIn:
			r.dhcpMessage(b)
		case a := <-arpIn:
			r.arpReply(a)
		case nb := <-neighIn:
			r.neighbour(nb)
		case m := <-r.plane.Control():
			r.control(m)
		case <-changes:
			drain(changes)
			r.plane.accel.routesChanged()
			if coa, err := uplinkAddress(r.nc, pc.Uplink, pc.Engine.CareOf); err == nil && coa != r.coa {
				// Sockets are bound to the care-of address and bindings
				// name it: start again with the new one; clients
				// register again as they renew.
				r.apply(r.eng.Stop(o.now()))
				return fmt.Errorf("care-of address %v changed to %v: restarting", r.coa, coa)
			}
		case <-timer.C:
			now := o.now()
			r.apply(r.eng.Tick(now))
			for _, ev := range r.dhcp.Tick(now) {
				r.dhcpEvent(ev, now)
			}
			for _, ha := range r.ka.due(now, r.keepaliveEvery) {
				if err := r.plane.SendKeepalive(ha); err != nil {
					r.log.Debug("keepalive not sent", "home_agent", ha, "err", err)
				}
			}
		}
	}
}

// setupLink makes the clients' link the gateway every hotspot shares: the
// gateway address (the DHCP server identifier) on it, the shared MAC when
// configured, proxy ARP when clients think a whole subnet is on-link, no
// reverse-path filter (the clients' addresses belong elsewhere).
func (r *proxyRunner) setupLink() error {
	pc := r.c
	if len(pc.GatewayMAC) > 0 {
		if err := r.nc.SetHardwareAddr(pc.Interface, pc.GatewayMAC); err != nil {
			return fmt.Errorf("gateway MAC on %s: %w", pc.Interface, err)
		}
	}
	if err := r.nc.ReplaceAddr(pc.Interface, netip.PrefixFrom(r.gateway, 32)); err != nil {
		return fmt.Errorf("gateway address on %s: %w", pc.Interface, err)
	}
	sysctls := map[string]string{"net.ipv4.ip_forward": "1", "net.ipv4.conf." + pc.Interface + ".rp_filter": "0"}
	if pc.DHCP.Network.IsValid() {
		// Clients send to any address of their "subnet" on-link: answer
		// for all of them (they route through us anyway).
		sysctls["net.ipv4.conf."+pc.Interface+".proxy_arp"] = "1"
	}
	for k, v := range sysctls {
		if err := netconf.Sysctl(k, v); err != nil {
			r.log.Warn("cannot set "+k, "err", err)
		}
	}
	return nil
}

// readARP feeds ARP replies from the clients' link to the engine goroutine.
func (r *proxyRunner) readARP(ctx context.Context, out chan<- arpReply) {
	go func() {
		<-ctx.Done()
		r.arp.Close()
	}()
	buf := make([]byte, 1514)
	for {
		m, err := r.arp.Read(buf)
		if err != nil {
			return
		}
		select {
		case out <- arpReply{mac: append(net.HardwareAddr(nil), m.SenderMAC...), ip: m.SenderIP}:
		default:
		}
	}
}

// arpReply: a client answered for its home address — it is still here
// (RFC 5563 §4.4).
func (r *proxyRunner) arpReply(a arpReply) {
	mac, ok := proxy.MACFrom(a.mac)
	if !ok {
		return
	}
	now := r.o.now()
	if h, ok := r.hints[mac]; ok && h.addr == a.ip && now.Before(h.until) {
		delete(r.hints, mac)
		r.log.Debug("client on the clients' link (neighbour, confirmed by ARP)", "mac", mac, "addr", a.ip)
		r.apply(r.eng.Seen(mac, a.ip, now))
		return
	}
	if hoa, ok := r.eng.ProbeAddr(mac); ok && hoa == a.ip {
		r.apply(r.eng.ClientPresent(mac, now))
	}
}

// neighbour is the secondary sign of a client (RFC 5563 §4.1): the
// kernel learnt a neighbour entry on the clients' link — the host ARPed,
// for the gateway, say. For an admitted client with no binding here (it
// kept its address from the last hotspot and will not ask DHCP again), or
// one whose binding was just revoked, the entry is checked with an ARP
// probe; the answer (arpReply) tells the engine (Seen). Bound clients
// have permanent entries of ours and make no such events.
func (r *proxyRunner) neighbour(nb netconf.Neighbor) {
	mac, ok := proxy.MACFrom(nb.MAC)
	if !ok || !r.eng.Admits(nb.MAC) {
		return
	}
	if st, ok := r.eng.ClientState(mac); ok && st != proxy.Revoked && st != proxy.Denied {
		return // registering, bound or quarantined: nothing to learn
	}
	now := r.o.now()
	if _, ok := r.hints[mac]; !ok && len(r.hints) >= maxHints {
		for m, h := range r.hints {
			if !now.Before(h.until) {
				delete(r.hints, m)
			}
		}
		if len(r.hints) >= maxHints {
			return
		}
	}
	r.hints[mac] = neighbourHint{addr: nb.Addr, until: now.Add(hintTimeout)}
	if err := r.arp.Probe(nb.MAC, r.gateway, nb.Addr); err != nil {
		r.rl.Log(slog.LevelWarn, "arp", "cannot probe a client", "mac", mac, "err", err)
	}
}

// dhcpMessage hands one DHCP message from the link to the server.
func (r *proxyRunner) dhcpMessage(b []byte) {
	now := r.o.now()
	reply, ev := r.dhcp.HandleBytes(b, now)
	r.sendDHCP(reply)
	r.dhcpEvent(ev, now)
}

// dhcpEvent passes what the DHCP server learnt on to the engine.
func (r *proxyRunner) dhcpEvent(ev dhcpserve.Event, now time.Time) {
	mac, ok := proxy.MACFrom(ev.MAC)
	if !ok {
		return
	}
	switch ev.Kind {
	case dhcpserve.Attach:
		r.log.Debug("client asks for its address", "mac", mac)
		r.apply(r.eng.Attach(mac, now))
	case dhcpserve.Present:
		r.apply(r.eng.ClientPresent(mac, now))
	case dhcpserve.Continued:
		r.log.Debug("client continues its DHCP exchange", "mac", mac)
		r.apply(r.eng.Continued(mac, now))
	case dhcpserve.Release, dhcpserve.Decline, dhcpserve.LeaseExpired:
		r.apply(r.eng.Release(mac, "dhcp "+ev.Kind.String(), now))
	}
}

// sendDHCP sends the server's answer (nil: none).
func (r *proxyRunner) sendDHCP(m *dhcpv4.DHCPv4) {
	if m == nil {
		return
	}
	if err := r.conn.Send(m); err != nil {
		r.rl.Log(slog.LevelWarn, "dhcp", "cannot send a DHCP answer", "type", m.MessageType(), "err", err)
	}
}

// control handles a message from the home agent on the care-of address's
// port 434: a Registration Reply or a Registration Revocation.
func (r *proxyRunner) control(m dataplane.ControlMessage) {
	if len(m.Data) == 0 {
		return
	}
	now := r.o.now()
	switch wire.MsgType(m.Data[0]) {
	case wire.MsgRegistrationReply:
		r.apply(r.eng.HandleReply(m.Src, m.Data, now))
	case wire.MsgRevocation:
		r.apply(r.eng.HandleRevocation(m.Src, m.Data, now))
	default:
		r.rl.Log(slog.LevelDebug, "drop", "unexpected message from the uplink", "from", m.Src, "type", m.Data[0])
	}
}

// apply carries out the engine's decisions: requests to the home agent,
// presence probes on the link, and the clients' bindings in the data
// plane, the kernel and the DHCP server.
func (r *proxyRunner) apply(out proxy.Output) {
	for _, p := range out.Send {
		if err := r.plane.SendControl(dataplane.ControlMessage{Src: p.Src, Dst: p.Dst, Data: p.Data}); err != nil {
			r.rl.Log(slog.LevelWarn, "send", "cannot send to the home agent", "to", p.Dst, "err", err)
		}
	}
	for _, mac := range out.Probe {
		// Not r.bound: a revoked client is probed too (a move, or a MAC
		// conflict?), and it no longer has a binding.
		hoa, ok := r.eng.ProbeAddr(mac)
		if !ok {
			continue
		}
		if err := r.arp.Probe(net.HardwareAddr(mac[:]), r.gateway, hoa); err != nil {
			r.rl.Log(slog.LevelWarn, "arp", "cannot probe a client", "mac", mac, "err", err)
		}
	}
	now := r.o.now()
	changed := false // a binding came, went or was renewed: the state file follows
	for _, ev := range out.Events {
		b := ev.Binding
		changed = changed || ev.Kind == proxy.ClientBound || ev.Kind == proxy.ClientRenewed ||
			ev.Kind == proxy.ClientReleased || ev.Kind == proxy.ClientRevoked
		hw := net.HardwareAddr(b.MAC[:])
		switch ev.Kind {
		case proxy.ClientBound:
			if old, ok := r.bound[b.MAC]; ok && old.HomeAddr != b.HomeAddr {
				r.unserve(old)
			}
			r.bound[b.MAC] = b
			if err := r.serve(b); err != nil {
				r.log.Error("cannot serve a client", "mac", b.MAC, "home", b.HomeAddr, "err", err)
			}
			r.log.Info("client bound", "mac", b.MAC, "nai", b.NAI, "home", b.HomeAddr, "home_agent", b.HomeAgent,
				"udp", b.UDP, "lifetime", b.Lifetime)
			r.sendDHCP(r.dhcp.Ready(hw, now))
		case proxy.ClientRenewed:
			r.bound[b.MAC] = b
		case proxy.ClientDenied:
			r.log.Info("client refused", "mac", b.MAC, "nai", b.NAI, "code", int(ev.Code), "reason", ev.Reason)
			r.sendDHCP(r.dhcp.Fail(hw, now))
		case proxy.ClientReleased, proxy.ClientRevoked:
			if old, ok := r.bound[b.MAC]; ok {
				r.unserve(old)
				delete(r.bound, b.MAC)
			}
			r.dhcp.Forget(hw)
			r.log.Info("client "+ev.Kind.String(), "mac", b.MAC, "nai", b.NAI, "home", b.HomeAddr, "reason", ev.Reason)
		case proxy.ClientConflict:
			r.log.Warn("client's MAC registered elsewhere while it is still here", "mac", b.MAC, "nai", b.NAI, "decision", ev.Reason)
			if ev.Reason == "quarantine" {
				r.sendDHCP(r.dhcp.Fail(hw, now)) // a held REQUEST is NAKed
			}
		}
	}
	if changed {
		r.save()
	}
	if len(out.Events) > 0 {
		live := map[netip.Addr]time.Duration{}
		for _, b := range r.bound {
			if b.UDP {
				live[b.HomeAgent] = r.keepaliveEvery(b.HomeAgent)
			}
		}
		r.ka.set(live, now)
	}
}

// visitorOf is a client as the foreign agent data plane sees it.
func visitorOf(b proxy.Binding) fa.Visitor {
	return fa.Visitor{MAC: fa.MAC(b.MAC), HomeAddr: b.HomeAddr, HomeAgent: b.HomeAgent, UDP: b.UDP, ReverseTunnel: true,
		Keepalive: b.Keepalive, Lifetime: b.Lifetime}
}

// serve installs a client's delivery on the link and its tunnel.
func (r *proxyRunner) serve(b proxy.Binding) error {
	if err := r.clients.add(b.MAC, net.HardwareAddr(b.MAC[:]), b.HomeAddr, true); err != nil {
		return err
	}
	return r.plane.Apply(fa.Event{Kind: fa.VisitorAdded, Visitor: visitorOf(b)})
}

func (r *proxyRunner) unserve(b proxy.Binding) {
	r.clients.remove(b.MAC, b.HomeAddr)
	if err := r.plane.Apply(fa.Event{Kind: fa.VisitorRemoved, Visitor: visitorOf(b)}); err != nil {
		r.log.Error("data plane", "err", err)
	}
}

// keepaliveEvery is the shortest interval the home agent asked of this
// proxy's clients.
func (r *proxyRunner) keepaliveEvery(ha netip.Addr) time.Duration {
	d := time.Duration(0)
	for _, b := range r.bound {
		if b.HomeAgent == ha && b.UDP && b.Keepalive > 0 && (d == 0 || b.Keepalive < d) {
			d = b.Keepalive
		}
	}
	if d == 0 {
		d = keepaliveDefault
	}
	return d
}

func (r *proxyRunner) status() Status {
	now := r.o.now()
	return r.o.withEvents(Status{Role: "proxy", Version: r.o.Version, Started: r.started, UptimeSec: int64(now.Sub(r.started) / time.Second),
		Proxy: &ProxyStatus{Interface: r.c.Interface, Gateway: r.gateway, Proxy: r.eng.Status(now),
			Counters: r.eng.Counters.Snapshot(), DHCP: r.dhcp.Status(now), StateFile: r.state, StateSaved: r.saved},
		DataPlane: r.plane.Status()})
}

// restore takes back the clients a previous run saved (proxy.Engine
// Restore): served at once, each confirmed before it is registered again.
func (r *proxyRunner) restore() {
	b, err := os.ReadFile(r.state)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var s proxy.Saved
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		r.log.Warn("state file unreadable; starting with no clients", "state", r.state, "err", err)
		return
	}
	out, n := r.eng.Restore(s, r.o.now())
	r.log.Info("clients restored from the last run", "restored", n, "saved", len(s.Clients), "state", r.state)
	r.apply(out)
}

// save writes the client table (no keys in it) to the state file.
func (r *proxyRunner) save() {
	b, err := json.Marshal(r.eng.Save())
	if err == nil {
		if err = os.MkdirAll(filepath.Dir(r.state), 0o700); err == nil {
			err = atomicfile.Write(r.state, b, 0o600)
		}
	}
	if err != nil {
		r.rl.Log(slog.LevelWarn, "state", "cannot save the client table", "state", r.state, "err", err)
		return
	}
	r.saved = r.o.now()
}
