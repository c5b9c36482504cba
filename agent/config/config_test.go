package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/internal/golden"
	"github.com/mip4d/mip4d/agent/uci"
)

func TestLoadHA(t *testing.T) {
	c, err := Load(filepath.Join(golden.Dir(), "config", "ha.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != RoleHA || c.StateDir != "/var/lib/mip4d" || c.LogLevel.String() != "DEBUG" || !c.HasSecrets || !c.Enabled {
		t.Fatalf("globals %+v", c)
	}
	h := c.HA
	e := h.Engine
	if e.Addr != netip.MustParseAddr("198.51.100.1") || e.HomeNet != netip.MustParsePrefix("10.10.0.0/16") ||
		e.MaxLifetime != 600 || e.Keepalive != 20 || !e.NATTraversal || e.AllowForce || !e.GRE || !e.Revocation ||
		len(e.TrustedNetworks) != 2 || e.Pool.Last != netip.MustParseAddr("10.10.1.254") || e.PoolHold != 3600 || e.MaxBindings != 1 {
		t.Fatalf("engine %+v", e)
	}
	if h.Interface != "mip4d0" || h.MTU != 1500 {
		t.Fatalf("defaults: %+v", h)
	}
	if len(h.MobileNodes) != 2 || len(h.Peers) != 1 {
		t.Fatalf("%d nodes, %d peers", len(h.MobileNodes), len(h.Peers))
	}
	m0, m1 := h.MobileNodes[0], h.MobileNodes[1]
	if m0.HomeAddr != netip.MustParseAddr("10.10.0.5") || m0.SAs[0].SPI != 1000 || len(m0.SAs[0].Key) != 16 || m0.SAs[0].Replay != auth.Timestamps {
		t.Fatalf("node 0 %+v", m0)
	}
	if m1.HomeAddr.IsValid() || string(m1.SAs[0].Key) != "correct horse battery staple" || m1.SAs[0].Replay != auth.Nonces {
		t.Fatalf("node 1 %+v", m1)
	}
	if p := h.Peers[0]; p.Addr != netip.MustParseAddr("203.0.113.1") || p.SA.Algorithm != auth.KeyedMD5 {
		t.Fatalf("peer %+v", p)
	}
}

func TestLoadMN(t *testing.T) {
	c, err := Load(filepath.Join(golden.Dir(), "config", "mn.conf"))
	if err != nil {
		t.Fatal(err)
	}
	m := c.MN
	if m.Uplink != "wlan0" || len(m.Routes) != 2 || m.Engine.Lifetime != 300 || !m.Engine.UDPTunnel ||
		!m.Engine.ReverseTunnel || m.Engine.Keepalive != 110*time.Second || m.Engine.HomeAgent != netip.MustParseAddr("198.51.100.1") {
		t.Fatalf("mn %+v", m)
	}
}

func TestLoadFA(t *testing.T) {
	c, err := Load(filepath.Join(golden.Dir(), "config", "fa.conf"))
	if err != nil {
		t.Fatal(err)
	}
	a := c.FA
	if c.Role != RoleFA || a == nil || !c.HasSecrets {
		t.Fatalf("%+v", c)
	}
	e := a.Engine
	if a.Interface != "br-lan" || a.Uplink != "wan" || a.TUN != "mip4d0" || a.MTU != 1500 || a.AdvInterval != 2*time.Second ||
		a.BehindNAT != "auto" || e.BehindNAT || e.CareOf.IsValid() || e.MaxLifetime != 300 || e.AdvLifetime != 6 ||
		!e.ReverseTunnel || !e.ReverseTunnelRequired || !e.Revocation || e.RegistrationRequired || e.Challenges || e.MaxVisitors != 1024 {
		t.Fatalf("fa %+v", a)
	}
	if len(a.Peers) != 1 || a.Peers[0].Addr != netip.MustParseAddr("198.51.100.1") || a.Peers[0].SA.SPI != 2000 || len(a.Peers[0].SA.Key) != 16 {
		t.Fatalf("peers %+v", a.Peers)
	}
	if len(a.MobileNodes) != 1 || a.MobileNodes[0].NAI != "laptop@example.net" || string(a.MobileNodes[0].SA.Key) != "visitor key" {
		t.Fatalf("mobile nodes %+v", a.MobileNodes)
	}
}

func TestLoadProxy(t *testing.T) {
	c, err := Load(filepath.Join(golden.Dir(), "config", "proxy.conf"))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Proxy
	if c.Role != RoleProxy || p == nil || !c.HasSecrets {
		t.Fatalf("%+v", c)
	}
	e := p.Engine
	if p.Interface != "br-lan" || p.Uplink != "wan" || p.UDPTunnel != "auto" || p.TUN != "mip4d0" || p.GatewayMAC.String() != "02:00:5e:10:00:01" ||
		e.HomeAgent != netip.MustParseAddr("198.51.100.1") || e.SA == nil || e.SA.SPI != 2000 || !e.Revocation || e.Lifetime != 300 ||
		string(e.MasterKey) != "a long master secret for derived keys" || e.KeySPI != 256 || e.UnknownNAI != "" || e.MaxClients != 256 {
		t.Fatalf("proxy %+v", p)
	}
	d := p.DHCP
	if d.ServerID != netip.MustParseAddr("10.10.0.1") || d.Network != netip.MustParsePrefix("10.10.0.0/16") || len(d.DNS) != 1 || d.MTU != 1400 {
		t.Fatalf("dhcp %+v", d)
	}
	if len(e.Clients) != 2 || e.Clients[0].SA != nil || e.Clients[0].NAI != "alice@example.net" ||
		e.Clients[1].SA == nil || e.Clients[1].SA.SPI != 3000 || e.Clients[1].HomeAddr != netip.MustParseAddr("10.10.0.7") {
		t.Fatalf("clients %+v", e.Clients)
	}
}

const proxyBase = "config mip4d 'globals'\n\toption role 'proxy'\nconfig proxy 'proxy'\n\toption interface 'br-lan'\n" +
	"\toption home_agent '198.51.100.1'\n\toption spi '2000'\n\toption key 'k'\n\toption gateway '10.10.0.1'\n"

func TestErrors(t *testing.T) {
	const base = "config mip4d 'globals'\n\toption role 'ha'\n" +
		"config homeagent 'homeagent'\n\toption address '198.51.100.1'\n\toption home_network '10.10.0.0/16'\n"
	for _, tc := range []struct {
		name, text, want string
	}{
		{"unknown section", base + "config frobnicator\n", "mip4d:6: unknown section type \"frobnicator\""},
		{"unknown option", base + "\toption max_lifetme '30'\n", "mip4d:6: option \"max_lifetme\" is not an option of homeagent sections"},
		{"out of range", base + "\toption max_lifetime '99999'\n", "mip4d:6: option max_lifetime: \"99999\" is not in range(1,65535)"},
		{"not an address", base + "\toption address 'ha.example'\n", "mip4d:6: option address: \"ha.example\" is not an IPv4 address"},
		{"not a boolean", base + "\toption gre 'maybe'\n", "mip4d:6: option gre: \"maybe\" is not a boolean"},
		{"closed set", "config mip4d 'globals'\n\toption role 'fa2'\n", "mip4d:2: option role: \"fa2\" is not one of ha, mn, fa, proxy"},
		{"proxy client without a key or master", proxyBase + "config proxy_client\n\toption mac '02:00:00:00:00:01'\n\toption nai 'a@b'\n",
			"has no key and no master key is configured"},
		{"proxy client half a key", proxyBase + "config proxy_client\n\toption mac '02:00:00:00:00:01'\n\toption nai 'a@b'\n\toption key 'k'\n",
			"mip4d:9: proxy_client: spi and key go together"},
		{"proxy bad mac", proxyBase + "config proxy_client\n\toption mac '02:00:00'\n\toption nai 'a@b'\n",
			"option mac: \"02:00:00\" is not a MAC address"},
		{"proxy guests without master", proxyBase + "\toption unknown_nai '%m@guests.example.net'\n", "a master key is needed"},
		{"fa without its section", "config mip4d 'globals'\n\toption role 'fa'\n", "role fa needs a 'config foreignagent foreignagent' section"},
		{"fa on its uplink", "config mip4d 'globals'\n\toption role 'fa'\nconfig foreignagent 'foreignagent'\n\toption interface 'eth0'\n\toption uplink 'eth0'\n",
			"mip4d:3: foreignagent: the visitors' interface and the uplink must differ"},
		{"fa challenges without keys", "config mip4d 'globals'\n\toption role 'fa'\nconfig foreignagent 'foreignagent'\n\toption interface 'br-lan'\n\toption challenges '1'\n",
			"mip4d:3: foreignagent: challenges need MN-FA keys"},
		{"fa key without a node", "config mip4d 'globals'\n\toption role 'fa'\nconfig foreignagent 'foreignagent'\n\toption interface 'br-lan'\nconfig mobile_node\n\toption spi '300'\n\toption key 'k'\n",
			"mip4d:5: mobile_node: an MN-FA key needs the node's nai or home_address"},
		{"fa behind_nat", "config mip4d 'globals'\n\toption role 'fa'\nconfig foreignagent 'foreignagent'\n\toption interface 'br-lan'\n\toption behind_nat 'yes'\n",
			"mip4d:5: option behind_nat: \"yes\" is not one of auto, 1, 0"},
		{"list for a single option", base + "\tlist max_lifetime '30'\n", "mip4d:6: option max_lifetime takes one value"},
		{"missing required", "config mip4d 'globals'\n\toption role 'ha'\nconfig homeagent 'homeagent'\n\toption address '198.51.100.1'\n",
			"mip4d:3: homeagent section: option home_network is required"},
		{"no globals", "config homeagent 'homeagent'\n\toption address '1.2.3.4'\n\toption home_network '10.0.0.0/8'\n", "no 'config mip4d globals' section"},
		{"wrong singleton name", "config mip4d 'main'\n\toption role 'ha'\n", "mip4d:1: section mip4d must be named 'globals'"},
		{"reserved SPI", base + "config mobile_node\n\toption home_address '10.10.0.5'\n\toption spi '255'\n\toption key 'k'\n",
			"mip4d:8: option spi: \"255\" is not in range(256,4294967295)"},
		{"bad hex key", base + "config mobile_node\n\toption home_address '10.10.0.5'\n\toption spi '300'\n\toption key '0xabc'\n",
			"mip4d:9: option key: the value after 0x must be an even number of hex digits"},
		{"home address outside", base + "config mobile_node\n\toption home_address '192.0.2.5'\n\toption spi '300'\n\toption key 'k'\n",
			"mip4d:6: mobile_node: mobile node 192.0.2.5: home address 192.0.2.5 is outside the home network"},
		{"half a pool", base + "\toption pool_start '10.10.1.1'\n", "mip4d:3: homeagent: pool_start and pool_end go together"},
		{"mn without home agent", "config mip4d 'globals'\n\toption role 'mn'\nconfig mobilenode 'mobilenode'\n\toption nai 'x@y'\n\toption spi '300'\n\toption key 'k'\n",
			"mip4d:3: mobilenode section: option home_agent is required"},
		{"uci syntax", "config mip4d 'globals\n", "mip4d:1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := uci.Parse("mip4d", []byte(tc.text))
			if err == nil {
				_, err = FromUCI(f)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant …%s…", err, tc.want)
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	src, _ := os.ReadFile(filepath.Join(golden.Dir(), "config", "ha.conf"))
	p := filepath.Join(t.TempDir(), "mip4d")
	if err := os.WriteFile(p, src, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckPermissions(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable keys: %v", err)
	}
	os.Chmod(p, 0o600)
	if err := c.CheckPermissions(); err != nil {
		t.Fatal(err)
	}
}

// TestSchemaConsistent checks every default and value set against its own
// datatype, so the schema cannot document a default the daemon refuses.
func TestSchemaConsistent(t *testing.T) {
	for _, s := range Schema {
		names := map[string]bool{}
		for _, o := range s.Options {
			if names[o.Name] {
				t.Errorf("%s.%s declared twice", s.Type, o.Name)
			}
			names[o.Name] = true
			if o.Help == "" {
				t.Errorf("%s.%s has no help text", s.Type, o.Name)
			}
			if o.Default != "" {
				if err := o.check(o.Default); err != nil {
					t.Errorf("%s.%s default: %v", s.Type, o.Name, err)
				}
			}
			if o.Required && o.Default != "" {
				t.Errorf("%s.%s is required and has a default", s.Type, o.Name)
			}
		}
	}
}

// TestRedundancy: the ha_peer section and redundancy_role, and the
// mistakes check-config names (the key never appears in a message).
func TestRedundancy(t *testing.T) {
	const base = "config mip4d 'globals'\n\toption role 'ha'\n" +
		"config homeagent 'homeagent'\n\toption address '198.51.100.10'\n\toption home_network '10.10.0.0/16'\n"
	key := strings.Repeat("ab", 32)
	peer := func(opts string) string {
		return "config ha_peer 'peer'\n\toption address '198.51.100.12'\n\toption local_address '198.51.100.11'\n" + opts
	}
	f, _ := uci.Parse("mip4d", []byte(base+peer("\toption key '"+key+"'\n")))
	c, err := FromUCI(f)
	if err != nil {
		t.Fatal(err)
	}
	rd := c.HA.Redundancy
	if rd == nil || rd.Role != "backup" || rd.Peer != netip.MustParseAddrPort("198.51.100.12:4340") ||
		rd.Local != netip.MustParseAddrPort("198.51.100.11:4340") || len(rd.Key) != 32 || !c.HasSecrets {
		t.Fatalf("redundancy %+v", rd)
	}
	f, _ = uci.Parse("mip4d", []byte(base+"\toption redundancy_role 'master'\n"+peer("\toption key '0x"+key+"'\n\toption port '5000'\n")))
	if c, err = FromUCI(f); err != nil || c.HA.Redundancy.Role != "master" || c.HA.Redundancy.Peer.Port() != 5000 {
		t.Fatalf("master on port 5000: %v %+v", err, c)
	}
	f, _ = uci.Parse("mip4d", []byte(base))
	if c, err = FromUCI(f); err != nil || c.HA.Redundancy != nil {
		t.Fatalf("without a peer: %v", err)
	}
	short := strings.Repeat("cd", 31)
	for _, tc := range []struct{ name, text, want string }{
		{"short key", base + peer("\toption key '"+short+"'\n"), "mip4d:9: option key: the peer key must be at least 32 bytes (64 hex digits); this one has 31"},
		{"text key", base + peer("\toption key 'not hex at all, not hex at all, not hex at all!!'\n"), "mip4d:9: option key: the peer key must be hex digits"},
		{"no key", base + peer(""), "mip4d:6: ha_peer section: option key is required"},
		{"role without peer", base + "\toption redundancy_role 'master'\n", "mip4d:6: option redundancy_role: needs an ha_peer section"},
		{"bad role", base + "\toption redundancy_role 'primary'\n", "mip4d:6: option redundancy_role: \"primary\" is not one of master, backup"},
		{"peer is the VIP", base + "config ha_peer\n\toption address '198.51.100.10'\n\toption local_address '198.51.100.11'\n\toption key '" + key + "'\n",
			"mip4d:6: ha_peer: address and local_address are the home agents' own addresses; 198.51.100.10 (homeagent option address) is the virtual address"},
		{"same addresses", base + "config ha_peer\n\toption address '198.51.100.11'\n\toption local_address '198.51.100.11'\n\toption key '" + key + "'\n",
			"mip4d:6: ha_peer: address and local_address must differ"},
		{"two peers", base + peer("\toption key '"+key+"'\n") + "config ha_peer\n\toption address '198.51.100.13'\n\toption local_address '198.51.100.11'\n\toption key '" + key + "'\n",
			"mip4d:10: ha_peer: only one peer is supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := uci.Parse("mip4d", []byte(tc.text))
			if err == nil {
				_, err = FromUCI(f)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant …%s…", err, tc.want)
			}
			if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), short) {
				t.Fatal("the key is in the message")
			}
		})
	}
}
