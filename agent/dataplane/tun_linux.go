package dataplane

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TUN is a Linux TUN device (IFF_TUN|IFF_NO_PI: each read and write is one
// bare IP datagram), opened non-blocking so Go's poller waits for it and
// Close unblocks readers.
//
// Unless offloads are disabled (MIP4D_OFFLOAD=0) or the kernel refuses
// them, it is opened with IFF_VNET_HDR and TUNSETOFFLOAD
// TUN_F_CSUM|TUN_F_TSO4 (and TUN_F_USO4|TUN_F_USO6 from Linux 6.2; there
// is no IPv6 on the device), like wireguard-go's: the kernel then hands
// over TCP (and UDP) super-packets
// of up to 64 KiB and leaves checksums to us. ReadBatch cuts them into the
// datagrams they stand for and completes partial checksums, so that its
// callers still see one plain datagram per buffer; WriteBatch gathers
// consecutive TCP segments of a flow into one super-packet per write
// (GRO). [TUN.Offloads] says what was negotiated.
type TUN struct {
	f     *os.File
	rc    syscall.RawConn
	name  string
	index int
	mtu   int
	off   TUNOffloads
	gro   atomic.Bool // WriteBatch coalesces; cleared if the kernel refuses a super-packet
	stats offloadCounters

	// ReadBatch state, for the bound callback.
	rmu     sync.Mutex
	rbufs   [][]byte
	rsizes  []int
	rn      int
	rerr    unix.Errno
	readFn  func(fd uintptr) bool
	frame   []byte    // with IFF_VNET_HDR: one read, the virtio_net_hdr and a datagram
	seg     segmenter // the super-packet being cut, across calls
	one     [1][]byte // for Read
	oneSize [1]int

	// Write state, for the bound callback.
	wmu     sync.Mutex
	iov     []unix.Iovec
	niov    int
	werr    unix.Errno
	writeFn func(fd uintptr) bool
	superFn func(n int) error     // writes a super-packet: writeIovecs (a seam for tests)
	plain   [virtioNetHdrLen]byte // all zero: no offload
	vh      [virtioNetHdrLen]byte
	co      coalescer
	saved   [ipv4HeaderLen + 60]byte // the head of a group as it was
}

// TUNOffloads is what a TUN device negotiated with the kernel.
type TUNOffloads struct {
	// VnetHdr: IFF_VNET_HDR, a virtio_net_hdr before every datagram.
	VnetHdr bool
	// TSO: TUN_F_CSUM|TUN_F_TSO4, TCP super-packets and partial
	// checksums are read (and cut and completed by ReadBatch).
	TSO bool
	// USO: TUN_F_USO4, UDP super-packets too.
	USO bool
	// GRO: WriteBatch coalesces TCP segments into super-packets.
	GRO bool
}

// OffloadStats counts what a TUN device's offloads did.
type OffloadStats struct {
	SuperPacketsIn  int64 `json:"super_packets_in"`  // super-packets read
	SegmentsIn      int64 `json:"segments_in"`       // datagrams cut from them
	SuperPacketsOut int64 `json:"super_packets_out"` // super-packets written
	SegmentsOut     int64 `json:"segments_out"`      // datagrams gathered into them
}

type offloadCounters struct {
	superIn, segsIn, superOut, segsOut atomic.Int64
}

// OffloadStats copies the offload counters.
func (t *TUN) OffloadStats() OffloadStats {
	c := &t.stats
	return OffloadStats{c.superIn.Load(), c.segsIn.Load(), c.superOut.Load(), c.segsOut.Load()}
}

const tunClonePath = "/dev/net/tun"

// OffloadEnv is the environment variable that turns the offloads of OpenTUN
// and ListenUDP off when set to 0 (or "off", "false").
const OffloadEnv = "MIP4D_OFFLOAD"

func offloadWanted() bool {
	switch os.Getenv(OffloadEnv) {
	case "0", "off", "false", "no":
		return false
	}
	return true
}

// OpenTUN creates (or attaches to) the TUN device name, sets its MTU and
// brings it up, with the offloads the kernel accepts (see [TUN]). It also
// sets two per-device sysctls, best effort: accept_local=1, because the
// ICMP errors the plane writes into the device come from one of the
// host's own addresses (the tunnel entry point, RFC 2003 §5.1) and the
// kernel would otherwise drop them as martians; and disable_ipv6=1, so the
// kernel does not send IPv6 router solicitations into an IPv4 tunnel. It
// needs CAP_NET_ADMIN.
func OpenTUN(name string, mtu int) (*TUN, error) { return openTUN(name, mtu, offloadWanted()) }

func openTUN(name string, mtu int, offload bool) (*TUN, error) {
	fd, ifname, off, err := tunAttach(name, offload)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	t := &TUN{f: os.NewFile(uintptr(fd), tunClonePath), name: ifname, off: off}
	t.gro.Store(off.GRO)
	t.readFn = t.readBatch
	t.writeFn = t.writev
	t.superFn = t.writeIovecs
	t.iov = make([]unix.Iovec, maxCoalesce+1)
	if off.VnetHdr {
		t.frame = make([]byte, virtioNetHdrLen+maxSuperPacket)
		t.readFn = t.readVnet
	}
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

// tunAttach opens the clone device and attaches the descriptor to the
// device name. With offload it asks for IFF_VNET_HDR and then for
// TUN_F_CSUM|TUN_F_TSO4|TUN_F_USO4|TUN_F_USO6, or without USO (before
// Linux 6.2); if the kernel refuses either, it starts again without, as a
// plain IFF_TUN|IFF_NO_PI device.
func tunAttach(name string, offload bool) (int, string, TUNOffloads, error) {
	if offload {
		fd, ifname, err := tunSetIFF(name, unix.IFF_VNET_HDR)
		if err == nil {
			off := TUNOffloads{VnetHdr: true, TSO: true, USO: true, GRO: true}
			if unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunFCsum|tunFTSO4|tunFUSO4|tunFUSO6) != nil {
				off.USO = false
				if unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunFCsum|tunFTSO4) != nil {
					off.TSO = false
				}
			}
			if off.TSO {
				return fd, ifname, off, nil
			}
			unix.Close(fd)
		}
	}
	fd, ifname, err := tunSetIFF(name, 0)
	return fd, ifname, TUNOffloads{}, err
}

