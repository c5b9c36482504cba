package hasync

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/mip4d/mip4d/agent/ha"
)

// Session timing and bounds.
const (
	// Heartbeat is how often an idle session sends an Ack, so the peer
	// knows it is there.
	Heartbeat = 500 * time.Millisecond
	// DeadAfter closes a session from which nothing arrived for this long
	// (or that did not complete its handshake in it).
	DeadAfter = 3 * time.Second
	// DefaultQueueLimit bounds the records queued for the peer and not yet
	// acknowledged; past it the queue is dropped and a snapshot sent
	// instead (Counters.Overflows).
	DefaultQueueLimit = 65536
	// maxFrameRecords and maxFramePayload bound one Records frame.
	maxFrameRecords = 512
	maxFramePayload = 64 << 10
)

// Counters are a replication link's statistics (atomics: the status reads
// them from another goroutine).
type Counters struct {
	Sent              atomic.Int64 // node records sent (updates and snapshots)
	Acked             atomic.Int64 // of those, acknowledged by the peer
	Applied           atomic.Int64 // node records received and applied
	SnapshotsSent     atomic.Int64
	SnapshotsApplied  atomic.Int64
	RejectedAuth      atomic.Int64
	RejectedReplay    atomic.Int64
	RejectedMalformed atomic.Int64
	Overflows         atomic.Int64 // queue overflows answered with a snapshot
	Connects          atomic.Int64 // sessions established
}

// count files an Open error under its counter.
func (c *Counters) count(err error) {
	switch {
	case errors.Is(err, ErrAuth):
		c.RejectedAuth.Add(1)
	case errors.Is(err, ErrReplay):
		c.RejectedReplay.Add(1)
	default:
		c.RejectedMalformed.Add(1)
	}
}

// Reject counts a frame refused before it reached a session (a connection
// from an address that is not the peer's counts as unauthenticated).
func (c *Counters) Reject(err error) { c.count(err) }

// item is one entry of the send queue.
type item struct {
	kind Type // TypeRecords (one node), TypeSnapshotBegin, TypeSnapshotEnd
	node ha.NodeState
	n    int // nodes in a snapshot (begin)
	at   time.Time
}

// flight is a sent frame awaiting its Ack.
type flight struct {
	seq     uint64
	records int
	oldest  time.Time
	snapEnd bool
}

// Received is what one frame from the peer brought.
type Received struct {
	// Nodes to merge into the engine (ha.Engine.ApplyNode), in order.
	Nodes []ha.NodeState
	// SnapshotBegin and SnapshotEnd mark the peer's snapshot.
	SnapshotBegin, SnapshotEnd bool
	// PeerRole is set when the frame told the peer's role.
	PeerRole    Role
	RoleChanged bool
	// Established is set by the frame that completed the handshake.
	Established bool
}

// Session is one connection's protocol state. It is not safe for
// concurrent use (the daemon's engine goroutine owns it).
type Session struct {
	seal     *sealer
	ctr      *Counters
	limit    int
	role     Role
	peerRole Role

	nonce, peerNonce [NonceLen]byte
	gotHello         bool // the peer's Hello arrived
	proven           bool // the peer's HelloAck bound to our nonce arrived
	sendSeq, recvSeq uint64

	started, lastRecv, lastSend time.Time

	// ctrl are control frames to send first (HelloAck, Role).
	ctrl [][]byte
	// ackDue asks for an Ack of recvSeq.
	ackDue   bool
	queue    []item
	queued   int // records in queue
	inflight []flight
	unacked  int // records in flight
	snapNeed bool
	// snapRoom widens the queue's bound by the size of a snapshot until
	// the peer acknowledges its end, so a snapshot larger than the bound
	// is not itself an overflow.
	snapRoom int
}

