package dataplane

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SocketConn is a Linux datagram socket with recvmmsg/sendmmsg batch I/O
// and no allocation per datagram: it keeps one preallocated set of
// mmsghdrs, iovecs, sockaddrs and control buffers for reading and one for
// writing, and drives the system calls through syscall.RawConn with method
// values bound once, so Go's poller still does the waiting and Close still
// unblocks a reader.
//
// (golang.org/x/net/ipv4's PacketConn.ReadBatch does the same system call
// but turns every source sockaddr into a fresh *net.UDPAddr or *net.IPAddr:
// two allocations per datagram, measured by BenchmarkLoopbackBatch.)
//
// A UDP SocketConn sends with UDP generic segmentation offload (UDP_SEGMENT,
// Linux 4.18) when the kernel offers it and offloads are not disabled
// (MIP4D_OFFLOAD=0): consecutive messages of a batch to the same
// destination from the same source, all of one size but the last (which
// may be shorter), go out as one message with their buffers as its
// iovecs, which the kernel routes (and NATs) as one and cuts into the
// datagrams at the last moment, or never when the receiving host takes
// super-packets. If the kernel refuses such a message it is sent datagram
// by datagram, and after EIO (no checksum offload on the route, IPsec)
// the socket stops asking. A plane turns UDP_GRO on for its reader
// (enableGRO, Linux 5.0): the kernel then delivers such runs (and what a
// NIC's GRO gathers) as one message, [Msg.Seg] saying where to cut.
type SocketConn struct {
	pc    net.PacketConn
	rc    syscall.RawConn
	udp   bool
	local netip.AddrPort
	gso   atomic.Bool
	groOK bool        // offloads wanted: enableGRO may turn UDP_GRO on
	groOn atomic.Bool // UDP_GRO is on: messages may hold several datagrams (Msg.Seg)

	rmu, wmu sync.Mutex
	r, w     mmsgState
}

// mmsghdr is struct mmsghdr of <sys/socket.h>. Go pads it as C does: to 64
// octets on 64-bit targets, 32 on 32-bit ones.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// mmsgState is the scratch of one direction of a SocketConn.
type mmsgState struct {
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4
	oob   []byte
	segs  []int // messages per header (UDP_SEGMENT)

	// Arguments and results of the call in progress, so that the bound
	// callbacks need no closure.
	off, cnt int
	n        int
	errno    unix.Errno
	fn       func(fd uintptr) bool
}

// oobSpace is the control buffer per message: one IP_PKTINFO and one
// UDP_SEGMENT.
var oobSpace = unix.CmsgSpace(unix.SizeofInet4Pktinfo) + unix.CmsgSpace(4)

func (s *mmsgState) grow(n int) {
	if len(s.hdrs) >= n {
		return
	}
	s.hdrs = make([]mmsghdr, n)
	s.iovs = make([]unix.Iovec, n)
	s.names = make([]unix.RawSockaddrInet4, n)
	s.oob = make([]byte, n*oobSpace)
	s.segs = make([]int, n)
}

// ListenUDP opens the Mobile IP UDP socket bound to laddr (0.0.0.0:434 on
// a home agent so that requests sent to a broadcast address arrive too; a
// mobile node's registration socket on its own port). It asks for
// IP_PKTINFO so every datagram carries its header destination address.
func ListenUDP(laddr netip.AddrPort) (*SocketConn, error) { return listenUDP(laddr, offloadWanted()) }

func listenUDP(laddr netip.AddrPort, offload bool) (*SocketConn, error) {
	uc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(laddr))
	if err != nil {
		return nil, err
	}
	gso := false
	c, err := newSocketConn(uc, true, func(fd int) error {
		if offload {
			// A kernel that knows UDP_SEGMENT answers for it
			// (Linux 4.18).
			_, e := unix.GetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT)
			gso = e == nil
		}
		return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
	})
	if err != nil {
		uc.Close()
		return nil, err
	}
	c.gso.Store(gso)
	c.groOK = offload
	c.local = uc.LocalAddr().(*net.UDPAddr).AddrPort()
	return c, nil
}

// GSO reports whether the socket sends with UDP_SEGMENT.
func (c *SocketConn) GSO() bool { return c.gso.Load() }

// GRO reports whether the socket receives with UDP_GRO (see groReader):
// then one message may hold several datagrams of one sender back to back
// ([Msg.Seg]), up to maxSuperPacket octets.
func (c *SocketConn) GRO() bool { return c.groOn.Load() }

