package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/bpfplane"
	"github.com/mip4d/mip4d/agent/config"
	"github.com/mip4d/mip4d/agent/dataplane"
	"github.com/mip4d/mip4d/agent/fa"
	"github.com/mip4d/mip4d/agent/netconf"
	"github.com/mip4d/mip4d/agent/wire"
)

// faTable is the policy routing table mobile nodes' reverse-tunnelled
// traffic takes at a foreign agent or proxy (a default route into the
// agent's TUN device); rule faRulePrio per node sends what arrives on the
// link from its home address there (RFC 3024 §4.2).
const (
	faTable    = 151
	faRulePrio = 300
)

// linkDelivery installs and removes what serves mobile nodes on a link —
// a foreign agent's visitors, a proxy's clients: each home address routed
// onto the link with a permanent neighbour entry (the MAC from the
// registration or the DHCP exchange: no ARP for it, RFC 5944 §4.6), and,
// with reverse tunnelling, the rule that sends what the node sends into
// the TUN device. Several registrations may share a home address (RFC
// 5265 §3.5 parallel registrations); the last one out removes it.
type linkDelivery struct {
	nc        *netconf.Net
	link      string
	installed map[netip.Addr]*delivery
}

type delivery struct {
	mac     net.HardwareAddr
	reverse bool
	keys    map[any]bool
}

func newLinkDelivery(nc *netconf.Net, link string) *linkDelivery {
	return &linkDelivery{nc: nc, link: link, installed: map[netip.Addr]*delivery{}}
}

// add serves hoa at mac for the registration key.
func (l *linkDelivery) add(key any, mac net.HardwareAddr, hoa netip.Addr, reverse bool) error {
	d := l.installed[hoa]
	if d == nil {
		d = &delivery{keys: map[any]bool{}}
		l.installed[hoa] = d
	}
	d.keys[key] = true
	if d.mac.String() != mac.String() {
		if err := l.nc.SetNeighbor(l.link, hoa, mac); err != nil {
			return err
		}
		if err := l.nc.ReplaceRoute(netconf.Route{Dst: netip.PrefixFrom(hoa, 32), Dev: l.link}); err != nil {
			return err
		}
		d.mac = mac
	}
	if reverse && !d.reverse {
		if err := l.nc.AddRule(l.rule(hoa)); err != nil {
			return err
		}
		d.reverse = true
	}
	return nil
}

func (l *linkDelivery) rule(hoa netip.Addr) netconf.Rule {
	return netconf.Rule{Src: netip.PrefixFrom(hoa, 32), IIf: l.link, Table: faTable, Priority: faRulePrio}
}

// remove drops registration key of hoa, and hoa's delivery with its last.
func (l *linkDelivery) remove(key any, hoa netip.Addr) {
	d := l.installed[hoa]
	if d == nil {
		return
	}
	delete(d.keys, key)
	if len(d.keys) == 0 {
		l.drop(hoa, d)
	}
}

func (l *linkDelivery) drop(hoa netip.Addr, d *delivery) {
	if d.reverse {
		_ = l.nc.DelRule(l.rule(hoa))
	}
	_ = l.nc.DelRoute(netconf.Route{Dst: netip.PrefixFrom(hoa, 32), Dev: l.link})
	_ = l.nc.DelNeighbor(l.link, hoa)
	delete(l.installed, hoa)
}

// removeAll removes every delivery (shutdown).
func (l *linkDelivery) removeAll() {
	for hoa, d := range l.installed {
		l.drop(hoa, d)
	}
}

// keepalives schedules RFC 3519 §4.9 keepalives toward each home agent
// an agent has UDP tunnels with (a foreign agent or proxy behind a NAT).
type keepalives map[netip.Addr]time.Time

// keepaliveDefault is the interval toward a home agent that gave none
// (RFC 3519 §4.9: 110 s).
const keepaliveDefault = 110 * time.Second

// set keeps exactly the home agents of live (with their intervals)
// scheduled; a new one first fires one interval from now.
func (k keepalives) set(live map[netip.Addr]time.Duration, now time.Time) {
	for ha := range k {
		if _, ok := live[ha]; !ok {
			delete(k, ha)
		}
	}
	for ha, every := range live {
		if _, ok := k[ha]; !ok {
			k[ha] = now.Add(every)
		}
	}
}

// due returns the home agents whose keepalive is due and schedules their
// next one.
func (k keepalives) due(now time.Time, every func(netip.Addr) time.Duration) []netip.Addr {
	var out []netip.Addr
	for ha, at := range k {
		if !now.Before(at) {
			out = append(out, ha)
			k[ha] = now.Add(every(ha))
		}
	}
	return out
}

// next is the earliest keepalive (zero: none).
func (k keepalives) next() time.Time {
	var t time.Time
	for _, at := range k {
		if t.IsZero() || at.Before(t) {
			t = at
		}
	}
	return t
}

