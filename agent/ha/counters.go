package ha

import (
	"strconv"
	"sync/atomic"

	"github.com/mip4d/mip4d/agent/wire"
)

// Drop is why a request was silently discarded.
type Drop uint8

const (
	DropNone               Drop = iota
	DropMalformed               // could not be decoded (RFC 5944 §1.8, or truncated)
	DropNoAuth                  // no MN-HA extension (§3.8.2.1 a)
	DropUnknownMN               // no mobile node matches its NAI / home address
	DropNoSA                    // no MN-HA SA with that SPI for the node (§3.8.2.1 a)
	DropUnexpectedFAHA          // FA-HA from a sender this HA shares no SA with (§3.8.2.1 d)
	DropChallengeUncovered      // an MN-FA Challenge not followed by MN-FA/MN-AAA (RFC 4721 §3.2)
	DropNotRequest              // not a Registration Request
	numDrops
)

var dropNames = [numDrops]string{"", "malformed", "no_mn_ha_extension", "unknown_mobile_node", "no_security_association",
	"unexpected_fa_ha", "challenge_uncovered", "not_a_request"}

func (d Drop) String() string { return dropNames[d] }

// Counters are the engine's statistics. They are atomics so the status
// socket can read them while the engine runs (and 64-bit aligned on
// 32-bit MIPS by being atomic.Int64).
type Counters struct {
	// Received counts every message handed to Handle or
	// HandleRevocationAck; each one ends as exactly one reply, one drop
	// or one accepted acknowledgement.
	Received     atomic.Int64
	Accepted     atomic.Int64
	Deregistered atomic.Int64
	Expired      atomic.Int64
	Revocations  atomic.Int64 // revocation messages sent (first transmissions)
	RevAcks      atomic.Int64
	Replies      [256]atomic.Int64 // by reply code
	Drops        [numDrops]atomic.Int64
}

// Snapshot is a plain copy of the counters for status output: only
// non-zero codes and reasons are listed.
type Snapshot struct {
	Received     int64            `json:"received"`
	Accepted     int64            `json:"accepted"`
	Deregistered int64            `json:"deregistered"`
	Expired      int64            `json:"expired"`
	Revocations  int64            `json:"revocations_sent"`
	RevAcks      int64            `json:"revocation_acks"`
	Replies      map[string]int64 `json:"replies_by_code"`
	Drops        map[string]int64 `json:"dropped"`
}

// Snapshot copies the counters.
func (c *Counters) Snapshot() Snapshot {
	s := Snapshot{
		Received: c.Received.Load(), Accepted: c.Accepted.Load(), Deregistered: c.Deregistered.Load(),
		Expired: c.Expired.Load(), Revocations: c.Revocations.Load(), RevAcks: c.RevAcks.Load(),
		Replies: map[string]int64{}, Drops: map[string]int64{},
	}
	for i := range c.Replies {
		if v := c.Replies[i].Load(); v != 0 {
			s.Replies[codeKey(wire.Code(i))] = v
		}
	}
	for i := 1; i < int(numDrops); i++ {
		if v := c.Drops[i].Load(); v != 0 {
			s.Drops[Drop(i).String()] = v
		}
	}
	return s
}

// codeKey is "133 HA: registration Identification mismatch".
func codeKey(c wire.Code) string {
	return strconv.Itoa(int(c)) + " " + c.String()
}
