package encap

import (
	"net/netip"
	"testing"
)

// The golden files were built with scapy (testdata/encap/gen.py), not with
// this package, so these tests compare against an independent encoder.

func TestIPIPGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		tun  IPIPTunnel
		id   uint16
	}{
		{"ipip-udp.hex", IPIPTunnel{Delivery{Src: addrHA, Dst: addrCoA}}, 0x1234},
		{"ipip-icmp.hex", IPIPTunnel{Delivery{Src: addrHA, Dst: addrCoA, TTL: 255}}, 0xfffe},
	} {
		t.Run(tc.file, func(t *testing.T) {
			inner, want := loadPair(t, tc.file)
			pkt, err := tc.tun.Encapsulate(withHeadroom(inner), headroom, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			equalBytes(t, "encapsulate", pkt, want)

			outer, gotInner, err := DecapsulateIPIP(clone(want))
			if err != nil {
				t.Fatal(err)
			}
			equalBytes(t, "decapsulate", gotInner, inner)
			if outer.Src() != addrHA || outer.Dst() != addrCoA || outer.ID() != tc.id || outer.Protocol() != ProtocolIPIP {
				t.Errorf("outer %v -> %v id %#x proto %d", outer.Src(), outer.Dst(), outer.ID(), outer.Protocol())
			}
			equalBytes(t, "encode(decode(b))", reencodeIPIP(t, outer, gotInner), want)
		})
	}
}

func TestGREGolden(t *testing.T) {
	d := Delivery{Src: addrHA, Dst: addrCoA}
	for _, tc := range []struct {
		file string
		tun  GRETunnel
		id   uint16
		seq  uint32
		hdr  GREHeader
	}{
		{"gre-plain.hex", GRETunnel{Delivery: d}, 0x2000, 0,
			GREHeader{Protocol: GREProtocolIPv4}},
		{"gre-key-seq.hex", GRETunnel{Delivery: d, KeyPresent: true, Key: 0x01020304, Sequence: true}, 0x2001, 7,
			GREHeader{KeyPresent: true, SequencePresent: true, Protocol: GREProtocolIPv4, Key: 0x01020304, Sequence: 7}},
		{"gre-csum-key-seq.hex", GRETunnel{Delivery: d, Checksum: true, KeyPresent: true, Key: 0xdeadbeef, Sequence: true}, 0x2002, 0xffffffff,
			GREHeader{ChecksumPresent: true, KeyPresent: true, SequencePresent: true, Protocol: GREProtocolIPv4, Key: 0xdeadbeef, Sequence: 0xffffffff}},
		{"gre-csum.hex", GRETunnel{Delivery: d, Checksum: true}, 0x2003, 99,
			GREHeader{ChecksumPresent: true, Protocol: GREProtocolIPv4}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			inner, want := loadPair(t, tc.file)
			if got := tc.tun.Overhead(); got != len(want)-len(inner) {
				t.Errorf("Overhead() = %d, want %d", got, len(want)-len(inner))
			}
			pkt, err := tc.tun.Encapsulate(withHeadroom(inner), headroom, tc.id, tc.seq)
			if err != nil {
				t.Fatal(err)
			}
			equalBytes(t, "encapsulate", pkt, want)

			outer, h, gotInner, err := DecapsulateGRE(clone(want))
			if err != nil {
				t.Fatal(err)
			}
			if h != tc.hdr {
				t.Errorf("GRE header %+v, want %+v", h, tc.hdr)
			}
			equalBytes(t, "decapsulate", gotInner, inner)
			equalBytes(t, "encode(decode(b))", reencodeGRE(t, outer, h, gotInner), want)

			// The header codec alone: decode(encode(x)) == x and
			// encode(decode(b)) == b.
			g := clone(outer.Payload())
			h2, n, err := ParseGREHeader(g)
			if err != nil || h2 != tc.hdr || n != h.Len() {
				t.Fatalf("ParseGREHeader = %+v, %d, %v", h2, n, err)
			}
			g2 := clone(g)
			clear(g2[:n])
			if err := h2.Encode(g2); err != nil {
				t.Fatal(err)
			}
			equalBytes(t, "GREHeader.Encode", g2, g)
		})
	}
}

func TestMinimalGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		hdr  MinimalHeader
	}{
		{"minimal-s1.hex", MinimalHeader{Protocol: ProtocolUDP, Dst: addrMN, Src: addrCN}},
		{"minimal-options.hex", MinimalHeader{Protocol: ProtocolUDP, Dst: addrMN, Src: addrCN}},
		{"minimal-s0.hex", MinimalHeader{Protocol: ProtocolUDP, Dst: addrMN}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			inner, want := loadPair(t, tc.file)
			tun := MinimalTunnel{Src: addrHA, Dst: addrCoA}
			pkt, err := tun.Encapsulate(withHeadroom(inner), headroom)
			if err != nil {
				t.Fatal(err)
			}
			equalBytes(t, "encapsulate", pkt, want)

			got, h, err := DecapsulateMinimal(clone(want))
			if err != nil {
				t.Fatal(err)
			}
			if h != tc.hdr {
				t.Errorf("minimal header %+v, want %+v", h, tc.hdr)
			}
			equalBytes(t, "decapsulate", got, inner)

			// The header codec alone, both ways.
			hl := IPv4(want).HeaderLength()
			mb := want[hl : hl+h.Len()]
			h2, n, err := ParseMinimalHeader(mb)
			if err != nil || h2 != tc.hdr || n != len(mb) {
				t.Fatalf("ParseMinimalHeader = %+v, %d, %v", h2, n, err)
			}
			enc := make([]byte, n)
			if m, err := h2.Encode(enc); err != nil || m != n {
				t.Fatalf("Encode = %d, %v", m, err)
			}
			equalBytes(t, "MinimalHeader.Encode", enc, mb)
		})
	}
}

func TestIPv4ViewGolden(t *testing.T) {
	inner, _ := loadPair(t, "ipip-udp.hex")
	h := IPv4(inner)
	if !h.IsValid(len(inner)) || !h.IsChecksumValid() {
		t.Fatal("golden inner header not valid")
	}
	want := IPv4Fields{
		TOS: 0xb8, TotalLength: 32, ID: 0x0102, Flags: IPv4FlagDF, TTL: 63,
		Protocol: ProtocolUDP, Checksum: 0x6dfa, Src: addrCN, Dst: addrMN, Options: []byte{},
	}
	got := h.Fields()
	if got.TOS != want.TOS || got.TotalLength != want.TotalLength || got.ID != want.ID ||
		got.Flags != want.Flags || got.FragmentOffset != 0 || got.TTL != want.TTL ||
		got.Protocol != want.Protocol || got.Checksum != want.Checksum ||
		got.Src != want.Src || got.Dst != want.Dst || len(got.Options) != 0 {
		t.Errorf("Fields() = %+v\nwant %+v", got, want)
	}
	if h.Version() != 4 || h.IHL() != 5 || h.HeaderLength() != 20 || !h.DF() || h.MF() || h.IsFragment() {
		t.Error("version/IHL/flags accessors")
	}
	if h.ComputeChecksum() != 0x6dfa {
		t.Errorf("ComputeChecksum = %#x", h.ComputeChecksum())
	}
	if len(h.Payload()) != 12 {
		t.Errorf("Payload length %d", len(h.Payload()))
	}

	// Encode(Fields()) reproduces the header, and so does building it
	// field by field with the setters.
	b := make(IPv4, 20)
	b.Encode(&want)
	equalBytes(t, "Encode", b, inner[:20])
	s := make(IPv4, 20)
	s.SetHeaderLength(20)
	s.SetTOS(0xb8)
	s.SetTotalLength(32)
	s.SetID(0x0102)
	s.SetFlagsFragmentOffset(IPv4FlagDF, 0)
	s.SetTTL(63)
	s.SetProtocol(ProtocolUDP)
	s.SetSrc(addrCN)
	s.SetDst(netip.AddrFrom16(addrMN.As16())) // IPv4-mapped is accepted
	s.UpdateChecksum()
	equalBytes(t, "setters", s, inner[:20])

	// A header with options, a fragment offset and MF.
	opt, _ := loadPair(t, "minimal-options.hex")
	o := IPv4(clone(opt))
	if o.HeaderLength() != 24 || len(o.Options()) != 4 || o.Options()[0] != 0x94 {
		t.Fatalf("options: %x", o.Options())
	}
	o.SetFlagsFragmentOffset(IPv4FlagMF|IPv4FlagReserved, 0x1fff)
	if !o.MF() || o.DF() || o.FragmentOffset() != 0x1fff || o.Flags() != 5 || !o.IsFragment() {
		t.Errorf("flags %d offset %#x", o.Flags(), o.FragmentOffset())
	}
	f := o.Fields()
	o2 := make(IPv4, 24)
	o2.Encode(&f)
	equalBytes(t, "Encode with options", o2, o[:24])
}
