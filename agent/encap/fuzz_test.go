package encap

import (
	"bytes"
	"testing"
)

// Every decoder has a fuzz target. The invariants: no panic on any input;
// what decodes is a consistent view of the input; and whatever decodes
// and lies in the encoder's domain re-encodes to exactly the same octets.
// Crashers that `go test -fuzz` writes under testdata/fuzz/ are kept there
// so that they run as ordinary test cases.

// sameButZero reports whether got equals want except that some 16-bit
// checksum fields at offs hold 0x0000 in got and 0xffff in want: the two
// zeros of one's complement arithmetic, both of which verify (RFC 1624 §3).
// Our encoders always write 0x0000, so an input with 0xffff there decodes
// but cannot come back byte for byte.
func sameButZero(got, want []byte, offs ...int) bool {
	if len(got) != len(want) {
		return false
	}
	w := clone(want)
	for _, o := range offs {
		if o+2 <= len(w) && w[o] == 0xff && w[o+1] == 0xff && got[o] == 0 && got[o+1] == 0 {
			w[o], w[o+1] = 0, 0
		}
	}
	return bytes.Equal(got, w)
}

func addSeeds(f *testing.F) {
	for _, name := range allEncapsulated {
		inner, pkt := loadPair(f, name)
		f.Add(pkt)
		f.Add(inner)
		f.Add(pkt[IPv4(pkt).HeaderLength():])
	}
	f.Add([]byte{})
	f.Add([]byte{0x45})
}

// addFixSeeds seeds targets that take (data, fix): with fix set, the
// target first makes every checksum in data correct.
func addFixSeeds(f *testing.F) {
	for _, name := range allEncapsulated {
		_, pkt := loadPair(f, name)
		f.Add(pkt, false)
		f.Add(pkt, true)
	}
	f.Add([]byte{}, false)
}

func FuzzIPv4(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		h := IPv4(data)
		if !h.IsValid(len(data)) {
			return
		}
		hl := h.HeaderLength()
		if hl < IPv4MinimumSize || hl > len(data) || int(h.TotalLength()) > len(data) || len(h.Payload()) != int(h.TotalLength())-hl {
			t.Fatalf("IsValid accepted an inconsistent header %x", data)
		}
		fields := h.Fields()
		b := make(IPv4, hl)
		b.Encode(&fields)
		if !bytes.Equal(b, data[:hl]) {
			t.Fatalf("Encode(Fields()) = %x, want %x", b, data[:hl])
		}
		c, want := h.Checksum(), h.ComputeChecksum()
		if h.IsChecksumValid() != (c == want || (want == 0 && c == 0xffff)) {
			t.Fatalf("IsChecksumValid %v, field %#x, computed %#x", h.IsChecksumValid(), c, want)
		}
	})
}

func FuzzDecapsulateIPIP(f *testing.F) {
	addFixSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		if fix {
			fixAll(data)
		}
		orig := clone(data)
		outer, inner, err := DecapsulateIPIP(data)
		if !bytes.Equal(data, orig) {
			t.Fatal("DecapsulateIPIP modified its input")
		}
		if err != nil {
			return
		}
		tl := int(outer.TotalLength())
		if !bytes.Equal(outer, data[:tl]) || !bytes.Equal(inner, data[outer.HeaderLength():tl]) {
			t.Fatal("views do not match the input")
		}
		if !inner.IsValid(len(inner)) || int(inner.TotalLength()) != len(inner) || inner.TTL() == 0 {
			t.Fatalf("accepted a bad inner datagram %x", inner)
		}
		if canonicalOuter(outer, inner) {
			if got := reencodeIPIP(t, outer, inner); !sameButZero(got, data[:tl], ipChecksum) {
				t.Fatalf("re-encoded\n %x\nwant %x", got, data[:tl])
			}
		}
	})
}

func FuzzDecapsulateGRE(f *testing.F) {
	addFixSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		if fix {
			fixAll(data)
		}
		orig := clone(data)
		outer, h, inner, err := DecapsulateGRE(data)
		if !bytes.Equal(data, orig) {
			t.Fatal("DecapsulateGRE modified its input")
		}
		if err != nil {
			return
		}
		tl := int(outer.TotalLength())
		if !bytes.Equal(inner, data[outer.HeaderLength()+h.Len():tl]) || h.Protocol != GREProtocolIPv4 {
			t.Fatal("views do not match the input")
		}
		if _, ok := greTunnelOf(outer, h, inner); ok && canonicalOuter(outer, inner) {
			if got := reencodeGRE(t, outer, h, inner); !sameButZero(got, data[:tl], ipChecksum, IPv4MinimumSize+GREHeaderSize) {
				t.Fatalf("re-encoded\n %x\nwant %x", got, data[:tl])
			}
		}
	})
}

func FuzzDecapsulateMinimal(f *testing.F) {
	addFixSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		if fix {
			fixAll(data)
		}
		orig := clone(data)
		d, mh, err := DecapsulateMinimal(data)
		if err != nil {
			if !bytes.Equal(data, orig) {
				t.Fatal("DecapsulateMinimal modified its input on error")
			}
			return
		}
		o := IPv4(orig)
		tl := int(o.TotalLength())
		if !d.IsValid(len(d)) || int(d.TotalLength()) != tl-mh.Len() || !d.IsChecksumValid() || d.Protocol() != mh.Protocol || d.Dst() != mh.Dst {
			t.Fatalf("restored datagram %x from %x", d, orig)
		}
		if !bytes.Equal(d[d.HeaderLength():], orig[o.HeaderLength()+mh.Len():tl]) {
			t.Fatal("payload moved")
		}
		// Our encapsulator writes reserved bits as zero, sets S exactly
		// when the source is not the encapsulator, and refuses a
		// datagram from the tunnel exit point.
		if mh.Reserved == 0 && (mh.Src.IsValid() == (d.Src() != o.Src())) && d.Src() != o.Dst() {
			tun := MinimalTunnel{Src: o.Src(), Dst: o.Dst()}
			got, err := tun.Encapsulate(withHeadroom(d), headroom)
			if err != nil {
				t.Fatalf("re-encapsulate: %v", err)
			}
			if !sameButZero(got, orig[:tl], ipChecksum, o.HeaderLength()+minChecksum) {
				t.Fatalf("re-encoded\n %x\nwant %x", got, orig[:tl])
			}
		}
	})
}

func FuzzParseGREHeader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		h, n, err := ParseGREHeader(data)
		if err != nil {
			return
		}
		if n != h.Len() || n > len(data) {
			t.Fatalf("length %d, Len %d, input %d", n, h.Len(), len(data))
		}
		b := clone(data)
		clear(b[:n])
		if err := h.Encode(b); err != nil {
			t.Fatal(err)
		}
		if !sameButZero(b, data, GREHeaderSize) {
			t.Fatalf("Encode(Parse(b)) = %x, want %x", b, data)
		}
	})
}

func FuzzParseMinimalHeader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		h, n, err := ParseMinimalHeader(data)
		if err != nil {
			return
		}
		b := make([]byte, n)
		if m, err := h.Encode(b); err != nil || m != n || n != h.Len() {
			t.Fatalf("Encode = %d, %v; parsed length %d", m, err, n)
		}
		if !sameButZero(b, data[:n], minChecksum) {
			t.Fatalf("Encode(Parse(b)) = %x, want %x", b, data[:n])
		}
	})
}
