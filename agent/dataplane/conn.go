package dataplane

import "net/netip"

// Msg is one datagram of a batch.
type Msg struct {
	// Buf is, on receive, the space to fill (its length is the most that
	// is read) and, on send, the datagram to send.
	Buf []byte
	// N is the number of octets received into Buf.
	N int
	// Addr is the remote address: the source of a received datagram and
	// the destination of a sent one. Raw sockets use port 0.
	Addr netip.AddrPort
	// Local is, on receive, the destination address of the datagram's IP
	// header (IP_PKTINFO; a broadcast address when it was broadcast) and,
	// on send, the source address to use when valid (UDP only; raw
	// sockets send the source written in the header).
	Local netip.Addr
	// Truncated reports that the datagram was larger than Buf.
	Truncated bool
	// Seg is, on receive from a socket with UDP GRO, the size of the
	// datagrams of one sender that Buf[:N] holds back to back (the last
	// may be shorter); 0 when it holds one datagram.
	Seg int
}

// Conn is a datagram socket with batch-shaped I/O: the Mobile IP UDP
// socket, or a raw IPv4 socket of one protocol. [SocketConn] is the Linux
// implementation.
//
// A raw Conn receives each datagram whole, outer IPv4 header first, and
// sends datagrams that already carry their IPv4 header (IP_HDRINCL); a UDP
// Conn receives and sends UDP payloads.
//
// ReadBatch blocks until at least one datagram is ready and fills msgs[i]
// (N, Addr, Local, Truncated, Seg) for as many as were ready, returning
// how many. WriteBatch sends msgs in order and returns how many were sent
// before the first error; the caller skips the failed one and calls it
// again with the rest. One goroutine may read while others write; Close
// unblocks a pending ReadBatch with an error wrapping net.ErrClosed.
type Conn interface {
	ReadBatch(msgs []Msg) (int, error)
	WriteBatch(msgs []Msg) (int, error)
	Close() error
}

// groReader is implemented by sockets that can receive several datagrams
// in one message (UDP GRO, [Msg.Seg]): the plane turns that on for the
// socket's reader when it gives it buffers of maxSuperPacket octets, for
// groBatch messages at a time.
type groReader interface {
	enableGRO() bool
}
