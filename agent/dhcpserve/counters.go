package dhcpserve

import (
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/mip4d/mip4d/agent/internal/order"
)

// Counters are the server's statistics (atomics: the status socket reads
// them while the server runs).
type Counters struct {
	Received       atomic.Int64
	Malformed      atomic.Int64 // undecodable, or missing what RFC 2131 requires
	Relayed        atomic.Int64 // through a relay agent: not this link's
	Refused        atomic.Int64 // from clients the proxy does not admit
	Held           atomic.Int64 // DISCOVERs and REQUESTs held for a binding
	PendingFull    atomic.Int64 // dropped: too many held
	PendingExpired atomic.Int64 // held ones the binding never came for
	Continued      atomic.Int64 // REQUESTs continuing an exchange whose binding went (Continued)
	Offers         atomic.Int64
	Acks           atomic.Int64
	Naks           atomic.Int64
	Informs        atomic.Int64
	Releases       atomic.Int64
	Declines       atomic.Int64
	Expired        atomic.Int64 // leases that ran out
	OtherServer    atomic.Int64 // REQUESTs for another server
	Ignored        atomic.Int64 // other message types, releases of addresses not leased
	Sent           atomic.Int64 // written by the socket edge
	SendErrors     atomic.Int64
	QueueDrops     atomic.Int64 // received while the daemon's queue was full
}

// Snapshot is a plain copy for status output.
type Snapshot struct {
	Received       int64 `json:"received"`
	Malformed      int64 `json:"malformed"`
	Relayed        int64 `json:"relayed"`
	Refused        int64 `json:"refused"`
	Held           int64 `json:"held"`
	PendingFull    int64 `json:"pending_full"`
	PendingExpired int64 `json:"pending_expired"`
	Continued      int64 `json:"continued"`
	Offers         int64 `json:"offers"`
	Acks           int64 `json:"acks"`
	Naks           int64 `json:"naks"`
	Informs        int64 `json:"informs"`
	Releases       int64 `json:"releases"`
	Declines       int64 `json:"declines"`
	Expired        int64 `json:"expired"`
	OtherServer    int64 `json:"other_server"`
	Ignored        int64 `json:"ignored"`
	Sent           int64 `json:"sent"`
	SendErrors     int64 `json:"send_errors"`
	QueueDrops     int64 `json:"queue_drops"`
}

// Snapshot copies the counters.
func (c *Counters) Snapshot() Snapshot {
	return Snapshot{Received: c.Received.Load(), Malformed: c.Malformed.Load(), Relayed: c.Relayed.Load(),
		Refused: c.Refused.Load(), Held: c.Held.Load(), PendingFull: c.PendingFull.Load(),
		PendingExpired: c.PendingExpired.Load(), Continued: c.Continued.Load(), Offers: c.Offers.Load(), Acks: c.Acks.Load(), Naks: c.Naks.Load(),
		Informs: c.Informs.Load(), Releases: c.Releases.Load(), Declines: c.Declines.Load(), Expired: c.Expired.Load(),
		OtherServer: c.OtherServer.Load(), Ignored: c.Ignored.Load(), Sent: c.Sent.Load(),
		SendErrors: c.SendErrors.Load(), QueueDrops: c.QueueDrops.Load()}
}

// Status is the lease table for the control socket.
type Status struct {
	ServerID netip.Addr    `json:"server_id"`
	Gateway  netip.Addr    `json:"gateway"`
	Leases   []LeaseStatus `json:"leases"`
	Pending  int           `json:"pending"`
	Counters Snapshot      `json:"counters"`
}

// LeaseStatus is one lease.
type LeaseStatus struct {
	MAC     string     `json:"mac"`
	Addr    netip.Addr `json:"addr"`
	Expires time.Time  `json:"expires"`
	Left    int64      `json:"left"` // seconds
}

// Status reports the leases at now, sorted by MAC.
func (s *Server) Status(now time.Time) Status {
	st := Status{ServerID: s.cfg.ServerID, Gateway: s.cfg.Gateway, Leases: []LeaseStatus{}, Pending: len(s.pending),
		Counters: s.Counters.Snapshot()}
	for mac, l := range s.leases {
		st.Leases = append(st.Leases, LeaseStatus{MAC: net.HardwareAddr(mac[:]).String(), Addr: l.addr, Expires: l.expires,
			Left: max(0, int64(l.expires.Sub(now)/time.Second))})
	}
	order.By(st.Leases, func(a, b LeaseStatus) int {
		if a.MAC < b.MAC {
			return -1
		}
		if a.MAC > b.MAC {
			return 1
		}
		return 0
	})
	return st
}
