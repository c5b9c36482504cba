package encap

import "encoding/binary"

// sum adds b as a sequence of big-endian 16-bit words (a trailing odd octet
// is padded with zero, RFC 1071 §4.1) to the running one's complement sum
// initial and returns the folded 16-bit sum, not yet complemented.
func sum(b []byte, initial uint32) uint16 {
	acc := uint64(initial)
	// Adding 32-bit big-endian words to a 64-bit accumulator and folding
	// at the end gives the same one's complement sum as 16-bit words
	// (RFC 1071 §2(B), byte-order and word-size independence).
	for len(b) >= 8 {
		acc += uint64(binary.BigEndian.Uint32(b))
		acc += uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	if len(b) >= 4 {
		acc += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
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
