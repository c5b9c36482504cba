package auth

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"time"
)

// Replay protection for registrations, RFC 5944 §5.7. Whatever the method,
// the low-order 32 bits of the Identification are copied from a request to
// its reply, and a mobile node accepts a reply only if they match.

// ntpEpochOffset is the number of seconds from 1900-01-01 (NTP era 0) to
// 1970-01-01 (Unix).
const ntpEpochOffset = 2208988800

// NTPTime converts t to the 64-bit NTP timestamp format (RFC 5905 §6):
// seconds since 1900 in the high 32 bits, the fraction in the low 32 bits.
// Seconds wrap modulo 2^32 (the next era starts in 2036).
func NTPTime(t time.Time) uint64 {
	sec := uint64(t.Unix() + ntpEpochOffset)
	frac := (uint64(t.Nanosecond()) << 32) / uint64(time.Second)
	return sec<<32 | frac&0xffffffff
}

// NTPToTime converts an NTP timestamp to time, choosing the NTP era that
// puts the result closest to ref, so timestamps keep working across the
// 2036 rollover.
func NTPToTime(v uint64, ref time.Time) time.Time {
	const era = int64(1) << 32
	refSec := ref.Unix() + ntpEpochOffset
	sec := int64(v >> 32)
	// Add the whole number of eras that brings sec nearest to refSec.
	d := refSec - sec + era/2
	k := d / era
	if d%era < 0 {
		k-- // floor division
	}
	sec += k * era
	nsec := int64((v & 0xffffffff) * uint64(time.Second) >> 32)
	return time.Unix(sec-ntpEpochOffset, nsec)
}

// IDGenerator makes the Identification values of one mobile node toward
// one home agent (RFC 5944 §5.7.1–5.7.2). It is not safe for concurrent
// use; a mobile node's registration engine owns it.
type IDGenerator struct {
	Method ReplayMethod
	// Rand fills the bits a time source cannot give (the lowest fraction
	// bits of a timestamp) and the mobile node's nonce halves; nil means
	// crypto/rand.
	Rand io.Reader

	last   uint64        // highest Identification issued (timestamps)
	offset time.Duration // home agent clock minus ours, learnt from code 133
	nonce  uint32        // the home agent's last nonce (nonces)
}

func (g *IDGenerator) rand32() uint32 { return rand32(g.Rand) }

// rand32 reads 32 random bits from r, or from crypto/rand when r is nil.
func rand32(r io.Reader) uint32 {
	if r == nil {
		r = rand.Reader
	}
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		// crypto/rand does not fail on Linux; a test reader that runs dry
		// is a test bug.
		panic("auth: random source failed: " + err.Error())
	}
	return binary.BigEndian.Uint32(b[:])
}

// Next returns the Identification of a new Registration Request. With
// timestamps it is the NTP time (corrected by any offset learnt from the
// home agent) with the two fraction bits below the clock's nanosecond
// resolution random, and strictly greater than any value issued before.
// With nonces it is the home agent's last nonce and a fresh random value.
func (g *IDGenerator) Next(now time.Time) uint64 {
	if g.Method == Nonces {
		low := g.rand32()
		return uint64(g.nonce)<<32 | uint64(low)
	}
	id := NTPTime(now.Add(g.offset)) | uint64(g.rand32()&3)
	if id <= g.last {
		id = g.last + 1
	}
	g.last = id
	return id
}

// ErrIDMismatch: a reply's Identification does not match the request.
var ErrIDMismatch = errors.New("auth: reply Identification low 32 bits do not match the request")

// MatchReply reports whether reply's Identification answers the request
// whose Identification was sent: the low 32 bits must be equal (RFC 5944
// §3.6.2.1, §5.7).
func MatchReply(sent, reply uint64) bool { return uint32(sent) == uint32(reply) }

// Learn updates the generator from an authenticated reply to the request
// that carried sent. It must be called only after the reply's MN-HA
// authenticator verified. For timestamps, a code-133 reply carries the home
// agent's clock in its high 32 bits: the generator adopts it, but only when
// the low 32 bits match the request (RFC 5944 §5.7.1). For nonces, every
// reply carries the next nonce to use (§5.7.2). identMismatch says whether
// the reply's code was 133.
func (g *IDGenerator) Learn(sent, reply uint64, identMismatch bool, now time.Time) error {
	if !MatchReply(sent, reply) {
		return ErrIDMismatch
	}
	if g.Method == Nonces {
		g.nonce = uint32(reply >> 32)
		return nil
	}
	if identMismatch {
		haTime := NTPToTime(reply&^0xffffffff, now)
		g.offset = haTime.Sub(now)
		// The home agent's clock may be behind ours: timestamps must still
		// increase, but from the new clock, so forget our last value.
		g.last = 0
	}
	return nil
}

// Offset is the clock correction learnt from the home agent.
func (g *IDGenerator) Offset() time.Duration { return g.offset }

// ReplayState is what a home agent remembers about one mobile node's
// Identification values (RFC 5944 §5.7). The zero value is a mobile node
// never seen. It is small (12 bytes) because an HA keeps one per binding.
type ReplayState struct {
	// Last is the highest timestamp Identification accepted.
	Last uint64
	// Nonce is the nonce the HA sent in its last reply; the next request
	// must carry it in its high 32 bits.
	Nonce uint32
}

// Check decides whether a request's Identification is fresh under sa's
// replay method: a timestamp within the SA's tolerance of now and greater
// than every one accepted before (§5.7.1), or the nonce this HA issued last
// (§5.7.2). It changes nothing; call Accept once the request is accepted.
func (s *ReplayState) Check(sa *SA, id uint64, now time.Time) bool {
	if sa.Replay == Nonces {
		return s.Nonce != 0 && uint32(id>>32) == s.Nonce
	}
	if id <= s.Last {
		return false
	}
	d := NTPToTime(id, now).Sub(now)
	tol := sa.tolerance()
	return d <= tol && d >= -tol
}

// Accept records an accepted request's Identification.
func (s *ReplayState) Accept(sa *SA, id uint64) {
	if sa.Replay == Timestamps {
		s.Last = id
	}
}

// ReplyID returns the Identification of the reply to a request whose
// Identification was reqID. fresh is Check's verdict. With timestamps, a
// fresh request's Identification is copied whole; a stale one gets the
// HA's clock in the high 32 bits and code 133 (§5.7.1). With nonces the
// high 32 bits are always a new nonce, drawn from rnd (nil: crypto/rand)
// and remembered for the next request (§5.7.2).
func (s *ReplayState) ReplyID(sa *SA, reqID uint64, fresh bool, now time.Time, rnd io.Reader) uint64 {
	low := reqID & 0xffffffff
	if sa.Replay == Nonces {
		used := s.Nonce
		for s.Nonce == 0 || s.Nonce == used {
			s.Nonce = rand32(rnd)
		}
		return uint64(s.Nonce)<<32 | low
	}
	if fresh {
		return reqID
	}
	return NTPTime(now)&^0xffffffff | low
}
