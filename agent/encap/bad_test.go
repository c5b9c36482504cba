package encap

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

var allEncapsulated = []string{
	"ipip-udp.hex", "ipip-icmp.hex",
	"gre-plain.hex", "gre-key-seq.hex", "gre-csum-key-seq.hex", "gre-csum.hex",
	"minimal-s1.hex", "minimal-s0.hex", "minimal-options.hex",
}

// decapAny runs the decapsulator for pkt's protocol on a copy of pkt.
func decapAny(pkt []byte) (int, error) {
	pkt = clone(pkt)
	proto := uint8(0)
	if len(pkt) > ipProtocol {
		proto = pkt[ipProtocol]
	}
	switch proto {
	case ProtocolGRE:
		_, _, in, err := DecapsulateGRE(pkt)
		return len(in), err
	case ProtocolMinimal:
		in, _, err := DecapsulateMinimal(pkt)
		return len(in), err
	default:
		_, in, err := DecapsulateIPIP(pkt)
		return len(in), err
	}
}

func TestDecapsulateTruncatedEveryLength(t *testing.T) {
	for _, name := range allEncapsulated {
		_, pkt := loadPair(t, name)
		for n := range len(pkt) {
			_, err := decapAny(pkt[:n])
			// The outer Total Length always claims more than is left.
			wantErr(t, err, LayerOuter, CodeTruncated)
		}
		// Trailing octets past Total Length (link padding) are ignored.
		if _, err := decapAny(append(clone(pkt), 0, 0, 0)); err != nil {
			t.Errorf("%s with padding: %v", name, err)
		}
	}
}

// TestDecapsulateShortenedEveryLength cuts the datagram short and sets the
// outer Total Length (and the checksums) to match, so that the inner
// layers see every possible short length.
func TestDecapsulateShortenedEveryLength(t *testing.T) {
	for _, name := range allEncapsulated {
		inner, pkt := loadPair(t, name)
		ohl := IPv4(pkt).HeaderLength()
		encLen := len(pkt) - len(inner) // outer + GRE header, or the forwarding header
		for n := ohl; n < len(pkt); n++ {
			p := clone(pkt[:n])
			IPv4(p).SetTotalLength(uint16(n))
			fixChecksums(p)
			got, err := decapAny(p)
			switch proto := p[ipProtocol]; {
			case proto == ProtocolMinimal:
				// Only the IP Total Length says where the datagram
				// ends; a datagram cut after the forwarding header
				// is just a shorter datagram.
				if n < ohl+encLen {
					wantErr(t, err, LayerMinimal, CodeTruncated)
				} else if err != nil || got != n-encLen {
					t.Fatalf("%s n=%d: got %d, %v", name, n, got, err)
				}
			case n < encLen:
				if proto == ProtocolIPIP {
					t.Fatal("unreachable")
				}
				wantErr(t, err, LayerGRE, CodeTruncated)
			case n-encLen < IPv4MinimumSize:
				wantErr(t, err, LayerInner, CodeTruncated)
			default:
				wantErr(t, err, LayerInner, CodeBadLength)
			}
		}
	}
}

// mutation changes a copy of a golden datagram; fix says whether to
// recompute the outer (and GRE) checksums afterwards.
type mutation struct {
	name  string
	files []string
	edit  func(p []byte)
	fix   bool
	layer Layer
	code  Code
}

func add16(p []byte, off int, d int) {
	binary.BigEndian.PutUint16(p[off:], uint16(int(binary.BigEndian.Uint16(p[off:]))+d))
}

// innerOff is where the inner datagram starts in an encapsulated golden
// packet.
func innerOff(p []byte) int {
	if p[ipProtocol] != ProtocolGRE {
		return 20
	}
	// From the presence bits alone: the GRE checksum may be stale.
	n := 20 + GREHeaderSize
	for _, bit := range []byte{0x80, 0x20, 0x10} {
		if p[20]&bit != 0 {
			n += GREFieldSize
		}
	}
	return n
}

