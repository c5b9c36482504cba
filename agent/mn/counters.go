package mn

import (
	"strconv"
	"sync/atomic"

	"github.com/mip4d/mip4d/agent/wire"
)

// Counters are the mobile node's statistics, readable while it runs.
type Counters struct {
	Requests          atomic.Int64
	Retransmissions   atomic.Int64
	Registrations     atomic.Int64 // accepted
	Moves             atomic.Int64
	Keepalives        atomic.Int64
	KeepaliveFailures atomic.Int64
	BadReplies        atomic.Int64 // unmatched, unauthenticated or malformed
	BadAdvertisements atomic.Int64
	Replies           [256]atomic.Int64
}

// Snapshot is a plain copy for status output.
func (c *Counters) Snapshot() map[string]any {
	replies := map[string]int64{}
	for i := range c.Replies {
		if v := c.Replies[i].Load(); v != 0 {
			replies[strconv.Itoa(i)+" "+wire.Code(i).String()] = v
		}
	}
	return map[string]any{
		"requests": c.Requests.Load(), "retransmissions": c.Retransmissions.Load(),
		"registrations": c.Registrations.Load(), "moves": c.Moves.Load(),
		"keepalives": c.Keepalives.Load(), "keepalive_failures": c.KeepaliveFailures.Load(),
		"bad_replies": c.BadReplies.Load(), "bad_advertisements": c.BadAdvertisements.Load(),
		"replies_by_code": replies,
	}
}
