package encap

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestChecksum(t *testing.T) {
	// RFC 1071 §3 worked example: the sum of 00 01 f2 03 f4 f5 f6 f7 is
	// ddf2, so the checksum is ~ddf2 = 220d.
	if got := Checksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}); got != 0x220d {
		t.Errorf("RFC 1071 example: %#04x", got)
	}
	// Odd lengths pad with a zero octet; every length agrees with a plain
	// 16-bit reference sum.
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 70 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		var ref uint32
		for i := 0; i < n; i += 2 {
			w := uint32(b[i]) << 8
			if i+1 < n {
				w |= uint32(b[i+1])
			}
			ref += w
		}
		for ref>>16 != 0 {
			ref = ref&0xffff + ref>>16
		}
		if got := Checksum(b); got != ^uint16(ref) {
			t.Errorf("len %d: %#x want %#x", n, got, ^uint16(ref))
		}
	}
	if Checksum(nil) != 0xffff {
		t.Error("empty")
	}
}

func TestChecksumUpdate(t *testing.T) {
	// RFC 1624 eqn. 3 must match recomputation for every TTL change.
	inner, _ := loadPair(t, "minimal-options.hex")
	h := IPv4(clone(inner))
	for ttl := 255; ttl >= 2; ttl-- {
		h.SetTTL(uint8(ttl))
		h.UpdateChecksum()
		h.decrementTTL()
		if !h.IsChecksumValid() || h.Checksum() != h.ComputeChecksum() {
			t.Fatalf("TTL %d: incremental %#x, full %#x", ttl, h.Checksum(), h.ComputeChecksum())
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		old, x, new := uint16(r.Uint32()), uint16(r.Uint32()), uint16(r.Uint32())
		switch r.IntN(8) {
		case 0:
			x = 0 // reach the edges of one's complement arithmetic
		case 1:
			x, new = 0, ^old
		case 2:
			old = 0xffff
		}
		if new == 0 && x == 0 {
			// An all-zero header checksums to 0xffff, and eqn. 3
			// gives the other zero, 0x0000 (RFC 1624 §3). An IPv4
			// header never sums to zero: its version is 4.
			continue
		}
		b := []byte{byte(old >> 8), byte(old), byte(x >> 8), byte(x)}
		c := Checksum(b)
		b[0], b[1] = byte(new>>8), byte(new)
		if got, want := checksumUpdate16(c, old, new), Checksum(b); got != want {
			t.Fatalf("%#x: %#x->%#x beside %#x: %#x, want %#x", c, old, new, x, got, want)
		}
	}
}

func TestIPv4IsValid(t *testing.T) {
	inner, _ := loadPair(t, "ipip-udp.hex")
	for _, tc := range []struct {
		name   string
		edit   func(IPv4) IPv4
		pktLen int
		want   bool
	}{
		{"golden", func(h IPv4) IPv4 { return h }, 32, true},
		{"pktLen larger", func(h IPv4) IPv4 { return h }, 1000, true},
		{"pktLen one short", func(h IPv4) IPv4 { return h }, 31, false},
		{"19 octets", func(h IPv4) IPv4 { return h[:19] }, 32, false},
		{"empty", func(h IPv4) IPv4 { return h[:0] }, 32, false},
		{"version 6", func(h IPv4) IPv4 { h[0] = 0x65; return h }, 32, false},
		{"IHL 4", func(h IPv4) IPv4 { h[0] = 0x44; return h }, 32, false},
		{"IHL 8 = Total Length", func(h IPv4) IPv4 { h[0] = 0x48; h.SetTotalLength(32); return h }, 32, true},
		{"IHL 8 > Total Length", func(h IPv4) IPv4 { h[0] = 0x48; h.SetTotalLength(31); return h }, 32, false},
		{"IHL 15 > len", func(h IPv4) IPv4 { h[0] = 0x4f; return h }, 100, false},
		{"Total Length 20", func(h IPv4) IPv4 { h.SetTotalLength(20); return h }, 32, true},
		{"Total Length 19", func(h IPv4) IPv4 { h.SetTotalLength(19); return h }, 32, false},
	} {
		h := tc.edit(IPv4(clone(inner)))
		if got := h.IsValid(tc.pktLen); got != tc.want {
			t.Errorf("%s: IsValid = %v", tc.name, got)
		}
	}
}

func TestErrors(t *testing.T) {
	err := error(fail(LayerGRE, CodeBadChecksum))
	if !errors.Is(err, ErrBadChecksum) || errors.Is(err, ErrTruncated) {
		t.Error("errors.Is against sentinels")
	}
	if !errors.Is(err, &Error{Layer: LayerGRE, Code: CodeBadChecksum}) || errors.Is(err, &Error{Layer: LayerOuter, Code: CodeBadChecksum}) {
		t.Error("errors.Is with a layer")
	}
	wrapped := fmt.Errorf("drop: %w", err)
	var e *Error
	if !errors.As(wrapped, &e) || e.Layer != LayerGRE || e.Code != CodeBadChecksum {
		t.Error("errors.As")
	}
	if got := err.Error(); got != "encap: GRE: bad checksum" {
		t.Errorf("Error() = %q", got)
	}
	if got := ErrTruncated.Error(); got != "encap: truncated" {
		t.Errorf("Error() = %q", got)
	}
	// Every layer and code has a name, and fail hands out the same value
	// every time (so it cannot allocate).
	for l := LayerOuter; l < numLayers; l++ {
		for c := CodeTruncated; c < numCodes; c++ {
			if fail(l, c) != fail(l, c) || l.String() == "" || c.String() == "unknown" {
				t.Errorf("layer %d code %d", l, c)
			}
		}
	}
	if Layer(200).String() != "any layer" || Code(200).String() != "unknown" {
		t.Error("out of range names")
	}
}

func TestClassifyGRESequence(t *testing.T) {
	for _, tc := range []struct {
		last, got uint32
		want      SequenceClass
	}{
		{GREInitialSequence, 0, SequenceInOrder}, // RFC 2890 §2.2: the first datagram carries 0
		{0, 1, SequenceInOrder},
		{0xffffffff, 0, SequenceInOrder},
		{5, 5, SequenceOld},
		{5, 4, SequenceOld},
		{5, 0x80000006, SequenceOld}, // 5-(2^31-1): the 2^31-1 numbers before last are old
		{5, 0x80000005, SequenceGap}, // 5-2^31: ...and the one before them is not
		{5, 7, SequenceGap},
		{0xfffffffe, 1, SequenceGap},
		{0, 1 << 31, SequenceGap},
	} {
		if got := ClassifyGRESequence(tc.last, tc.got); got != tc.want {
			t.Errorf("last %d received %d: %d, want %d", tc.last, tc.got, got, tc.want)
		}
	}
}

func TestCheckRoutingLoop(t *testing.T) {
	isHA := func(a netip.Addr) bool { return a == addrHA }
	mapped := netip.AddrFrom16(addrCoA.As16())
	for _, tc := range []struct {
		src   netip.Addr
		local func(netip.Addr) bool
		loop  bool
	}{
		{addrCN, nil, false},
		{addrCoA, nil, true}, // RFC 2003 §3.2 second rule
		{mapped, nil, true},
		{addrHA, nil, false}, // we may tunnel what we originate
		{addrHA, isHA, true}, // RFC 2003 §3.2 first rule, when forwarding
		{addrCN, isHA, false},
	} {
		err := CheckRoutingLoop(tc.src, addrCoA, tc.local)
		if (err != nil) != tc.loop || (err != nil && !errors.Is(err, ErrRoutingLoop)) {
			t.Errorf("src %v: %v", tc.src, err)
		}
	}
	_, gre := loadPair(t, "gre-plain.hex")
	outer := IPv4(gre)
	inner := IPv4(clone(gre[24:]))
	if CheckDecapsulatedLoop(outer, inner) != nil {
		t.Error("golden flagged as loop")
	}
	inner.SetDst(outer.Src())
	if !errors.Is(CheckDecapsulatedLoop(outer, inner), ErrRoutingLoop) {
		t.Error("RFC 2784 §3.1 loop not caught")
	}
}

// TestHeaderRoundTrip checks decode(encode(x)) == x for random GRE and
// minimal forwarding headers.
func TestHeaderRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	payload := []byte{0x45, 0, 0, 20, 1, 2, 3}
	for range 2000 {
		h := GREHeader{
			ChecksumPresent: r.IntN(2) == 0,
			KeyPresent:      r.IntN(2) == 0,
			SequencePresent: r.IntN(2) == 0,
			Reserved0:       uint8(r.IntN(128)),
			Protocol:        uint16(r.Uint32()),
		}
		if h.ChecksumPresent {
			h.Reserved1 = uint16(r.Uint32())
		}
		if h.KeyPresent {
			h.Key = r.Uint32()
		}
		if h.SequencePresent {
			h.Sequence = r.Uint32()
		}
		b := make([]byte, h.Len()+len(payload))
		copy(b[h.Len():], payload)
		if err := h.Encode(b); err != nil {
			t.Fatal(err)
		}
		got, n, err := ParseGREHeader(b)
		if err != nil || got != h || n != h.Len() {
			t.Fatalf("%+v: got %+v %d %v", h, got, n, err)
		}

		var a4 [4]byte
		for i := range a4 {
			a4[i] = byte(r.Uint32())
		}
		m := MinimalHeader{Protocol: uint8(r.Uint32()), Reserved: uint8(r.IntN(128)), Dst: netip.AddrFrom4(a4)}
		if r.IntN(2) == 0 {
			m.Src = netip.AddrFrom4([4]byte{a4[3], a4[2], 0, byte(r.Uint32())})
		}
		mb := make([]byte, 12)
		n, err = m.Encode(mb)
		if err != nil || n != m.Len() {
			t.Fatal(n, err)
		}
		gm, gn, err := ParseMinimalHeader(mb[:n])
		if err != nil || gm != m || gn != n {
			t.Fatalf("%+v: got %+v %d %v", m, gm, gn, err)
		}
	}
}

