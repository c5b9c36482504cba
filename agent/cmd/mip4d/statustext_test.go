package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/daemon"
	"github.com/mip4d/mip4d/agent/mn"
	"github.com/mip4d/mip4d/agent/proxy"
)

var t0 = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)

func haStatus(redundancy bool) []byte {
	dp, _ := json.Marshal(map[string]any{"mode": "userspace", "configured": "auto", "mode_reason": "no BTF",
		"to_tunnel": 12, "from_tunnel": 0, "dropped": map[string]any{"no_binding": 0, "short": 3}})
	st := daemon.Status{Role: "ha", Version: "1.2", Started: t0, UptimeSec: 3723,
		HA: &daemon.HAStatus{Address: netip.MustParseAddr("198.51.100.1"), HomeNetwork: netip.MustParsePrefix("10.10.0.0/16"),
			Bindings: 2, MobileNodes: 3, PoolSize: 100, PoolUsed: 1,
			Counters: map[string]any{"accepted": 7, "denied": 0, "auth_failed": 0, "replays": 1}},
		DataPlane: dp,
		LastError: &daemon.LogEvent{Time: t0.Add(time.Hour), Level: "ERROR", Msg: "data plane refused a binding", Detail: `err="no room"`},
		LogEvents: []daemon.LogEvent{
			{Time: t0.Add(30 * time.Minute), Level: "WARN", Msg: "cannot send", Detail: "to=192.0.2.9"},
			{Time: t0.Add(time.Hour), Level: "ERROR", Msg: "data plane refused a binding", Detail: `err="no room"`},
		}}
	b, _ := json.Marshal(st)
	if !redundancy {
		return b
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	m["redundancy"] = map[string]any{"role": "master", "peer": "198.51.100.12:4340", "connected": true,
		"lag_entries": 0, "lag_ms": 0, "sent": 5, "acked": 5, "rejected_auth": 0}
	b, _ = json.Marshal(m)
	return b
}

func render(t *testing.T, res []byte, all bool) string {
	t.Helper()
	var out bytes.Buffer
	if err := printStatus(&out, res, all, t0.Add(time.Hour+90*time.Second)); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// labels returns the summary's labels: the lines before the first blank.
func labels(s string) []string {
	var ls []string
	for _, l := range strings.Split(s, "\n") {
		if l == "" {
			break
		}
		ls = append(ls, regexp.MustCompile(`^(\S+( \S+)?)\s{2,}`).FindStringSubmatch(l)[1])
	}
	return ls
}

// TestStatusText: mip4d status leads with the summary (role, version,
// uptime, address, bindings, data plane, redundancy when the daemon
// reports it, last error), then the other recent warnings and errors, then the
// counters with the zero ones hidden; --all shows them.
func TestStatusText(t *testing.T) {
	out := render(t, haStatus(true), false)
	if got, want := strings.Join(labels(out), ","), "role,version,uptime,address,bindings,data plane,redundancy,last error"; got != want {
		t.Errorf("summary labels %s, want %s\n%s", got, want, out)
	}
	for _, w := range []string{
		"role        home agent, redundancy master\n",
		"uptime      1h2m3s (since 2026-12-06 09:00:00 UTC)\n",
		"address     198.51.100.1, home network 10.10.0.0/16\n",
		"bindings    2 (3 mobile nodes configured; pool 1 of 100 in use)\n",
		"data plane  userspace (configured auto; no BTF)\n",
		"redundancy  master; peer 198.51.100.12:4340 connected; 0 entries, 0 ms behind\n",
		"last error  1m30s ago (2026-12-06 10:00:00): data plane refused a binding: err=\"no room\"\n",
		"\nrecent warnings and errors (1, newest last):\n  2026-12-06 09:30:00  WARN  cannot send: to=192.0.2.9\n\n",
		"\ncounters and details (8 zero counters hidden; --all shows them):\n",
		"    accepted: 7\n", "    replays: 1\n", "    short: 3\n", "  redundancy:\n    acked: 5\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("%q missing from\n%s", w, out)
		}
	}
	for _, zero := range []string{"denied", "auth_failed", "no_binding", "from_tunnel", "lag_ms", "rejected_auth"} {
		if strings.Contains(out, zero+":") {
			t.Errorf("zero counter %s shown without --all:\n%s", zero, out)
		}
	}
	// The summary's own fields are not repeated in the tree.
	if strings.Contains(out, "  version:") || strings.Contains(out, "last_error") || strings.Contains(out, "log_events") {
		t.Errorf("the tree repeats the summary:\n%s", out)
	}

	all := render(t, haStatus(true), true)
	if !strings.Contains(all, "\ncounters and details:\n") || strings.Contains(all, "hidden") {
		t.Errorf("--all: heading\n%s", all)
	}
	for _, zero := range []string{"denied: 0", "auth_failed: 0", "no_binding: 0", "from_tunnel: 0", "lag_ms: 0"} {
		if !strings.Contains(all, zero+"\n") {
			t.Errorf("--all does not show %s:\n%s", zero, all)
		}
	}
	if labels(all)[0] != "role" {
		t.Errorf("--all: the summary does not come first:\n%s", all)
	}

	// Without redundancy in the status, no such line; without errors, none.
	var plain map[string]any
	json.Unmarshal(haStatus(false), &plain)
	delete(plain, "last_error")
	delete(plain, "log_events")
	b, _ := json.Marshal(plain)
	out = render(t, b, false)
	if strings.Contains(out, "redundancy") || !strings.Contains(out, "role        home agent\n") ||
		!strings.Contains(out, "last error  none\n") || strings.Contains(out, "recent warnings") {
		t.Errorf("a home agent without redundancy or errors:\n%s", out)
	}
}

// TestStatusTextRoles: each role's summary says what that role has: a
// mobile node its registration (both in dual mode), a foreign agent its
// visitors, a proxy its clients; the kernel data plane its interfaces.
func TestStatusTextRoles(t *testing.T) {
	bpf, _ := json.Marshal(map[string]any{"mode": "bpf", "configured": "bpf", "bpf": map[string]any{"interfaces": []string{"eth0", "wan"}, "tunnels": 4}})
	hoa, coa, ha := netip.MustParseAddr("10.10.0.5"), netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("198.51.100.1")
	for _, tc := range []struct {
		name string
		st   daemon.Status
		want []string
	}{
		{"mn", daemon.Status{Role: "mn", UptimeSec: 59, DataPlane: bpf,
			MN: &daemon.MNStatus{State: mn.Status{State: "registered", HomeAddr: hoa, CareOf: coa, HomeAgent: ha, Lifetime: 300, UDP: true,
				Expires: t0.Add(time.Hour + 90*time.Second + 200*time.Second)}}},
			[]string{"role          mobile node\n", "uptime        59s\n", "address       home 10.10.0.5, care-of 192.168.1.10\n",
				"registration  registered with 198.51.100.1, 200s of 300s left, UDP tunnel\n",
				"data plane    bpf (kernel) on eth0, wan, 4 tunnels (configured bpf)\n"}},
		{"dual", daemon.Status{Role: "mn", MN: &daemon.MNStatus{State: mn.Status{State: "registered", HomeAgent: ha}, Location: "outside",
			Internal: &daemon.MNStatus{State: mn.Status{State: "registering", HomeAddr: netip.MustParseAddr("10.20.0.5")}}, VPNAddress: netip.MustParseAddr("10.99.0.2")}},
			[]string{"role          mobile node, dual mode (RFC 5265): outside\n", "internal      home 10.20.0.5, care-of -, VPN address 10.99.0.2; registering\n"}},
		{"fa", daemon.Status{Role: "fa", FA: &daemon.FAStatus{CareOf: netip.MustParseAddr("203.0.113.1"), Link: "br-lan", BehindNAT: true,
			LinkAddress: netip.MustParsePrefix("192.168.1.1/24"), Visitors: []map[string]any{{"mac": "02:00:00:00:00:55"}}, Pending: 1}},
			[]string{"role        foreign agent\n", "address     care-of 203.0.113.1 (behind a NAT), visitors' link br-lan (192.168.1.1/24)\n", "visitors    1 (1 request pending)\n"}},
		{"proxy", daemon.Status{Role: "proxy", Proxy: &daemon.ProxyStatus{Interface: "br-lan", Gateway: netip.MustParseAddr("192.168.50.1"),
			Proxy: proxy.Status{HomeAgent: ha, CareOf: coa, Clients: []proxy.ClientStatus{{NAI: "a@x"}, {NAI: "b@x"}}}}},
			[]string{"role        proxy (RFC 5563)\n", "address     care-of 192.168.1.10, gateway 192.168.50.1 on br-lan, home agent 198.51.100.1\n", "clients     2\n"}},
	} {
		b, err := json.Marshal(tc.st)
		if err != nil {
			t.Fatal(err)
		}
		out := render(t, b, false)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: %q missing from\n%s", tc.name, w, out)
			}
		}
		if labels(out)[0] != "role" || !strings.Contains(out, "last error") {
			t.Errorf("%s: summary\n%s", tc.name, out)
		}
	}
}
