package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mip4d/mip4d/agent/config"
	"github.com/mip4d/mip4d/agent/hasync"
	"github.com/mip4d/mip4d/agent/internal/atomicfile"
)

// A redundant pair of home agents (issue 10): keepalived (VRRP) owns the
// election and moves the virtual address (option address); mip4d is told
// its role (mip4d ha-role, SIGUSR1/SIGUSR2) and keeps the standby's
// bindings current over package hasync.
//
// Master: answers registrations, installs the data plane for every
// binding (RFC 3519 NAT mappings included: they are in the replicated
// bindings) and captures the home addresses on the home link with proxy
// and gratuitous ARP (RFC 5944 §4.6), and replicates every change.
// Backup (and fault, stop): holds the bindings, lets them expire on its own
// clock, installs nothing, answers nothing, proxies no ARP. The sockets
// are bound to the wildcard address and replies take their source from
// the request's destination (IP_PKTINFO), so the daemon runs while the
// virtual address is absent and answers from it once keepalived adds it.

// RoleFileName is where the last role told is kept, in run_dir.
const RoleFileName = "ha.role"

// redundancy is the home agent's side of the pair.
type redundancy struct {
	cfg      *config.Redundancy
	role     hasync.Role
	roleFile string
	since    time.Time
	ctr      hasync.Counters
	events   chan hasync.LinkEvent
	wake     chan struct{}
	linkErr  chan error
	conn     *hasync.Conn
	sess     *hasync.Session
	// standbyDropped counts registrations a standby did not answer.
	standbyDropped atomic.Int64
	unapplied      atomic.Int64
}

// RedundancyStatus is the "redundancy" object of `mip4d status --json`.
type RedundancyStatus struct {
	Role              string    `json:"role"`
	Since             time.Time `json:"since,omitzero"`
	Peer              string    `json:"peer"`
	Local             string    `json:"local"`
	PeerRole          string    `json:"peer_role,omitempty"`
	Connected         bool      `json:"connected"`
	LagEntries        int64     `json:"lag_entries"`
	LagMS             int64     `json:"lag_ms"`
	Sent              int64     `json:"sent"`
	Acked             int64     `json:"acked"`
	Applied           int64     `json:"applied"`
	Unapplied         int64     `json:"unapplied"`
	SnapshotsSent     int64     `json:"snapshots_sent"`
	SnapshotsApplied  int64     `json:"snapshots_applied"`
	Overflows         int64     `json:"overflows"`
	Connects          int64     `json:"connects"`
	RejectedAuth      int64     `json:"rejected_auth"`
	RejectedReplay    int64     `json:"rejected_replay"`
	RejectedMalformed int64     `json:"rejected_malformed"`
	StandbyDropped    int64     `json:"standby_dropped"`
	// DataPlaneBindings are the bindings installed in the data plane: all
	// of them on the master, none on a standby.
	DataPlaneBindings int `json:"dataplane_bindings"`
}

// ParseHARole reads the operands of mip4d ha-role: a role (master, backup,
// fault, stop), or keepalived's notify arguments "INSTANCE|GROUP name
// STATE [priority]".
func ParseHARole(args []string) (hasync.Role, error) {
	switch {
	case len(args) == 1:
		if r, ok := hasync.ParseRole(args[0]); ok {
			return r, nil
		}
	case len(args) >= 3 && len(args) <= 4 && (strings.EqualFold(args[0], "INSTANCE") || strings.EqualFold(args[0], "GROUP")):
		if r, ok := hasync.ParseRole(args[2]); ok {
			return r, nil
		}
	}
	return 0, fmt.Errorf("ha-role takes master, backup, fault or stop, or keepalived's notify arguments (INSTANCE VI_1 MASTER 150); got %q", strings.Join(args, " "))
}

