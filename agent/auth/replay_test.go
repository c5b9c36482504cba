package auth

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/wire"
)

// seqReader is a deterministic random source for tests.
type seqReader struct{ r *rand.Rand }

func (s seqReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s.r.Uint32())
	}
	return len(p), nil
}

func newRand(seed uint64) seqReader { return seqReader{rand.New(rand.NewPCG(seed, seed))} }

func TestNTP(t *testing.T) {
	unix0 := time.Unix(0, 0)
	if got := NTPTime(unix0); got != 0x83aa7e80_00000000 {
		t.Fatalf("NTP(1970) = %#x", got)
	}
	half := time.Unix(1, 500_000_000)
	if got := NTPTime(half); got != 0x83aa7e81_80000000 {
		t.Fatalf("NTP(1.5 s) = %#x", got)
	}
	now := time.Date(2026, 11, 25, 22, 0, 0, 123456789, time.UTC)
	for _, tc := range []time.Time{now, unix0, time.Date(2036, 2, 7, 6, 28, 15, 0, time.UTC),
		time.Date(2036, 2, 7, 6, 28, 17, 0, time.UTC), time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)} {
		back := NTPToTime(NTPTime(tc), tc.Add(time.Hour))
		if d := back.Sub(tc); d < -time.Nanosecond || d > time.Nanosecond {
			t.Errorf("%v -> %#x -> %v", tc, NTPTime(tc), back)
		}
	}
	// Across the 2036 era boundary: an HA just after it reads a timestamp
	// taken just before it.
	before := time.Date(2036, 2, 7, 6, 28, 14, 0, time.UTC)
	if got := NTPToTime(NTPTime(before), before.Add(3*time.Second)); !got.Equal(before) {
		t.Errorf("era boundary: %v", got)
	}
}

func TestTimestampReplay(t *testing.T) {
	now := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	sa := &SA{SPI: 300, Key: Secret("k")}
	var ha ReplayState
	mn := IDGenerator{Rand: newRand(1)}

	id1 := mn.Next(now)
	if !ha.Check(sa, id1, now) {
		t.Fatal("fresh timestamp refused")
	}
	ha.Accept(sa, id1)
	if ha.ReplyID(sa, id1, true, now, nil) != id1 {
		t.Fatal("accepted reply must copy the whole Identification")
	}
	if ha.Check(sa, id1, now) {
		t.Fatal("replayed Identification accepted")
	}
	// Strictly increasing even when the clock does not move or goes back.
	id2 := mn.Next(now)
	id3 := mn.Next(now.Add(-time.Second))
	if !(id2 > id1 && id3 > id2) {
		t.Fatalf("not increasing: %#x %#x %#x", id1, id2, id3)
	}
	if !ha.Check(sa, id3, now) {
		t.Fatal("newer timestamp refused")
	}
	// Tolerance: 7 s by default, both ways.
	for _, d := range []time.Duration{6 * time.Second, -6 * time.Second} {
		id := NTPTime(now.Add(d))
		var fresh ReplayState
		if !fresh.Check(sa, id, now) {
			t.Errorf("%v within tolerance refused", d)
		}
	}
	for _, d := range []time.Duration{8 * time.Second, -8 * time.Second, time.Hour} {
		var fresh ReplayState
		if fresh.Check(sa, NTPTime(now.Add(d)), now) {
			t.Errorf("%v outside tolerance accepted", d)
		}
	}
	wide := &SA{SPI: 300, Key: Secret("k"), Tolerance: time.Minute}
	if !(&ReplayState{}).Check(wide, NTPTime(now.Add(30*time.Second)), now) {
		t.Error("per-SA tolerance ignored")
	}
}

// TestResync133 plays code 133 on both sides: a mobile node whose clock is
// 100 s behind is refused; the HA's reply carries its clock; the MN adopts
// it only because the low 32 bits match, and its next request passes.
func TestResync133(t *testing.T) {
	haNow := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	mnNow := haNow.Add(-100 * time.Second)
	sa := &SA{SPI: 300, Key: Secret("k")}
	var ha ReplayState
	mn := IDGenerator{Rand: newRand(2)}

	req := mn.Next(mnNow)
	if ha.Check(sa, req, haNow) {
		t.Fatal("100 s skew accepted")
	}
	reply := ha.ReplyID(sa, req, false, haNow, nil)
	if uint32(reply) != uint32(req) {
		t.Fatal("133 reply must keep the request's low 32 bits")
	}
	if reply>>32 != NTPTime(haNow)>>32 {
		t.Fatal("133 reply must carry the HA's seconds")
	}
	// A reply whose low bits do not match is not adopted.
	if err := mn.Learn(req+1, reply, true, mnNow); err != ErrIDMismatch {
		t.Fatalf("mismatched reply: %v", err)
	}
	if mn.Offset() != 0 {
		t.Fatal("clock adopted from a mismatched reply")
	}
	if err := mn.Learn(req, reply, true, mnNow); err != nil {
		t.Fatal(err)
	}
	if d := mn.Offset() - 100*time.Second; d < -time.Second || d > time.Second {
		t.Fatalf("offset %v, want ~100 s", mn.Offset())
	}
	next := mn.Next(mnNow.Add(time.Second))
	if !ha.Check(sa, next, haNow.Add(time.Second)) {
		t.Fatal("request after resync refused")
	}
	if !MatchReply(0x1_00000002, 0x9_00000002) || MatchReply(1, 2) {
		t.Fatal("MatchReply")
	}
}