// TestEncapDecapRoundTrip checks decapsulate(encapsulate(x)) == x for
// random inner datagrams, with and without IP options.
func TestEncapDecapRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 500 {
		optLen := 4 * r.IntN(11)
		n := 20 + optLen + r.IntN(200)
		in := make(IPv4, n)
		for j := range in {
			in[j] = byte(r.Uint32())
		}
		in.SetHeaderLength(20 + optLen)
		in.SetTotalLength(uint16(n))
		in.SetFlagsFragmentOffset(uint8(r.IntN(2))*IPv4FlagDF, 0)
		in.SetTTL(uint8(1 + r.IntN(255)))
		in.SetSrc(addrCN)
		in.UpdateChecksum()
		d := Delivery{Src: addrHA, Dst: addrCoA, TTL: uint8(r.Uint32()), DF: r.IntN(2) == 0}

		ipip := IPIPTunnel{d}
		pkt, err := ipip.Encapsulate(withHeadroom(in), headroom, uint16(i))
		if err != nil {
			t.Fatal(err)
		}
		outer, got, err := DecapsulateIPIP(pkt)
		if err != nil {
			t.Fatal(err)
		}
		equalBytes(t, "IP in IP inner", got, in)
		equalBytes(t, "IP in IP re-encode", reencodeIPIP(t, outer, got), pkt)

		gre := GRETunnel{Delivery: d, Checksum: r.IntN(2) == 0, KeyPresent: r.IntN(2) == 0, Key: r.Uint32(), Sequence: r.IntN(2) == 0}
		pkt, err = gre.Encapsulate(withHeadroom(in), headroom, uint16(i), r.Uint32())
		if err != nil {
			t.Fatal(err)
		}
		outer, h, got, err := DecapsulateGRE(pkt)
		if err != nil {
			t.Fatal(err)
		}
		equalBytes(t, "GRE inner", got, in)
		equalBytes(t, "GRE re-encode", reencodeGRE(t, outer, h, got), pkt)

		min := MinimalTunnel{Src: addrHA, Dst: addrCoA}
		if r.IntN(4) == 0 {
			min.Src = addrCN // the encapsulator is the source: S = 0
		}
		pkt, err = min.Encapsulate(withHeadroom(in), headroom)
		if err != nil {
			t.Fatal(err)
		}
		got, mh, err := DecapsulateMinimal(clone(pkt))
		if err != nil {
			t.Fatal(err)
		}
		if mh.Src.IsValid() != (min.Src != addrCN) {
			t.Fatalf("S bit %v with encapsulator %v", mh.Src.IsValid(), min.Src)
		}
		equalBytes(t, "minimal inner", got, in)
	}
}

