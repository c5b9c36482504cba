package fa

import (
	"strconv"
	"sync/atomic"

	"github.com/mip4d/mip4d/agent/wire"
)

// Drop is why a message was silently discarded.
type Drop uint8

const (
	DropNone               Drop = iota
	DropMalformed               // undecodable, or not the message expected
	DropMNAuth                  // MN-FA authentication missing or wrong (RFC 5944 §3.7.2.1)
	DropChallengeUncovered      // challenge without MN-FA/MN-AAA after it (RFC 4721 §3.2)
	DropNoPending               // a reply matching no pending request (§3.7.3.1)
	DropHAAuth                  // FA-HA authentication of a reply missing or wrong (§3.7.3.1)
	DropRateLimited             // a denial suppressed: at most one a second per node
	DropRevocation              // a revocation that fails authentication, replay or lookup
	DropNoAuth                  // a request without MN-HA or MN-AAA: no home agent would accept it
	numDrops
)

var dropNames = [numDrops]string{"", "malformed", "mn_fa_auth", "challenge_uncovered", "no_pending_request",
	"fa_ha_auth", "denial_rate_limited", "bad_revocation", "no_authorization_extension"}

func (d Drop) String() string { return dropNames[d] }

// Counters are the foreign agent's statistics.
type Counters struct {
	Requests       atomic.Int64 // from mobile nodes
	Relayed        atomic.Int64 // requests relayed to home agents
	Replies        atomic.Int64 // from home agents
	Advertisements atomic.Int64
	Revocations    atomic.Int64 // accepted
	Expired        atomic.Int64
	Denied         [256]atomic.Int64 // by the code this agent sent
	Relayed2MN     [256]atomic.Int64 // home agent replies relayed, by code
	Drops          [numDrops]atomic.Int64
}

// Snapshot is a plain copy for status output.
type Snapshot struct {
	Requests       int64            `json:"requests"`
	Relayed        int64            `json:"relayed"`
	Replies        int64            `json:"replies"`
	Advertisements int64            `json:"advertisements"`
	Revocations    int64            `json:"revocations"`
	Expired        int64            `json:"expired"`
	Denied         map[string]int64 `json:"denied_by_code"`
	RepliesByCode  map[string]int64 `json:"replies_by_code"`
	Drops          map[string]int64 `json:"dropped"`
}

// Snapshot copies the counters.
func (c *Counters) Snapshot() Snapshot {
	s := Snapshot{Requests: c.Requests.Load(), Relayed: c.Relayed.Load(), Replies: c.Replies.Load(),
		Advertisements: c.Advertisements.Load(), Revocations: c.Revocations.Load(), Expired: c.Expired.Load(),
		Denied: map[string]int64{}, RepliesByCode: map[string]int64{}, Drops: map[string]int64{}}
	for i := range c.Denied {
		if v := c.Denied[i].Load(); v != 0 {
			s.Denied[strconv.Itoa(i)+" "+wire.Code(i).String()] = v
		}
		if v := c.Relayed2MN[i].Load(); v != 0 {
			s.RepliesByCode[strconv.Itoa(i)+" "+wire.Code(i).String()] = v
		}
	}
	for i := 1; i < int(numDrops); i++ {
		if v := c.Drops[i].Load(); v != 0 {
			s.Drops[Drop(i).String()] = v
		}
	}
	return s
}
