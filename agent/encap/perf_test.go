package encap

import (
	"fmt"
	"testing"
)

// datagram returns an IPv4/UDP datagram of n octets (n >= 28) with a
// correct header checksum, from the correspondent node to the mobile node.
func datagram(n int) []byte {
	b := make([]byte, n)
	h := IPv4(b)
	h.Encode(&IPv4Fields{TotalLength: uint16(n), ID: 7, Flags: IPv4FlagDF, TTL: 64, Protocol: ProtocolUDP, Src: addrCN, Dst: addrMN})
	h.UpdateChecksum()
	for i := IPv4MinimumSize; i < n; i++ {
		b[i] = byte(i)
	}
	return b
}

var (
	benchSizes = []int{64, 1400}
	benchGRE   = []struct {
		name string
		tun  GRETunnel
	}{
		{"plain", GRETunnel{Delivery: Delivery{Src: addrHA, Dst: addrCoA}}},
		{"key-seq", GRETunnel{Delivery: Delivery{Src: addrHA, Dst: addrCoA}, KeyPresent: true, Key: 1, Sequence: true}},
		{"csum-key-seq", GRETunnel{Delivery: Delivery{Src: addrHA, Dst: addrCoA}, Checksum: true, KeyPresent: true, Key: 1, Sequence: true}},
	}
)

// TestNoAllocs asserts the data-plane promise of DESIGN.md §4: no
// allocation per packet, on the success path and on the drop path.
func TestNoAllocs(t *testing.T) {
	in := datagram(200)
	ipip := IPIPTunnel{Delivery{Src: addrHA, Dst: addrCoA, Forwarding: true}}
	gre := benchGRE[2].tun
	min := MinimalTunnel{Src: addrHA, Dst: addrCoA}
	ipipPkt, _ := ipip.Encapsulate(withHeadroom(in), headroom, 1)
	grePkt, _ := gre.Encapsulate(withHeadroom(in), headroom, 1, 1)
	minBuf := withHeadroom(in)
	bad := clone(grePkt)
	bad[len(bad)-1] ^= 1 // GRE checksum fails

	var sink int
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"IPIPTunnel.Encapsulate", func() {
			buf := withHeadroomStatic(in)
			IPv4(buf[headroom:]).SetTTL(64) // undo the forwarding decrement
			IPv4(buf[headroom:]).UpdateChecksum()
			p, err := ipip.Encapsulate(buf, headroom, 1)
			sink += len(p)
			if err != nil {
				panic(err)
			}
		}},
		{"DecapsulateIPIP", func() {
			_, p, err := DecapsulateIPIP(ipipPkt)
			sink += len(p)
			if err != nil {
				panic(err)
			}
		}},
		{"GRETunnel.Encapsulate", func() {
			p, err := gre.Encapsulate(withHeadroomStatic(in), headroom, 1, 2)
			sink += len(p)
			if err != nil {
				panic(err)
			}
		}},
		{"DecapsulateGRE", func() {
			_, h, p, err := DecapsulateGRE(grePkt)
			sink += len(p) + int(h.Key)
			if err != nil {
				panic(err)
			}
		}},
		{"MinimalTunnel.Encapsulate+DecapsulateMinimal", func() {
			p, err := min.Encapsulate(minBuf, headroom)
			if err != nil {
				panic(err)
			}
			d, h, err := DecapsulateMinimal(p) // restores minBuf[headroom:]
			sink += len(d) + int(h.Protocol)
			if err != nil {
				panic(err)
			}
		}},
		{"drop paths", func() {
			_, _, _, err1 := DecapsulateGRE(bad)
			_, _, err2 := DecapsulateIPIP(bad[:7])
			_, _, err3 := DecapsulateMinimal(grePkt)
			_, err4 := ipip.Encapsulate(bad, 3, 1)
			if err1 == nil || err2 == nil || err3 == nil || err4 == nil {
				panic("no error")
			}
		}},
	} {
		if n := testing.AllocsPerRun(200, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations per run", tc.name, n)
		}
	}
	_ = sink
}

var staticBuf [headroom + 2048]byte

// withHeadroomStatic is withHeadroom into a reused buffer.
func withHeadroomStatic(inner []byte) []byte {
	b := staticBuf[:headroom+len(inner)]
	copy(b[headroom:], inner)
	return b
}

func BenchmarkIPIPEncapsulate(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			buf := withHeadroom(datagram(n))
			tun := IPIPTunnel{Delivery{Src: addrHA, Dst: addrCoA}}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := tun.Encapsulate(buf, headroom, uint16(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkIPIPDecapsulate(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tun := IPIPTunnel{Delivery{Src: addrHA, Dst: addrCoA}}
			pkt, _ := tun.Encapsulate(withHeadroom(datagram(n)), headroom, 1)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := DecapsulateIPIP(pkt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGREEncapsulate(b *testing.B) {
	for _, g := range benchGRE {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", g.name, n), func(b *testing.B) {
				buf := withHeadroom(datagram(n))
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if _, err := g.tun.Encapsulate(buf, headroom, uint16(i), uint32(i)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkGREDecapsulate(b *testing.B) {
	for _, g := range benchGRE {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", g.name, n), func(b *testing.B) {
				pkt, _ := g.tun.Encapsulate(withHeadroom(datagram(n)), headroom, 1, 1)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if _, _, _, err := DecapsulateGRE(pkt); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// The minimal encapsulation benchmarks work in place, so each iteration
// first puts back the 20 or 32 header octets the previous one moved.
func BenchmarkMinimalEncapsulate(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			in := datagram(n)
			buf := withHeadroom(in)
			tun := MinimalTunnel{Src: addrHA, Dst: addrCoA}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf[headroom:headroom+IPv4MinimumSize], in)
				if _, err := tun.Encapsulate(buf, headroom); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMinimalDecapsulate(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tun := MinimalTunnel{Src: addrHA, Dst: addrCoA}
			pkt, _ := tun.Encapsulate(withHeadroom(datagram(n)), headroom)
			saved := clone(pkt[:IPv4MinimumSize+MinimalHeaderSizeWithSource])
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				copy(pkt, saved)
				if _, _, err := DecapsulateMinimal(pkt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