// enableGRO turns UDP_GRO on (Linux 5.0), unless offloads are off for the
// socket, and reports whether it is on. A plane asks for it when it gives
// the socket's reader buffers big enough; until then every message is one
// datagram.
func (c *SocketConn) enableGRO() bool {
	if !c.udp || !c.groOK {
		return false
	}
	var err error
	if cerr := c.rc.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1)
	}); cerr != nil || err != nil {
		return false
	}
	c.groOn.Store(true)
	return true
}

// ListenRaw opens a raw IPv4 socket of protocol proto (4 for IP in IP, 47
// for GRE) bound to laddr (invalid or 0.0.0.0: every local address). It
// receives every datagram of that protocol addressed to the host, with its
// IPv4 header, and sends with IP_HDRINCL. It needs CAP_NET_RAW.
func ListenRaw(proto int, laddr netip.Addr) (*SocketConn, error) {
	addr := "0.0.0.0"
	if laddr.IsValid() {
		addr = laddr.String()
	}
	pc, err := net.ListenPacket("ip4:"+strconv.Itoa(proto), addr)
	if err != nil {
		return nil, err
	}
	c, err := newSocketConn(pc, false, func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1)
	})
	if err != nil {
		pc.Close()
		return nil, err
	}
	if laddr.IsValid() {
		c.local = netip.AddrPortFrom(laddr, 0)
	}
	return c, nil
}

// socketBuffer is the send and receive buffer asked for (best effort; as
// root SO_*BUFFORCE passes net.core.[rw]mem_max).
const socketBuffer = 4 << 20

func newSocketConn(pc net.PacketConn, udp bool, setup func(fd int) error) (*SocketConn, error) {
	sc, ok := pc.(syscall.Conn)
	if !ok {
		return nil, errors.New("dataplane: socket offers no syscall.RawConn")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = setup(int(fd))
		for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], socketBuffer) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], socketBuffer)
			}
		}
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, os.NewSyscallError("setsockopt", serr)
	}
	c := &SocketConn{pc: pc, rc: rc, udp: udp}
	c.r.fn = c.r.recvmmsg
	c.w.fn = c.w.sendmmsg
	return c, nil
}

// LocalAddr is the address the socket is bound to (the port the kernel
// chose when bound to port 0).
func (c *SocketConn) LocalAddr() netip.AddrPort { return c.local }

// Close closes the socket; a blocked ReadBatch returns.
func (c *SocketConn) Close() error { return c.pc.Close() }

func (s *mmsgState) recvmmsg(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(s.cnt), 0, 0, 0) // see rawRead
		switch e {
		case 0:
			s.n = int(r)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // let the poller wait
		}
		s.errno = e
		return true
	}
}

func (s *mmsgState) sendmmsg(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[s.off])), uintptr(s.cnt-s.off), 0, 0, 0) // see rawRead
		switch e {
		case 0:
			s.n = int(r)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		s.errno = e
		return true
	}
}

// ReadBatch implements Conn.
func (c *SocketConn) ReadBatch(msgs []Msg) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	s := &c.r
	s.grow(len(msgs))
	for i := range msgs {
		b := msgs[i].Buf
		iov := &s.iovs[i]
		iov.Base = unsafe.SliceData(b)
		iov.SetLen(len(b))
		h := &s.hdrs[i]
		h.n = 0
		h.hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&s.names[i])), Namelen: unix.SizeofSockaddrInet4, Iov: iov}
		h.hdr.SetIovlen(1)
		if c.udp {
			h.hdr.Control = &s.oob[i*oobSpace]
			h.hdr.SetControllen(oobSpace)
		}
	}
	s.cnt, s.n, s.errno = len(msgs), 0, 0
	if err := c.rc.Read(s.fn); err != nil {
		return 0, err
	}
	if s.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", s.errno)
	}
	for i := 0; i < s.n; i++ {
		m, h := &msgs[i], &s.hdrs[i]
		m.N = int(h.n)
		m.Truncated = h.hdr.Flags&unix.MSG_TRUNC != 0
		m.Addr = addrPortOf(&s.names[i])
		m.Local, m.Seg = netip.Addr{}, 0
		if c.udp {
			m.Local, m.Seg = parseOOB(s.oob[i*oobSpace : i*oobSpace+int(h.hdr.Controllen)])
		}
	}
	return s.n, nil
}

// WriteBatch implements Conn.
func (c *SocketConn) WriteBatch(msgs []Msg) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	s := &c.w
	s.grow(len(msgs))
	gso := c.udp && c.gso.Load()
	nh := c.prepareWrite(msgs, gso)
	sent := 0
	for h := 0; h < nh; {
		s.off, s.cnt, s.n, s.errno = h, nh, 0, 0
		if err := c.rc.Write(s.fn); err != nil {
			return sent, err
		}
		for _, k := range s.segs[h : h+s.n] {
			sent += k
		}
		h += s.n
		if s.errno == 0 {
			continue
		}
		if s.segs[h] == 1 {
			return sent, os.NewSyscallError("sendmmsg", s.errno)
		}
		// The kernel refused a segmented message: send the rest
		// datagram by datagram, and for good after EIO.
		if s.errno == unix.EIO {
			c.gso.Store(false)
		}
		nh, h = c.prepareWrite(msgs[sent:], false), 0
	}
	return sent, nil
}