// fixInner recomputes the inner header checksum.
func fixInner(p []byte) {
	in := IPv4(p[innerOff(p):])
	if in.HeaderLength() >= 20 && in.HeaderLength() <= len(in) {
		in.UpdateChecksum()
	}
}

func TestDecapsulateMutations(t *testing.T) {
	ipip := []string{"ipip-udp.hex", "ipip-icmp.hex"}
	gre := []string{"gre-plain.hex", "gre-key-seq.hex", "gre-csum-key-seq.hex", "gre-csum.hex"}
	greC := []string{"gre-csum-key-seq.hex", "gre-csum.hex"}
	greNoC := []string{"gre-plain.hex", "gre-key-seq.hex"}
	tunnels := append(append([]string{}, ipip...), gre...)
	minimal := []string{"minimal-s1.hex", "minimal-s0.hex", "minimal-options.hex"}
	minS1 := []string{"minimal-s1.hex", "minimal-options.hex"}
	all := allEncapsulated

	for _, m := range []mutation{
		// Outer IPv4 header.
		{"outer version 6", all, func(p []byte) { p[0] = 0x65 }, true, LayerOuter, CodeBadVersion},
		{"outer version 0", all, func(p []byte) { p[0] &= 0x0f }, true, LayerOuter, CodeBadVersion},
		{"outer IHL 4", tunnels, func(p []byte) { p[0] = 0x44 }, true, LayerOuter, CodeBadHeaderLength},
		{"outer IHL 0", all, func(p []byte) { p[0] = 0x40 }, false, LayerOuter, CodeBadHeaderLength},
		{"outer IHL 15, past the end", []string{"gre-plain.hex", "ipip-udp.hex", "ipip-icmp.hex", "minimal-s1.hex", "minimal-s0.hex", "minimal-options.hex"},
			func(p []byte) { p[0] = 0x4f }, false, LayerOuter, CodeTruncated},
		{"outer IHL 15", []string{"gre-csum.hex", "gre-key-seq.hex", "gre-csum-key-seq.hex"}, func(p []byte) { p[0] = 0x4f }, false, LayerOuter, CodeBadChecksum},
		{"outer total length +1", all, func(p []byte) { add16(p, ipTotalLen, 1) }, true, LayerOuter, CodeTruncated},
		{"outer total length -1", ipip, func(p []byte) { add16(p, ipTotalLen, -1) }, true, LayerInner, CodeBadLength},
		{"outer total length -1", greNoC, func(p []byte) { add16(p, ipTotalLen, -1) }, true, LayerInner, CodeBadLength},
		{"outer total length -1, GRE checksum stale", greC, func(p []byte) { add16(p, ipTotalLen, -1); IPv4(p).UpdateChecksum() }, false, LayerGRE, CodeBadChecksum},
		{"outer total length below IHL", all, func(p []byte) { binary.BigEndian.PutUint16(p[ipTotalLen:], 19) }, true, LayerOuter, CodeBadHeaderLength},
		{"outer checksum", all, func(p []byte) { p[ipChecksum] ^= 1 }, false, LayerOuter, CodeBadChecksum},
		{"outer TTL changed", all, func(p []byte) { p[ipTTL]-- }, false, LayerOuter, CodeBadChecksum},
		{"outer protocol UDP", all, func(p []byte) { p[ipProtocol] = ProtocolUDP }, true, LayerOuter, CodeBadProtocol},
		{"outer MF", all, func(p []byte) { p[ipFlagsFrag] |= 0x20 }, true, LayerOuter, CodeFragment},
		{"outer fragment offset 1", all, func(p []byte) { p[ipFlagsFrag+1] |= 1 }, true, LayerOuter, CodeFragment},

		// Inner IPv4 datagram.
		{"inner version 6", tunnels, func(p []byte) { p[innerOff(p)] = 0x65; fixInner(p) }, true, LayerInner, CodeBadVersion},
		{"inner IHL 4", tunnels, func(p []byte) { p[innerOff(p)] = 0x44 }, true, LayerInner, CodeBadHeaderLength},
		{"inner IHL 6, checksum stale", tunnels, func(p []byte) { p[innerOff(p)] = 0x46 }, true, LayerInner, CodeBadChecksum},
		{"inner total length +1", tunnels, func(p []byte) { add16(p, innerOff(p)+ipTotalLen, 1); fixInner(p) }, true, LayerInner, CodeBadLength},
		{"inner total length -1", tunnels, func(p []byte) { add16(p, innerOff(p)+ipTotalLen, -1); fixInner(p) }, true, LayerInner, CodeBadLength},
		{"inner total length 19", tunnels, func(p []byte) { binary.BigEndian.PutUint16(p[innerOff(p)+ipTotalLen:], 19); fixInner(p) }, true, LayerInner, CodeBadHeaderLength},
		{"inner checksum", tunnels, func(p []byte) { p[innerOff(p)+ipChecksum] ^= 0x80 }, true, LayerInner, CodeBadChecksum},
		{"inner TTL 0", tunnels, func(p []byte) { p[innerOff(p)+ipTTL] = 0; fixInner(p) }, true, LayerInner, CodeTTLExpired},

		// GRE header (RFC 2784 §2, RFC 2890 §2).
		{"GRE version 1", gre, func(p []byte) { p[21] |= 1 }, true, LayerGRE, CodeBadVersion},
		{"GRE bit 1 (routing)", gre, func(p []byte) { p[20] |= 0x40 }, true, LayerGRE, CodeReservedBits},
		{"GRE bit 4 (strict source route)", gre, func(p []byte) { p[20] |= 0x08 }, true, LayerGRE, CodeReservedBits},
		{"GRE bit 5 (recursion)", gre, func(p []byte) { p[20] |= 0x04 }, true, LayerGRE, CodeReservedBits},
		{"GRE protocol 0x86dd", greNoC, func(p []byte) { p[22], p[23] = 0x86, 0xdd }, true, LayerGRE, CodeBadProtocol},
		{"GRE checksum", greC, func(p []byte) { p[24] ^= 1 }, false, LayerGRE, CodeBadChecksum},
		{"GRE payload changed", greC, func(p []byte) { p[len(p)-1] ^= 1 }, false, LayerGRE, CodeBadChecksum},
		// Presence bits are the GRE length fields: one more or one
		// fewer 4-octet field moves the inner header.
		{"GRE K cleared", []string{"gre-key-seq.hex"}, func(p []byte) { p[20] &^= 0x20 }, true, LayerInner, CodeBadVersion},
		{"GRE K set", []string{"gre-plain.hex"}, func(p []byte) { p[20] |= 0x20 }, true, LayerInner, CodeBadVersion},
		{"GRE S set, inner shorter", []string{"gre-plain.hex"}, func(p []byte) { p[20] |= 0x10 }, true, LayerInner, CodeBadVersion},
		// With C cleared the inner header starts at the old checksum
		// field: 0x7698 has version 7, 0x4436 has IHL 4.
		{"GRE C cleared", []string{"gre-csum-key-seq.hex"}, func(p []byte) { p[20] &^= 0x80 }, true, LayerInner, CodeBadVersion},
		{"GRE C cleared", []string{"gre-csum.hex"}, func(p []byte) { p[20] &^= 0x80 }, true, LayerInner, CodeBadHeaderLength},
		// The outer checksum does not cover the GRE header.
		{"GRE C set on checksumless", greNoC, func(p []byte) { p[20] |= 0x80 }, false, LayerGRE, CodeBadChecksum},
		{"GRE inner addressed to encapsulator", gre, func(p []byte) {
			off := innerOff(p)
			copy(p[off+ipDst:off+ipDst+4], p[ipSrc:ipSrc+4])
			fixInner(p)
		}, true, LayerInner, CodeRoutingLoop},

		// Minimal forwarding header (RFC 2004 §3).
		{"minimal S cleared", minS1, func(p []byte) { p[IPv4(p).HeaderLength()+1] &^= 0x80 }, true, LayerMinimal, CodeBadChecksum},
		{"minimal S set", []string{"minimal-s0.hex"}, func(p []byte) { p[IPv4(p).HeaderLength()+1] |= 0x80 }, true, LayerMinimal, CodeBadChecksum},
		{"minimal checksum", minimal, func(p []byte) { p[IPv4(p).HeaderLength()+2] ^= 1 }, true, LayerMinimal, CodeBadChecksum},
		{"minimal original destination", minimal, func(p []byte) { p[IPv4(p).HeaderLength()+4] ^= 1 }, true, LayerMinimal, CodeBadChecksum},
		{"minimal TTL 0", minimal, func(p []byte) { p[ipTTL] = 0 }, true, LayerInner, CodeTTLExpired},
	} {
		for _, name := range m.files {
			t.Run(m.name+"/"+name, func(t *testing.T) {
				_, pkt := loadPair(t, name)
				p := clone(pkt)
				m.edit(p)
				if m.fix {
					fixChecksums(p)
				}
				_, err := decapAny(p)
				wantErr(t, err, m.layer, m.code)
			})
		}
	}
}

