package encap

import (
	"encoding/binary"
	"math/bits"
)

// sum adds b to the running one's complement sum initial and returns the
// folded 16-bit sum, not yet complemented (RFC 1071 §4.1).
func sum(b []byte, initial uint32) uint16 { return SumFold(SumAdd(b, uint64(initial))) }

// SumAdd adds the octets of b, as big-endian 16-bit words (a trailing
// odd octet padded with zero), to the one's complement sum acc and
// returns the unfolded sum (RFC 1071 §4.1). The bulk is summed as 64-bit
// words in host byte order with end-around carry, then folded and swapped
// into network order: one's complement sums depend neither on the word
// size nor on the byte order but for that swap (RFC 1071 §2(B)), and
// 2^16-1 divides 2^64-1. Host order saves a byte swap per word.
func SumAdd(b []byte, acc uint64) uint64 {
	if len(b) < 64 {
		return sumWords(b, acc, 0) // a header: not worth the swap
	}
	var s, c uint64
	for len(b) >= 64 {
		w := (*[64]byte)(b)
		s, c = bits.Add64(s, binary.NativeEndian.Uint64(w[0:8]), c)
		s, c = bits.Add64(s, binary.NativeEndian.Uint64(w[8:16]), c)
		s, c = bits.Add64(s, binary.NativeEndian.Uint64(w[16:24]), c)
		s, c = bits.Add64(s, binary.NativeEndian.Uint64(w[24:32]), c)
		s, c = bits.Add64(s, binary.NativeEndian.Uint64(w[32:40]), c)
		s, c = bits.Add64(s, binary.NativeEndian.Uint64(w[40:48]), c)
		s, c = bits.Add64(s, binary.NativeEndian.Uint64(w[48:56]), c)
		s, c = bits.Add64(s, binary.NativeEndian.Uint64(w[56:64]), c)
		b = b[64:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.NativeEndian.Uint64(b), c)
		b = b[8:]
	}
	s, c = bits.Add64(s, 0, c)
	f := SumFold(s + c) // cannot carry again
	if hostLittleEndian {
		f = bits.ReverseBytes16(f)
	}
	// b starts at an even offset: the rest lands on 16-bit word
	// boundaries.
	return sumWords(b, acc, uint64(f))
}

// sumWords adds b, fewer than 64 octets, as big-endian 32-bit words (and
// a 16-bit word and an octet padded with zero at the end) and t to acc.
func sumWords(b []byte, acc, t uint64) uint64 {
	for len(b) >= 4 {
		t += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		t += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		t += uint64(b[0]) << 8
	}
	acc, c := bits.Add64(acc, t, 0)
	return acc + c
}

// hostLittleEndian is the host byte order, for SumAdd.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// SumFold folds a sum from SumAdd to 16 bits, not complemented.
func SumFold(acc uint64) uint16 {
	acc = acc>>32 + acc&0xffffffff
	acc = acc>>32 + acc&0xffffffff
	acc = acc>>16 + acc&0xffff
	acc = acc>>16 + acc&0xffff
	return uint16(acc)
}

// Checksum returns the Internet checksum (RFC 1071) of b: the 16-bit one's
// complement of the one's complement sum of its 16-bit words. A buffer that
// contains a correct checksum field checksums to zero.
func Checksum(b []byte) uint16 { return ^sum(b, 0) }

// checksumUpdate16 returns the header checksum hc after one 16-bit word of
// the header changes from old to new, by RFC 1624 §3 eqn. 3:
// HC' = ~(~HC + ~m + m').
func checksumUpdate16(hc, old, new uint16) uint16 {
	s := uint32(^hc) + uint32(^old) + uint32(new)
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return ^uint16(s)
}
