package scenario

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
)

// Probe is a sequence-numbered UDP echo stream from one namespace to a
// responder in another: each probe carries its sequence number, the
// responder sends it straight back, and the sender records when each echo
// came back. A handoff shows as a gap in the echoes and as probes that
// never returned. It is bounded: it sends at most MaxProbes.
type Probe struct {
	Interval time.Duration

	conn, resp *net.UDPConn
	start      time.Time
	mu         sync.Mutex
	sentAt     []time.Duration // by sequence number
	echoAt     []time.Duration // 0: no echo
	stop       chan struct{}
	wg         sync.WaitGroup
	sent       atomic.Int64
}

// MaxProbes bounds every probe stream.
const MaxProbes = 200_000

// StartProbe starts a responder on port in ns `to` at addr and a sender in
// ns `from`, sending every interval.
func StartProbe(l *lab.Lab, from, to string, addr netip.Addr, port uint16, interval time.Duration) (*Probe, error) {
	return StartProbeFrom(l, from, netip.Addr{}, to, addr, port, interval)
}

// StartProbeFrom is StartProbe with the sender bound to local (a home
// address, say) when it is valid.
func StartProbeFrom(l *lab.Lab, from string, local netip.Addr, to string, addr netip.Addr, port uint16, interval time.Duration) (*Probe, error) {
	p := &Probe{Interval: interval, stop: make(chan struct{})}
	err := l.In(to, func() (err error) {
		p.resp, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.IPv4Unspecified(), port)))
		return err
	})
	if err != nil {
		return nil, err
	}
	err = l.In(from, func() (err error) {
		var laddr *net.UDPAddr
		if local.IsValid() {
			laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
		}
		p.conn, err = net.DialUDP("udp4", laddr, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, port)))
		return err
	})
	if err != nil {
		p.resp.Close()
		return nil, err
	}
	p.start = time.Now()
	p.wg.Add(3)
	go p.echo()
	go p.receive()
	go p.send()
	return p, nil
}

func (p *Probe) echo() {
	defer p.wg.Done()
	buf := make([]byte, 64)
	for {
		n, from, err := p.resp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		_, _ = p.resp.WriteToUDPAddrPort(buf[:n], from)
	}
}

func (p *Probe) send() {
	defer p.wg.Done()
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	var buf [16]byte
	for seq := uint64(0); seq < MaxProbes; seq++ {
		binary.BigEndian.PutUint64(buf[:], seq)
		p.mu.Lock()
		p.sentAt = append(p.sentAt, time.Since(p.start))
		p.echoAt = append(p.echoAt, 0)
		p.mu.Unlock()
		_, _ = p.conn.Write(buf[:]) // errors (no route yet) count as losses
		p.sent.Add(1)
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

func (p *Probe) receive() {
	defer p.wg.Done()
	buf := make([]byte, 64)
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors surface as read errors on a connected socket
		}
		if n < 8 {
			continue
		}
		seq := binary.BigEndian.Uint64(buf[:8])
		at := time.Since(p.start)
		p.mu.Lock()
		if seq < uint64(len(p.echoAt)) && p.echoAt[seq] == 0 {
			p.echoAt[seq] = at
		}
		p.mu.Unlock()
	}
}

// Now is the probe's clock (time since it started).
func (p *Probe) Now() time.Duration { return time.Since(p.start) }

// Stop ends the stream and waits for its goroutines.
func (p *Probe) Stop() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	time.Sleep(2 * p.Interval) // let the last echoes arrive
	p.conn.Close()
	p.resp.Close()
	p.wg.Wait()
}

// Handoff is what one event (a move, a NAT reboot) cost the stream.
type Handoff struct {
	// Gap is the longest time without an echo in the window: between two
	// consecutive echoes, counting from the last echo before the event.
	Gap time.Duration
	// Lost is how many probes sent in the window never came back.
	Lost int
	// Recovered says a probe sent after the event came back: echoes of
	// probes still in flight at the event do not count.
	Recovered bool
}

// Measure returns the cost of an event at probe time at, looking at the
// probes sent up to until (probe time) — leave a few intervals before
// until for the last echoes to return.
func (p *Probe) Measure(at, until time.Duration) Handoff {
	p.mu.Lock()
	defer p.mu.Unlock()
	var echoes []time.Duration
	var h Handoff
	lastLost := time.Duration(-1)
	for i, sent := range p.sentAt {
		if sent > until {
			break
		}
		e := p.echoAt[i]
		if e == 0 {
			if sent >= at {
				h.Lost++
				lastLost = sent
			}
			continue
		}
		echoes = append(echoes, e)
		if sent >= at {
			h.Recovered = true
		}
	}
	sort.Slice(echoes, func(i, j int) bool { return echoes[i] < echoes[j] })
	prev := time.Duration(-1)
	for _, e := range echoes {
		if e <= at {
			prev = e
			continue
		}
		if prev < 0 {
			prev = at
		}
		h.Gap = max(h.Gap, e-prev)
		prev = e
	}
	// Silence at the end of the window: the stream stopped after its last
	// echo; the gap is at least until the last probe that did not return.
	if prev < 0 {
		prev = at
	}
	if lastLost > prev {
		h.Gap = max(h.Gap, lastLost-prev)
	}
	return h
}

