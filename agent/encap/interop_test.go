package encap

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/mip4d/mip4d/agent/internal/pcap"
	"github.com/mip4d/mip4d/agent/internal/scapy"
	"github.com/mip4d/mip4d/agent/internal/tshark"
)

// These tests hand our encapsulations to independent decoders: tshark
// (Wireshark's IP, GRE and UDP dissectors, with checksum verification on)
// and, for minimal encapsulation, which Wireshark does not dissect, a
// scapy script that undoes RFC 2004 §3 by itself. The inner datagrams are
// built by agent/internal/pcap, which shares no code with this package.

// interopInner is the datagram every tunnel below carries.
func interopInner() []byte {
	return pcap.IPv4{Src: addrCN, Dst: addrMN, TOS: 0x28, TTL: 50, ID: 0x5a5a, DF: true}.
		UDP(40001, 5001, []byte("tunnelled through mip4d"))
}

func TestTsharkIPIPAndGRE(t *testing.T) {
	tshark.Require(t)
	inner := interopInner()
	d := Delivery{Src: addrHA, Dst: addrCoA, TTL: 200}

	type want struct {
		proto                   string // outer ip.proto
		id                      string
		greFlags                string // gre.flags.checksum, .key, .sequence_number
		key, seq, greCsumStatus string
		outerLen                int
		encapsulate             func(buf []byte) ([]byte, error)
	}
	cases := []want{
		{"4", "0x0001", "", "", "", "", 20 + len(inner), func(b []byte) ([]byte, error) {
			t := IPIPTunnel{d}
			return t.Encapsulate(b, headroom, 1)
		}},
		{"47", "0x0002", "0,0,0", "", "", "", 24 + len(inner), func(b []byte) ([]byte, error) {
			t := GRETunnel{Delivery: d}
			return t.Encapsulate(b, headroom, 2, 0)
		}},
		{"47", "0x0003", "0,1,1", "0x01020304", "0", "", 32 + len(inner), func(b []byte) ([]byte, error) {
			t := GRETunnel{Delivery: d, KeyPresent: true, Key: 0x01020304, Sequence: true}
			return t.Encapsulate(b, headroom, 3, 0)
		}},
		{"47", "0xffff", "1,1,1", "0xfeedface", "4294967295", "1", 36 + len(inner), func(b []byte) ([]byte, error) {
			t := GRETunnel{Delivery: d, Checksum: true, KeyPresent: true, Key: 0xfeedface, Sequence: true}
			return t.Encapsulate(b, headroom, 0xffff, 0xffffffff)
		}},
		{"47", "0x0004", "1,0,0", "", "", "1", 28 + len(inner), func(b []byte) ([]byte, error) {
			t := GRETunnel{Delivery: d, Checksum: true}
			return t.Encapsulate(b, headroom, 4, 0)
		}},
	}
	var pkts [][]byte
	for _, c := range cases {
		p, err := c.encapsulate(withHeadroom(inner))
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, p)
	}
	path := pcap.Write(t, "tunnels.pcap", pkts...)

	fields := []string{
		"ip.src", "ip.dst", "ip.proto", "ip.ttl", "ip.id", "ip.dsfield", "ip.flags.df", "ip.len", "ip.checksum.status",
		"gre.flags.checksum", "gre.flags.key", "gre.flags.sequence_number", "gre.flags.version",
		"gre.key", "gre.sequence_number", "gre.proto", "gre.checksum.status",
		"udp.srcport", "udp.dstport", "udp.length", "udp.checksum.status", "data.data",
	}
	rows := tshark.Fields(t, path, fields, tshark.VerifyChecksums...)
	if len(rows) != len(cases) {
		t.Fatalf("tshark decoded %d packets, want %d", len(rows), len(cases))
	}
	for i, c := range cases {
		got := map[string]string{}
		for j, f := range fields {
			got[f] = rows[i][j]
		}
		greFlags := ""
		if c.proto == "47" {
			greFlags = got["gre.flags.checksum"] + "," + got["gre.flags.key"] + "," + got["gre.flags.sequence_number"]
			if got["gre.flags.version"] != "0" || got["gre.proto"] != "0x0800" {
				t.Errorf("packet %d: GRE version %q protocol %q", i+1, got["gre.flags.version"], got["gre.proto"])
			}
		}
		// Outer values from the tunnel, inner ones from the pcap builder:
		// TOS and DF copied outward (RFC 2003 §3.1), inner unchanged.
		for _, chk := range []struct{ field, want string }{
			{"ip.src", "203.0.113.1,192.0.2.10"},
			{"ip.dst", "198.51.100.20,10.10.0.5"},
			{"ip.proto", c.proto + ",17"},
			{"ip.ttl", "200,50"},
			{"ip.id", c.id + ",0x5a5a"},
			{"ip.dsfield", "0x28,0x28"},
			{"ip.flags.df", "1,1"},
			{"ip.len", fmt.Sprintf("%d,%d", c.outerLen, len(inner))},
			{"ip.checksum.status", "1,1"},
			{"greflags", greFlags},
			{"gre.key", c.key},
			{"gre.sequence_number", c.seq},
			{"gre.checksum.status", c.greCsumStatus},
			{"udp.srcport", "40001"},
			{"udp.dstport", "5001"},
			{"udp.length", fmt.Sprint(8 + len("tunnelled through mip4d"))},
			{"udp.checksum.status", "1"},
			{"data.data", hex.EncodeToString([]byte("tunnelled through mip4d"))},
		} {
			v := got[chk.field]
			if chk.field == "greflags" {
				v, chk.want = greFlags, c.greFlags
			}
			if v != chk.want {
				t.Errorf("packet %d: %s = %q, want %q", i+1, chk.field, v, chk.want)
			}
		}
	}
	tshark.ExpectClean(t, path)
	// Stricter than ExpectClean: not even a warning, since a bad GRE
	// checksum is only a warning.
	if ps := tshark.Problems(t, path, tshark.VerifyChecksums...); len(ps) != 0 {
		t.Errorf("tshark: %v", ps)
	}

	// A corrupted GRE checksum is caught by tshark too, so the check
	// above is not vacuous.
	bad := clone(pkts[3])
	bad[IPv4MinimumSize+GREHeaderSize] ^= 0x10
	// (Wireshark 4.0 rates it a warning, not an error.)
	ps := tshark.Problems(t, pcap.Write(t, "bad.pcap", bad))
	if len(ps) != 1 || ps[0].Severity < tshark.SeverityWarn || !strings.Contains(ps[0].Message, "GRE Checksum") {
		t.Errorf("tshark did not flag a bad GRE checksum: %v", ps)
	}
}

