package hasync

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/ha"
)

// side drives one end of a Link with a session, as the daemon does.
type side struct {
	link  *Link
	ev    chan LinkEvent
	wake  chan struct{}
	ctr   Counters
	role  Role
	nodes []ha.NodeState

	mu   sync.Mutex
	got  map[string]bool
	conn *Conn
}

func newSide(local, peer netip.AddrPort, role Role, nodes []ha.NodeState) *side {
	s := &side{ev: make(chan LinkEvent, 16), wake: make(chan struct{}, 1), role: role, nodes: nodes, got: map[string]bool{}}
	s.link = &Link{Local: local, Peer: peer, Dial: local.Addr().Less(peer.Addr()), Counters: &s.ctr, Events: s.ev, Wake: s.wake}
	return s
}

func (s *side) run(ctx context.Context) {
	var sess *Session
	var conn *Conn
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-s.ev:
			now := time.Now()
			switch {
			case ev.Up:
				if conn != nil {
					conn.Close()
				}
				conn = ev.Conn
				sess, _ = NewSession(key, s.role, &s.ctr, nil, now)
				s.mu.Lock()
				s.conn = conn
				s.mu.Unlock()
			case ev.Down:
				if ev.Conn == conn {
					conn, sess = nil, nil
				}
			case ev.Conn == conn:
				r, err := sess.Receive(ev.Frame, now)
				if err != nil {
					conn.Close()
					conn, sess = nil, nil
					continue
				}
				s.mu.Lock()
				for _, n := range r.Nodes {
					s.got[n.Node] = true
				}
				s.mu.Unlock()
			}
		case <-s.wake:
		}
		if sess != nil && conn != nil {
			if sess.NeedSnapshot() {
				sess.SendSnapshot(s.nodes, time.Now())
			}
			for len(conn.Out) < cap(conn.Out) {
				f := sess.Next(time.Now())
				if f == nil {
					break
				}
				conn.Out <- f
			}
		}
	}
}

func freePort(t *testing.T, addrs ...string) int {
	for range 20 {
		l, err := net.Listen("tcp4", addrs[0]+":0")
		if err != nil {
			t.Skipf("no loopback: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ok := true
		for _, a := range addrs {
			l2, err := net.Listen("tcp4", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			l2.Close()
		}
		if ok {
			return port
		}
	}
	t.Skip("no free port on the loopback addresses")
	return 0
}

// TestLinkLoopback: two Links over loopback, the snapshot on connect,
// again after the connection drops (reconnect resends it), and a stranger
// refused and counted.
func TestLinkLoopback(t *testing.T) {
	port := uint16(freePort(t, "127.0.0.1", "127.0.0.2"))
	a1, a2 := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port)
	master := newSide(a1, a2, RoleMaster, []ha.NodeState{node(1, t0), node(2, t0), node(3, t0)})
	backup := newSide(a2, a1, RoleBackup, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range []*side{master, backup} {
		wg.Add(2)
		go func() { defer wg.Done(); s.run(ctx) }()
		go func() {
			defer wg.Done()
			if err := s.link.Run(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	wait("the snapshot", func() bool {
		backup.mu.Lock()
		defer backup.mu.Unlock()
		return len(backup.got) == 3 && backup.ctr.SnapshotsApplied.Load() == 1
	})
	// Drop the connection: the dialer reconnects and the backup gets a
	// fresh snapshot.
	backup.mu.Lock()
	backup.conn.Close()
	backup.mu.Unlock()
	wait("the snapshot after reconnecting", func() bool {
		return backup.ctr.SnapshotsApplied.Load() == 2 && master.ctr.Connects.Load() == 2
	})
	// A stranger.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}
	if c, err := d.Dial("tcp4", a2.String()); err == nil {
		c.Write(make([]byte, 100))
		c.Close()
	}
	wait("the stranger counted", func() bool { return backup.ctr.RejectedAuth.Load() == 1 })
}