func TestDecapsulateLeavesPacketAloneOnError(t *testing.T) {
	_, pkt := loadPair(t, "minimal-s1.hex")
	p := clone(pkt)
	p[IPv4(p).HeaderLength()+2] ^= 1
	before := clone(p)
	if _, _, err := DecapsulateMinimal(p); err == nil {
		t.Fatal("no error")
	}
	equalBytes(t, "after failed decapsulation", p, before)
}

func TestWrongDecapsulator(t *testing.T) {
	_, ipip := loadPair(t, "ipip-udp.hex")
	_, gre := loadPair(t, "gre-plain.hex")
	_, min := loadPair(t, "minimal-s0.hex")
	if _, _, _, err := DecapsulateGRE(ipip); !errors.Is(err, ErrBadProtocol) {
		t.Error(err)
	}
	if _, _, err := DecapsulateMinimal(gre); !errors.Is(err, ErrBadProtocol) {
		t.Error(err)
	}
	if _, _, err := DecapsulateIPIP(min); !errors.Is(err, ErrBadProtocol) {
		t.Error(err)
	}
}

func TestParseHeadersShort(t *testing.T) {
	_, pkt := loadPair(t, "gre-csum-key-seq.hex")
	g := pkt[20:]
	for n := range GREMaximumHeaderSize {
		if _, _, err := ParseGREHeader(g[:n]); err == nil {
			t.Fatalf("ParseGREHeader accepted %d octets", n)
		} else if n >= 4 {
			wantErr(t, err, LayerGRE, CodeTruncated)
		}
	}
	_, pkt = loadPair(t, "minimal-s1.hex")
	m := pkt[20:]
	for n := range MinimalHeaderSizeWithSource {
		_, _, err := ParseMinimalHeader(m[:n])
		wantErr(t, err, LayerMinimal, CodeTruncated)
	}
	if _, _, err := ParseMinimalHeader(m[:MinimalHeaderSizeWithSource]); err != nil {
		t.Fatal(err)
	}
}

