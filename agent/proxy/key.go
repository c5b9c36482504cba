package proxy

import (
	"crypto/hkdf"
	"crypto/sha256"

	"github.com/mip4d/mip4d/agent/auth"
)

// KeySalt is the HKDF salt of DeriveKey. The version suffix changes only
// if the derivation ever does.
const KeySalt = "mip4d proxy MN-HA key v1"

// KeyLen is the length of a derived key: 128 bits, the key size every
// implementation of the default algorithm must support (RFC 5944 §3.5.1).
const KeyLen = 16

// DeriveKey returns the MN-HA key of the client whose NAI is nai, derived
// from a master secret shared by the proxies and the home agent:
//
//	key = HKDF-SHA256(IKM = master, salt = KeySalt, info = nai, L = 16)
//
// (RFC 5869: PRK = HMAC-SHA256(salt, master); key = first 16 bytes of
// HMAC-SHA256(PRK, nai || 0x01)). The NAI is its exact bytes as sent in
// the MN-NAI extension. The home agent's configuration uses the same
// function (or the package doc's one-liner) to install the key under the
// same NAI and SPI.
func DeriveKey(master []byte, nai string) []byte {
	k, err := hkdf.Key(sha256.New, master, []byte(KeySalt), nai, KeyLen)
	if err != nil {
		// Only an output longer than 255 hash blocks fails.
		panic("proxy: hkdf: " + err.Error())
	}
	return k
}

// derivedSA is the MN-HA SA of a client without a key of its own.
func (c *Config) derivedSA(nai string) *auth.SA {
	return &auth.SA{SPI: c.KeySPI, Algorithm: c.KeyAlgorithm, Key: DeriveKey(c.MasterKey, nai), Replay: auth.Timestamps}
}
