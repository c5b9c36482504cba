package daemon

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/fa"
	"github.com/mip4d/mip4d/agent/proxy"
)

// TestPrintBindings: `mip4d bindings` renders each role's answer as its
// own table: a home agent's bindings, a foreign agent's visitors, a
// proxy's clients.
func TestPrintBindings(t *testing.T) {
	hoa := netip.MustParseAddr("10.10.0.5")
	ha := netip.MustParseAddr("198.51.100.1")
	for _, tc := range []struct {
		name string
		v    any
		want []string
	}{
		{"ha", []BindingRow{{HomeAddr: hoa, CareOf: netip.MustParseAddr("192.168.1.10"), Tunnel: "udp", Lifetime: 60, Remaining: 42, NAI: "laptop@example.net"}},
			[]string{"HOME ADDRESS", "10.10.0.5", "192.168.1.10", "42s/60s", "laptop@example.net"}},
		{"fa", []fa.Visitor{{MAC: fa.MAC{2, 0, 0, 0, 0, 0x55}, HomeAddr: hoa, HomeAgent: ha, UDP: true, ReverseTunnel: true, Lifetime: 60,
			Expires: time.Now().Add(30 * time.Second)}},
			[]string{"MAC", "HOME AGENT", "02:00:00:00:00:55", "198.51.100.1", "udp, reverse"}},
		{"proxy", []proxy.ClientStatus{{MAC: proxy.MAC{2, 0, 0, 0, 0, 0x55}, NAI: "laptop@example.net", HomeAddr: hoa, State: "bound",
			BindingAge: 12, Lifetime: 60, LifetimeLeft: 48, UDP: true}},
			[]string{"STATE", "02:00:00:00:00:55", "laptop@example.net", "10.10.0.5", "bound", "udp", "12s", "48s/60s"}},
		{"none", []BindingRow{}, []string{"no bindings"}},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := PrintBindings(&out, b); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: %q missing from\n%s", tc.name, w, out.String())
			}
		}
	}
}
