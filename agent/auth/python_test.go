package auth

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/mip4d/mip4d/agent/internal/scapy"
	"github.com/mip4d/mip4d/agent/wire"
)

// python runs a script with Debian's /usr/bin/python3 (the shared runner
// of the interop tests) and returns its trimmed output.
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	return strings.TrimSpace(scapy.Run(t, script, args...))
}

// TestSignedRequestAgainstPython signs full Registration Requests with both
// algorithms and with MN-AAA, then has Python recompute each authenticator
// from the raw message bytes, the key and the offset of the extension — an
// independent check of what RFC 5944 §3.5.1 says is covered.
func TestSignedRequestAgainstPython(t *testing.T) {
	const script = `
import sys, hmac, hashlib
msg = bytes.fromhex(sys.argv[1]); key = bytes.fromhex(sys.argv[2]); off = int(sys.argv[3]); alg = sys.argv[4]
hdr = 8 if msg[off] == 36 else 6          # Type, (Sub-Type,) Length, SPI
covered = msg[:off + hdr]
if alg == 'hmac':
    print(hmac.new(key, covered, hashlib.md5).hexdigest())
elif alg == 'keyed':
    print(hashlib.md5(key + covered + key).hexdigest())
else:  # RFC 4721 section 8, challenge in argv[5]
    ch = bytes.fromhex(sys.argv[5])
    print(hashlib.md5(ch[:1] + key + hashlib.md5(covered).digest() + ch[-237:]).hexdigest())
`
	req := wire.RegistrationRequest{Flags: wire.FlagT, Lifetime: 1800,
		HomeAddr: netip.MustParseAddr("10.10.0.77"), HomeAgent: netip.MustParseAddr("198.51.100.1"),
		CareOf: netip.MustParseAddr("203.0.113.1"), ID: 0xe9a1b2c3_deadbeef,
		Extensions: []wire.Extension{&wire.NAI{NAI: "bob@corp.example"}}}
	body, err := req.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("\x00\x01binary\xffkey\x00with-arbitrary-bytes")
	for _, tc := range []struct {
		name string
		role Role
		alg  Algorithm
		py   string
	}{
		{"MN-HA HMAC-MD5", MNHA, HMACMD5, "hmac"},
		{"MN-HA keyed-MD5", MNHA, KeyedMD5, "keyed"},
		{"FA-HA HMAC-MD5", FAHA, HMACMD5, "hmac"},
		{"MN-AAA HMAC-MD5", MNAAA, HMACMD5, "hmac"},
	} {
		sa := mustSA(t, 0x12345, tc.alg, key)
		msg := Append(bytes.Clone(body), tc.role, sa)
		if tc.role == FAHA {
			// FA-HA follows an MN-HA in a relayed request.
			msg = Append(Append(bytes.Clone(body), MNHA, sa), FAHA, sa)
		}
		l, err := wire.ScanRequest(msg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		off := map[Role]int{MNHA: l.MNHA, FAHA: l.FAHA, MNAAA: l.MNAAA}[tc.role]
		got := hex.EncodeToString(msg[len(msg)-AuthenticatorLen:])
		want := python(t, script, hex.EncodeToString(msg), hex.EncodeToString(key), strconv.Itoa(off), tc.py)
		if got != want {
			t.Errorf("%s: Go %s, Python %s", tc.name, got, want)
		}
	}
	// RFC 4721 §8 CHAP authenticator, short and long challenges.
	msg := append(bytes.Clone(body), byte(wire.ExtMNHAAuth), 20, 0, 0, 0, CHAPSPI)
	for _, ch := range [][]byte{bytes.Repeat([]byte{0xa5, 0x01}, 8), bytes.Repeat([]byte{7, 9, 11}, 100)} {
		a := CHAPAuthenticator(ch, key, msg)
		want := python(t, script, hex.EncodeToString(msg), hex.EncodeToString(key), strconv.Itoa(len(body)), "chap", hex.EncodeToString(ch))
		if got := hex.EncodeToString(a[:]); got != want {
			t.Errorf("CHAP with %d-byte challenge: Go %s, Python %s", len(ch), got, want)
		}
		full := append(bytes.Clone(msg), a[:]...)
		if err := VerifyCHAP(full, len(body), ch, key); err != nil {
			t.Errorf("VerifyCHAP: %v", err)
		}
		if err := VerifyCHAP(full, len(body), []byte("other"), key); err != ErrBadAuthenticator {
			t.Errorf("VerifyCHAP with another challenge: %v", err)
		}
	}
}