// TestNegativeZeroChecksum pins a fuzz finding: a checksum field may hold
// either zero of one's complement arithmetic (0x0000 or 0xffff) and still
// verify. Decoders accept both; encoders write 0x0000.
func TestNegativeZeroChecksum(t *testing.T) {
	b := []byte{0x80, 0x00, 0xff, 0xff, 0x7f, 0xff, 0x00, 0x00}
	h, n, err := ParseMinimalHeader(b)
	if err != nil || n != 8 {
		t.Fatal(n, err)
	}
	out := make([]byte, 8)
	h.Encode(out)
	equalBytes(t, "re-encoded", out, []byte{0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0x00, 0x00})
}

// TestSumAdd: the fast sum (64-bit host-order words, RFC 1071 §2(B)) is the
// plain 16-bit big-endian one for every length and even offset, from a
// running sum, and with carries piling up. Under qemu-mips (make test) it
// runs big-endian too.
func TestSumAdd(t *testing.T) {
	ref := func(b []byte) uint16 {
		var s uint32
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
		for s>>16 != 0 {
			s = s&0xffff + s>>16
		}
		return uint16(s)
	}
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 70000)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 31, 32, 33, 63, 64, 65, 1467, 1468, 65535, 70000} {
		for _, off := range []int{0, 2, 6} { // even offsets: the sums start on a word
			b := buf[off : off+min(n, len(buf)-off)]
			if got, want := SumFold(SumAdd(b, 0)), ref(b); got != want {
				t.Errorf("%d octets at %d: %#04x, want %#04x", len(b), off, got, want)
			}
		}
	}
	ff := bytes.Repeat([]byte{0xff}, 4096)
	if got := SumFold(SumAdd(ff, ^uint64(0))); got != 0xffff {
		t.Errorf("all ones: %#04x", got)
	}
	if got, want := SumFold(SumAdd(buf[:100], SumAdd(buf[100:1000], 0))), ref(buf[:1000]); got != want {
		t.Errorf("chained: %#04x, want %#04x", got, want)
	}
}
