package auth

import (
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"strings"
)

// AuthenticatorLen is the length of an MD5-based authenticator.
const AuthenticatorLen = md5.Size

// Algorithm is an authentication algorithm and mode (RFC 5944 §5.1).
type Algorithm uint8

const (
	// HMACMD5 is the default algorithm (RFC 5944 §3.5.1, RFC 2104).
	HMACMD5 Algorithm = iota
	// KeyedMD5 is MD5(key || data || key), the "prefix+suffix" mode kept
	// for legacy peers (RFC 5944 §5.1).
	KeyedMD5
)

func (a Algorithm) String() string {
	switch a {
	case HMACMD5:
		return "hmac-md5"
	case KeyedMD5:
		return "keyed-md5"
	}
	return "unknown"
}

// ParseAlgorithm reads the names used in configuration files.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToLower(s) {
	case "", "hmac-md5", "hmac_md5":
		return HMACMD5, nil
	case "keyed-md5", "md5", "prefix-suffix":
		return KeyedMD5, nil
	}
	return 0, errors.New("auth: unknown algorithm " + `"` + s + `"` + " (want hmac-md5 or keyed-md5)")
}

// stackLen bounds the messages authenticated without allocating: the
// data is copied next to the key block on the stack. Larger inputs (not
// seen in practice: a registration fits a 1500-byte MTU) fall back to the
// streaming implementation.
const stackLen = 2048

const md5Block = 64

// compute writes the authenticator of data under key with algorithm a.
func compute(a Algorithm, key, data []byte, out *[AuthenticatorLen]byte) {
	if a == KeyedMD5 {
		keyedMD5(key, data, out)
		return
	}
	hmacMD5(key, data, out)
}

// hmacMD5 is RFC 2104 HMAC with MD5: MD5(K^opad || MD5(K^ipad || data)).
func hmacMD5(key, data []byte, out *[AuthenticatorLen]byte) {
	if len(data)+md5Block > stackLen {
		h := hmac.New(md5.New, key)
		h.Write(data)
		copy(out[:], h.Sum(nil)) // Sum(out[:0]) would move out to the heap
		return
	}
	var k [md5Block]byte
	if len(key) > md5Block {
		sum := md5.Sum(key)
		copy(k[:], sum[:])
	} else {
		copy(k[:], key)
	}
	var buf [stackLen]byte
	for i := range md5Block {
		buf[i] = k[i] ^ 0x36
	}
	n := copy(buf[md5Block:], data)
	inner := md5.Sum(buf[:md5Block+n])
	for i := range md5Block {
		buf[i] = k[i] ^ 0x5c
	}
	copy(buf[md5Block:], inner[:])
	*out = md5.Sum(buf[:md5Block+AuthenticatorLen])
}

// keyedMD5 is MD5(key || data || key).
func keyedMD5(key, data []byte, out *[AuthenticatorLen]byte) {
	if 2*len(key)+len(data) > stackLen {
		h := md5.New()
		h.Write(key)
		h.Write(data)
		h.Write(key)
		copy(out[:], h.Sum(nil))
		return
	}
	var buf [stackLen]byte
	n := copy(buf[:], key)
	n += copy(buf[n:], data)
	n += copy(buf[n:], key)
	*out = md5.Sum(buf[:n])
}

// CHAPSPI is the reserved SPI that selects the MD5 CHAP-style
// authenticator of RFC 4721 §8.
const CHAPSPI = 2

// chapMaxTail is how many low-order challenge bytes RFC 4721 §8 feeds in.
const chapMaxTail = 237

// CHAPAuthenticator computes the RFC 4721 §8 authenticator:
//
//	MD5(high-order octet of Challenge || Key ||
//	    MD5(preceding Mobile IP data || Type, Subtype, Length, SPI) ||
//	    least-order 237 octets of Challenge)
//
// covered is the message up to and including the extension's SPI. A
// challenge shorter than 238 octets is used whole in the tail, so its first
// octet counts twice, as the RFC says. With a co-located care-of address
// the challenge is the single octet 0 (§3.5).
func CHAPAuthenticator(challenge []byte, key Secret, covered []byte) [AuthenticatorLen]byte {
	if len(challenge) == 0 {
		challenge = []byte{0}
	}
	inner := md5.Sum(covered)
	h := md5.New()
	h.Write(challenge[:1])
	h.Write(key)
	h.Write(inner[:])
	h.Write(challenge[max(0, len(challenge)-chapMaxTail):])
	var out [AuthenticatorLen]byte
	h.Sum(out[:0])
	return out
}