// TestTsharkMinimal: Wireshark has no dissector for protocol 55, so it can
// only vouch for the modified IP header; the forwarding header shows up as
// data. scapy then undoes the encapsulation on its own.
func TestTsharkMinimal(t *testing.T) {
	tshark.Require(t)
	inner := interopInner()
	own := pcap.IPv4{Src: addrHA, Dst: addrMN, TTL: 33, ID: 7}.UDP(434, 434, []byte("from the HA"))
	tun := MinimalTunnel{Src: addrHA, Dst: addrCoA}
	s1, err := tun.Encapsulate(withHeadroom(inner), headroom)
	if err != nil {
		t.Fatal(err)
	}
	s0, err := tun.Encapsulate(withHeadroom(own), headroom)
	if err != nil {
		t.Fatal(err)
	}
	restored, _, err := DecapsulateMinimal(clone(s1))
	if err != nil {
		t.Fatal(err)
	}
	path := pcap.Write(t, "minimal.pcap", s1, s0, restored)
	fields := []string{"ip.src", "ip.dst", "ip.proto", "ip.ttl", "ip.id", "ip.len", "ip.checksum.status", "data.len", "udp.srcport", "udp.checksum.status"}
	rows := tshark.Fields(t, path, fields, tshark.VerifyChecksums...)
	want := [][]string{
		// RFC 2004 §3: Protocol 55, Destination the tunnel exit,
		// Source the encapsulator, Total Length +12 (S=1) or +8 (S=0),
		// TTL and ID unchanged, checksum recomputed.
		{"203.0.113.1", "198.51.100.20", "55", "50", "0x5a5a", fmt.Sprint(len(inner) + 12), "1", fmt.Sprint(len(inner) - 20 + 12), "", ""},
		{"203.0.113.1", "198.51.100.20", "55", "33", "0x0007", fmt.Sprint(len(own) + 8), "1", fmt.Sprint(len(own) - 20 + 8), "", ""},
		// Decapsulated, the datagram is the original again.
		{"192.0.2.10", "10.10.0.5", "17", "50", "0x5a5a", fmt.Sprint(len(inner)), "1", "23", "40001", "1"},
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("packet %d:\n got %q\nwant %q", i+1, rows[i], want[i])
		}
	}
	tshark.ExpectClean(t, path)
	if ps := tshark.Problems(t, path, tshark.VerifyChecksums...); len(ps) != 0 {
		t.Errorf("tshark: %v", ps)
	}

	// scapy: verify the forwarding header checksum with scapy's own
	// checksum routine and rebuild the original datagram per RFC 2004 §3.
	out := scapy.Run(t, `
import sys
from scapy.all import IP, Raw
from scapy.utils import checksum
for enc_hex, orig_hex in zip(sys.argv[1::2], sys.argv[2::2]):
    enc, orig = IP(bytes.fromhex(enc_hex)), bytes.fromhex(orig_hex)
    hl = enc.ihl * 4
    raw = bytes(enc)
    s = raw[hl + 1] & 0x80
    n = 12 if s else 8
    mh = raw[hl:hl + n]
    ok_sum = checksum(mh) == 0
    ip = enc.copy()
    ip.remove_payload()
    ip.proto = mh[0]
    ip.dst = ".".join(map(str, mh[4:8]))
    if s:
        ip.src = ".".join(map(str, mh[8:12]))
    ip.len = None
    ip.chksum = None
    rebuilt = bytes(ip / Raw(raw[hl + n:]))
    print(ok_sum, n, rebuilt == orig, IP(rebuilt).chksum == IP(orig).chksum)
`, hex.EncodeToString(s1), hex.EncodeToString(inner), hex.EncodeToString(s0), hex.EncodeToString(own))
	if got := strings.TrimSpace(out); got != "True 12 True True\nTrue 8 True True" {
		t.Errorf("scapy said:\n%s", got)
	}
}
