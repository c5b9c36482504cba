package bpfplane

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Attaching programs with tc: a clsact qdisc on the interface and a
// cls_bpf filter in direct-action mode on its ingress or egress hook, as
// `tc qdisc add dev X clsact; tc filter add dev X ingress bpf da fd N`
// does (net/sched/sch_ingress.c, net/sched/cls_bpf.c). The requests are
// built with netlink's nl package, which the daemon links anyway, rather
// than with netlink.QdiscReplace/FilterReplace: those pull in every
// qdisc, filter and action codec, 200 KB a router does not need.

// Hook is where on an interface a program runs.
type Hook uint32

// The clsact hooks (TC_H_MIN_INGRESS, TC_H_MIN_EGRESS).
const (
	Ingress Hook = 0xfff2
	Egress  Hook = 0xfff3
)

func (h Hook) String() string {
	if h == Egress {
		return "egress"
	}
	return "ingress"
}

const (
	tcClsact      = 0xffff0000 // TC_H_MAKE(TC_H_CLSACT, 0): the clsact qdisc's handle
	tcParentClsct = 0xfffffff1 // TC_H_CLSACT
	// mip4d's filters sit at one priority and handle on every hook, so a
	// restart replaces what a crashed daemon left, and removing them
	// touches nobody else's.
	filterPrio   = 0xd4d4 // "mip4d"-ish, well away from tc's default 49152
	filterHandle = 0x434
)

func tcMsg(ifindex int, parent, handle, info uint32) *nl.TcMsg {
	return &nl.TcMsg{Family: unix.AF_UNSPEC, Ifindex: int32(ifindex), Parent: parent, Handle: handle, Info: info}
}

// ensureClsact adds a clsact qdisc to the interface unless it has one.
func ensureClsact(ifindex int) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWQDISC, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddData(tcMsg(ifindex, tcParentClsct, tcClsact, 0))
	req.AddData(nl.NewRtAttr(nl.TCA_KIND, nl.ZeroTerminated("clsact")))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clsact qdisc on interface %d: %w", ifindex, err)
	}
	return nil
}

// filterInfo is tcm_info of a filter: priority in the upper half,
// protocol (ETH_P_ALL, network order) in the lower.
func filterInfo() uint32 {
	return filterPrio<<16 | uint32(htons(unix.ETH_P_ALL))
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// attach runs program fd (called name, for `tc filter show`) on hook h of
// the interface, replacing mip4d's filter there if one is left.
func attach(ifindex int, h Hook, fd int, name string) error {
	if err := ensureClsact(ifindex); err != nil {
		return err
	}
	req := nl.NewNetlinkRequest(unix.RTM_NEWTFILTER, unix.NLM_F_CREATE|unix.NLM_F_REPLACE|unix.NLM_F_ACK)
	req.AddData(tcMsg(ifindex, tcClsact|uint32(h), filterHandle, filterInfo()))
	req.AddData(nl.NewRtAttr(nl.TCA_KIND, nl.ZeroTerminated("bpf")))
	opts := nl.NewRtAttr(nl.TCA_OPTIONS, nil)
	opts.AddRtAttr(nl.TCA_BPF_FD, nl.Uint32Attr(uint32(fd)))
	opts.AddRtAttr(nl.TCA_BPF_NAME, nl.ZeroTerminated(name))
	opts.AddRtAttr(nl.TCA_BPF_FLAGS, nl.Uint32Attr(nl.TCA_BPF_FLAG_ACT_DIRECT))
	req.AddData(opts)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("bpf filter %s on interface %d %s: %w", name, ifindex, h, err)
	}
	return nil
}

// detach removes mip4d's filter from hook h of the interface; a filter
// that is not there (or an interface that went away) is not an error.
func detach(ifindex int, h Hook) error {
	req := nl.NewNetlinkRequest(unix.RTM_DELTFILTER, unix.NLM_F_ACK)
	req.AddData(tcMsg(ifindex, tcClsact|uint32(h), filterHandle, filterInfo()))
	req.AddData(nl.NewRtAttr(nl.TCA_KIND, nl.ZeroTerminated("bpf")))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	switch {
	case err == nil, errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENODEV), errors.Is(err, unix.EINVAL):
		// EINVAL: no clsact qdisc, so no filter of ours either.
		return nil
	}
	return fmt.Errorf("removing bpf filter from interface %d %s: %w", ifindex, h, err)
}
