package dataplane

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mip4d/mip4d/agent/encap"
	"github.com/mip4d/mip4d/agent/wire"
)

// ControlMessage is a datagram of the UDP socket that is not tunnel data:
// a registration request or reply, a revocation or its acknowledgement, or
// anything else for the engine to judge. Its fields match ha.Packet, so
// ha.Packet(m) converts it.
type ControlMessage struct {
	// Src is the sender's address and port. On receive, Dst is the
	// datagram's destination address (from IP_PKTINFO; 255.255.255.255
	// or a subnet broadcast address when it was broadcast) and the
	// socket's port. On send, Src.Addr() is the source address to use when
	// it is a unicast address (its port is always the socket's), and Dst
	// the destination.
	Src, Dst netip.AddrPort
	Data     []byte
}

// Options are the tunables common to both planes. Zero values mean the
// defaults.
type Options struct {
	// PathMTU is the MTU of the path toward tunnel endpoints
	// (DefaultPathMTU).
	PathMTU int
	// Batch is the most datagrams one system call moves (DefaultBatch).
	Batch int
	// MaxPacket is the largest datagram a buffer holds
	// (DefaultMaxPacket, and at least the path MTU and the device MTU);
	// larger ones from the sockets are dropped as truncated.
	MaxPacket int
	// ControlQueue is the capacity of the control channel
	// (DefaultControlQueue).
	ControlQueue int
	// ICMPRate is how many ICMP errors per second the plane writes at most
	// (100).
	ICMPRate int
}

func (o *Options) fill() {
	if o.PathMTU <= 0 {
		o.PathMTU = DefaultPathMTU
	}
	o.PathMTU = max(o.PathMTU, MinPathMTU)
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.MaxPacket <= 0 {
		o.MaxPacket = DefaultMaxPacket
	}
	o.MaxPacket = max(o.MaxPacket, o.PathMTU)
	if o.ControlQueue <= 0 {
		o.ControlQueue = DefaultControlQueue
	}
	if o.ICMPRate <= 0 {
		o.ICMPRate = defaultICMPRate
	}
}

// ErrNoTunnel is returned by MN.SendKeepalive when no tunnel is up.
var ErrNoTunnel = errors.New("dataplane: no tunnel")

// plane is what the home agent and mobile node planes share: the device,
// the sockets, the counters and the control channel.
type plane struct {
	opt     Options
	bufSize int
	dev     Device
	conns   [numKinds]Conn
	port    uint16 // local port of the UDP socket, for ControlMessage.Dst
	ctrl    chan ControlMessage
	ipid    atomic.Uint32
	icmp    rateLimiter
	ctr     Counters

	ctlMu  sync.Mutex
	ctlMsg [1]Msg

	started atomic.Bool
	closing atomic.Bool
	closeMu sync.Once
}

func (p *plane) init(opt Options, dev Device, conns [numKinds]Conn) {
	opt.fill()
	opt.MaxPacket = max(opt.MaxPacket, dev.MTU()) // a read must never truncate
	p.opt = opt
	p.bufSize = headroom + opt.MaxPacket
	p.dev = dev
	p.conns = conns
	p.ctrl = make(chan ControlMessage, opt.ControlQueue)
	p.icmp.limit = opt.ICMPRate
	p.port = wire.Port
	if la, ok := conns[kindUDP].(interface{ LocalAddr() netip.AddrPort }); ok && la.LocalAddr().Port() != 0 {
		p.port = la.LocalAddr().Port()
	}
}

// nextID is the outer Identification: one counter for the plane (RFC 791
// asks only that it be unique per source, destination and protocol for
// the datagram's lifetime).
func (p *plane) nextID() uint16 { return uint16(p.ipid.Add(1)) }

