package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestProxyKey: the key matches RFC 5869 HKDF-SHA256 computed by hand
// (the package doc's Python one-liner gives the same), the master key
// comes from standard input only, and --nai is required.
func TestProxyKey(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"proxy-key", "--nai", "alice@example.net"}, strings.NewReader("a long master secret for derived keys\n"), &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	if got := strings.TrimSpace(out.String()); got != "0x026b00755f411a87fdd3138c6f677034" {
		t.Fatalf("key %s", got)
	}
	out.Reset()
	if rc := run([]string{"proxy-key", "--nai", "alice@example.net"}, strings.NewReader("0x61206c6f6e67206d61737465722073656372657420666f722064657269766564206b657973"), &out, &errb); rc != 0 ||
		strings.TrimSpace(out.String()) != "0x026b00755f411a87fdd3138c6f677034" {
		t.Fatalf("the hex form of the same master gives %q (rc %d)", out.String(), rc)
	}
	if rc := run([]string{"proxy-key"}, strings.NewReader("x\n"), &out, &errb); rc != 2 {
		t.Fatalf("without --nai: rc %d", rc)
	}
}