// newRedundancy picks the role to start in. The last role told, kept in
// run_dir, is resumed, except that master is resumed only while this box
// holds the virtual address (vipHeld): a daemon restarted alone on the
// master box keeps serving at once (keepalived, still master, does not
// notify again), but a box coming back from a crash or reboot, whose
// keepalived starts in BACKUP and has not added the address, must not act
// as a second master (data plane, gratuitous ARP) until keepalived says
// so.
func newRedundancy(c *config.Config, now time.Time, vipHeld func(netip.Addr) bool, log *slog.Logger) *redundancy {
	rd := c.HA.Redundancy
	red := &redundancy{cfg: rd, roleFile: filepath.Join(c.RunDir, RoleFileName), since: now,
		events: make(chan hasync.LinkEvent, 256), wake: make(chan struct{}, 1), linkErr: make(chan error, 1)}
	red.role, _ = hasync.ParseRole(rd.Role)
	if b, err := os.ReadFile(red.roleFile); err == nil {
		if r, ok := hasync.ParseRole(strings.TrimSpace(string(b))); ok {
			red.role = r
			log.Info("redundancy role resumed from the run directory", "role", r, "file", red.roleFile)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		log.Warn("cannot read the last redundancy role; starting as configured", "file", red.roleFile, "err", err)
	}
	if vip := c.HA.Engine.Addr; red.role == hasync.RoleMaster && !vipHeld(vip) {
		red.role = hasync.RoleBackup
		log.Info("starting as backup: the virtual address is not on this box; waiting for keepalived", "address", vip)
	}
	return red
}

// localAddrHeld says whether a is assigned to one of this namespace's
// interfaces (keepalived adds the virtual address to the master's).
func localAddrHeld(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a {
				return true
			}
		}
	}
	return false
}

// start runs the replication link.
func (red *redundancy) start(ctx context.Context) {
	l := &hasync.Link{Local: red.cfg.Local, Peer: red.cfg.Peer, Dial: red.cfg.Local.Addr().Less(red.cfg.Peer.Addr()),
		Counters: &red.ctr, Events: red.events, Wake: red.wake}
	go func() {
		if err := l.Run(ctx); err != nil {
			red.linkErr <- err
		}
	}()
}

func (r *haRunner) active() bool { return r.red == nil || r.red.role == hasync.RoleMaster }

// setRole is keepalived's word (mip4d ha-role, SIGUSR1, SIGUSR2).
func (r *haRunner) setRole(role hasync.Role, from string) {
	red := r.red
	old := red.role
	if err := os.MkdirAll(filepath.Dir(red.roleFile), 0o755); err == nil {
		err = atomicfile.Write(red.roleFile, []byte(role.String()+"\n"), 0o644)
		if err != nil {
			r.log.Warn("cannot keep the redundancy role in the run directory", "file", red.roleFile, "err", err)
		}
	}
	if old == role {
		return
	}
	red.role, red.since = role, r.o.now()
	r.log.Info("redundancy role changed", "role", role, "was", old, "by", from, "bindings", r.eng.NumBindings())
	switch {
	case role == hasync.RoleMaster:
		// Take over: every replicated binding into the data plane, and
		// the home addresses captured on the home link (RFC 5944 §4.6).
		r.installAll(true)
	case old == hasync.RoleMaster:
		r.installAll(false)
	}
	r.eng.TakeChanges() // what happened before is in the peer's snapshot
	if red.sess != nil {
		red.sess.SetRole(role)
	}
}

// installAll installs (or removes) the data plane of every binding held.
func (r *haRunner) installAll(on bool) {
	evs := r.eng.DataPlaneEvents(!on, "standby")
	if len(evs) == 0 {
		return
	}
	r.applyPlane(evs)
	if r.c.HA.HomeLink == "" {
		return
	}
	seen := map[netip.Addr]bool{}
	for _, ev := range evs {
		if hoa := ev.Binding.HomeAddr; !seen[hoa] {
			seen[hoa] = true
			r.intercept(hoa, on)
		}
	}
}

// roleCommand answers mip4d ha-role.
func (r *haRunner) roleCommand(args []string) (any, error) {
	if r.red == nil {
		return nil, errors.New("this home agent has no ha_peer section: it is the only one and always active")
	}
	role, err := ParseHARole(args)
	if err != nil {
		return nil, err
	}
	r.setRole(role, "ha-role")
	return r.redundancyStatus(), nil
}

// replicate sends what changed, answers a snapshot request and refills
// the connection's writer; called after everything the loop does.
func (r *haRunner) replicate() {
	red := r.red
	if red == nil {
		return
	}
	now := r.o.now()
	changes := r.eng.TakeChanges()
	s := red.sess
	if s == nil || red.conn == nil {
		return
	}
	if s.NeedSnapshot() {
		s.SendSnapshot(r.eng.Nodes(), now)
	} else if red.role == hasync.RoleMaster {
		s.Enqueue(changes, now)
		if s.NeedSnapshot() { // the queue overflowed
			r.rl.Log(slog.LevelWarn, "overflow", "replication queue overflowed; sending the standby a snapshot")
			s.SendSnapshot(r.eng.Nodes(), now)
		}
	}
	out := red.conn.Out
	for len(out) < cap(out) {
		f := s.Next(now)
		if f == nil {
			break
		}
		out <- f
	}
}

