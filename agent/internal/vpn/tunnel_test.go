package vpn

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// TestParseOVPNStatus reads a real OpenVPN 2.6.14 server's `status 2`.
func TestParseOVPNStatus(t *testing.T) {
	cs, err := parseOVPNStatus(readTestdata(t, "openvpn-status2.txt"))
	must(t, err)
	want := OVPNClient{CommonName: "laptop.lab", Real: netip.MustParseAddrPort("192.0.2.2:1194"),
		Virtual: netip.MustParseAddr("10.99.0.2"), BytesIn: 2179, BytesOut: 2144, Since: 1796549375,
		ClientID: 0, PeerID: 0, Cipher: "AES-128-GCM"}
	if len(cs) != 1 || cs[0] != want {
		t.Fatalf("clients %+v, want [%+v]", cs, want)
	}
	// Columns are found by name, not position.
	swapped := "HEADER,CLIENT_LIST,Real Address,Common Name,Client ID,Peer ID,Connected Since (time_t),Bytes Received,Bytes Sent\n" +
		"CLIENT_LIST,10.10.0.5:1194,x,7,3,100,1,2\n"
	cs, err = parseOVPNStatus(swapped)
	must(t, err)
	if len(cs) != 1 || cs[0].Real.Port() != 1194 || cs[0].ClientID != 7 || cs[0].PeerID != 3 || cs[0].Since != 100 || cs[0].CommonName != "x" {
		t.Fatalf("by name: %+v", cs)
	}
	for _, bad := range []string{
		"CLIENT_LIST,a,b\n", // no header
		"HEADER,CLIENT_LIST,Real Address\nCLIENT_LIST,nonsense\n",
		"HEADER,CLIENT_LIST,Real Address,Client ID\nCLIENT_LIST,1.2.3.4:5,x\n",
	} {
		if _, err := parseOVPNStatus(bad); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}

// TestParseOVPNState reads a real OpenVPN 2.6.14 client's `state`.
func TestParseOVPNState(t *testing.T) {
	s, err := parseOVPNState(readTestdata(t, "openvpn-state.txt"))
	must(t, err)
	want := OVPNState{Since: 1796549375, State: "CONNECTED", Local: netip.MustParseAddrPort("192.0.2.2:1194"),
		Remote: netip.MustParseAddrPort("192.0.2.1:1194")}
	if s != want {
		t.Fatalf("state %+v, want %+v", s, want)
	}
	if _, err := parseOVPNState("CONNECTED"); err == nil {
		t.Error("parsed a state without its time")
	}
}

// TestParseUAPI reads real wireguard-go UAPI answers (private keys zeroed
// in the files; the parser keeps none).
func TestParseUAPI(t *testing.T) {
	d, err := parseUAPI(readTestdata(t, "wg-get-client.txt"))
	must(t, err)
	if d.ListenPort != 51821 || len(d.Peers) != 1 {
		t.Fatalf("device %+v", d)
	}
	p := d.Peers[0]
	if p.PublicKey != "6ba68a2db3fdd908867493ea18d3115ba42177422cbb7be34448c80bdd9e2031" ||
		p.Endpoint != netip.MustParseAddrPort("192.0.2.1:51820") ||
		!p.Handshake.Equal(time.Unix(1796549377, 231103838)) || p.TxBytes != 180 || p.RxBytes != 92 ||
		p.PersistentKeepalv != 25 || len(p.AllowedIPs) != 2 || p.AllowedIPs[1] != netip.MustParsePrefix("10.20.0.0/24") {
		t.Fatalf("peer %+v", p)
	}
	g, err := parseUAPI(readTestdata(t, "wg-get-server.txt"))
	must(t, err)
	if g.ListenPort != 51820 || len(g.Peers) != 1 || g.Peers[0].Endpoint != netip.MustParseAddrPort("192.0.2.2:51821") {
		t.Fatalf("gateway %+v", g)
	}
	// Two peers: each gets its own handshake time; none yet is zero.
	two := "public_key=aa\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\npublic_key=bb\nlast_handshake_time_sec=5\n"
	d, err = parseUAPI(two)
	must(t, err)
	if len(d.Peers) != 2 || !d.Peers[0].Handshake.IsZero() || !d.Peers[1].Handshake.Equal(time.Unix(5, 0)) {
		t.Fatalf("two peers %+v", d.Peers)
	}
	for _, bad := range []string{"nokey\n", "public_key=a\nrx_bytes=-1\n", "public_key=a\nendpoint=nowhere\n", "public_key=a\nallowed_ip=1.2.3.4\n"} {
		if _, err := parseUAPI(bad); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}

func TestWGSetups(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		n              int
		latest         time.Time
		setups, rekeys int
	}{
		{1, t0, 1, 0},
		{2, t0.Add(10 * time.Second), 2, 0}, // a handshake the timer does not explain
		{2, t0.Add(121 * time.Second), 1, 1},
		{3, t0.Add(130 * time.Second), 2, 1},
		{3, t0.Add(245 * time.Second), 1, 2},
	} {
		s, r := wgSetups(c.n, t0, c.latest)
		if s != c.setups || r != c.rekeys {
			t.Errorf("wgSetups(%d, +%v) = %d, %d; want %d, %d", c.n, c.latest.Sub(t0), s, r, c.setups, c.rekeys)
		}
	}
}

func TestSwanVersion(t *testing.T) {
	if v := swanVersion("strongSwan 5.9.8 charon (Linux, 6.18.44, x86_64)\n"); v != "5.9.8" {
		t.Fatalf("version %q", v)
	}
	if v := swanVersion("garbage"); !strings.Contains(v, "unknown") {
		t.Fatalf("version %q", v)
	}
}

// TestSessionDiff: a session is the same while its identity, its setup
// count and its counters (not going back) hold; timer rekeys do not
// count.
func TestSessionDiff(t *testing.T) {
	a := Session{Kind: OpenVPN, ID: "client id 0", Setups: 1, key: "k", counters: []uint64{10, 20}}
	b := a
	b.counters = []uint64{11, 25}
	b.Rekeys = 1
	if !a.Same(b) {
		t.Fatalf("grown counters and a rekey: %s", a.Diff(b))
	}
	moved := b
	moved.Peer = netip.MustParseAddrPort("192.0.2.9:1194")
	if a.Same(moved) || !a.Kept(moved) || !strings.Contains(a.Diff(moved), "192.0.2.9:1194") {
		t.Errorf("moved peer: same %v kept %v diff %q", a.Same(moved), a.Kept(moved), a.Diff(moved))
	}
	for name, o := range map[string]Session{
		"identity":  {Kind: OpenVPN, ID: "client id 1", Setups: 1, key: "k2", counters: []uint64{11, 25}},
		"setups":    {Kind: OpenVPN, ID: "client id 0", Setups: 2, key: "k", counters: []uint64{11, 25}},
		"counters":  {Kind: OpenVPN, ID: "client id 0", Setups: 1, key: "k", counters: []uint64{1, 25}},
		"other VPN": {Kind: WireGuard, ID: "client id 0", Setups: 1, key: "k"},
	} {
		if d := a.Diff(o); d == "" || a.Same(o) || a.Kept(o) {
			t.Errorf("%s: no difference seen", name)
		}
	}
}

// TestPKI: the CA signs both certificates; the server's is for TLS
// servers only and the client's for TLS clients only (remote-cert-tls);
// every file is 0600; the tls-crypt key is OpenVPN's 2048-bit format.
func TestPKI(t *testing.T) {
	dir := t.TempDir()
	p, err := NewPKI(dir, "gw.example", "laptop.example")
	must(t, err)
	load := func(path string) *x509.Certificate {
		b, err := os.ReadFile(path)
		must(t, err)
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s: no PEM", path)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		must(t, err)
		return c
	}
	roots := x509.NewCertPool()
	roots.AddCert(load(p.CA))
	for _, c := range []struct {
		path, cn string
		usage    x509.ExtKeyUsage
		other    x509.ExtKeyUsage
	}{
		{p.ServerCert, "gw.example", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		{p.ClientCert, "laptop.example", x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	} {
		cert := load(c.path)
		if cert.Subject.CommonName != c.cn {
			t.Errorf("%s: CN %q", c.path, cert.Subject.CommonName)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{c.usage}}); err != nil {
			t.Errorf("%s: %v", c.path, err)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{c.other}}); err == nil {
			t.Errorf("%s verifies for the other role too", c.path)
		}
	}
	for _, f := range []string{p.CA, p.ServerCert, p.ServerKey, p.ClientCert, p.ClientKey, p.TLSCrypt} {
		st, err := os.Stat(f)
		must(t, err)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", f, st.Mode().Perm())
		}
	}
	b, err := os.ReadFile(p.TLSCrypt)
	must(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 18 || lines[0] != "-----BEGIN OpenVPN Static key V1-----" || lines[17] != "-----END OpenVPN Static key V1-----" {
		t.Fatalf("tls-crypt key file: %d lines", len(lines))
	}
	var key []byte
	for _, l := range lines[1:17] {
		k, err := hex.DecodeString(l)
		must(t, err)
		key = append(key, k...)
	}
	if len(key) != 256 {
		t.Fatalf("tls-crypt key of %d bytes", len(key))
	}
}

func FuzzParseOVPNStatus(f *testing.F) {
	f.Add(readTestdata(f, "openvpn-status2.txt"))
	f.Add("HEADER,CLIENT_LIST,Real Address\nCLIENT_LIST,1.2.3.4:5\n")
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := parseOVPNStatus(s)
		if err == nil {
			for _, c := range cs {
				if !c.Real.IsValid() {
					t.Fatalf("client without its real address: %+v", c)
				}
			}
		}
	})
}

func FuzzParseOVPNState(f *testing.F) {
	f.Add(readTestdata(f, "openvpn-state.txt"))
	f.Add("1,RECONNECTING,ping-restart,,,,,")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := parseOVPNState(s)
		if err != nil {
			return
		}
		lines := strings.Split(strings.TrimSpace(s), "\n")
		if f := strings.Split(strings.TrimSpace(lines[len(lines)-1]), ","); st.State != f[1] {
			t.Fatalf("state %q from %q", st.State, s)
		}
	})
}

func FuzzParseUAPI(f *testing.F) {
	f.Add(readTestdata(f, "wg-get-client.txt"))
	f.Add(readTestdata(f, "wg-get-server.txt"))
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseUAPI(s)
		if err == nil && len(d.Peers) != strings.Count("\n"+s, "\npublic_key=") {
			t.Fatalf("%d peers from %d public_key lines", len(d.Peers), strings.Count("\n"+s, "\npublic_key="))
		}
	})
}
