package hasync

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// The TCP edge: a Link listens on the local replication address and, on
// the side that dials (the lower address of the pair), keeps connecting to
// the peer. Each connection has one reader and one writer goroutine; the
// frames read go to the owner's channel whole (the session authenticates
// them), the frames to write come from the connection's bounded Out
// channel. A connection from any address but the peer's is closed at once
// and counted as unauthenticated.

// Link is the replication transport to one peer.
type Link struct {
	Local netip.AddrPort // listen here (and dial from its address)
	Peer  netip.AddrPort
	// Dial says this side connects; the other only accepts.
	Dial     bool
	Counters *Counters
	// Events receives connections, frames and closes.
	Events chan<- LinkEvent
	// Wake is signalled (without blocking) when a writer has room again.
	Wake chan<- struct{}

	nextID atomic.Uint64
}

// LinkEvent is a connection coming up, a frame read on it, or its end.
type LinkEvent struct {
	Conn  *Conn
	Frame []byte // a whole frame; nil for Up and Down
	Up    bool
	Down  bool
	Err   error // why it went down
}

// Conn is one replication connection.
type Conn struct {
	ID     uint64
	Remote netip.AddrPort
	// Out carries frames to write; a sender must not block on it (check
	// len against cap).
	Out  chan []byte
	c    net.Conn
	once sync.Once
	done chan struct{}
	wake chan<- struct{}
}

// OutCap is the capacity of a connection's Out channel.
const OutCap = 64

// Close ends the connection (its reader then reports Down).
func (c *Conn) Close() {
	c.once.Do(func() {
		close(c.done)
		c.c.Close()
	})
}

// Run listens and, when dialing, connects, until ctx ends. It returns an
// error only when the listening socket cannot be opened.
func (l *Link) Run(ctx context.Context) error {
	ln, err := listen(ctx, l.Local)
	if err != nil {
		return fmt.Errorf("replication: listen on %v: %w", l.Local, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		ln.Close()
	}()
	if l.Dial {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.dialLoop(ctx)
		}()
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		ra := c.RemoteAddr().(*net.TCPAddr).AddrPort()
		if ra.Addr().Unmap() != l.Peer.Addr() {
			l.Counters.Reject(ErrAuth)
			c.Close()
			continue
		}
		l.start(ctx, c)
	}
	wg.Wait()
	return nil
}

func (l *Link) dialLoop(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		c, err := dial(ctx, l.Local.Addr(), l.Peer)
		if err == nil {
			backoff = 100 * time.Millisecond
			conn := l.start(ctx, c)
			select {
			case <-conn.done:
			case <-ctx.Done():
				conn.Close()
				return
			}
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (l *Link) start(ctx context.Context, nc net.Conn) *Conn {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c := &Conn{ID: l.nextID.Add(1), Remote: nc.RemoteAddr().(*net.TCPAddr).AddrPort(), Out: make(chan []byte, OutCap),
		c: nc, done: make(chan struct{}), wake: l.Wake}
	if !l.send(ctx, LinkEvent{Conn: c, Up: true}) {
		c.Close()
		return c
	}
	go c.write()
	go func() {
		err := c.read(ctx, l)
		c.Close()
		l.send(context.Background(), LinkEvent{Conn: c, Down: true, Err: err})
	}()
	return c
}

func (l *Link) send(ctx context.Context, ev LinkEvent) bool {
	select {
	case l.Events <- ev:
		return true
	case <-ctx.Done():
		// The owner is gone or going; a Down must still not block forever.
		select {
		case l.Events <- ev:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	}
}

// read passes whole frames to the owner. A header that does not parse
// ends the connection (the stream cannot be resynchronised); it is
// counted as malformed.
func (c *Conn) read(ctx context.Context, l *Link) error {
	br := bufio.NewReaderSize(c.c, 64<<10)
	var hdr [HeaderLen]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		h, err := ParseHeader(hdr[:])
		if err != nil {
			l.Counters.Reject(err)
			return err
		}
		f := make([]byte, h.FrameLen())
		copy(f, hdr[:])
		if _, err := io.ReadFull(br, f[HeaderLen:]); err != nil {
			return err
		}
		select {
		case l.Events <- LinkEvent{Conn: c, Frame: f}:
		case <-c.done:
			return errors.New("closed")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Conn) write() {
	bw := bufio.NewWriterSize(c.c, 64<<10)
	for {
		var f []byte
		select {
		case f = <-c.Out:
		case <-c.done:
			return
		}
		_ = c.c.SetWriteDeadline(time.Now().Add(DeadAfter))
		if _, err := bw.Write(f); err != nil {
			c.Close()
			return
		}
		// Write out when nothing more is waiting (frames coalesce).
		if len(c.Out) == 0 {
			if err := bw.Flush(); err != nil {
				c.Close()
				return
			}
		}
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}