func tunSetIFF(name string, flags uint16) (int, string, error) {
	fd, err := unix.Open(tunClonePath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("dataplane: open %s: %w", tunClonePath, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("dataplane: TUN name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("dataplane: TUNSETIFF %q: %w", name, err)
	}
	return fd, ifr.Name(), nil
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

func (t *TUN) offloading() bool { return t.off.TSO || t.gro.Load() }

// Offloads says which offloads the device negotiated.
func (t *TUN) Offloads() TUNOffloads {
	o := t.off
	o.GRO = t.gro.Load()
	return o
}

// Read reads one datagram (a segment of a super-packet with offloads).
func (t *TUN) Read(b []byte) (int, error) {
	if !t.off.VnetHdr {
		return t.f.Read(b)
	}
	t.rmu.Lock()
	defer t.rmu.Unlock()
	t.one[0] = b
	for {
		n, err := t.readBatchLocked(t.one[:], t.oneSize[:])
		if err != nil {
			t.one[0] = nil
			return 0, err
		}
		if n == 1 && t.oneSize[0] >= 0 {
			t.one[0] = nil
			return t.oneSize[0], nil
		}
	}
}

// ReadBatch implements BatchReader: it waits for one datagram, then takes
// every other one already queued, up to len(bufs), without waiting again.
// With offloads, a super-packet fills as many buffers as it has segments;
// what does not fit is returned by the next call, before anything else is
// read. A size of -1 marks a datagram read but discarded because its
// virtio_net_hdr or its super-packet does not parse.
func (t *TUN) ReadBatch(bufs [][]byte, sizes []int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	t.rmu.Lock()
	defer t.rmu.Unlock()
	return t.readBatchLocked(bufs, sizes)
}

func (t *TUN) readBatchLocked(bufs [][]byte, sizes []int) (int, error) {
	t.rbufs, t.rsizes, t.rn, t.rerr = bufs, sizes, 0, 0
	t.drain() // segments left from the last call need no wait
	var err error
	if t.rn < len(bufs) {
		err = t.rc.Read(t.readFn)
	}
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

// readBatch reads plain datagrams, one per buffer.
func (t *TUN) readBatch(fd uintptr) bool {
	for t.rn < len(t.rbufs) {
		n, e := rawRead(fd, t.rbufs[t.rn])
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return t.readFailed(e)
		}
		t.rsizes[t.rn] = n
		t.rn++
	}
	return true
}

// readFailed records a failed read and says whether the callback is done
// (false: let the poller wait).
func (t *TUN) readFailed(e unix.Errno) bool {
	if e == unix.EAGAIN {
		return t.rn > 0
	}
	t.rerr = e
	return true
}

// rawRead is read(2) as a raw system call. The data path's descriptors are
// non-blocking, so its calls return at once (EAGAIN rather than wait) and
// need not hand their P to another thread the way syscall.Syscall lets
// the scheduler do after 20 µs, which a TUN write or a sendmmsg that
// carries 64 KiB through the kernel's stack often takes: that handoff and
// the thread wake-ups it brings cost more CPU per megabyte than anything
// but the copies (BenchmarkTunnelTCP, cpu-µs/MB).
func rawRead(fd uintptr, b []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	return int(r), e
}

// readVnet reads with IFF_VNET_HDR: each read is a virtio_net_hdr and a
// datagram or super-packet, which is cut into the buffers. A super-packet
// that does not fit the buffers left waits for the next call rather than
// straddle two batches: a batch then ends where a super-packet does, and
// its segments leave in as few UDP_SEGMENT messages as they can.
func (t *TUN) readVnet(fd uintptr) bool {
	for t.drain(); t.rn < len(t.rbufs); t.drain() {
		n, e := rawRead(fd, t.frame)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return t.readFailed(e)
		}
		t.takeFrame(t.frame[:n])
		if t.rn > 0 && t.seg.left() > len(t.rbufs)-t.rn {
			return true
		}
	}
	return true
}

// drain hands out what is left of a super-packet, as far as the buffers
// go.
func (t *TUN) drain() {
	cut := 0
	for t.seg.more() && t.rn < len(t.rbufs) {
		n := t.seg.next(t.rbufs[t.rn])
		if n == 0 {
			n = -1
		} else {
			cut++
		}
		t.rsizes[t.rn] = n
		t.rn++
	}
	if cut > 0 {
		t.stats.segsIn.Add(int64(cut))
	}
}

// takeFrame hands one read of a device with IFF_VNET_HDR to the next
// buffer, or to the segmenter.
func (t *TUN) takeFrame(frame []byte) {
	size, super := readFrame(frame, t.rbufs[t.rn], &t.seg)
	if super {
		t.stats.superIn.Add(1)
		return // readVnet cuts it
	}
	t.rsizes[t.rn] = size
	t.rn++
}

// Write writes one datagram.
func (t *TUN) Write(b []byte) (int, error) {
	if !t.off.VnetHdr {
		return t.f.Write(b)
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if err := t.writePlain(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// WriteBatch implements BatchWriter. With GRO, the TCP segments of a flow
// that continue each other in sequence (and pass every check of
// coalescer.next, their checksums included) go out as one super-packet
// with a VIRTIO_NET_HDR_GSO_TCPV4 header, which the kernel routes as such
// and cuts again only if it must; everything else is written as it is.
// The first datagram of each group is rewritten in place.
func (t *TUN) WriteBatch(pkts [][]byte) error {
	if !t.off.VnetHdr {
		return writeEach(t.f.Write, pkts)
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if !t.gro.Load() {
		return writeEach(t.writePlainN, pkts)
	}
	t.co.reset(len(pkts))
	var first error
	for i := range pkts {
		if t.co.written(i) {
			continue
		}
		err := t.writeGroup(pkts, t.co.next(pkts, i))
		if err == nil {
			continue
		}
		if first == nil {
			first = err
		}
		if isClosed(err) {
			for j := i + 1; j < len(pkts); j++ {
				if !t.co.written(j) {
					pkts[j] = nil
				}
			}
			break
		}
	}
	return first
}

// writeEach writes the datagrams one by one, setting to nil those that
// fail, and returns the first error. A closed device fails the rest.
func writeEach(write func([]byte) (int, error), pkts [][]byte) error {
	var first error
	for i, p := range pkts {
		if p == nil {
			continue
		}
		if _, err := write(p); err != nil {
			pkts[i] = nil
			if first == nil {
				first = err
			}
			if isClosed(err) {
				clear(pkts[i:])
				break
			}
		}
	}
	return first
}

func (t *TUN) writePlainN(b []byte) (int, error) { return len(b), t.writePlain(b) }

// writePlain writes one datagram after a virtio_net_hdr saying nothing.
func (t *TUN) writePlain(b []byte) error {
	setIovec(&t.iov[0], t.plain[:])
	setIovec(&t.iov[1], b)
	return t.writeIovecs(2)
}

// writeGroup writes the datagrams of g as one super-packet (or the one
// datagram), setting to nil in pkts those that did not go out. If the
// kernel refuses the super-packet, the head is restored and they go out
// one by one, and coalescing stays off if the refusal was for the
// offload itself (EINVAL).
func (t *TUN) writeGroup(pkts [][]byte, g []int) error {
	if len(g) == 1 {
		err := t.writePlain(pkts[g[0]])
		if err != nil {
			pkts[g[0]] = nil
		}
		return err
	}
	head := pkts[g[0]]
	hdrs := ipv4HeaderLen + int(head[ipv4HeaderLen+12]>>4)*4
	copy(t.saved[:hdrs], head)
	var vh virtioNetHdr
	merge(pkts, g, &vh)
	vh.encode(t.vh[:])
	setIovec(&t.iov[0], t.vh[:])
	setIovec(&t.iov[1], head)
	for k, j := range g[1:] {
		setIovec(&t.iov[k+2], pkts[j][hdrs:])
	}
	err := t.superFn(len(g) + 1)
	if err == nil {
		t.stats.superOut.Add(1)
		t.stats.segsOut.Add(int64(len(g)))
		return nil
	}
	if isClosed(err) {
		for _, j := range g {
			pkts[j] = nil
		}
		return err
	}
	if t.werr == unix.EINVAL {
		t.gro.Store(false)
	}
	copy(head, t.saved[:hdrs])
	var first error
	for _, j := range g {
		if err := t.writePlain(pkts[j]); err != nil {
			pkts[j] = nil
			if first == nil {
				first = err
			}
		}
	}
	return first
}

func setIovec(iov *unix.Iovec, b []byte) {
	iov.Base = unsafe.SliceData(b)
	iov.SetLen(len(b))
}

// writeIovecs writes the first n iovecs as one datagram (writev).
func (t *TUN) writeIovecs(n int) error {
	t.niov, t.werr = n, 0
	err := t.rc.Write(t.writeFn)
	for i := range n {
		t.iov[i] = unix.Iovec{}
	}
	if err != nil {
		return err
	}
	if t.werr != 0 {
		return os.NewSyscallError("writev", t.werr)
	}
	return nil
}

func (t *TUN) writev(fd uintptr) bool {
	for {
		_, _, e := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&t.iov[0])), uintptr(t.niov)) // see rawRead
		switch e {
		case 0:
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		t.werr = e
		return true
	}
}

// Close closes the device; blocked readers return. The kernel deletes the
// interface when its last descriptor closes (it is not persistent).
func (t *TUN) Close() error { return t.f.Close() }
