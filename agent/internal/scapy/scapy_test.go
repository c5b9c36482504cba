package scapy

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/mip4d/mip4d/agent/internal/pcap"
)

func TestRun(t *testing.T) {
	pkt := pcap.UDP(netip.MustParseAddrPort("192.0.2.1:434"), netip.MustParseAddrPort("198.51.100.2:5000"), []byte("hi"))
	out := Run(t, `
import sys
from scapy.all import IP, UDP
p = IP(bytes.fromhex(sys.argv[1]))
# Rebuild with scapy's own checksums and compare.
q = IP(bytes(p))
del q.chksum; del q[UDP].chksum
print(p.src, p[UDP].sport, p[UDP].dport, bytes(p[UDP].payload).decode(), bytes(q) == bytes(p))
`, hex.EncodeToString(pkt))
	if got := strings.TrimSpace(out); got != "192.0.2.1 434 5000 hi True" {
		t.Errorf("scapy said %q", got)
	}
}