// linkEvent handles the replication link; it reports whether bindings
// changed.
func (r *haRunner) linkEvent(ev hasync.LinkEvent) bool {
	red := r.red
	now := r.o.now()
	switch {
	case ev.Up:
		if red.conn != nil {
			red.conn.Close()
		}
		s, err := hasync.NewSession(red.cfg.Key, red.role, &red.ctr, nil, now)
		if err != nil {
			r.log.Error("replication session", "err", err)
			ev.Conn.Close()
			return false
		}
		red.conn, red.sess = ev.Conn, s
		r.log.Info("replication connected", "peer", ev.Conn.Remote)
	case ev.Down:
		if ev.Conn == red.conn {
			red.conn, red.sess = nil, nil
			r.log.Info("replication disconnected", "peer", ev.Conn.Remote, "err", ev.Err)
		}
	case ev.Conn == red.conn && red.sess != nil:
		res, err := red.sess.Receive(ev.Frame, now)
		if err != nil {
			r.rl.Log(slog.LevelWarn, "repl-reject", "replication frame refused; closing the connection", "peer", ev.Conn.Remote, "err", err)
			red.conn.Close()
			red.conn, red.sess = nil, nil
			return false
		}
		if res.Established {
			r.log.Info("replication established", "peer", ev.Conn.Remote, "peer_role", res.PeerRole)
		} else if res.RoleChanged {
			r.log.Info("peer's redundancy role", "peer", ev.Conn.Remote, "peer_role", res.PeerRole)
		}
		peerActive := red.sess.PeerRole() == hasync.RoleMaster
		changed := false
		for _, ns := range res.Nodes {
			evs, _, err := r.eng.ApplyNode(ns, peerActive, now)
			if err != nil {
				red.unapplied.Add(1)
				r.rl.Log(slog.LevelWarn, "repl-unapplied", "replicated state not applied (do both home agents serve the same mobile nodes?)", "node", ns.Node, "err", err)
				continue
			}
			red.ctr.Applied.Add(1)
			if len(evs) > 0 {
				r.apply(evs)
				changed = true
			}
		}
		if res.SnapshotEnd {
			r.log.Info("replication snapshot applied", "peer", ev.Conn.Remote, "bindings", r.eng.NumBindings())
		}
		return changed
	}
	return false
}

// tick runs the session's liveness timer.
func (r *haRunner) tick() {
	red := r.red
	if red == nil || red.sess == nil {
		return
	}
	if red.sess.Tick(r.o.now()) {
		r.log.Info("replication peer silent; closing the connection", "peer", red.conn.Remote)
		red.conn.Close()
		red.conn, red.sess = nil, nil
	}
}

func (r *haRunner) redundancyStatus() *RedundancyStatus {
	red := r.red
	if red == nil {
		return nil
	}
	c := &red.ctr
	s := &RedundancyStatus{Role: red.role.String(), Since: red.since, Peer: red.cfg.Peer.String(), Local: red.cfg.Local.String(),
		Sent: c.Sent.Load(), Acked: c.Acked.Load(), Applied: c.Applied.Load(), Unapplied: red.unapplied.Load(),
		SnapshotsSent: c.SnapshotsSent.Load(), SnapshotsApplied: c.SnapshotsApplied.Load(), Overflows: c.Overflows.Load(),
		Connects: c.Connects.Load(), RejectedAuth: c.RejectedAuth.Load(), RejectedReplay: c.RejectedReplay.Load(),
		RejectedMalformed: c.RejectedMalformed.Load(), StandbyDropped: red.standbyDropped.Load(),
		DataPlaneBindings: r.plane.Bindings()}
	if red.sess != nil && red.sess.Established() {
		s.Connected = true
		s.PeerRole = red.sess.PeerRole().String()
		n, age := red.sess.Lag(r.o.now())
		s.LagEntries, s.LagMS = int64(n), age.Milliseconds()
	}
	return s
}