// NewSession starts a session with the peer key (at least MinKeyLen
// octets) in role; rnd is the source of the Hello nonce (nil:
// crypto/rand). The first frame to send is Hello (from Next).
func NewSession(key []byte, role Role, ctr *Counters, rnd io.Reader, now time.Time) (*Session, error) {
	if len(key) < MinKeyLen {
		return nil, errors.New("hasync: the peer key must be at least 32 octets")
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	if ctr == nil {
		ctr = &Counters{}
	}
	s := &Session{seal: newSealer(key), ctr: ctr, limit: DefaultQueueLimit, role: role,
		started: now, lastRecv: now, lastSend: now}
	if _, err := io.ReadFull(rnd, s.nonce[:]); err != nil {
		return nil, err
	}
	p := append(s.nonce[:], byte(role))
	s.ctrl = append(s.ctrl, s.seal.seal(nil, TypeHello, 0, [NonceLen]byte{}, p))
	return s, nil
}

// SetQueueLimit changes the bound of the send queue (tests, benchmarks).
func (s *Session) SetQueueLimit(n int) { s.limit = n }

// Established reports a completed handshake: both Hellos exchanged and
// the peer proved it holds the key for this connection.
func (s *Session) Established() bool { return s.gotHello && s.proven }

// PeerRole is the peer's last announced role.
func (s *Session) PeerRole() Role { return s.peerRole }

// SetRole announces a new role of this side to the peer.
func (s *Session) SetRole(r Role) {
	s.role = r
	if s.gotHello {
		s.ctrl = append(s.ctrl, s.frame(TypeRole, []byte{byte(r)}))
	}
}

func (s *Session) frame(t Type, payload []byte) []byte {
	s.sendSeq++
	return s.seal.seal(nil, t, s.sendSeq, s.peerNonce, payload)
}

// Receive processes one whole frame from the peer. An error means the
// frame changed nothing and was counted; the connection should be closed.
func (s *Session) Receive(b []byte, now time.Time) (Received, error) {
	var out Received
	h, p, err := s.seal.open(b)
	if err == nil {
		err = s.check(h, p)
	}
	if err != nil {
		s.ctr.count(err)
		return out, err
	}
	if h.Type == TypeRecords {
		nodes, err := ParseRecords(p)
		if err != nil {
			s.ctr.count(err)
			return Received{}, err
		}
		out.Nodes = nodes
	}
	s.lastRecv = now
	if h.Type != TypeHello {
		s.recvSeq = h.Seq
	}
	switch h.Type {
	case TypeHello:
		s.gotHello = true
		copy(s.peerNonce[:], p[:NonceLen])
		s.peerRole = Role(p[NonceLen])
		out.PeerRole, out.RoleChanged = s.peerRole, true
		s.ctrl = append(s.ctrl, s.frame(TypeHelloAck, []byte{byte(s.role)}))
	case TypeHelloAck:
		s.proven = true
		s.peerRole = Role(p[0])
		out.PeerRole, out.RoleChanged = s.peerRole, true
	case TypeRole:
		s.peerRole = Role(p[0])
		out.PeerRole, out.RoleChanged = s.peerRole, true
	case TypeSnapshotBegin:
		out.SnapshotBegin = true
		s.ackDue = true
	case TypeRecords:
		s.ackDue = true
	case TypeSnapshotEnd:
		out.SnapshotEnd = true
		s.ctr.SnapshotsApplied.Add(1)
		s.ackDue = true
	case TypeAck:
		s.acked(binary.BigEndian.Uint64(p))
	}
	if s.Established() && (h.Type == TypeHello || h.Type == TypeHelloAck) {
		out.Established = true
		s.ctr.Connects.Add(1)
		s.snapNeed = true
	}
	return out, nil
}

// check validates an authenticated frame against the session state.
func (s *Session) check(h Header, p []byte) error {
	if n := payloadLen(h.Type); n >= 0 && len(p) != n {
		return ErrMalformed
	}
	switch h.Type {
	case TypeHello:
		if h.Seq != 0 || h.Session != ([NonceLen]byte{}) || s.gotHello {
			return ErrReplay // a second Hello, or one bound to a session
		}
		if p[NonceLen] > byte(RoleStop) {
			return ErrMalformed
		}
		return nil
	}
	if h.Session != s.nonce || h.Seq <= s.recvSeq {
		return ErrReplay
	}
	switch {
	case !s.gotHello:
		return ErrMalformed // nothing before the peer's Hello
	case h.Type == TypeHelloAck:
		if s.proven {
			return ErrReplay
		}
	case !s.proven:
		return ErrMalformed // nothing but HelloAck before the proof
	}
	if (h.Type == TypeHelloAck || h.Type == TypeRole) && p[0] > byte(RoleStop) {
		return ErrMalformed
	}
	return nil
}

// payloadLen is the fixed payload length of a type, -1 for Records.
func payloadLen(t Type) int {
	switch t {
	case TypeHello:
		return NonceLen + 1
	case TypeHelloAck, TypeRole:
		return 1
	case TypeSnapshotBegin:
		return 4
	case TypeSnapshotEnd:
		return 0
	case TypeAck:
		return 8
	}
	return -1
}

func (s *Session) acked(seq uint64) {
	i := 0
	for ; i < len(s.inflight) && s.inflight[i].seq <= seq; i++ {
		s.unacked -= s.inflight[i].records
		s.ctr.Acked.Add(int64(s.inflight[i].records))
		if s.inflight[i].snapEnd {
			s.snapRoom = 0
		}
	}
	s.inflight = s.inflight[i:]
}

// NeedSnapshot reports that the peer must get a full snapshot (a new
// session, or a queue overflow): call SendSnapshot with the engine's
// nodes.
func (s *Session) NeedSnapshot() bool { return s.snapNeed && s.Established() }

// SendSnapshot replaces the queue with a snapshot of nodes.
func (s *Session) SendSnapshot(nodes []ha.NodeState, now time.Time) {
	s.snapNeed = false
	s.queue = s.queue[:0]
	s.queue = append(s.queue, item{kind: TypeSnapshotBegin, n: len(nodes), at: now})
	for _, n := range nodes {
		s.queue = append(s.queue, item{kind: TypeRecords, node: n, at: now})
	}
	s.queue = append(s.queue, item{kind: TypeSnapshotEnd, at: now})
	s.queued = len(nodes)
	s.snapRoom = len(nodes)
	s.ctr.SnapshotsSent.Add(1)
}

// Enqueue queues changed nodes for the peer. Before the handshake ends
// they are dropped (the snapshot that follows it carries them). When the
// queue would pass its bound it is dropped and a snapshot asked for.
func (s *Session) Enqueue(nodes []ha.NodeState, now time.Time) {
	if len(nodes) == 0 || !s.Established() || s.snapNeed {
		return
	}
	if s.queued+s.unacked+len(nodes) > s.limit+s.snapRoom {
		s.queue, s.queued = s.queue[:0], 0
		s.snapNeed = true
		s.ctr.Overflows.Add(1)
		return
	}
	for _, n := range nodes {
		s.queue = append(s.queue, item{kind: TypeRecords, node: n, at: now})
	}
	s.queued += len(nodes)
}

// Next returns the next frame to write, or nil when there is none.
func (s *Session) Next(now time.Time) []byte {
	if len(s.ctrl) > 0 {
		f := s.ctrl[0]
		s.ctrl = s.ctrl[1:]
		s.lastSend = now
		return f
	}
	if !s.Established() {
		return nil
	}
	if s.ackDue {
		s.ackDue = false
		s.lastSend = now
		return s.frame(TypeAck, binary.BigEndian.AppendUint64(nil, s.recvSeq))
	}
	if len(s.queue) == 0 {
		return nil
	}
	s.lastSend = now
	switch it := s.queue[0]; it.kind {
	case TypeSnapshotBegin:
		s.pop(1)
		return s.frame(TypeSnapshotBegin, binary.BigEndian.AppendUint32(nil, uint32(it.n)))
	case TypeSnapshotEnd:
		s.pop(1)
		s.inflight = append(s.inflight, flight{seq: s.sendSeq + 1, oldest: it.at, snapEnd: true})
		return s.frame(TypeSnapshotEnd, nil)
	}
	p := make([]byte, 2, 4096)
	n := 0
	oldest := s.queue[0].at
	count := 0
	for n < len(s.queue) && n < maxFrameRecords && s.queue[n].kind == TypeRecords && len(p) < maxFramePayload {
		mark := len(p)
		var err error
		if p, err = AppendNode(p, &s.queue[n].node); err != nil {
			p = p[:mark] // cannot be encoded (an NAI over 255 octets): skipped
		} else {
			count++
		}
		n++
	}
	binary.BigEndian.PutUint16(p, uint16(count))
	s.pop(n)
	s.queued -= n
	s.unacked += count
	s.ctr.Sent.Add(int64(count))
	s.inflight = append(s.inflight, flight{seq: s.sendSeq + 1, records: count, oldest: oldest})
	return s.frame(TypeRecords, p)
}

func (s *Session) pop(n int) {
	clear(s.queue[:n])
	s.queue = s.queue[n:]
	if len(s.queue) == 0 {
		s.queue = nil
	}
}

// Tick is called periodically: it asks for a heartbeat when the session
// was idle and reports a dead session (nothing heard for DeadAfter, or no
// handshake in it).
func (s *Session) Tick(now time.Time) (dead bool) {
	if now.Sub(s.lastRecv) >= DeadAfter || !s.Established() && now.Sub(s.started) >= DeadAfter {
		return true
	}
	if s.Established() && now.Sub(s.lastSend) >= Heartbeat {
		s.ackDue = true
	}
	return false
}

// Lag is how far the peer is behind: records queued or sent and not yet
// acknowledged, and the age of the oldest of them.
func (s *Session) Lag(now time.Time) (entries int, age time.Duration) {
	entries = s.queued + s.unacked
	var oldest time.Time
	if len(s.inflight) > 0 {
		oldest = s.inflight[0].oldest
	} else if len(s.queue) > 0 {
		oldest = s.queue[0].at
	}
	if !oldest.IsZero() {
		age = now.Sub(oldest)
	}
	return entries, age
}