func TestEncapsulateErrors(t *testing.T) {
	inner, _ := loadPair(t, "ipip-udp.hex")
	v6 := netip.MustParseAddr("2001:db8::1")
	ok := Delivery{Src: addrHA, Dst: addrCoA}

	type encFn func(buf []byte, off int) ([]byte, error)
	ipipFn := func(d Delivery) encFn {
		return func(b []byte, off int) ([]byte, error) { t := IPIPTunnel{d}; return t.Encapsulate(b, off, 1) }
	}
	greFn := func(d Delivery) encFn {
		return func(b []byte, off int) ([]byte, error) {
			t := GRETunnel{Delivery: d, Checksum: true, KeyPresent: true, Sequence: true}
			return t.Encapsulate(b, off, 1, 2)
		}
	}
	minFn := func(d Delivery) encFn {
		return func(b []byte, off int) ([]byte, error) {
			t := MinimalTunnel{Src: d.Src, Dst: d.Dst}
			return t.Encapsulate(b, off)
		}
	}
	edit := func(f func(IPv4)) []byte {
		p := clone(inner)
		f(IPv4(p))
		return p
	}
	for _, kind := range []struct {
		name string
		enc  func(Delivery) encFn
		need int
	}{{"ipip", ipipFn, 20}, {"gre", greFn, 36}, {"minimal", minFn, 12}} {
		for _, tc := range []struct {
			name  string
			d     Delivery
			inner []byte
			off   int
			layer Layer
			code  Code
		}{
			{"headroom one short", ok, inner, kind.need - 1, LayerOuter, CodeNoRoom},
			{"offset past end", ok, inner, len(inner) + headroom + 1, LayerOuter, CodeNoRoom},
			{"IPv6 source", Delivery{Src: v6, Dst: addrCoA}, inner, headroom, LayerOuter, CodeBadAddress},
			{"zero destination", Delivery{Src: addrHA}, inner, headroom, LayerOuter, CodeBadAddress},
			{"empty inner", ok, nil, headroom, LayerInner, CodeTruncated},
			{"inner total length +1", ok, edit(func(h IPv4) { h.SetTotalLength(h.TotalLength() + 1) }), headroom, LayerInner, CodeBadLength},
			{"inner total length -1", ok, edit(func(h IPv4) { h.SetTotalLength(h.TotalLength() - 1) }), headroom, LayerInner, CodeBadLength},
			{"inner version 6", ok, edit(func(h IPv4) { h[0] = 0x65 }), headroom, LayerInner, CodeBadVersion},
			{"inner TTL 0", ok, edit(func(h IPv4) { h.SetTTL(0) }), headroom, LayerInner, CodeTTLExpired},
			{"inner from tunnel exit", ok, edit(func(h IPv4) { h.SetSrc(addrCoA) }), headroom, LayerInner, CodeRoutingLoop},
		} {
			t.Run(kind.name+"/"+tc.name, func(t *testing.T) {
				buf := make([]byte, headroom+len(tc.inner))
				copy(buf[headroom:], tc.inner)
				if tc.off != headroom {
					buf = buf[headroom-kind.need:]
					tc.off -= headroom - kind.need
					if tc.name == "offset past end" {
						tc.off = len(buf) + 1
					}
				}
				before := clone(buf)
				_, err := kind.enc(tc.d)(buf, tc.off)
				wantErr(t, err, tc.layer, tc.code)
				equalBytes(t, "buffer after error", buf, before)
			})
		}
	}

	// Forwarding: TTL 1 would expire (RFC 2003 §3.1), and a forwarded
	// datagram from our own address is refused (RFC 2003 §3.2).
	fwd := IPIPTunnel{Delivery{Src: addrHA, Dst: addrCoA, Forwarding: true}}
	_, err := fwd.Encapsulate(withHeadroom(edit(func(h IPv4) { h.SetTTL(1); h.UpdateChecksum() })), headroom, 1)
	wantErr(t, err, LayerInner, CodeTTLExpired)
	_, err = fwd.Encapsulate(withHeadroom(edit(func(h IPv4) { h.SetSrc(addrHA) })), headroom, 1)
	wantErr(t, err, LayerInner, CodeRoutingLoop)
	// ...but a datagram we originate ourselves may be tunnelled.
	own := IPIPTunnel{Delivery{Src: addrHA, Dst: addrCoA}}
	if _, err := own.Encapsulate(withHeadroom(edit(func(h IPv4) { h.SetSrc(addrHA); h.UpdateChecksum() })), headroom, 1); err != nil {
		t.Error(err)
	}

	// Minimal encapsulation refuses fragments (RFC 2004 §3).
	for _, f := range []func(IPv4){
		func(h IPv4) { h.SetFlagsFragmentOffset(IPv4FlagMF, 0) },
		func(h IPv4) { h.SetFlagsFragmentOffset(0, 1) },
	} {
		m := MinimalTunnel{Src: addrHA, Dst: addrCoA}
		_, err := m.Encapsulate(withHeadroom(edit(f)), headroom)
		wantErr(t, err, LayerInner, CodeFragment)
	}
	// IP in IP and GRE carry fragments.
	frag := edit(func(h IPv4) { h.SetFlagsFragmentOffset(IPv4FlagMF, 0); h.UpdateChecksum() })
	if _, err := own.Encapsulate(withHeadroom(frag), headroom, 1); err != nil {
		t.Error(err)
	}

	// Too big: a 65535-octet inner datagram leaves no room for a header.
	big := make([]byte, IPv4MaximumSize)
	copy(big, inner[:20])
	IPv4(big).SetTotalLength(IPv4MaximumSize)
	for _, enc := range []encFn{ipipFn(ok), greFn(ok), minFn(ok)} {
		_, err := enc(withHeadroom(big), headroom)
		wantErr(t, err, LayerOuter, CodeTooBig)
	}

	// The header encoders check their buffers and addresses.
	var h GREHeader
	h.KeyPresent = true
	wantErr(t, h.Encode(make([]byte, 7)), LayerGRE, CodeNoRoom)
	mh := MinimalHeader{Dst: addrMN, Src: addrCN}
	_, err = mh.Encode(make([]byte, 11))
	wantErr(t, err, LayerMinimal, CodeNoRoom)
	mh.Src = v6
	_, err = mh.Encode(make([]byte, 12))
	wantErr(t, err, LayerMinimal, CodeBadAddress)
	mh = MinimalHeader{}
	_, err = mh.Encode(make([]byte, 12))
	wantErr(t, err, LayerMinimal, CodeBadAddress)
}

