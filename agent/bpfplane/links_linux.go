package bpfplane

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// link is what the plane needs to know of an interface.
type link struct {
	name     string
	index    int
	ethernet bool // an Ethernet-style link-layer header in front of IP
	loopback bool
}

func linkOf(l netlink.Link) link {
	a := l.Attrs()
	return link{name: a.Name, index: a.Index, ethernet: a.EncapType == "ether", loopback: a.EncapType == "loopback"}
}

func linkByName(name string) (link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return link{}, fmt.Errorf("interface %s: %w", name, err)
	}
	return linkOf(l), nil
}

func listLinks() ([]link, error) {
	ls, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	out := make([]link, 0, len(ls))
	for _, l := range ls {
		out = append(out, linkOf(l))
	}
	return out, nil
}

// routeOIF asks the kernel which interface it routes dst on, from local
// (0 when there is no route).
func routeOIF(dst, local netip.Addr) uint32 {
	opt := &netlink.RouteGetOptions{}
	if local.IsValid() {
		opt.SrcAddr = local.AsSlice()
	}
	rs, err := netlink.RouteGetWithOptions(dst.AsSlice(), opt)
	if err != nil && local.IsValid() {
		// Our address may not be configured (yet): route without it.
		rs, err = netlink.RouteGet(dst.AsSlice())
	}
	if err != nil || len(rs) == 0 {
		return 0
	}
	return uint32(rs[0].LinkIndex)
}

func closeFD(fd int) { _ = unix.Close(fd) }

// raiseMemlock lifts RLIMIT_MEMLOCK, which kernels before 5.11 charge BPF
// maps and programs against (later ones use the memory cgroup).
func raiseMemlock() {
	_ = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY})
}
