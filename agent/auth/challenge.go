package auth

import (
	"bytes"
	"io"

	"github.com/mip4d/mip4d/agent/wire"
)

// Foreign agent challenges, RFC 4721 §2–3: the FA puts a fresh random
// challenge in its advertisements (extension 24) and replies (extension
// 132); a mobile node echoes one in its request (extension 132), covered by
// its MN-FA or MN-AAA authenticator. The FA accepts only challenges it
// recently offered, each once.

// DefaultChallengeWindow is CHALLENGE_WINDOW, the number of most recent
// advertised challenges an FA accepts (RFC 4721 §3.2).
const DefaultChallengeWindow = 2

// DefaultChallengeLen is the length of the challenges mip4d issues; RFC
// 4721 §2 asks for at least 4 bytes.
const DefaultChallengeLen = 16

// Challenges is a foreign agent's record of issued and used challenges. It
// is not safe for concurrent use; the FA engine owns it. Mobile nodes are
// keyed by a string the engine chooses (link-layer address, or home
// address/NAI); Forget drops one when its visitor entry goes.
type Challenges struct {
	Window int       // CHALLENGE_WINDOW; 0 means DefaultChallengeWindow
	Len    int       // challenge length; 0 means DefaultChallengeLen
	Rand   io.Reader // nil means crypto/rand

	advertised [][]byte
	mns        map[string]*mnChallenges
}

type mnChallenges struct {
	offered [2][]byte // last challenge in a reply, last in a unicast advertisement
	used    []byte    // the challenge of the MN's last accepted request
	usedID  uint64    // that request's Identification, to recognise retransmissions
}

func (c *Challenges) fresh() []byte {
	n := c.Len
	if n <= 0 {
		n = DefaultChallengeLen
	}
	b := make([]byte, n)
	for i := 0; i < n; i += 4 {
		v := rand32(c.Rand)
		for j := 0; j < 4 && i+j < n; j++ {
			b[i+j] = byte(v >> (24 - 8*j))
		}
	}
	return b
}

func (c *Challenges) mn(key string) *mnChallenges {
	if c.mns == nil {
		c.mns = make(map[string]*mnChallenges)
	}
	m := c.mns[key]
	if m == nil {
		m = &mnChallenges{}
		c.mns[key] = m
	}
	return m
}

// Advertise returns a new challenge for a multicast advertisement and adds
// it to the window.
func (c *Challenges) Advertise() []byte {
	w := c.Window
	if w <= 0 {
		w = DefaultChallengeWindow
	}
	ch := c.fresh()
	c.advertised = append(c.advertised, ch)
	if len(c.advertised) > w {
		c.advertised = c.advertised[len(c.advertised)-w:]
	}
	return ch
}

// OfferInReply returns a new challenge to put in a Registration Reply to
// mobile node mn (RFC 4721 §3.3: a reply SHOULD carry a new challenge).
func (c *Challenges) OfferInReply(mn string) []byte {
	ch := c.fresh()
	c.mn(mn).offered[0] = ch
	return ch
}

// OfferUnicast returns a new challenge for a unicast advertisement to mn.
func (c *Challenges) OfferUnicast(mn string) []byte {
	ch := c.fresh()
	c.mn(mn).offered[1] = ch
	return ch
}

// Check applies RFC 4721 §3.2 to a request from mn carrying challenge ch
// (nil when the request has no extension 132) and Identification id.
// hasMNFASA says whether the FA shares an MN-FA security association with
// mn. It returns wire.CodeAccepted when the challenge is acceptable, or the
// denial code: 105 missing, 106 stale (used before, and not a
// retransmission), 104 unknown (not among those recently offered).
func (c *Challenges) Check(mn string, ch []byte, id uint64, hasMNFASA bool) wire.Code {
	if ch == nil {
		if hasMNFASA {
			return wire.CodeAccepted // §3.1: SHOULD, not MUST, with an SA
		}
		return wire.CodeFAMissingChallenge
	}
	m := c.mns[mn]
	if m != nil && m.used != nil && bytes.Equal(ch, m.used) {
		if id == m.usedID {
			return wire.CodeAccepted // a retransmission of the same request
		}
		return wire.CodeFAStaleChallenge
	}
	known := false
	for _, a := range c.advertised {
		known = known || bytes.Equal(a, ch)
	}
	if m != nil {
		for _, o := range m.offered {
			known = known || (o != nil && bytes.Equal(o, ch))
		}
	}
	if !known {
		return wire.CodeFAUnknownChallenge
	}
	m = c.mn(mn)
	m.used = append(m.used[:0], ch...)
	m.usedID = id
	return wire.CodeAccepted
}

// Forget drops what is remembered about mn.
func (c *Challenges) Forget(mn string) { delete(c.mns, mn) }

// ChallengeCovered checks the placement rule of RFC 4721 §3.2: a request
// carrying an MN-FA Challenge must have an MN-FA or MN-AAA authentication
// extension after it; if not, the FA silently discards the request.
func ChallengeCovered(l wire.Layout) bool {
	if l.Challenge < 0 {
		return true
	}
	return l.MNFA > l.Challenge || l.MNAAA > l.Challenge
}