func (p *plane) sendControl(m ControlMessage) error {
	c := p.conns[kindUDP]
	if c == nil {
		return errors.New("dataplane: no UDP socket")
	}
	src := m.Src.Addr()
	if !src.Is4() || src.IsUnspecified() || src.IsMulticast() || isLimitedBroadcast(src) {
		src = netip.Addr{}
	}
	p.ctlMu.Lock()
	defer p.ctlMu.Unlock()
	p.ctlMsg[0] = Msg{Buf: m.Data, Addr: m.Dst, Local: src}
	_, err := c.WriteBatch(p.ctlMsg[:])
	p.ctlMsg[0] = Msg{}
	if err != nil {
		p.ctr.WriteErrors.Add(1)
		return err
	}
	p.ctr.ControlOut.Add(1)
	return nil
}

// worker is the state one reader goroutine owns: its ring of buffers and
// the messages it has yet to send. Nothing in it is shared.
type worker struct {
	p  *plane
	ha *HA
	mn *MN

	slots [][]byte // the ring: one buffer per datagram of a batch, the datagram at headroom
	sizes []int
	views [][]byte // slots[i][headroom:], for the device
	msgs  []Msg    // for a socket

	spare  [][]byte // for copies (simultaneous bindings) and fragments
	nspare int

	out   [numKinds][]Msg
	count *Direction // where sent messages are counted (nil: not counted)

	bw   BatchWriter // the device, when it takes batches
	devq [][]byte    // inner datagrams for it, written at flush
	sub  Msg         // one datagram of a message with several (UDP GRO)

	icmp  []byte
	frag  fragmenter
	heard bool // a mobile node received something valid from its home agent
}

// newWorker returns the state of one reader: of the device (with spares
// for copies and fragments, counting what it sends as Forward) or of a
// socket.
func (p *plane) newWorker(device bool) *worker {
	b := p.opt.Batch
	if o, ok := p.dev.(offloader); ok && o.offloading() && device {
		b = max(b, offloadBatch)
	}
	w := &worker{p: p, sizes: make([]int, b), views: make([][]byte, b), msgs: make([]Msg, b)}
	w.slots = makeRing(b, p.bufSize)
	for i := range w.slots {
		w.views[i] = w.slots[i][headroom:]
		w.msgs[i].Buf = w.slots[i][headroom:]
	}
	if device {
		w.spare = makeRing(p.opt.Batch, p.bufSize)
		w.icmp = make([]byte, icmpMaxErrorLen)
		w.count = &p.ctr.Forward
	}
	for k := range w.out {
		w.out[k] = make([]Msg, 0, b)
	}
	if bw, ok := p.dev.(BatchWriter); ok && !device {
		// Room for a whole UDP GRO run, to be gathered again.
		w.bw, w.devq = bw, make([][]byte, 0, max(b, maxGSOSegments))
	}
	return w
}

// superRing gives a socket reader n buffers of a whole super-packet each,
// for a socket that may return several datagrams per message (UDP GRO).
func (w *worker) superRing(n int) {
	w.slots = makeRing(n, headroom+maxSuperPacket)
	w.sizes, w.views, w.msgs = make([]int, n), make([][]byte, n), make([]Msg, n)
	for i := range w.slots {
		w.views[i] = w.slots[i][headroom:]
		w.msgs[i].Buf = w.slots[i][headroom:]
	}
}

// makeRing allocates n buffers of size octets in one block.
func makeRing(n, size int) [][]byte {
	block := make([]byte, n*size)
	r := make([][]byte, n)
	for i := range r {
		r[i] = block[i*size : (i+1)*size : (i+1)*size]
	}
	return r
}

// spareBuf returns a free spare buffer, flushing what is pending to free
// them all when none is left.
func (w *worker) spareBuf() []byte {
	if w.nspare == len(w.spare) {
		w.flush()
	}
	if len(w.spare) == 0 {
		return nil
	}
	b := w.spare[w.nspare]
	w.nspare++
	return b
}

