package linkio

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/bpf"

	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/internal/scapy"
)

var (
	ipGW  = netip.MustParseAddr("10.10.0.1")
	ipHoA = netip.MustParseAddr("10.10.0.5")
)

// TestARPScapy: scapy decodes our probe field by field, and our parser
// reads the reply scapy builds.
func TestARPScapy(t *testing.T) {
	probe := AppendARP(nil, macB, macA, ARP{Op: ARPRequest, SenderMAC: macA, SenderIP: ipGW, TargetIP: ipHoA})
	out := scapy.Run(t, `
import sys
from scapy.all import Ether, ARP
p = Ether(bytes.fromhex(sys.argv[1]))
a = p[ARP]
print(p.dst, p.src, hex(p.type), a.hwtype, hex(a.ptype), a.hwlen, a.plen, a.op, a.hwsrc, a.psrc, a.hwdst, a.pdst)
r = Ether(dst=p.src, src=p.dst)/ARP(op=2, hwsrc=p.dst, psrc=a.pdst, hwdst=a.hwsrc, pdst=a.psrc)
print(bytes(r).hex())
`, hex.EncodeToString(probe))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := "02:00:00:00:00:0b 02:00:00:00:00:0a 0x806 1 0x800 6 4 1 02:00:00:00:00:0a 10.10.0.1 00:00:00:00:00:00 10.10.0.5"
	if lines[0] != want {
		t.Fatalf("scapy reads\n%s\nwant\n%s", lines[0], want)
	}
	reply, err := hex.DecodeString(lines[1])
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseARP(reply)
	if err != nil || m.Op != ARPReply || !bytes.Equal(m.SenderMAC, macB) || m.SenderIP != ipHoA || m.TargetIP != ipGW || !bytes.Equal(m.TargetMAC, macA) {
		t.Fatalf("scapy's reply parsed as %+v, %v", m, err)
	}
}

func TestARPFilterAndParse(t *testing.T) {
	vm, err := bpf.NewVM(func() []bpf.Instruction {
		var out []bpf.Instruction
		for _, r := range arpFilter {
			out = append(out, r.Disassemble())
		}
		return out
	}())
	if err != nil {
		t.Fatal(err)
	}
	req := AppendARP(nil, Broadcast, macA, ARP{Op: ARPRequest, SenderMAC: macA, SenderIP: ipGW, TargetIP: ipHoA})
	rep := AppendARP(nil, macA, macB, ARP{Op: ARPReply, SenderMAC: macB, SenderIP: ipHoA, TargetMAC: macA, TargetIP: ipGW})
	udp := AppendUDP(nil, macB, macA, netip.AddrPortFrom(ipGW, 1), netip.AddrPortFrom(ipHoA, 434), 64, []byte("x"))
	for _, tc := range []struct {
		name  string
		frame []byte
		pass  bool
	}{{"request", req, false}, {"reply", rep, true}, {"ipv4", udp, false}} {
		n, err := vm.Run(tc.frame)
		if err != nil {
			t.Fatal(err)
		}
		if (n > 0) != tc.pass {
			t.Errorf("%s: filter returned %d", tc.name, n)
		}
	}
	for _, bad := range [][]byte{nil, rep[:40], udp, append(append([]byte{}, rep[:14]...), 0, 6, 8, 0, 6, 4)} {
		if _, err := ParseARP(bad); err == nil {
			t.Errorf("parsed % x", bad)
		}
	}
}

// TestARPProbe: a probe from one namespace is answered by the other's
// kernel, and the reply is read.
func TestARPProbe(t *testing.T) {
	l := lab.ForTest(t)
	for _, ns := range []string{"gw", "laptop"} {
		if err := l.AddNS(ns); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Veth("gw", "lan", "laptop", "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := l.Addr("laptop", "eth0", ipHoA.String()+"/16"); err != nil {
		t.Fatal(err)
	}
	var s *ARPSocket
	if err := l.In("gw", func() (err error) { s, err = OpenARP("lan"); return err }); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Probe(Broadcast, ipGW, ipHoA); err != nil {
		t.Fatal(err)
	}
	s.SetReadDeadline(time.Now().Add(3 * time.Second))
	m, err := s.Read(make([]byte, 1500))
	if err != nil {
		t.Fatal(err)
	}
	if m.SenderIP != ipHoA || m.TargetIP != ipGW || !bytes.Equal(m.TargetMAC, s.MAC) {
		t.Fatalf("reply %+v", m)
	}
}

func FuzzParseARP(f *testing.F) {
	f.Add(AppendARP(nil, macA, macB, ARP{Op: ARPReply, SenderMAC: macB, SenderIP: ipHoA, TargetMAC: macA, TargetIP: ipGW}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseARP(b)
		if err != nil {
			return
		}
		again, err := ParseARP(AppendARP(nil, b[0:6], b[6:12], m))
		if err != nil || again.Op != m.Op || again.SenderIP != m.SenderIP || again.TargetIP != m.TargetIP ||
			!bytes.Equal(again.SenderMAC, m.SenderMAC) || !bytes.Equal(again.TargetMAC, m.TargetMAC) {
			t.Fatalf("round trip: %+v -> %+v (%v)", m, again, err)
		}
	})
}
