package dhcpserve

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
)

// Conn is the socket edge: UDP port 67 bound to one interface
// (SO_BINDTODEVICE, broadcast allowed), from server4. It only moves
// bytes; the daemon's loop hands them to Server.HandleBytes and sends the
// replies with Send.
type Conn struct {
	c   *net.UDPConn
	ctr *Counters
}

// Listen opens the server socket on ifname. ctr (may be nil) receives the
// edge's counters (sent, send errors, queue drops), usually
// &server.Counters.
func Listen(ifname string, ctr *Counters) (*Conn, error) {
	c, err := server4.NewIPv4UDPConn(ifname, &net.UDPAddr{Port: dhcpv4.ServerPort})
	if err != nil {
		return nil, err
	}
	if ctr == nil {
		ctr = &Counters{}
	}
	return &Conn{c: c, ctr: ctr}, nil
}

// maxDatagram is larger than any DHCP message a client sends on Ethernet
// (576 minimum, 1500 in practice).
const maxDatagram = 1500

// Run is the one reader goroutine of the socket: it reads datagrams until
// ctx ends or the socket is closed and puts a copy of each on out. When
// the daemon falls behind the datagram is dropped and counted — a flood
// never grows memory.
func (c *Conn) Run(ctx context.Context, out chan<- []byte) error {
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, maxDatagram)
	for {
		n, _, err := c.c.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		select {
		case out <- append([]byte(nil), buf[:n]...):
		default:
			c.ctr.QueueDrops.Add(1)
		}
	}
}

// Send writes a reply to its Destination.
func (c *Conn) Send(m *dhcpv4.DHCPv4) error {
	if m == nil {
		return nil
	}
	dst := Destination(m)
	_, err := c.c.WriteToUDPAddrPort(m.ToBytes(), netip.AddrPortFrom(dst.Addr(), dst.Port()))
	if err != nil {
		c.ctr.SendErrors.Add(1)
		return err
	}
	c.ctr.Sent.Add(1)
	return nil
}

// Close closes the socket; Run returns.
func (c *Conn) Close() error { return c.c.Close() }
