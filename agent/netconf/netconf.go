// Package netconf is mip4d's netlink glue: interface addresses, routes,
// proxy ARP entries, gratuitous ARP and link/address change notifications,
// on Linux. Role engines never touch it; the daemon applies their decisions
// through it.
//
// A Net works on one network namespace: the daemon's own (New) or another
// one (At), which is how the privileged tests and the lab drive namespaces
// without moving threads between them.
package netconf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Net configures one network namespace.
type Net struct {
	h  *netlink.Handle
	ns netns.NsHandle // for subscriptions; -1 (None) means the current one
	// The watchers' goroutines use h: Close stops them (closed) and waits
	// for them (watchers) before it closes h.
	closed   chan struct{}
	watchers sync.WaitGroup
}

// New returns a Net for the calling process's namespace.
func New() (*Net, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netconf: %w", err)
	}
	return &Net{h: h, ns: netns.None(), closed: make(chan struct{})}, nil
}

// At returns a Net for namespace ns (a handle from netns.GetFromName, say).
func At(ns netns.NsHandle) (*Net, error) {
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netconf: %w", err)
	}
	return &Net{h: h, ns: ns, closed: make(chan struct{})}, nil
}

// Close stops the watchers (Watch, WatchNeighbors) and releases the
// netlink sockets. Call it once.
func (n *Net) Close() {
	close(n.closed)
	n.watchers.Wait()
	n.h.Close()
}

func (n *Net) link(dev string) (netlink.Link, error) {
	l, err := n.h.LinkByName(dev)
	if err != nil {
		return nil, fmt.Errorf("netconf: interface %s: %w", dev, err)
	}
	return l, nil
}

// LinkIndex returns an interface's index.
func (n *Net) LinkIndex(dev string) (int, error) {
	l, err := n.link(dev)
	if err != nil {
		return 0, err
	}
	return l.Attrs().Index, nil
}

// LinkUp sets an interface up.
func (n *Net) LinkUp(dev string) error {
	l, err := n.link(dev)
	if err != nil {
		return err
	}
	return n.h.LinkSetUp(l)
}

// SetMTU sets an interface's MTU.
func (n *Net) SetMTU(dev string, mtu int) error {
	l, err := n.link(dev)
	if err != nil {
		return err
	}
	return n.h.LinkSetMTU(l, mtu)
}

// HardwareAddr returns an interface's MAC address.
func (n *Net) HardwareAddr(dev string) (net.HardwareAddr, error) {
	l, err := n.link(dev)
	if err != nil {
		return nil, err
	}
	return l.Attrs().HardwareAddr, nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) netip.Prefix {
	a, _ := netip.AddrFromSlice(n.IP)
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones)
}

// SetHardwareAddr gives dev the MAC address mac.
func (n *Net) SetHardwareAddr(dev string, mac net.HardwareAddr) error {
	l, err := n.link(dev)
	if err != nil {
		return err
	}
	if l.Attrs().HardwareAddr.String() == mac.String() {
		return nil
	}
	return n.h.LinkSetHardwareAddr(l, mac)
}

// ReplaceAddr puts address p on dev (no error if it is already there).
func (n *Net) ReplaceAddr(dev string, p netip.Prefix) error {
	l, err := n.link(dev)
	if err != nil {
		return err
	}
	return n.h.AddrReplace(l, &netlink.Addr{IPNet: ipNet(p)})
}

// DelAddr removes address p from dev (no error if it is not there).
func (n *Net) DelAddr(dev string, p netip.Prefix) error {
	l, err := n.link(dev)
	if err != nil {
		return err
	}
	err = n.h.AddrDel(l, &netlink.Addr{IPNet: ipNet(p)})
	if errors.Is(err, unix.EADDRNOTAVAIL) {
		return nil
	}
	return err
}

// Addrs lists the IPv4 addresses on dev, primary first (as the kernel
// lists them).
func (n *Net) Addrs(dev string) ([]netip.Prefix, error) {
	l, err := n.link(dev)
	if err != nil {
		return nil, err
	}
	as, err := n.h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, 0, len(as))
	for _, a := range as {
		out = append(out, prefixOf(a.IPNet))
	}
	return out, nil
}

