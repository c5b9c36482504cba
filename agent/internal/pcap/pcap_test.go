package pcap

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/golden"
)

var (
	cn = netip.MustParseAddr("192.0.2.10")
	mn = netip.MustParseAddr("10.10.0.5")
)

// goldenInner returns the "inner" packet of a testdata/encap file; those
// were built by scapy, independently of this package.
func goldenInner(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(golden.Dir(), "encap", name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := golden.ParseAll(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return p[0]
}

func TestUDPMatchesScapy(t *testing.T) {
	h := IPv4{Src: cn, Dst: mn, TOS: 0xb8, TTL: 63, ID: 0x0102, DF: true}
	got := h.UDP(40000, 7, []byte("ping"))
	if want := goldenInner(t, "ipip-udp.hex"); !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
}

func TestICMPMatchesScapy(t *testing.T) {
	h := IPv4{Src: cn, Dst: mn, ID: 0xbeef}
	got := h.ICMP(8, 0, []byte{0x4d, 0x49, 0x00, 0x01, 'm', 'i', 'p', '4', 'd'})
	if want := goldenInner(t, "ipip-icmp.hex"); !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
}

func TestChecksums(t *testing.T) {
	for n := range 9 {
		p := UDP(netip.AddrPortFrom(cn, 434), netip.AddrPortFrom(mn, 434), bytes.Repeat([]byte{0xa5}, n))
		if InternetChecksum(p[:20]) != 0 {
			t.Errorf("payload %d: IPv4 header checksum does not verify", n)
		}
		pseudo := append(append(append([]byte{}, p[12:20]...), 0, 17, p[24], p[25]), p[20:]...)
		if InternetChecksum(pseudo) != 0 {
			t.Errorf("payload %d: UDP checksum does not verify", n)
		}
		if binary.BigEndian.Uint16(p[2:]) != uint16(len(p)) || binary.BigEndian.Uint16(p[24:]) != uint16(8+n) {
			t.Errorf("payload %d: lengths", n)
		}
	}
	// RFC 768: a checksum that computes to zero is sent as 0xffff. Pick
	// the payload word that makes the sum all ones.
	probe := UDP(netip.AddrPortFrom(cn, 1), netip.AddrPortFrom(mn, 2), []byte{0, 0})
	c := binary.BigEndian.Uint16(probe[26:])
	p := UDP(netip.AddrPortFrom(cn, 1), netip.AddrPortFrom(mn, 2), []byte{byte(c >> 8), byte(c)})
	if got := binary.BigEndian.Uint16(p[26:]); got != 0xffff {
		t.Errorf("zero UDP checksum sent as %#x", got)
	}
	r := Raw(cn, mn, 55, []byte{1, 2, 3})
	if r[9] != 55 || r[8] != 64 || len(r) != 23 || InternetChecksum(r[:20]) != 0 {
		t.Errorf("Raw: %x", r)
	}
	if InternetChecksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}) != 0x220d { // RFC 1071 §3
		t.Error("RFC 1071 example")
	}
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(0x01020304, 5000)
	if err := w.WritePacket(ts, []byte{0x45, 0xaa}); err != nil {
		t.Fatal(err)
	}
	want, err := golden.Parse(`
		a1 b2 c3 d4   # magic, microsecond timestamps
		00 02 00 04   # version 2.4
		00 00 00 00   # thiszone
		00 00 00 00   # sigfigs
		00 00 ff ff   # snaplen 65535
		00 00 00 65   # LINKTYPE_RAW (101)
		01 02 03 04   # ts_sec
		00 00 00 05   # ts_usec
		00 00 00 02   # incl_len
		00 00 00 02   # orig_len
		45 aa         # packet
	`)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("got  %x\nwant %x", buf.Bytes(), want)
	}
	if err := w.WritePacket(ts, make([]byte, SnapLen+1)); err == nil {
		t.Error("oversized packet accepted")
	}

	pkts := [][]byte{Raw(cn, mn, 4, nil), UDP(netip.AddrPortFrom(cn, 1), netip.AddrPortFrom(mn, 2), []byte("x"))}
	path := Write(t, "t.pcap", pkts...)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lt, got, err := Read(f)
	if err != nil || lt != LinkTypeRaw || len(got) != 2 || !bytes.Equal(got[0], pkts[0]) || !bytes.Equal(got[1], pkts[1]) {
		t.Fatalf("Read = %d, %x, %v", lt, got, err)
	}
}