// TestNonceReplay plays RFC 5944 §5.7.2: the first request has no nonce and
// is refused with a nonce to use; the next is accepted; replaying it fails;
// every reply brings a new nonce.
func TestNonceReplay(t *testing.T) {
	now := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	sa := &SA{SPI: 300, Key: Secret("k"), Replay: Nonces}
	var ha ReplayState
	mn := IDGenerator{Method: Nonces, Rand: newRand(3)}
	rnd := newRand(4)

	req1 := mn.Next(now)
	if ha.Check(sa, req1, now) {
		t.Fatal("request without the HA's nonce accepted")
	}
	rep1 := ha.ReplyID(sa, req1, false, now, rnd)
	if uint32(rep1) != uint32(req1) || uint32(rep1>>32) != ha.Nonce || ha.Nonce == 0 {
		t.Fatal("nonce reply malformed")
	}
	if err := mn.Learn(req1, rep1, true, now); err != nil {
		t.Fatal(err)
	}
	req2 := mn.Next(now)
	if req2>>32 != rep1>>32 || uint32(req2) == uint32(req1) {
		t.Fatalf("MN must echo the HA nonce with a new low half: %#x", req2)
	}
	if !ha.Check(sa, req2, now) {
		t.Fatal("echoed nonce refused")
	}
	ha.Accept(sa, req2)
	rep2 := ha.ReplyID(sa, req2, true, now, rnd)
	if rep2>>32 == rep1>>32 {
		t.Fatal("HA reused its nonce")
	}
	if ha.Check(sa, req2, now) {
		t.Fatal("replayed request accepted")
	}
	if err := mn.Learn(req2, rep2, false, now); err != nil {
		t.Fatal(err)
	}
	if !ha.Check(sa, mn.Next(now), now) {
		t.Fatal("third request refused")
	}
}

func TestChallenges(t *testing.T) {
	c := Challenges{Rand: newRand(5), Len: 8}
	a1 := c.Advertise()
	a2 := c.Advertise()
	if len(a1) != 8 || bytes.Equal(a1, a2) {
		t.Fatal("challenges must be fresh and of the configured length")
	}
	mn := "02:00:00:aa:bb:cc"
	if code := c.Check(mn, nil, 1, false); code != wire.CodeFAMissingChallenge {
		t.Fatalf("missing: %v", code)
	}
	if code := c.Check(mn, nil, 1, true); code != wire.CodeAccepted {
		t.Fatalf("missing with an MN-FA SA: %v", code)
	}
	if code := c.Check(mn, []byte("forged!!"), 1, false); code != wire.CodeFAUnknownChallenge {
		t.Fatalf("unknown: %v", code)
	}
	if code := c.Check(mn, a1, 10, false); code != wire.CodeAccepted {
		t.Fatalf("advertised: %v", code)
	}
	if code := c.Check(mn, a1, 10, false); code != wire.CodeAccepted {
		t.Fatalf("retransmission: %v", code)
	}
	if code := c.Check(mn, a1, 11, false); code != wire.CodeFAStaleChallenge {
		t.Fatalf("reuse: %v", code)
	}
	// Another MN may use the same multicast challenge once.
	if code := c.Check("other", a1, 11, false); code != wire.CodeAccepted {
		t.Fatalf("other MN: %v", code)
	}
	// The window slides: after two more advertisements a1 is unknown.
	c.Advertise()
	c.Advertise()
	if code := c.Check("third", a2, 1, false); code != wire.CodeFAUnknownChallenge {
		t.Fatalf("outside the window: %v", code)
	}
	r := c.OfferInReply(mn)
	u := c.OfferUnicast(mn)
	if code := c.Check(mn, r, 12, false); code != wire.CodeAccepted {
		t.Fatalf("reply challenge: %v", code)
	}
	if code := c.Check(mn, u, 13, false); code != wire.CodeAccepted {
		t.Fatalf("unicast challenge: %v", code)
	}
	if code := c.Check("third", r, 1, false); code != wire.CodeFAUnknownChallenge {
		t.Fatalf("one MN's reply challenge used by another: %v", code)
	}
	c.Forget(mn)
	if code := c.Check(mn, u, 14, false); code != wire.CodeFAUnknownChallenge {
		t.Fatalf("after Forget: %v", code)
	}
}

func TestChallengeCovered(t *testing.T) {
	none := wire.Layout{Challenge: -1, MNFA: -1, MNAAA: -1}
	for _, tc := range []struct {
		l    wire.Layout
		want bool
	}{
		{none, true},
		{wire.Layout{Challenge: 30, MNFA: 60, MNAAA: -1}, true},
		{wire.Layout{Challenge: 30, MNFA: -1, MNAAA: 50}, true},
		{wire.Layout{Challenge: 30, MNFA: -1, MNAAA: -1}, false},
		{wire.Layout{Challenge: 30, MNFA: 20, MNAAA: -1}, false},
	} {
		if got := ChallengeCovered(tc.l); got != tc.want {
			t.Errorf("%+v: %v", tc.l, got)
		}
	}
}
