package dataplane

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
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
type SocketConn struct {
	pc    net.PacketConn
	rc    syscall.RawConn
	udp   bool
	local netip.AddrPort

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

	// Arguments and results of the call in progress, so that the bound
	// callbacks need no closure.
	off, cnt int
	n        int
	errno    unix.Errno
	fn       func(fd uintptr) bool
}

// oobSpace is the control buffer per message: one IP_PKTINFO.
var oobSpace = unix.CmsgSpace(unix.SizeofInet4Pktinfo)

func (s *mmsgState) grow(n int) {
	if len(s.hdrs) >= n {
		return
	}
	s.hdrs = make([]mmsghdr, n)
	s.iovs = make([]unix.Iovec, n)
	s.names = make([]unix.RawSockaddrInet4, n)
	s.oob = make([]byte, n*oobSpace)
}

// ListenUDP opens the Mobile IP UDP socket bound to laddr (0.0.0.0:434 on
// a home agent so that requests sent to a broadcast address arrive too; a
// mobile node's registration socket on its own port). It asks for
// IP_PKTINFO so every datagram carries its header destination address.
func ListenUDP(laddr netip.AddrPort) (*SocketConn, error) {
	uc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(laddr))
	if err != nil {
		return nil, err
	}
	c, err := newSocketConn(uc, true, func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
	})
	if err != nil {
		uc.Close()
		return nil, err
	}
	c.local = uc.LocalAddr().(*net.UDPAddr).AddrPort()
	return c, nil
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
const socketBuffer = 1 << 20

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
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(s.cnt), 0, 0, 0)
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
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[s.off])), uintptr(s.cnt-s.off), 0, 0, 0)
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
		m.Local = netip.Addr{}
		if c.udp {
			m.Local = pktinfoDst(s.oob[i*oobSpace : i*oobSpace+int(h.hdr.Controllen)])
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
	for i := range msgs {
		m := &msgs[i]
		iov := &s.iovs[i]
		iov.Base = unsafe.SliceData(m.Buf)
		iov.SetLen(len(m.Buf))
		putSockaddr(&s.names[i], m.Addr)
		h := &s.hdrs[i]
		h.n = 0
		h.hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&s.names[i])), Namelen: unix.SizeofSockaddrInet4, Iov: iov}
		h.hdr.SetIovlen(1)
		if c.udp && m.Local.IsValid() {
			oob := s.oob[i*oobSpace : (i+1)*oobSpace]
			putPktinfoSrc(oob, m.Local)
			h.hdr.Control = &oob[0]
			h.hdr.SetControllen(oobSpace)
		}
	}
	sent := 0
	for sent < len(msgs) {
		s.off, s.cnt, s.n, s.errno = sent, len(msgs), 0, 0
		if err := c.rc.Write(s.fn); err != nil {
			return sent, err
		}
		if s.errno != 0 {
			return sent, os.NewSyscallError("sendmmsg", s.errno)
		}
		sent += s.n
	}
	return sent, nil
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

// pktinfoDst returns ipi_addr of the IP_PKTINFO message in oob: the
// destination address in the datagram's IP header (ip(7)).
func pktinfoDst(oob []byte) netip.Addr {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		if h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && l >= unix.CmsgLen(unix.SizeofInet4Pktinfo) {
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			return netip.AddrFrom4(pi.Addr)
		}
		l = unix.CmsgSpace(l - unix.CmsgLen(0))
		if l > len(oob) {
			break
		}
		oob = oob[l:]
	}
	return netip.Addr{}
}

// putPktinfoSrc writes an IP_PKTINFO message asking for source address
// src (ipi_spec_dst, ip(7)) into oob, which has oobSpace octets.
func putPktinfoSrc(oob []byte, src netip.Addr) {
	clear(oob)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.IPPROTO_IP
	h.Type = unix.IP_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
	pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
	pi.Spec_dst = src.Unmap().As4()
}