// emit queues m for the socket of kind k.
func (w *worker) emit(k kind, m Msg) {
	if len(w.out[k]) == cap(w.out[k]) {
		w.flushKind(k)
	}
	w.out[k] = append(w.out[k], m)
}

// flush sends everything queued, writes what is queued for the device,
// and frees the spares.
func (w *worker) flush() {
	for k := range w.out {
		w.flushKind(kind(k))
	}
	w.flushDevice()
	w.nspare = 0
}

func (w *worker) flushKind(k kind) {
	msgs := w.out[k]
	if len(msgs) == 0 {
		return
	}
	c, ctr := w.p.conns[k], &w.p.ctr
	for len(msgs) > 0 {
		n, err := c.WriteBatch(msgs)
		if w.count != nil {
			var bytes int
			for _, m := range msgs[:n] {
				bytes += len(m.Buf)
			}
			w.count.PacketsOut.Add(int64(n))
			w.count.BytesOut.Add(int64(bytes))
		}
		if err == nil {
			break
		}
		ctr.WriteErrors.Add(1)
		ctr.drop(DropWriteError)
		if isClosed(err) {
			break
		}
		msgs = msgs[min(n+1, len(msgs)):]
	}
	for i := range w.out[k] {
		w.out[k][i] = Msg{}
	}
	w.out[k] = w.out[k][:0]
}

// send tunnels the inner datagram ip (which sits at headroom in slot)
// through r. inPlace says the datagram may be encapsulated where it is;
// otherwise it is copied to a spare first. Datagrams larger than r's MTU
// are fragmented (the caller has handled DF).
func (w *worker) send(r *route, slot []byte, ip encap.IPv4, inPlace bool) {
	ctr := &w.p.ctr
	if r.unsupported || w.p.conns[r.kind] == nil {
		ctr.drop(DropUnsupportedEncapsulation)
		return
	}
	if len(ip) > r.mtu {
		w.fragment(r, ip)
		return
	}
	buf := slot
	if !inPlace {
		if buf = w.spareBuf(); buf == nil {
			ctr.drop(DropNoBuffer)
			return
		}
		copy(buf[headroom:], ip)
	}
	m, d := r.encapsulate(buf, headroom, len(ip), w.p.nextID())
	if d != DropNone {
		ctr.drop(d)
		return
	}
	w.emit(r.kind, m)
}

// fragment cuts ip (DF clear) to r's MTU and tunnels each fragment: the
// encapsulator fragments the inner datagram rather than letting the outer
// one be fragmented (RFC 2003 §5.1, RFC 3519 §4.8).
func (w *worker) fragment(r *route, ip encap.IPv4) {
	ctr := &w.p.ctr
	f := &w.frag
	if !f.init(ip, r.mtu) {
		ctr.drop(DropTooBig)
		return
	}
	ctr.Fragmented.Add(1)
	for !f.finished {
		buf := w.spareBuf()
		if buf == nil {
			ctr.drop(DropNoBuffer)
			return
		}
		n := f.next(buf[headroom:])
		m, d := r.encapsulate(buf, headroom, n, w.p.nextID())
		if d != DropNone {
			ctr.drop(d)
			return
		}
		ctr.FragmentsOut.Add(1)
		w.emit(r.kind, m)
	}
}

// tooBig answers a datagram with DF set that does not fit mtu with an ICMP
// fragmentation needed from src, written into the device so the kernel
// routes it to the sender (RFC 1191 §4, RFC 2003 §5.1).
func (w *worker) tooBig(ip encap.IPv4, mtu int, src netip.Addr) {
	p := w.p
	p.ctr.drop(DropTooBig)
	if !mayAnswerWithICMP(ip) || !src.Is4() {
		return
	}
	if !p.icmp.allow(time.Now()) {
		p.ctr.ICMPRateLimited.Add(1)
		return
	}
	pkt := fragNeeded(w.icmp, ip, src, mtu, p.nextID())
	if _, err := p.dev.Write(pkt); err != nil {
		p.ctr.WriteErrors.Add(1)
		return
	}
	p.ctr.FragNeededSent.Add(1)
}

