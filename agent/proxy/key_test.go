package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
)

// TestDeriveKey pins the derivation the home agent's admin reproduces: a
// fixed vector, RFC 5869 spelt out with HMAC, and the package doc's
// Python one-liner when Python is here.
func TestDeriveKey(t *testing.T) {
	const want = "518756b0e984376d723234f6adb8e850"
	got := DeriveKey([]byte("master secret"), "aa@example.net")
	if hex.EncodeToString(got) != want {
		t.Fatalf("DeriveKey = %x, want %s", got, want)
	}
	// RFC 5869 §2.2–2.3 by hand: PRK = HMAC(salt, IKM); T(1) = HMAC(PRK, info || 0x01).
	m := hmac.New(sha256.New, []byte(KeySalt))
	m.Write([]byte("master secret"))
	prk := m.Sum(nil)
	m = hmac.New(sha256.New, prk)
	m.Write([]byte("aa@example.net"))
	m.Write([]byte{1})
	if t1 := m.Sum(nil)[:KeyLen]; !hmac.Equal(t1, got) {
		t.Fatalf("hand-made HKDF %x", t1)
	}
	// Different NAIs and masters give different keys.
	if hmac.Equal(got, DeriveKey([]byte("master secret"), "ab@example.net")) ||
		hmac.Equal(got, DeriveKey([]byte("master secreT"), "aa@example.net")) {
		t.Fatal("keys collide")
	}
	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil {
		t.Skip("no /usr/bin/python3 for the one-liner")
	}
	oneLiner := `import hmac,hashlib,sys;p=hmac.new(b"mip4d proxy MN-HA key v1",sys.argv[1].encode(),hashlib.sha256).digest();print("0x"+hmac.new(p,sys.argv[2].encode()+b"\x01",hashlib.sha256).digest()[:16].hex())`
	out, err := exec.Command(py, "-c", oneLiner, "master secret", "aa@example.net").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(out)) != "0x"+want {
		t.Fatalf("the doc's one-liner prints %s", out)
	}
}
