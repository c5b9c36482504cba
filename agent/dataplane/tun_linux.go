package dataplane

import (
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TUN is a Linux TUN device (IFF_TUN|IFF_NO_PI: each read and write is one
// bare IP datagram), opened non-blocking so Go's poller waits for it and
// Close unblocks readers.
type TUN struct {
	f     *os.File
	rc    syscall.RawConn
	name  string
	index int
	mtu   int

	// ReadBatch state, for the bound callback.
	rmu    sync.Mutex
	rbufs  [][]byte
	rsizes []int
	rn     int
	rerr   unix.Errno
	readFn func(fd uintptr) bool
}

const tunClonePath = "/dev/net/tun"

// OpenTUN creates (or attaches to) the TUN device name, sets its MTU and
// brings it up. It also sets two per-device sysctls, best effort:
// accept_local=1, because the ICMP errors the plane writes into the device
// come from one of the host's own addresses (the tunnel entry point, RFC
// 2003 §5.1) and the kernel would otherwise drop them as martians; and
// disable_ipv6=1, so the kernel does not send IPv6 router solicitations
// into an IPv4 tunnel. It needs CAP_NET_ADMIN.
func OpenTUN(name string, mtu int) (*TUN, error) {
	fd, err := unix.Open(tunClonePath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dataplane: open %s: %w", tunClonePath, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("dataplane: TUN name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("dataplane: TUNSETIFF %q: %w", name, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	t := &TUN{f: os.NewFile(uintptr(fd), tunClonePath), name: ifr.Name()}
	t.readFn = t.readBatch
	if t.rc, err = t.f.SyscallConn(); err != nil {
		t.f.Close()
		return nil, err
	}
	// The index by ioctl rather than a netlink link dump, which qemu-user
	// mistranslates on big-endian MIPS (LAB-NOTES.md).
	if t.index, err = ifIndex(t.name); err != nil {
		t.f.Close()
		return nil, err
	}
	for _, s := range [][2]string{
		{"/proc/sys/net/ipv4/conf/" + t.name + "/accept_local", "1"},
		{"/proc/sys/net/ipv6/conf/" + t.name + "/disable_ipv6", "1"},
	} {
		_ = os.WriteFile(s[0], []byte(s[1]), 0o644)
	}
	if mtu > 0 {
		if err := t.SetMTU(mtu); err != nil {
			t.f.Close()
			return nil, err
		}
	} else if t.mtu, err = ifMTU(t.name); err != nil {
		t.f.Close()
		return nil, err
	}
	if err := t.SetUp(true); err != nil {
		t.f.Close()
		return nil, err
	}
	return t, nil
}

func ifIndex(name string) (int, error) {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("dataplane: SIOCGIFINDEX %s: %w", name, err)
	}
	return int(ifr.Uint32()), nil
}

func ifMTU(name string) (int, error) {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFMTU, ifr); err != nil {
		return 0, fmt.Errorf("dataplane: SIOCGIFMTU %s: %w", name, err)
	}
	return int(ifr.Uint32()), nil
}

// link names the device to netlink by index only (RTM_NEWLINK needs no
// dump).
func (t *TUN) link() netlink.Link {
	return &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Index: t.index, Name: t.name}}
}

// Name is the interface name the kernel gave the device.
func (t *TUN) Name() string { return t.name }

// Index is the interface index.
func (t *TUN) Index() int { return t.index }

// MTU is the MTU last set.
func (t *TUN) MTU() int { return t.mtu }

// SetMTU sets the device MTU (netlink).
func (t *TUN) SetMTU(mtu int) error {
	if err := netlink.LinkSetMTU(t.link(), mtu); err != nil {
		return fmt.Errorf("dataplane: set MTU of %s to %d: %w", t.name, mtu, err)
	}
	t.mtu = mtu
	return nil
}

// SetUp brings the device up or down (netlink).
func (t *TUN) SetUp(up bool) error {
	var err error
	if up {
		err = netlink.LinkSetUp(t.link())
	} else {
		err = netlink.LinkSetDown(t.link())
	}
	if err != nil {
		return fmt.Errorf("dataplane: set %s up=%v: %w", t.name, up, err)
	}
	return nil
}

// Read reads one datagram.
func (t *TUN) Read(b []byte) (int, error) { return t.f.Read(b) }

// Write writes one datagram.
func (t *TUN) Write(b []byte) (int, error) { return t.f.Write(b) }

// ReadBatch implements BatchReader: it waits for one datagram, then takes
// every other one already queued, up to len(bufs), without waiting again.
func (t *TUN) ReadBatch(bufs [][]byte, sizes []int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	t.rmu.Lock()
	defer t.rmu.Unlock()
	t.rbufs, t.rsizes, t.rn, t.rerr = bufs, sizes, 0, 0
	err := t.rc.Read(t.readFn)
	n := t.rn
	t.rbufs, t.rsizes = nil, nil
	if err != nil {
		return n, err
	}
	if t.rerr != 0 && n == 0 {
		return 0, os.NewSyscallError("read", t.rerr)
	}
	return n, nil
}

func (t *TUN) readBatch(fd uintptr) bool {
	for t.rn < len(t.rbufs) {
		n, err := unix.Read(int(fd), t.rbufs[t.rn])
		if err != nil {
			// A type assertion: x/sys returns bare Errno values, and
			// errors.As would allocate on every EAGAIN.
			if e, ok := err.(unix.Errno); ok {
				switch e {
				case unix.EINTR:
					continue
				case unix.EAGAIN:
					return t.rn > 0
				}
				t.rerr = e
			} else {
				t.rerr = unix.EIO
			}
			return true
		}
		t.rsizes[t.rn] = n
		t.rn++
	}
	return true
}

// Close closes the device; blocked readers return. The kernel deletes the
// interface when its last descriptor closes (it is not persistent).
func (t *TUN) Close() error { return t.f.Close() }
