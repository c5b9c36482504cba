package encap

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/mip4d/mip4d/agent/internal/golden"
)

// The addresses used by every golden packet in testdata/encap.
var (
	addrHA  = netip.MustParseAddr("203.0.113.1")   // home agent: tunnel entry point
	addrCoA = netip.MustParseAddr("198.51.100.20") // care-of address: tunnel exit point
	addrCN  = netip.MustParseAddr("192.0.2.10")    // correspondent node
	addrMN  = netip.MustParseAddr("10.10.0.5")     // mobile node's home address
)

// headroom is what the tests leave in front of an inner datagram.
const headroom = 64

// loadPair reads a testdata/encap file holding "--- inner" and
// "--- encapsulated" packets.
func loadPair(t testing.TB, name string) (inner, encapsulated []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(golden.Dir(), "encap", name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := golden.ParseAll(string(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(p) != 2 {
		t.Fatalf("%s: want 2 packets, got %d", name, len(p))
	}
	return p[0], p[1]
}

// withHeadroom returns a buffer holding inner after headroom spare octets.
func withHeadroom(inner []byte) []byte {
	buf := make([]byte, headroom+len(inner))
	copy(buf[headroom:], inner)
	return buf
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// wantErr fails t unless err is an *Error with the given layer and code.
func wantErr(t testing.TB, err error, l Layer, c Code) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v, want %v/%v", err, l, c)
	}
	if e.Layer != l || e.Code != c {
		t.Fatalf("got %v (layer %d code %d), want %v: %v", e, e.Layer, e.Code, l, c)
	}
}

func equalBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got %x\nwant %x", what, got, want)
	}
}

// canonicalOuter reports whether our encapsulator could have written the
// delivery header outer around inner: no options, TOS copied, no flags
// but DF, DF set if the inner DF is, a non-zero TTL, and no routing loop.
func canonicalOuter(outer, inner IPv4) bool {
	return outer.IHL() == 5 &&
		outer.TOS() == inner.TOS() &&
		outer.Flags()&^IPv4FlagDF == 0 &&
		(outer.DF() || !inner.DF()) &&
		outer.TTL() != 0 &&
		inner.Src() != outer.Dst()
}

// deliveryOf returns the Delivery that re-creates outer.
func deliveryOf(outer, inner IPv4) Delivery {
	return Delivery{Src: outer.Src(), Dst: outer.Dst(), TTL: outer.TTL(), DF: outer.DF() && !inner.DF()}
}

// reencodeIPIP re-encapsulates a decapsulated IP-in-IP datagram.
func reencodeIPIP(t testing.TB, outer, inner IPv4) []byte {
	t.Helper()
	tun := IPIPTunnel{deliveryOf(outer, inner)}
	pkt, err := tun.Encapsulate(withHeadroom(inner), headroom, outer.ID())
	if err != nil {
		t.Fatalf("re-encapsulate: %v", err)
	}
	return pkt
}

// greTunnelOf returns the tunnel that re-creates a decapsulated GRE
// datagram, or false if our encoder never writes h (reserved bits).
func greTunnelOf(outer IPv4, h GREHeader, inner IPv4) (GRETunnel, bool) {
	tun := GRETunnel{
		Delivery:   deliveryOf(outer, inner),
		Checksum:   h.ChecksumPresent,
		KeyPresent: h.KeyPresent,
		Key:        h.Key,
		Sequence:   h.SequencePresent,
	}
	return tun, h.Reserved0 == 0 && h.Reserved1 == 0
}

func reencodeGRE(t testing.TB, outer IPv4, h GREHeader, inner IPv4) []byte {
	t.Helper()
	tun, _ := greTunnelOf(outer, h, inner)
	pkt, err := tun.Encapsulate(withHeadroom(inner), headroom, outer.ID(), h.Sequence)
	if err != nil {
		t.Fatalf("re-encapsulate: %v", err)
	}
	return pkt
}

// fixChecksums recomputes the outer header checksum of pkt and, where
// present and complete, the GRE checksum, so that a test can change a
// length field and see the length check, not the checksum check, fire.
func fixChecksums(pkt []byte) {
	h := IPv4(pkt)
	if len(pkt) < IPv4MinimumSize || h.HeaderLength() < IPv4MinimumSize || h.HeaderLength() > len(pkt) {
		return
	}
	h.UpdateChecksum()
	if h.Protocol() == ProtocolGRE {
		end := min(int(h.TotalLength()), len(pkt))
		g := pkt[h.HeaderLength():max(end, h.HeaderLength())]
		if len(g) >= 8 && g[0]&0x80 != 0 {
			g[4], g[5] = 0, 0
			c := Checksum(g)
			g[4], g[5] = byte(c>>8), byte(c)
		}
	}
}

// fixAll makes every checksum in a (possibly mangled) tunnel packet
// correct, innermost first, so that fuzzing reaches the length and
// structure checks behind them. It never panics.
func fixAll(pkt []byte) {
	h := IPv4(pkt)
	if len(pkt) < IPv4MinimumSize || h.HeaderLength() < IPv4MinimumSize || h.HeaderLength() > len(pkt) {
		return
	}
	end := min(max(int(h.TotalLength()), h.HeaderLength()), len(pkt))
	p := pkt[h.HeaderLength():end]
	fixIPv4 := func(b []byte) {
		in := IPv4(b)
		if len(b) >= IPv4MinimumSize && in.HeaderLength() >= IPv4MinimumSize && in.HeaderLength() <= len(b) {
			in.UpdateChecksum()
		}
	}
	switch h.Protocol() {
	case ProtocolIPIP:
		fixIPv4(p)
	case ProtocolGRE:
		if len(p) >= GREHeaderSize {
			g := GREHeader{ChecksumPresent: p[0]&0x80 != 0, KeyPresent: p[0]&0x20 != 0, SequencePresent: p[0]&0x10 != 0}
			if n := g.Len(); n <= len(p) {
				fixIPv4(p[n:])
				if g.ChecksumPresent {
					p[4], p[5] = 0, 0
					c := Checksum(p)
					p[4], p[5] = byte(c>>8), byte(c)
				}
			}
		}
	case ProtocolMinimal:
		n := MinimalHeaderSize
		if len(p) > 1 && p[1]&0x80 != 0 {
			n = MinimalHeaderSizeWithSource
		}
		if len(p) >= n {
			p[2], p[3] = 0, 0
			c := Checksum(p[:n])
			p[2], p[3] = byte(c>>8), byte(c)
		}
	}
	h.UpdateChecksum()
}