// ProbePoint is one probe of a stream's timeline, on the probe's clock.
type ProbePoint struct {
	Seq  int
	Sent time.Duration // when it was sent
	Echo time.Duration // when its echo came back; 0: never
}

// Echoed reports whether the probe's echo came back.
func (pt ProbePoint) Echoed() bool { return pt.Echo != 0 }

// RTT is the probe's round trip, 0 when it was lost.
func (pt ProbePoint) RTT() time.Duration {
	if pt.Echo == 0 {
		return 0
	}
	return pt.Echo - pt.Sent
}

// Timeline is a copy of every probe sent so far (at most MaxProbes), in
// sequence order: for pictures of the stream.
func (p *Probe) Timeline() []ProbePoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ProbePoint, len(p.sentAt))
	for i, sent := range p.sentAt {
		out[i] = ProbePoint{Seq: i, Sent: sent, Echo: p.echoAt[i]}
	}
	return out
}

// Totals is the whole stream's account.
func (p *Probe) Totals() (sent, echoed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.echoAt {
		if e != 0 {
			echoed++
		}
	}
	return len(p.sentAt), echoed
}

// Stream is a long-lived TCP connection between two namespaces: both ends
// write a small message every interval and read the other's. A handoff
// must not break it.
type Stream struct {
	client, server net.Conn
	ln             net.Listener
	stop           chan struct{}
	wg             sync.WaitGroup
	mu             sync.Mutex
	err            error
	received       atomic.Int64
	lastRecv       atomic.Int64 // unix nanoseconds
}

// StartStream connects from ns `from` to a listener in ns `to`.
func StartStream(l *lab.Lab, from, to string, addr netip.Addr, port uint16, interval time.Duration) (*Stream, error) {
	return StartStreamFrom(l, from, netip.Addr{}, to, addr, port, interval)
}

// StartStreamFrom is StartStream with the client bound to local when it
// is valid.
func StartStreamFrom(l *lab.Lab, from string, local netip.Addr, to string, addr netip.Addr, port uint16, interval time.Duration) (*Stream, error) {
	s := &Stream{stop: make(chan struct{})}
	err := l.In(to, func() (err error) {
		s.ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		return nil, err
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := s.ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	err = l.In(from, func() (err error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		if local.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
		}
		s.client, err = d.Dial("tcp4", netip.AddrPortFrom(addr, port).String())
		return err
	})
	if err != nil {
		s.ln.Close()
		return nil, err
	}
	select {
	case c, ok := <-accepted:
		if !ok {
			s.client.Close()
			return nil, errors.New("stream: accept failed")
		}
		s.server = c
	case <-time.After(5 * time.Second):
		s.client.Close()
		s.ln.Close()
		return nil, errors.New("stream: no connection")
	}
	for _, c := range []net.Conn{s.client, s.server} {
		s.wg.Add(2)
		go s.write(c, interval)
		go s.read(c)
	}
	return s, nil
}

func (s *Stream) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

func (s *Stream) write(c net.Conn, interval time.Duration) {
	defer s.wg.Done()
	msg := make([]byte, 512)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(msg); err != nil {
			select {
			case <-s.stop:
			default:
				s.fail(fmt.Errorf("stream write: %w", err))
			}
			return
		}
	}
}

func (s *Stream) read(c net.Conn) {
	defer s.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			s.received.Add(int64(n))
			s.lastRecv.Store(time.Now().UnixNano())
		}
		if err != nil {
			select {
			case <-s.stop:
			default:
				if err != io.EOF {
					s.fail(fmt.Errorf("stream read: %w", err))
				} else {
					s.fail(errors.New("stream closed by the peer"))
				}
			}
			return
		}
	}
}

// Received is the number of bytes both ends have read.
func (s *Stream) Received() int64 { return s.received.Load() }

// Alive checks the connection after the moves: no error, and still
// carrying data over the next 300 ms (what says what it is, in errors).
func (s *Stream) Alive(what string) error {
	before := s.Received()
	time.Sleep(300 * time.Millisecond)
	if err := s.Err(); err != nil {
		return fmt.Errorf("%s broke: %w", what, err)
	}
	if s.Received() <= before {
		return fmt.Errorf("%s stalled", what)
	}
	return nil
}

// Err is the first error the connection met, if any.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Stop closes the connection and waits for its goroutines.
func (s *Stream) Stop() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.client.Close()
	s.server.Close()
	s.ln.Close()
	s.wg.Wait()
}
