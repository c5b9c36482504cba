package auth

import (
	"crypto/subtle"
	"encoding/binary"

	"github.com/mip4d/mip4d/agent/wire"
)

// Append appends an authentication extension for role (MN-HA, MN-FA or
// FA-HA: type 32, 33 or 34) to msg, the encoded message so far, and fills
// in its authenticator over msg and the extension's Type, Length and SPI
// (RFC 5944 §3.5.1). It allocates only if msg lacks 22 bytes of capacity.
func Append(msg []byte, role Role, sa *SA) []byte {
	t := role.ExtType()
	if t == wire.ExtGenAuth {
		return AppendMNAAA(msg, sa)
	}
	msg = append(msg, byte(t), wire.AuthSPILen+AuthenticatorLen)
	return sign(binary.BigEndian.AppendUint32(msg, sa.SPI), sa)
}

// AppendMNAAA appends a Generalized Authentication extension of sub-type
// MN-AAA (type 36, long format) with its HMAC-MD5 authenticator over the
// preceding data and its Type, Subtype, Length and SPI (RFC 4721 §6).
func AppendMNAAA(msg []byte, sa *SA) []byte {
	msg = append(msg, byte(wire.ExtGenAuth), wire.GenAuthMNAAA, 0, wire.AuthSPILen+AuthenticatorLen)
	return sign(binary.BigEndian.AppendUint32(msg, sa.SPI), sa)
}

func sign(covered []byte, sa *SA) []byte {
	var out [AuthenticatorLen]byte
	sa.Compute(covered, &out)
	return append(covered, out[:]...)
}

// SPIAt returns the SPI of the authentication extension at off, as found by
// wire.ScanRequest or wire.ScanReply, so the receiver can look up the SA.
func SPIAt(msg []byte, off int) (uint32, error) {
	covered, _, err := authBounds(msg, off)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(covered[len(covered)-wire.AuthSPILen:]), nil
}

// authBounds returns the bytes an authentication extension at off covers
// and its authenticator.
func authBounds(msg []byte, off int) (covered, authenticator []byte, err error) {
	if off < 0 || off >= len(msg) {
		return nil, nil, ErrNotAuthExt
	}
	t := wire.ExtType(msg[off])
	var end int
	switch t {
	case wire.ExtMNHAAuth, wire.ExtMNFAAuth, wire.ExtFAHAAuth:
		if off+2 > len(msg) {
			return nil, nil, ErrNotAuthExt
		}
		end = off + 2 + int(msg[off+1])
	case wire.ExtGenAuth:
		if off+4 > len(msg) {
			return nil, nil, ErrNotAuthExt
		}
		end = off + 4 + int(binary.BigEndian.Uint16(msg[off+2:]))
	default:
		return nil, nil, ErrNotAuthExt
	}
	n := wire.AuthCovered(off, t)
	if end > len(msg) || n > end {
		return nil, nil, ErrNotAuthExt
	}
	return msg[:n], msg[n:end], nil
}

// Verify checks the authentication extension at off in msg against sa: its
// SPI must be sa's and its authenticator must match, compared in constant
// time. The caller chose sa by role, peer and SPIAt.
func Verify(msg []byte, off int, sa *SA) error {
	covered, got, err := authBounds(msg, off)
	if err != nil {
		return err
	}
	if binary.BigEndian.Uint32(covered[len(covered)-wire.AuthSPILen:]) != sa.SPI {
		return ErrNoSA
	}
	var want [AuthenticatorLen]byte
	sa.Compute(covered, &want)
	if subtle.ConstantTimeCompare(got, want[:]) != 1 {
		return ErrBadAuthenticator
	}
	return nil
}

// VerifyCHAP checks an authentication extension whose SPI is CHAPSPI with
// the MD5 method of RFC 4721 §8, given the challenge the FA issued (nil for
// a co-located care-of address) and the key.
func VerifyCHAP(msg []byte, off int, challenge []byte, key Secret) error {
	covered, got, err := authBounds(msg, off)
	if err != nil {
		return err
	}
	if binary.BigEndian.Uint32(covered[len(covered)-wire.AuthSPILen:]) != CHAPSPI {
		return ErrNoSA
	}
	want := CHAPAuthenticator(challenge, key, covered)
	if subtle.ConstantTimeCompare(got, want[:]) != 1 {
		return ErrBadAuthenticator
	}
	return nil
}
