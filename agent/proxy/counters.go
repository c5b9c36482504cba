package proxy

import (
	"strconv"
	"sync/atomic"

	"github.com/mip4d/mip4d/agent/wire"
)

// Counters are the proxy's statistics. They are atomics so the status
// socket may read them while the engine runs (and 64-bit aligned on 32-bit
// MIPS by being atomic.Int64).
type Counters struct {
	Seen            atomic.Int64 // clients found on the link by a neighbour entry (Seen)
	Attaches        atomic.Int64 // Attach calls
	Unknown         atomic.Int64 // attaches refused: no identity for the MAC (no entry made)
	TableFull       atomic.Int64 // attaches refused: MaxClients reached
	GuestLimited    atomic.Int64 // attaches of unknown clients refused by MaxGuests or the rate
	Requests        atomic.Int64 // registration requests built (first sends and timestamp retransmissions)
	Retransmissions atomic.Int64
	Registrations   atomic.Int64 // accepted registrations and renewals
	Denials         atomic.Int64 // denied by the home agent, or timed out
	Timeouts        atomic.Int64 // first registrations never answered
	Deregistrations atomic.Int64 // lifetime-0 requests started
	Probes          atomic.Int64 // presence probes asked of the daemon
	NotAttached     atomic.Int64 // probes that ran out: the client was gone
	Revocations     atomic.Int64 // revocations accepted and acknowledged
	Conflicts       atomic.Int64 // revoked while the client was still here
	Reclaims        atomic.Int64 // conflicts won: the binding taken back
	Quarantines     atomic.Int64 // conflicts yielded: the MAC refused for a while
	BadReplies      atomic.Int64 // unmatched, unauthenticated or malformed replies
	BadRevocations  atomic.Int64 // revocations failing checks (RFC 3543 §3.5, §4.2.2.2)
	Replies         [256]atomic.Int64
}

// Snapshot is a plain copy for status output.
type Snapshot struct {
	Attaches        int64            `json:"attaches"`
	Seen            int64            `json:"seen_on_link"`
	Unknown         int64            `json:"unknown_refused"`
	TableFull       int64            `json:"table_full"`
	GuestLimited    int64            `json:"guest_limited"`
	Requests        int64            `json:"requests"`
	Retransmissions int64            `json:"retransmissions"`
	Registrations   int64            `json:"registrations"`
	Denials         int64            `json:"denials"`
	Timeouts        int64            `json:"timeouts"`
	Deregistrations int64            `json:"deregistrations"`
	Probes          int64            `json:"probes"`
	NotAttached     int64            `json:"not_attached"`
	Revocations     int64            `json:"revocations"`
	Conflicts       int64            `json:"conflicts"`
	Reclaims        int64            `json:"reclaims"`
	Quarantines     int64            `json:"quarantines"`
	BadReplies      int64            `json:"bad_replies"`
	BadRevocations  int64            `json:"bad_revocations"`
	Replies         map[string]int64 `json:"replies_by_code"`
}

// Snapshot copies the counters.
func (c *Counters) Snapshot() Snapshot {
	s := Snapshot{
		Attaches: c.Attaches.Load(), Seen: c.Seen.Load(), Unknown: c.Unknown.Load(), TableFull: c.TableFull.Load(),
		GuestLimited: c.GuestLimited.Load(), Requests: c.Requests.Load(), Retransmissions: c.Retransmissions.Load(),
		Registrations: c.Registrations.Load(), Denials: c.Denials.Load(), Timeouts: c.Timeouts.Load(),
		Deregistrations: c.Deregistrations.Load(), Probes: c.Probes.Load(), NotAttached: c.NotAttached.Load(),
		Revocations: c.Revocations.Load(), Conflicts: c.Conflicts.Load(), Reclaims: c.Reclaims.Load(), Quarantines: c.Quarantines.Load(),
		BadReplies: c.BadReplies.Load(), BadRevocations: c.BadRevocations.Load(), Replies: map[string]int64{},
	}
	for i := range c.Replies {
		if v := c.Replies[i].Load(); v != 0 {
			s.Replies[strconv.Itoa(i)+" "+wire.Code(i).String()] = v
		}
	}
	return s
}

// ClientCounters are one client's statistics (read on the engine's
// goroutine, through Status).
type ClientCounters struct {
	Requests        int64 `json:"requests"`
	Retransmissions int64 `json:"retransmissions"`
	Registrations   int64 `json:"registrations"`
	Denials         int64 `json:"denials"`
	Probes          int64 `json:"probes"`
	Revocations     int64 `json:"revocations"`
	Conflicts       int64 `json:"conflicts"`
}