// control hands a datagram of the UDP socket that is not tunnel data to
// the engine. This path copies the datagram (one allocation): control
// messages are few, and the engine keeps them after the ring moves on.
func (w *worker) control(m *Msg) {
	p := w.p
	if len(p.ctrl) == cap(p.ctrl) {
		p.ctr.drop(DropControlQueueFull)
		return
	}
	cm := ControlMessage{Src: m.Addr, Dst: netip.AddrPortFrom(m.Local, p.port), Data: append([]byte(nil), m.Buf[:m.N]...)}
	select {
	case p.ctrl <- cm:
		p.ctr.ControlIn.Add(1)
	default:
		p.ctr.drop(DropControlQueueFull)
	}
}

// writeDevice hands an accepted inner datagram to the kernel: at once, or
// with the rest of the batch when the device takes batches (and may
// coalesce them). The datagram stays in the ring until the batch is
// flushed.
func (w *worker) writeDevice(ip encap.IPv4) {
	if w.bw != nil {
		if len(w.devq) == cap(w.devq) {
			w.flushDevice()
		}
		w.devq = append(w.devq, ip)
		return
	}
	ctr := &w.p.ctr
	if _, err := w.p.dev.Write(ip); err != nil {
		ctr.WriteErrors.Add(1)
		ctr.drop(DropWriteError)
		return
	}
	ctr.Reverse.PacketsOut.Add(1)
	ctr.Reverse.BytesOut.Add(int64(len(ip)))
}

// flushDevice writes the datagrams queued for the device and counts each
// as writeDevice would.
func (w *worker) flushDevice() {
	q := w.devq
	if len(q) == 0 {
		return
	}
	_ = w.bw.WriteBatch(q) // failures are the nil entries
	var n, bytes, failed int
	for i, ip := range q {
		if ip == nil {
			failed++
			continue
		}
		n++
		bytes += len(ip)
		q[i] = nil
	}
	ctr := &w.p.ctr
	if failed > 0 {
		ctr.WriteErrors.Add(int64(failed))
		ctr.Drops[DropWriteError].Add(int64(failed))
	}
	ctr.Reverse.PacketsOut.Add(int64(n))
	ctr.Reverse.BytesOut.Add(int64(bytes))
	w.devq = q[:0]
}

// offsetIn returns where sub starts within buf; sub is a reslice of buf
// that runs to its end (both were cut from one ring slot).
func offsetIn(buf, sub []byte) int { return cap(buf) - cap(sub) }

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed)
}

// readDevice reads a batch from the device.
func (w *worker) readDevice() (int, error) {
	if br, ok := w.p.dev.(BatchReader); ok {
		return br.ReadBatch(w.views, w.sizes)
	}
	n, err := w.p.dev.Read(w.views[0])
	if err != nil {
		return 0, err
	}
	w.sizes[0] = n
	return 1, nil
}

// runDevice is the device reader: read a batch, decide each datagram,
// send what was decided.
func (w *worker) runDevice() error {
	for {
		n, err := w.readDevice()
		if err != nil {
			if stop, err := w.p.readError(err); stop {
				return err
			}
			continue
		}
		w.deviceBatch(n)
	}
}

func (w *worker) deviceBatch(n int) {
	for i := range n {
		if w.sizes[i] < 0 {
			// The device read something it could not make sense of.
			w.p.ctr.Forward.PacketsIn.Add(1)
			w.p.ctr.drop(DropMalformed)
			continue
		}
		if w.ha != nil {
			w.ha.forward(w, w.slots[i], w.sizes[i])
		} else {
			w.mn.forward(w, w.slots[i], w.sizes[i])
		}
	}
	w.flush()
}

