package tshark

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/mip4d/mip4d/agent/internal/pcap"
)

var (
	a = netip.MustParseAddr("192.0.2.1")
	b = netip.MustParseAddr("198.51.100.2")
)

func TestFields(t *testing.T) {
	udp := pcap.IPv4{Src: a, Dst: b, TTL: 9, ID: 0x1234, DF: true}.UDP(5000, 6000, []byte("hello"))
	tunnelled := pcap.Raw(b, a, 4, udp) // IP in IP: two ip.src occurrences
	path := pcap.Write(t, "f.pcap", udp, tunnelled)
	rows := Fields(t, path, []string{"ip.src", "ip.ttl", "ip.id", "ip.flags.df", "udp.srcport", "udp.length", "ip.checksum.status", "udp.checksum.status", "gre.key"}, VerifyChecksums...)
	want := [][]string{
		{"192.0.2.1", "9", "0x1234", "1", "5000", "13", "1", "1", ""},
		{"198.51.100.2,192.0.2.1", "64,9", "0x0000,0x1234", "0,1", "5000", "13", "1,1", "1", ""},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %q", rows)
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("packet %d:\n got %q\nwant %q", i+1, rows[i], want[i])
		}
	}
	if got := Occurrences(rows[1][0]); len(got) != 2 || got[1] != "192.0.2.1" {
		t.Errorf("Occurrences = %q", got)
	}
	if Occurrences("") != nil {
		t.Error("Occurrences of an absent field")
	}
	// One absent field per packet still gives one row per packet.
	if rows := Fields(t, path, []string{"gre.key"}); len(rows) != 2 || rows[0][0] != "" {
		t.Errorf("single absent field: %q", rows)
	}
	// A display filter that matches nothing gives no rows.
	if rows := Fields(t, path, []string{"ip.src"}, "-Y", "gre"); len(rows) != 0 {
		t.Errorf("filtered: %q", rows)
	}
	ExpectClean(t, path)
}

func TestProblems(t *testing.T) {
	good := pcap.UDP(netip.AddrPortFrom(a, 1), netip.AddrPortFrom(b, 9), []byte{1, 2})
	badSum := pcap.UDP(netip.AddrPortFrom(a, 1), netip.AddrPortFrom(b, 9), []byte{1, 2})
	badSum[10] ^= 0xff // IPv4 header checksum
	// A Mobile IP Registration Request cut short after its type octet,
	// decoded as MIP on port 4343 by DecodeAs.
	short := pcap.UDP(netip.AddrPortFrom(a, 1), netip.AddrPortFrom(b, 4343), []byte{1, 0})
	path := pcap.Write(t, "p.pcap", good, badSum, short)

	ps := Problems(t, path, append(VerifyChecksums, DecodeAs("udp.port==4343", "mip")...)...)
	var frames []int
	for _, p := range ps {
		if p.Severity >= SeverityError {
			frames = append(frames, p.Frame)
		}
		t.Log(p)
	}
	if len(frames) != 2 || frames[0] != 2 || frames[1] != 3 {
		t.Fatalf("errors in frames %v, want [2 3]", frames)
	}
	if !ps[len(ps)-1].Malformed || ps[0].Malformed {
		t.Errorf("malformed flags: %v", ps)
	}
	if !strings.Contains(ps[0].Message, "checksum") {
		t.Errorf("message %q", ps[0].Message)
	}
	// Without checksum verification the bad checksum goes unnoticed.
	if ps := Problems(t, path); len(ps) != 0 {
		t.Errorf("without decode-as or checksums: %v", ps)
	}
}

func TestToolsRequired(t *testing.T) {
	for _, tc := range []struct {
		ci, req string
		want    bool
	}{{"", "", false}, {"true", "", true}, {"", "1", true}, {"false", "0", false}} {
		t.Setenv("CI", tc.ci)
		t.Setenv("MIP4D_REQUIRE_TOOLS", tc.req)
		if got := ToolsRequired(); got != tc.want {
			t.Errorf("CI=%q MIP4D_REQUIRE_TOOLS=%q: %v", tc.ci, tc.req, got)
		}
	}
	if s := SeverityError.String() + SeverityWarn.String() + Severity(1).String(); s != "errorwarningseverity(0x1)" {
		t.Error(s)
	}
}