func TestForwardingDecrementsInnerTTL(t *testing.T) {
	inner, _ := loadPair(t, "ipip-udp.hex")
	for _, enc := range []func([]byte) ([]byte, error){
		func(b []byte) ([]byte, error) {
			t := IPIPTunnel{Delivery{Src: addrHA, Dst: addrCoA, Forwarding: true}}
			return t.Encapsulate(b, headroom, 9)
		},
		func(b []byte) ([]byte, error) {
			t := GRETunnel{Delivery: Delivery{Src: addrHA, Dst: addrCoA, Forwarding: true}, Checksum: true}
			return t.Encapsulate(b, headroom, 9, 0)
		},
	} {
		buf := withHeadroom(inner)
		pkt, err := enc(buf)
		if err != nil {
			t.Fatal(err)
		}
		in := IPv4(buf[headroom:])
		if in.TTL() != IPv4(inner).TTL()-1 {
			t.Errorf("inner TTL %d", in.TTL())
		}
		// The incremental update must agree with a full recomputation.
		if !in.IsChecksumValid() || in.Checksum() != in.ComputeChecksum() {
			t.Errorf("inner checksum %#x, want %#x", in.Checksum(), in.ComputeChecksum())
		}
		if _, err := decapAny(pkt); err != nil {
			t.Error(err)
		}
	}
}

func TestDFAndTOS(t *testing.T) {
	inner, _ := loadPair(t, "ipip-icmp.hex") // DF clear, TOS 0
	for _, tc := range []struct {
		innerDF, tunnelDF, want bool
	}{{false, false, false}, {false, true, true}, {true, false, true}, {true, true, true}} {
		p := clone(inner)
		if tc.innerDF {
			IPv4(p).SetFlagsFragmentOffset(IPv4FlagDF, 0)
		}
		IPv4(p).SetTOS(0x2e)
		IPv4(p).UpdateChecksum()
		tun := GRETunnel{Delivery: Delivery{Src: addrHA, Dst: addrCoA, DF: tc.tunnelDF, TTL: 7}}
		pkt, err := tun.Encapsulate(withHeadroom(p), headroom, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		o := IPv4(pkt)
		if o.DF() != tc.want || o.TOS() != 0x2e || o.TTL() != 7 || o.Flags()&^IPv4FlagDF != 0 {
			t.Errorf("%+v: outer DF %v TOS %#x TTL %d", tc, o.DF(), o.TOS(), o.TTL())
		}
	}
}
