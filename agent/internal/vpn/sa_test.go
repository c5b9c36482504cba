package vpn

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The client's SA right after a MOBIKE move from behind a NAT: the IKE SA
// kept, the CHILD SA rekeyed (twice, a collision), the old ones DELETED.
func TestParseSAsClient(t *testing.T) {
	sas, err := ParseSAs(readTestdata(t, "list-sas-client-mobike.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sas) != 1 {
		t.Fatalf("%d SAs, want 1", len(sas))
	}
	s := sas[0]
	want := SA{
		Name: "vpn", UniqueID: 1, State: "ESTABLISHED",
		LocalHost: netip.MustParseAddr("192.168.7.3"), LocalPort: 4500, LocalID: "laptop.lab",
		RemoteHost: netip.MustParseAddr("192.0.2.1"), RemotePort: 4500, RemoteID: "vpngw.lab",
		Initiator: true, InitiatorSPI: "10b96aa19e24c83f", ResponderSPI: "6a5a9615fd5009eb",
		NATLocal: true, NATRemote: true, NATAny: true,
		RekeyIn: 13648 * time.Second,
		VIPs:    []netip.Addr{netip.MustParseAddr("10.99.0.1")},
	}
	got := s
	got.Children = nil
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("SA\n got %+v\nwant %+v", got, want)
	}
	if len(s.Children) != 3 {
		t.Fatalf("%d CHILD SAs, want 3", len(s.Children))
	}
	c, ok := s.Child()
	wantChild := ChildSA{Name: "vpn", UniqueID: 3, ReqID: 1, State: "INSTALLED", Encap: true,
		SPIIn: "4c81f32b", SPIOut: "e98b5611", RekeyIn: 3275 * time.Second,
		LocalTS:  []netip.Prefix{netip.MustParsePrefix("10.99.0.1/32")},
		RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/24")}}
	if !ok || fmt.Sprintf("%+v", c) != fmt.Sprintf("%+v", wantChild) {
		t.Errorf("Child() = %+v, %v\nwant %+v", c, ok, wantChild)
	}
}

// The gateway's side of the same SA: a responder, with the client's
// virtual IP as remote-vips and the client at the NAT's address and port.
func TestParseSAsGateway(t *testing.T) {
	sas, err := ParseSAs(readTestdata(t, "list-sas-gateway.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sas) != 1 {
		t.Fatalf("%d SAs, want 1", len(sas))
	}
	s := sas[0]
	if s.Name != "rw" || s.Initiator || s.RemotePort != 3742 || s.RemoteHost != netip.MustParseAddr("192.0.2.2") ||
		!s.NATRemote || s.NATLocal || fmt.Sprint(s.RemoteVIPs) != "[10.99.0.1]" || len(s.VIPs) != 0 ||
		s.InitiatorSPI != "10b96aa19e24c83f" {
		t.Errorf("gateway SA %+v", s)
	}
	if c, _ := s.Child(); c.SPIIn != "e98b5611" || c.SPIOut != "4c81f32b" {
		t.Errorf("gateway CHILD SA %+v, want the client's SPIs swapped", c)
	}
}

func TestParseSAsEdges(t *testing.T) {
	// No SA at all.
	sas, err := ParseSAs("list-sas reply {\n}\n")
	if err != nil || len(sas) != 0 {
		t.Errorf("empty listing: %v, %v", sas, err)
	}
	// Identities with spaces and '=' (a DN), an empty value, two SAs.
	out := `list-sa event {
  vpn {
    uniqueid = 7
    state = ESTABLISHED
    local-id = C=CH, O=strongSwan, CN=laptop
    remote-id =
    local-host = 192.0.2.2
  }
}
list-sa event {
  vpn {
    uniqueid = 8
    state = CONNECTING
  }
}
list-sas reply {
}
`
	sas, err = ParseSAs(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(sas) != 2 || sas[0].LocalID != "C=CH, O=strongSwan, CN=laptop" || sas[0].RemoteID != "" ||
		sas[0].UniqueID != 7 || sas[1].UniqueID != 8 || sas[1].State != "CONNECTING" {
		t.Errorf("got %+v", sas)
	}
	if _, ok := sas[0].Child(); ok {
		t.Error("Child() of an SA without CHILD SAs")
	}
	for _, bad := range []string{
		"list-sa event {\n  vpn {\n    uniqueid = 1\n",                // truncated
		"list-sa event {\n  vpn {\n    uniqueid = x\n  }\n}\n",        // not a number
		"list-sa event {\n  vpn {\n    local-host = 1.2.3\n  }\n}\n",  // not an address
		"list-sa event {\n  vpn {\n    state = ESTABLISHED\n  }\n}\n", // no unique id
		"}\n",
		"list-sa event {\n  garbage\n}\n",
		"list-sa event {\n  vpn {\n    local-vips = [\n      10.0.0.1\n",
	} {
		if sas, err := ParseSAs(bad); err == nil {
			t.Errorf("ParseSAs(%q) = %+v, want an error", bad, sas)
		}
	}
}

func TestSameAndDiff(t *testing.T) {
	sas, err := ParseSAs(readTestdata(t, "list-sas-client-mobike.txt"))
	if err != nil {
		t.Fatal(err)
	}
	a := sas[0]
	if !a.Same(a) || a.Diff(a) != "" {
		t.Errorf("an SA differs from itself: %s", a.Diff(a))
	}
	// MOBIKE: same IKE SA, CHILD SA rekeyed, moved.
	b := a
	b.LocalHost = netip.MustParseAddr("192.168.7.9")
	b.Children = []ChildSA{{UniqueID: 4, State: "INSTALLED", SPIIn: "11111111", SPIOut: "22222222"}}
	if !a.SameIKE(b) || a.Same(b) {
		t.Errorf("SameIKE %v Same %v, want true, false", a.SameIKE(b), a.Same(b))
	}
	if d := a.Diff(b); !strings.Contains(d, "CHILD SA changed: {3} 4c81f32b_i e98b5611_o -> {4} 11111111_i 22222222_o") ||
		!strings.Contains(d, "local 192.168.7.3:4500 -> 192.168.7.9:4500") || strings.Contains(d, "IKE SA") {
		t.Errorf("Diff = %q", d)
	}
	// Re-established: new unique id and SPIs.
	c := b
	c.UniqueID, c.InitiatorSPI = 2, "0000000000000001"
	if a.SameIKE(c) || !strings.Contains(a.Diff(c), "IKE SA re-established: #1") {
		t.Errorf("re-established SA: SameIKE %v, Diff %q", a.SameIKE(c), a.Diff(c))
	}
	// The same unique id with other SPIs is not the same SA either.
	d := a
	d.ResponderSPI = "ffffffffffffffff"
	if a.SameIKE(d) {
		t.Error("SameIKE ignores the responder SPI")
	}
}

func TestParseCounters(t *testing.T) {
	m, err := parseCounters(readTestdata(t, "counters-raw.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"ike-rekey-init": 0, "child-rekey": 1, "ike-init-out-req": 1,
		"info-out-resp": 1, "create-child-in-req": 1, "info-in-resp": 3}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %d (%v), want %d", k, got, ok, v)
		}
	}
	if len(m) != 21 {
		t.Errorf("%d counters, want 21: %v", len(m), m)
	}
	for _, bad := range []string{"", "counters reply {counters {x=1", "counters reply {counters {x=y}}", "counters reply {counters {x}}"} {
		if _, err := parseCounters(bad); err == nil {
			t.Errorf("parseCounters(%q) succeeded", bad)
		}
	}
}

// The client log of the MOBIKE move: one IKE SA set up in 17 ms, one
// MOBIKE address change, three CHILD SAs (the first and two rekeys).
func TestStats(t *testing.T) {
	st := Stats(readTestdata(t, "charon-client.log"))
	want := LogStats{IKEInitiated: 1, IKEEstablished: 1, ChildSAs: 3, MOBIKE: 1, Setups: []time.Duration{17 * time.Millisecond}}
	if fmt.Sprintf("%+v", st) != fmt.Sprintf("%+v", want) {
		t.Errorf("Stats\n got %+v\nwant %+v", st, want)
	}
	evs := ParseLog("sh: junk\n1795650178.530 10[IKE] <vpn|12> initiating IKE_SA vpn[12] to 192.0.2.1\n1795650178.393 00[LIB] created TUN device: ipsec0\n")
	if len(evs) != 2 || evs[0].IKE != 12 || evs[0].Group != "IKE" || evs[1].IKE != 0 ||
		evs[0].At != time.Unix(1795650178, 530e6) || evs[1].Msg != "created TUN device: ipsec0" {
		t.Errorf("ParseLog = %+v", evs)
	}
	re := `1.000 01[IKE] <vpn|1> reauthenticating IKE_SA due to address change
1.000 01[IKE] <vpn|1> reauthenticating IKE_SA vpn[1]
1.010 01[IKE] <vpn|1> initiating IKE_SA vpn[2] to 192.0.2.1
1.020 01[IKE] <vpn|2> IKE_SA vpn[2] established between a...b
1.020 01[IKE] <vpn|2> CHILD_SA vpn{2} established with SPIs
1.500 01[IKE] <vpn|2> IKE_SA vpn[3] rekeyed between a...b
2.000 01[IKE] <vpn|3> sending address list update using MOBIKE
`
	if st := Stats(re); st.Reauth != 1 || st.IKEInitiated != 1 || st.IKERekeyed != 1 || st.AddrUpdates != 1 || fmt.Sprint(st.Setups) != "[10ms]" {
		t.Errorf("reauth stats %+v", st)
	}
}

// The generated swanctl.conf: one key per line (swanctl rejects several
// on one line), the lab's proposals, and the options that were asked for.
func TestSwanctlConf(t *testing.T) {
	g := GatewayConfig{Intranet: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/24")}, MOBIKE: true, DPD: 10 * time.Second}
	if err := g.defaults(); err != nil {
		t.Fatal(err)
	}
	c := ClientConfig{Gateway: netip.MustParseAddr("192.0.2.1"), Intranet: g.Intranet, LocalAddr: netip.MustParseAddr("10.10.0.5")}
	if err := c.defaults(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		conf string
		want []string
	}{
		{g.swanctlConf(), []string{"pools = rwpool", "mobike = yes", "dpd_delay = 10s", "local_ts = 10.20.0.0/24",
			"addrs = 10.99.0.0/24", "id = vpngw.lab", "id = %any", "id-1 = vpngw.lab", `secret = "mip4d-lab-vpn-psk"`,
			"proposals = aes128gcm16-prfsha256-x25519", "esp_proposals = aes128gcm16"}},
		{c.swanctlConf(), []string{"remote_addrs = 192.0.2.1", "local_addrs = 10.10.0.5", "vips = 0.0.0.0", "mobike = no",
			"remote_ts = 10.20.0.0/24", "id = laptop.lab", "id = vpngw.lab", "id-1 = laptop.lab", "id-2 = vpngw.lab"}},
	} {
		lines := map[string]bool{}
		for _, l := range strings.Split(tc.conf, "\n") {
			l = strings.TrimSpace(l)
			if strings.Count(l, " = ") > 1 {
				t.Errorf("two keys on one line: %q", l)
			}
			lines[l] = true
		}
		for _, w := range tc.want {
			if !lines[w] {
				t.Errorf("no line %q in\n%s", w, tc.conf)
			}
		}
		if strings.Count(tc.conf, "{") != strings.Count(tc.conf, "}") {
			t.Errorf("unbalanced braces:\n%s", tc.conf)
		}
	}
	if err := (&ClientConfig{Intranet: g.Intranet}).defaults(); err == nil {
		t.Error("client without a gateway accepted")
	}
	if err := (&GatewayConfig{}).defaults(); err == nil {
		t.Error("gateway without an intranet accepted")
	}
	s := strongswanConf(settings{interfaces: []string{"tun0"}, noRoam: true, keepAlive: 5 * time.Second})
	for _, w := range []string{"kernel-libipsec kernel-netlink", " kdf ", "interfaces_use = tun0", "roam_events = no",
		"keep_alive = 5s", "socket = unix:///run/charon.vici", "time_format = %s"} {
		if !strings.Contains(s, w) {
			t.Errorf("strongswan.conf lacks %q:\n%s", w, s)
		}
	}
}
