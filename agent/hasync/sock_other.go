//go:build !linux

package hasync

import (
	"context"
	"net"
	"net/netip"
	"time"
)

func listen(ctx context.Context, a netip.AddrPort) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp4", a.String())
}

func dial(ctx context.Context, local netip.Addr, peer netip.AddrPort) (net.Conn, error) {
	d := net.Dialer{Timeout: time.Second}
	if local.IsValid() && !local.IsUnspecified() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	return d.DialContext(ctx, "tcp4", peer.String())
}