// earliest is the earliest non-zero time of ts (zero: none).
func earliest(ts ...time.Time) time.Time {
	var t time.Time
	for _, x := range ts {
		if !x.IsZero() && (t.IsZero() || x.Before(t)) {
			t = x
		}
	}
	return t
}

// uplinkAddress is an agent's care-of address: the configured one, or
// the primary address of the uplink (the default route's interface when
// none is named).
func uplinkAddress(nc *netconf.Net, uplink string, configured netip.Addr) (netip.Addr, error) {
	if configured.IsValid() {
		return configured, nil
	}
	if uplink == "" {
		rt, ok, err := nc.DefaultRoute()
		if err != nil || !ok {
			return netip.Addr{}, errors.New("no default route, so no uplink to take the care-of address from (set uplink or care_of)")
		}
		uplink = rt.Dev
	}
	as, err := nc.Addrs(uplink)
	if err != nil || len(as) == 0 {
		return netip.Addr{}, fmt.Errorf("uplink %s has no IPv4 address for the care-of address", uplink)
	}
	return as[0].Addr(), nil
}

// openFAPlane opens the data plane a foreign agent or proxy serves its
// mobile nodes with: the TUN device, the UDP port 434 on the care-of
// address (shared with signalling to home agents; bound to that address,
// so requests to the link address, taken from the link socket, do not
// arrive here too), raw IP-in-IP; and the table reverse-tunnelled
// traffic takes into the TUN device. close undoes it all.
func openFAPlane(ctx context.Context, c *config.Config, nc *netconf.Net, log *slog.Logger, coa netip.Addr, tunName string, mtu int) (plane *faPlane, close func(), err error) {
	dpc := dataplane.FAConfig{CareOf: coa, Options: dataplane.Options{PathMTU: mtu}}
	tun, err := dataplane.OpenTUN(tunName, dpc.DeviceMTU(false))
	if err != nil {
		return nil, nil, fmt.Errorf("TUN device %s: %w", tunName, err)
	}
	var conns dataplane.HAConns
	closeAll := func() {
		tun.Close()
		for _, c := range []dataplane.Conn{conns.UDP, conns.IPIP} {
			if c != nil {
				c.Close()
			}
		}
	}
	if conns.UDP, err = dataplane.ListenUDP(netip.AddrPortFrom(coa, wire.Port)); err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("UDP %v:%d: %w", coa, wire.Port, err)
	}
	if conns.IPIP, err = dataplane.ListenRaw(wire.ProtoIPIP, coa); err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("IP-in-IP socket: %w", err)
	}
	user, err := dataplane.NewFA(dpc, tun, conns)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	plane = &faPlane{FA: user, coa: coa}
	if err := netconf.Sysctl("net.ipv4.conf."+tunName+".rp_filter", "0"); err != nil {
		log.Warn("cannot turn off rp_filter on the TUN device", "err", err)
	}
	def := netconf.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Dev: tunName, Table: faTable}
	if err := nc.ReplaceRoute(def); err != nil {
		plane.Close()
		return nil, nil, fmt.Errorf("reverse tunnel table: %w", err)
	}
	plane.accel = openAccel(ctx, c.DataPlane, log, bpfplane.Config{Role: bpfplane.RoleFA, Local: coa, Port: wire.Port,
		TUN: tunName, PathMTU: mtu})
	return plane, func() {
		plane.accel.close()
		_ = nc.DelRoute(def)
		plane.Close()
	}, nil
}

// faPlane is a foreign agent's or proxy's data plane: the userspace plane,
// with the kernel plane in front when it runs.
type faPlane struct {
	*dataplane.FA
	accel *accel
	coa   netip.Addr
}

// Apply gives the visitor changes to both planes, the userspace one first
// (what the kernel plane leaves to it must find them there).
func (p *faPlane) Apply(evs ...fa.Event) error {
	err := p.FA.Apply(evs...)
	p.accel.apply(bpfplane.FAChanges(p.coa, evs))
	return err
}

// Status is the data plane part of the daemon's status.
func (p *faPlane) Status() json.RawMessage { return p.accel.status(p.FA.Stats()) }

// openNetconf opens netlink for the daemon's namespace with its change
// notifications on the returned channel.
func openNetconf(ctx context.Context) (*netconf.Net, chan netconf.Change, error) {
	nc, err := netconf.New()
	if err != nil {
		return nil, nil, err
	}
	changes := make(chan netconf.Change, 64)
	if err := nc.Watch(ctx, changes); err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, changes, nil
}

// waitAddresses calls get until it succeeds: the addresses a hotspot
// daemon needs may come a little after it at boot (DHCP on the uplink).
// It tries again on every address change and every 5 s, saying (rate
// limited) what is missing; false when ctx ended first.
func waitAddresses(ctx context.Context, rl *rateLog, changes <-chan netconf.Change, what string, get func() error) bool {
	for {
		err := get()
		if err == nil {
			return true
		}
		rl.Log(slog.LevelWarn, "addresses", what, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-changes:
		case <-time.After(5 * time.Second):
		}
	}
}