// prepareWrite fills the write headers for msgs and returns how many
// there are: one per message, or with gso one per run of messages that
// UDP_SEGMENT can send as one.
func (c *SocketConn) prepareWrite(msgs []Msg, gso bool) int {
	s := &c.w
	nh := 0
	for i := 0; i < len(msgs); nh++ {
		m := &msgs[i]
		k := 1
		if gso {
			k = gsoRun(msgs[i:])
		}
		for j := range k {
			iov := &s.iovs[i+j]
			iov.Base = unsafe.SliceData(msgs[i+j].Buf)
			iov.SetLen(len(msgs[i+j].Buf))
		}
		putSockaddr(&s.names[nh], m.Addr)
		h := &s.hdrs[nh]
		h.n = 0
		h.hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&s.names[nh])), Namelen: unix.SizeofSockaddrInet4, Iov: &s.iovs[i]}
		h.hdr.SetIovlen(k)
		oob := s.oob[nh*oobSpace : (nh+1)*oobSpace]
		ol := 0
		if c.udp && m.Local.IsValid() {
			ol = putPktinfoSrc(oob, m.Local)
		}
		if k > 1 {
			ol += putSegment(oob[ol:], len(m.Buf))
		}
		if ol > 0 {
			h.hdr.Control = &oob[0]
			h.hdr.SetControllen(ol)
		}
		s.segs[nh] = k
		i += k
	}
	return nh
}

// gsoRun returns how many messages from the start of msgs one UDP_SEGMENT
// message can carry: the same destination and source, the size of the
// first (the segment size) for all but the last, which may be shorter,
// within the kernel's limits.
func gsoRun(msgs []Msg) int {
	m := &msgs[0]
	size, total := len(m.Buf), len(m.Buf)
	if size == 0 {
		return 1
	}
	k := 1
	for k < len(msgs) && k < maxGSOSegments {
		q := &msgs[k]
		if q.Addr != m.Addr || q.Local != m.Local || len(q.Buf) == 0 || len(q.Buf) > size || total+len(q.Buf) > maxGSOPayload {
			break
		}
		k++
		total += len(q.Buf)
		if len(q.Buf) < size {
			break
		}
	}
	return k
}

// addrPortOf reads a struct sockaddr_in (port in network byte order).
func addrPortOf(sa *unix.RawSockaddrInet4) netip.AddrPort {
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
}

func putSockaddr(sa *unix.RawSockaddrInet4, ap netip.AddrPort) {
	sa.Family = unix.AF_INET
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(ap.Port()>>8), byte(ap.Port())
	sa.Addr = ap.Addr().Unmap().As4()
	sa.Zero = [8]uint8{}
}

// parseOOB returns from the control messages in oob ipi_addr of
// IP_PKTINFO, the destination address in the datagram's IP header (ip(7)),
// and the segment size of UDP_GRO (udp(7)), 0 if there is none.
func parseOOB(oob []byte) (dst netip.Addr, seg int) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && l >= unix.CmsgLen(unix.SizeofInet4Pktinfo):
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			dst = netip.AddrFrom4(pi.Addr)
		case h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && l >= unix.CmsgLen(4):
			seg = int(*(*int32)(unsafe.Pointer(&oob[unix.CmsgLen(0)])))
		}
		l = unix.CmsgSpace(l - unix.CmsgLen(0))
		if l > len(oob) {
			break
		}
		oob = oob[l:]
	}
	return dst, max(seg, 0)
}

// putPktinfoSrc writes an IP_PKTINFO message asking for source address
// src (ipi_spec_dst, ip(7)) at the start of oob and returns its space.
func putPktinfoSrc(oob []byte, src netip.Addr) int {
	n := unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	clear(oob[:n])
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.IPPROTO_IP
	h.Type = unix.IP_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
	pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
	pi.Spec_dst = src.Unmap().As4()
	return n
}

// putSegment writes a UDP_SEGMENT message (udp(7): the segment size, a
// 16-bit integer) at the start of oob and returns its space.
func putSegment(oob []byte, size int) int {
	n := unix.CmsgSpace(2)
	clear(oob[:n])
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&oob[unix.CmsgLen(0)])) = uint16(size)
	return n
}