// Route is an IPv4 route.
type Route struct {
	Dst    netip.Prefix
	Dev    string     // output interface (optional with Gw)
	Gw     netip.Addr // next hop (optional)
	Src    netip.Addr // preferred source (optional)
	Table  int        // 0: main
	Metric int
	// OnLink: the gateway is on the link although no address of ours
	// covers it (a mobile node using its home address on a foreign link).
	OnLink bool
	// Type is the route type; zero is a normal (unicast) route.
	Type int
}

// RouteThrow is a route type: a lookup that hits it fails in this table,
// so policy routing goes on to the next rule.
const RouteThrow = unix.RTN_THROW

func (n *Net) toNL(r Route) (*netlink.Route, error) {
	nr := &netlink.Route{Dst: ipNet(r.Dst), Table: r.Table, Priority: r.Metric}
	if r.Dev != "" {
		l, err := n.link(r.Dev)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex = l.Attrs().Index
	}
	if r.Gw.IsValid() {
		nr.Gw = r.Gw.AsSlice()
	}
	if r.OnLink {
		nr.Flags |= int(netlink.FLAG_ONLINK)
	}
	if r.Type != 0 {
		nr.Type = r.Type
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	return nr, nil
}

// ReplaceRoute installs r, replacing a route to the same destination.
func (n *Net) ReplaceRoute(r Route) error {
	nr, err := n.toNL(r)
	if err != nil {
		return err
	}
	if err := n.h.RouteReplace(nr); err != nil {
		return fmt.Errorf("netconf: route %v: %w", r.Dst, err)
	}
	return nil
}

// DelRoute removes r (no error if it is not there).
func (n *Net) DelRoute(r Route) error {
	nr, err := n.toNL(r)
	if err != nil {
		return err
	}
	err = n.h.RouteDel(nr)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

// DefaultRoute returns the main table's IPv4 default route.
func (n *Net) DefaultRoute() (Route, bool, error) {
	rs, err := n.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return Route{}, false, err
	}
	for _, r := range rs {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue // 0.0.0.0/1 is not a default route
			}
		}
		out := Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Metric: r.Priority}
		if gw, ok := netip.AddrFromSlice(r.Gw); ok {
			out.Gw = gw.Unmap()
		}
		if l, err := n.h.LinkByIndex(r.LinkIndex); err == nil {
			out.Dev = l.Attrs().Name
		}
		return out, true, nil
	}
	return Route{}, false, nil
}

// RouteGet asks the kernel which route it would use to reach dst.
func (n *Net) RouteGet(dst netip.Addr) (Route, error) {
	rs, err := n.h.RouteGet(dst.AsSlice())
	if err != nil || len(rs) == 0 {
		return Route{}, fmt.Errorf("netconf: no route to %v: %v", dst, err)
	}
	r := rs[0]
	out := Route{Dst: netip.PrefixFrom(dst, 32)}
	if gw, ok := netip.AddrFromSlice(r.Gw); ok {
		out.Gw = gw.Unmap()
	}
	if src, ok := netip.AddrFromSlice(r.Src); ok {
		out.Src = src.Unmap()
	}
	if l, err := n.h.LinkByIndex(r.LinkIndex); err == nil {
		out.Dev = l.Attrs().Name
	}
	return out, nil
}

// AddProxyARP makes the kernel answer ARP requests for addr on dev with
// dev's own MAC address (a proxy neighbour entry): how a home agent
// intercepts traffic for a mobile node that is away (RFC 5944 §4.6).
func (n *Net) AddProxyARP(dev string, addr netip.Addr) error {
	l, err := n.link(dev)
	if err != nil {
		return err
	}
	return n.h.NeighSet(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4,
		Flags: netlink.NTF_PROXY, IP: addr.AsSlice()})
}