// runConn is the reader of the socket of kind k.
func (w *worker) runConn(k kind) error {
	c := w.p.conns[k]
	for {
		n, err := c.ReadBatch(w.msgs)
		if err != nil {
			if stop, err := w.p.readError(err); stop {
				return err
			}
			continue
		}
		w.connBatch(k, n)
	}
}

func (w *worker) connBatch(k kind, n int) {
	w.heard = false
	for i := range n {
		m := &w.msgs[i]
		if m.Seg > 0 && m.N > m.Seg && !m.Truncated {
			// Keep a run's datagrams in one device batch, where they
			// can be gathered again.
			if w.bw != nil && len(w.devq)+(m.N+m.Seg-1)/m.Seg > cap(w.devq) {
				w.flushDevice()
			}
			w.segments(k, m)
			continue
		}
		w.datagram(k, m, w.slots[i])
	}
	w.flush()
	if w.heard && w.mn != nil && w.mn.heard != nil {
		w.mn.heard()
	}
}

// segments decides, one by one, the datagrams a message of a socket with
// UDP GRO holds back to back. Each is in place in the message's buffer,
// which serves as its slot from its own start: a keepalive reply that is
// encapsulated in place cannot reach into the datagram before it.
func (w *worker) segments(k kind, m *Msg) {
	for off := 0; off < m.N; off += m.Seg {
		n := min(m.Seg, m.N-off)
		w.sub = Msg{Buf: m.Buf[off : off+n], N: n, Addr: m.Addr, Local: m.Local}
		w.datagram(k, &w.sub, m.Buf[off:])
	}
	w.sub = Msg{}
}

// datagram decides one datagram from the socket of kind k, at m.Buf in
// slot.
func (w *worker) datagram(k kind, m *Msg, slot []byte) {
	if k == kindUDP && (m.N == 0 || wire.MsgType(m.Buf[0]) != wire.MsgTunnelData) {
		if m.Truncated {
			w.p.ctr.drop(DropTruncated)
			return
		}
		w.control(m)
		return
	}
	w.p.ctr.Reverse.PacketsIn.Add(1)
	w.p.ctr.Reverse.BytesIn.Add(int64(m.N))
	if m.Truncated {
		w.p.ctr.drop(DropTruncated)
		return
	}
	if w.ha != nil {
		w.ha.receive(w, k, m, slot)
	} else {
		w.mn.receive(w, k, m)
	}
}

// readError decides what a reader does after a failed read: stop (with
// nil when the plane is closing, else the error) or count it and go on
// after a pause.
func (p *plane) readError(err error) (bool, error) {
	if p.closing.Load() {
		return true, nil
	}
	if isClosed(err) {
		return true, err
	}
	p.ctr.ReadErrors.Add(1)
	time.Sleep(10 * time.Millisecond)
	return false, nil
}

// run starts one reader per descriptor and waits until ctx ends or one
// fails, then closes everything and waits for every reader to return.
func (p *plane) run(ctx context.Context, newWorker func(device bool) *worker) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("dataplane: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 1+numKinds)
	start := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel() // one reader ending (Close, a fatal error) ends them all
			if err := f(); err != nil {
				errc <- err
			}
		}()
	}
	dw := newWorker(true)
	start(dw.runDevice)
	for k, c := range p.conns {
		if c == nil {
			continue
		}
		w, k := newWorker(false), kind(k)
		if g, ok := c.(groReader); ok && g.enableGRO() {
			w.superRing(groBatch)
		}
		start(func() error { return w.runConn(k) })
	}
	<-ctx.Done()
	p.close()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// close closes the device and the sockets once, which unblocks every
// reader.
func (p *plane) close() error {
	var errs []error
	p.closeMu.Do(func() {
		p.closing.Store(true)
		errs = append(errs, p.dev.Close())
		for _, c := range p.conns {
			if c != nil {
				errs = append(errs, c.Close())
			}
		}
	})
	return errors.Join(errs...)
}
