package hasync

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// freebind lets a socket bind an address that is not (yet) on an
// interface: a home agent starts while its addresses come up (IP_FREEBIND).
func freebind(_, _ string, rc syscall.RawConn) error {
	var err error
	if cerr := rc.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_FREEBIND, 1)
	}); cerr != nil {
		return cerr
	}
	return err
}

func listen(ctx context.Context, a netip.AddrPort) (net.Listener, error) {
	lc := net.ListenConfig{Control: freebind}
	return lc.Listen(ctx, "tcp4", a.String())
}

func dial(ctx context.Context, local netip.Addr, peer netip.AddrPort) (net.Conn, error) {
	d := net.Dialer{Timeout: time.Second, Control: freebind}
	if local.IsValid() && !local.IsUnspecified() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	return d.DialContext(ctx, "tcp4", peer.String())
}