// DelProxyARP removes the proxy entry for addr.
func (n *Net) DelProxyARP(dev string, addr netip.Addr) error {
	l, err := n.link(dev)
	if err != nil {
		return err
	}
	err = n.h.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4,
		Flags: netlink.NTF_PROXY, IP: addr.AsSlice()})
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// ProxyARPs lists the proxy neighbour entries on dev.
func (n *Net) ProxyARPs(dev string) ([]netip.Addr, error) {
	l, err := n.link(dev)
	if err != nil {
		return nil, err
	}
	ns, err := n.h.NeighProxyList(l.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, e := range ns {
		if a, ok := netip.AddrFromSlice(e.IP); ok {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

// Change is a link, address or route change in the namespace. It only says that
// something changed on an interface; the daemon then reads the state it
// cares about (the current care-of address), which keeps it correct even
// when notifications are merged or lost.
type Change struct {
	Dev   string
	Index int
	Addr  netip.Prefix // the address added or removed, if an address event
	Up    bool         // for link events: the link is up with carrier
	Link  bool         // a link event
	Route bool         // a route event; Addr is its destination (invalid for a default route)
	New   bool         // address or route added (false: removed)
}

// Watch reports link, address and route changes on ch until ctx ends. It returns
// once the subscriptions are in place. (Each kind comes from a netlink
// socket of its own, so no order holds between kinds.)
func (n *Net) Watch(ctx context.Context, ch chan<- Change) error {
	addrs := make(chan netlink.AddrUpdate, 64)
	links := make(chan netlink.LinkUpdate, 64)
	routes := make(chan netlink.RouteUpdate, 64)
	addrDone, linkDone, routeDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	errf := func(error) {}
	if err := netlink.AddrSubscribeWithOptions(addrs, addrDone, netlink.AddrSubscribeOptions{Namespace: n.nsPtr(), ErrorCallback: errf}); err != nil {
		close(addrDone)
		return fmt.Errorf("netconf: address notifications: %w", err)
	}
	if err := netlink.LinkSubscribeWithOptions(links, linkDone, netlink.LinkSubscribeOptions{Namespace: n.nsPtr(), ErrorCallback: errf}); err != nil {
		close(addrDone)
		close(linkDone)
		return fmt.Errorf("netconf: link notifications: %w", err)
	}
	if err := netlink.RouteSubscribeWithOptions(routes, routeDone, netlink.RouteSubscribeOptions{Namespace: n.nsPtr(), ErrorCallback: errf}); err != nil {
		close(addrDone)
		close(linkDone)
		close(routeDone)
		return fmt.Errorf("netconf: route notifications: %w", err)
	}
	watch(n, ctx, addrDone, addrs, func(u netlink.AddrUpdate) {
		c := Change{Index: u.LinkIndex, Addr: prefixOf(&u.LinkAddress), New: u.NewAddr}
		if l, err := n.h.LinkByIndex(u.LinkIndex); err == nil {
			c.Dev = l.Attrs().Name
		}
		n.send(ctx, ch, c)
	})
	watch(n, ctx, linkDone, links, func(u netlink.LinkUpdate) {
		a := u.Link.Attrs()
		up := a.Flags&net.FlagUp != 0 && a.OperState != netlink.OperDown && a.OperState != netlink.OperLowerLayerDown
		n.send(ctx, ch, Change{Dev: a.Name, Index: a.Index, Link: true, Up: up})
	})
	watch(n, ctx, routeDone, routes, func(u netlink.RouteUpdate) {
		c := Change{Index: u.LinkIndex, Route: true, New: u.Type == unix.RTM_NEWROUTE}
		if u.Dst != nil {
			c.Addr = prefixOf(u.Dst)
		}
		n.send(ctx, ch, c)
	})
	return nil
}

// watch runs one watcher goroutine: every update from in goes to handle
// until ctx ends, Close is called or in closes; then done is closed, which
// ends the netlink subscription behind in. Close waits for it.
func watch[T any](n *Net, ctx context.Context, done chan struct{}, in <-chan T, handle func(T)) {
	n.watchers.Add(1)
	go func() {
		defer n.watchers.Done()
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-n.closed:
				return
			case u, ok := <-in:
				if !ok {
					return
				}
				handle(u)
			}
		}
	}()
}

// Neighbor is a neighbour (ARP) entry learnt or refreshed on a link: a
// host at Addr with MAC, seen by the kernel (an ARP request or reply from
// it). Entries that say nothing about the host being there — permanent
// ones (ours), incomplete or failed resolutions, deletions — are not
// reported.
type Neighbor struct {
	Dev  string
	Addr netip.Addr
	MAC  net.HardwareAddr
}

// WatchNeighbors reports IPv4 neighbour entries learnt on dev (see
// Neighbor) on ch until ctx ends. It returns once the subscription is in
// place. A full channel drops the event: neighbours are hints.
func (n *Net) WatchNeighbors(ctx context.Context, dev string, ch chan<- Neighbor) error {
	l, err := n.h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("netconf: %s: %w", dev, err)
	}
	index := l.Attrs().Index
	updates := make(chan netlink.NeighUpdate, 64)
	done := make(chan struct{})
	if err := netlink.NeighSubscribeWithOptions(updates, done, netlink.NeighSubscribeOptions{Namespace: n.nsPtr(),
		ErrorCallback: func(error) {}}); err != nil {
		close(done)
		return fmt.Errorf("netconf: neighbour notifications: %w", err)
	}
	watch(n, ctx, done, updates, func(u netlink.NeighUpdate) {
		if nb, ok := learnt(u, index); ok {
			nb.Dev = dev
			select {
			case ch <- nb:
			default:
			}
		}
	})
	return nil
}

// learnt turns a neighbour notification on link index into a Neighbor,
// if it says a host is there.
func learnt(u netlink.NeighUpdate, index int) (Neighbor, bool) {
	const there = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE
	if u.Type != unix.RTM_NEWNEIGH || u.LinkIndex != index || u.Family != netlink.FAMILY_V4 || u.State&there == 0 ||
		u.State&(netlink.NUD_PERMANENT|netlink.NUD_NOARP) != 0 || len(u.HardwareAddr) != 6 {
		return Neighbor{}, false
	}
	a, ok := netip.AddrFromSlice(u.IP.To4())
	if !ok || a.IsUnspecified() {
		return Neighbor{}, false
	}
	return Neighbor{Addr: a, MAC: append(net.HardwareAddr(nil), u.HardwareAddr...)}, true
}

func (n *Net) send(ctx context.Context, ch chan<- Change, c Change) {
	select {
	case ch <- c:
	case <-ctx.Done():
	case <-n.closed:
	}
}

func (n *Net) nsPtr() *netns.NsHandle {
	if n.ns == netns.None() {
		return nil
	}
	ns := n.ns
	return &ns
}

// Sysctl sets a sysctl of the calling process's namespace, e.g.
// Sysctl("net.ipv4.ip_forward", "1").
func Sysctl(key, value string) error {
	p := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("netconf: sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// SetNeighbor installs a permanent neighbour entry: addr is at mac on dev.
// A foreign agent uses it to deliver to a visitor without ARP (RFC 5944
// §4.6: the agent must not ARP for a visitor's home address).
func (n *Net) SetNeighbor(dev string, addr netip.Addr, mac net.HardwareAddr) error {
	l, err := n.link(dev)
	if err != nil {
		return err
	}
	return n.h.NeighSet(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4,
		State: netlink.NUD_PERMANENT, IP: addr.AsSlice(), HardwareAddr: mac})
}

// DelNeighbor removes the neighbour entry for addr (no error if absent).
func (n *Net) DelNeighbor(dev string, addr netip.Addr) error {
	l, err := n.link(dev)
	if err != nil {
		return err
	}
	err = n.h.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4, IP: addr.AsSlice()})
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// Rule is a policy routing rule: packets from Src to Dst arriving on IIf
// use Table (zero fields match everything).
type Rule struct {
	Src      netip.Prefix
	Dst      netip.Prefix
	IIf      string
	Table    int
	Priority int
}

func (r Rule) toNL() *netlink.Rule {
	nr := netlink.NewRule()
	nr.Src = ipNet(r.Src)
	nr.Dst = ipNet(r.Dst)
	nr.IifName = r.IIf
	nr.Table = r.Table
	nr.Priority = r.Priority
	nr.Family = netlink.FAMILY_V4
	return nr
}

// AddRule installs r (no error if an identical rule exists).
func (n *Net) AddRule(r Rule) error {
	err := n.h.RuleAdd(r.toNL())
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// DelRule removes r (no error if absent).
func (n *Net) DelRule(r Rule) error {
	err := n.h.RuleDel(r.toNL())
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}
