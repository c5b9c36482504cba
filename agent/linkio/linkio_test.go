package linkio

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/bpf"

	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/internal/pcap"
)

var (
	macA, _ = net.ParseMAC("02:00:00:00:00:0a")
	macB, _ = net.ParseMAC("02:00:00:00:00:0b")
)

func ether(dst, src net.HardwareAddr, ip []byte) []byte {
	return append(append(append(append([]byte{}, dst...), src...), 0x08, 0x00), ip...)
}

func TestParseAndBuild(t *testing.T) {
	src := netip.AddrPortFrom(netip.MustParseAddr("10.10.0.5"), 4343)
	dst := netip.AddrPortFrom(netip.MustParseAddr("192.168.1.1"), 434)
	f := AppendUDP(nil, macB, macA, src, dst, 255, []byte("registration"))
	// The IP/UDP part matches the independent builder of the pcap helper.
	want := pcap.IPv4{Src: src.Addr(), Dst: dst.Addr(), TTL: 255}.UDP(src.Port(), dst.Port(), []byte("registration"))
	if !bytes.Equal(f[14:], want) {
		t.Fatalf("datagram\n got %x\nwant %x", f[14:], want)
	}
	fr, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fr.SrcMAC, macA) || !bytes.Equal(fr.DstMAC, macB) || fr.Src != src.Addr() || fr.Dst != dst.Addr() ||
		fr.TTL != 255 || fr.SrcPort != 4343 || fr.DstPort != 434 || string(fr.Payload) != "registration" {
		t.Fatalf("parsed %+v", fr)
	}
	icmp := AppendICMP(nil, Broadcast, macA, dst.Addr(), netip.MustParseAddr("255.255.255.255"), 1, []byte{10, 0, 0xf5, 0xff, 0, 0, 0, 0})
	fr, err = Parse(icmp)
	if err != nil || fr.Proto != 1 || fr.TTL != 1 || len(fr.Payload) != 8 {
		t.Fatalf("icmp %+v %v", fr, err)
	}
	// Corruptions are refused.
	bad := bytes.Clone(f)
	bad[len(bad)-1] ^= 1 // UDP checksum
	for name, b := range map[string][]byte{"udp checksum": bad, "short": f[:20], "arp": ether(Broadcast, macA, nil)} {
		if _, err := Parse(b); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// TestFilter runs the socket filter in x/net/bpf's VM over sample frames.
func TestFilter(t *testing.T) {
	vm, err := bpf.NewVM(func() []bpf.Instruction {
		var out []bpf.Instruction
		for _, r := range filter {
			out = append(out, r.Disassemble())
		}
		return out
	}())
	if err != nil {
		t.Fatal(err)
	}
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for _, tc := range []struct {
		name  string
		frame []byte
		pass  bool
	}{
		{"udp 434", AppendUDP(nil, macB, macA, netip.AddrPortFrom(a, 5000), netip.AddrPortFrom(b, 434), 255, []byte("x")), true},
		{"udp 53", AppendUDP(nil, macB, macA, netip.AddrPortFrom(a, 5000), netip.AddrPortFrom(b, 53), 64, []byte("x")), false},
		{"icmp 9", AppendICMP(nil, macB, macA, a, b, 1, []byte{9, 0, 0, 0}), true},
		{"icmp 10", AppendICMP(nil, macB, macA, a, b, 1, []byte{10, 0, 0, 0}), true},
		{"icmp 8", AppendICMP(nil, macB, macA, a, b, 1, []byte{8, 0, 0, 0}), false},
		{"icmp 11", AppendICMP(nil, macB, macA, a, b, 1, []byte{11, 0, 0, 0}), false},
		{"tcp", ether(macB, macA, pcap.IPv4{Src: a, Dst: b, TTL: 64}.Raw(6, make([]byte, 20))), false},
		{"arp", append(ether(Broadcast, macA, nil)[:12], 0x08, 0x06, 0, 1), false},
	} {
		n, err := vm.Run(tc.frame)
		if err != nil {
			t.Fatal(err)
		}
		if (n > 0) != tc.pass {
			t.Errorf("%s: filter returned %d", tc.name, n)
		}
	}
}

// TestSocket sends a frame between two namespaces and receives it.
func TestSocket(t *testing.T) {
	l := lab.ForTest(t)
	for _, ns := range []string{"a", "b"} {
		if err := l.AddNS(ns); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Veth("a", "eth0", "b", "eth0"); err != nil {
		t.Fatal(err)
	}
	var sa, sb *Socket
	if err := l.In("a", func() (err error) { sa, err = Open("eth0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	if err := l.In("b", func() (err error) { sb, err = Open("eth0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	src := netip.AddrPortFrom(netip.MustParseAddr("10.10.0.5"), 434)
	dst := netip.AddrPortFrom(netip.MustParseAddr("192.168.1.1"), 434)
	if err := sa.Write(AppendUDP(nil, sb.MAC, sa.MAC, src, dst, 255, []byte("hello"))); err != nil {
		t.Fatal(err)
	}
	sb.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	f, err := sb.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(f.Payload) != "hello" || !bytes.Equal(f.SrcMAC, sa.MAC) || f.TTL != 255 || f.Src != src.Addr() {
		t.Fatalf("received %+v", f)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(AppendUDP(nil, macB, macA, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), 1), netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), 434), 255, []byte("x")))
	f.Add(AppendICMP(nil, macB, macA, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 1, []byte{9, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Parse(b)
		if err != nil {
			return
		}
		if fr.Proto == 17 {
			// A parsed datagram rebuilds to a frame that parses the same.
			again, err := Parse(AppendUDP(nil, fr.DstMAC, fr.SrcMAC, netip.AddrPortFrom(fr.Src, fr.SrcPort),
				netip.AddrPortFrom(fr.Dst, fr.DstPort), fr.TTL, fr.Payload))
			if err != nil || !bytes.Equal(again.Payload, fr.Payload) || again.TTL != fr.TTL {
				t.Fatalf("rebuild: %v", err)
			}
		}
	})
}
