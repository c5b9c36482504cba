package scenario

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/internal/vpn"
)

// Scenario S4 of issue 4: the roaming laptop and the unmodified strongSwan
// client of S1 ("IPsec-ESP inside the MIPv4 tunnel": IKE and ESP run from
// the home address, which mip4d keeps while the laptop moves between the
// NATed hotspots with a co-located care-of address), with the home agent
// deployed the other ways RFC 4093 describes. In all of them the home
// network 10.10.0.0/16 is a private prefix of the enterprise, not routed
// on the Internet: only the home agent and the VPN gateway know where a
// home address is.
//
// §2.2, the home agent on the VPN domain border (BuildS4DMZ):
//
//	                           [cn] 10.20.0.2
//	                             │ intranet 10.20.0.0/24
//	   (private) lan 10.20.4.2 [ha] ──── lan4 10.20.4.1 [vpngw] lan 10.20.0.1
//	home network 10.10.0.0/16 on TUN                     │
//	     (public) wan 192.0.2.2 │                        │ wan 192.0.2.1 (public)
//	                            └──── [dmz: a switch] ───┘
//	                                       │ 192.0.2.254
//	                                    [inet] ── nat1 ── hs1 ─┐
//	                                           └─ nat2 ── hs2 ─┴─ [mn] home address 10.10.0.5
//
// The laptop registers with the home agent at 192.0.2.2 and runs IKE/ESP
// from 10.10.0.5 to the gateway at 192.0.2.1. The routing this needs (RFC
// 4093 §2.2: "it will require some modifications to the routing logic of
// the MIPv4 HA or the VPN gateway"):
//
//   - The gateway routes the virtual home network to the home agent's DMZ
//     address (S4HomeRoute). Its default route leads to the Internet, where
//     10.10.0.0/16 does not exist: without this route the gateway's answers
//     to the laptop are lost and IKE never completes. The route points to
//     the side (the DMZ) the laptop's packets arrive from, so the path is
//     symmetric and strict reverse-path filtering on both public interfaces
//     holds.
//   - The home agent reaches the gateway on the DMZ directly (on-link),
//     never through the Internet with a private source address, and — RFC
//     4093 §2.2: "the HA can be configured to forward only encrypted traffic
//     from/to the MN" — forwards nothing else from or to its home network:
//     only IKE and ESP-in-UDP between a home address and the gateway
//     (S4Filter, nftables on the home agent). Its private interface leads
//     into the intranet; without the filter a laptop could reach the
//     intranet in clear through it, around the VPN.
//
// §2.3, the home agent combined with the VPN gateway (BuildS4Combined):
//
//	[cn] 10.20.0.2 ── lan 10.20.0.1 [ha: mip4d HA + strongSwan gateway] wan 192.0.2.1 ── 192.0.2.254 [inet] ── nat1/nat2 ── hs1/hs2 ── [mn]
//	                                 home network 10.10.0.0/16 on the HA's TUN
//
// One box (its namespace is called "ha", so the lab's control helpers find
// the home agent there; charon runs in it too), with the gateway at
// 192.0.2.1 and the home agent either at the same address or at a second
// one, 192.0.2.2, on the same interface. No routing is added: the home
// network's route into the HA's TUN carries the gateway's IKE and ESP to
// the laptop, and the laptop's, once decapsulated, are local to the box.
// With one address the laptop's own mobile node sends IKE and ESP from the
// home address out of the uplink instead of the tunnel (see TestS4Combined).
//
// §2.5, the combined VPN gateway and home agent on the local link behind
// the enterprise's firewall (BuildS4LocalLink): a distinct topology — the
// box is one-armed on an intranet link it shares with the correspondent,
// its public addresses are routed to it by the firewall, which lets only
// mobile IP, IKE and NAT-T through, and the local link is the home network
// itself (a real home link: proxy ARP, a host route per binding).
var (
	S4DMZHA     = netip.MustParseAddr("192.0.2.2")   // §2.2: the home agent's public address, in the DMZ
	S4DMZBorder = netip.MustParseAddr("192.0.2.254") // the Internet's router on the DMZ
	S4HAPrivate = netip.MustParseAddr("10.20.4.2")   // §2.2: the home agent's private (intranet) address
	S4IntraGW   = netip.MustParseAddr("10.20.4.1")   // the intranet's side of that link (vpngw)
	// S4CombinedHA is the §2.3 and §2.5 box's second public address, for
	// the home agent, when it does not share the gateway's.
	S4CombinedHA = netip.MustParseAddr("192.0.2.2")
	// §2.5: the firewall's Internet address, and the box and the firewall
	// on the local link, which carries the intranet's 10.20.0.0/24 and the
	// home network.
	S4FirewallWAN = netip.MustParseAddr("203.0.113.10")
	S4LocalGW     = netip.MustParseAddr("10.10.0.1") // the firewall on the home network
	S4LocalBox    = netip.MustParseAddr("10.20.0.3") // the box on the intranet
	S4LocalHome   = netip.MustParseAddr("10.10.0.3") // the box on the home network
)

// S4 is one deployment of scenario S4, built.
type S4 struct {
	*Roaming
	HA        netip.Addr // where the laptop registers
	GatewayNS string     // the namespace of the VPN gateway
	HomeLink  string     // the home agent's home link (§2.5); "": a virtual home network
}

// BuildS4DMZ builds the §2.2 lab: the home agent in the DMZ beside the VPN
// gateway, with the routing and the filter described above.
func BuildS4DMZ(l *lab.Lab, bin string) (*S4, error) {
	s := &S4{Roaming: &Roaming{L: l, Bin: bin, Keepalive: 10, Lifetime: 60}, HA: S4DMZHA, GatewayNS: "vpngw"}
	err := run([]func() error{
		func() error {
			return each([]string{"cn", "vpngw", "ha", "dmz", "inet", "nat1", "nat2", "mn"}, l.AddNS)
		},
		// The DMZ: one switched segment, the gateway's and the home
		// agent's public interfaces and the Internet's router on it.
		func() error { return l.IP("dmz", "link", "add", "br0", "type", "bridge") },
		func() error { return l.Veth("vpngw", "wan", "dmz", "p-vpngw") },
		func() error { return l.Veth("ha", "wan", "dmz", "p-ha") },
		func() error { return l.Veth("inet", "dmz", "dmz", "p-inet") },
		func() error {
			return l.IPBatch("dmz", "link set p-vpngw master br0", "link set p-ha master br0",
				"link set p-inet master br0", "link set br0 up")
		},
		func() error { return l.Addr("inet", "dmz", S4DMZBorder.String()+"/24") },
		// The intranet behind the gateway, and the home agent's private
		// side on it.
		func() error { return l.Veth("cn", "eth0", "vpngw", "lan") },
		func() error { return l.Addr("cn", "eth0", "10.20.0.2/24") },
		func() error { return l.Route("cn", "default", "via", IntranetGW.String()) },
		func() error { return l.Addr("vpngw", "lan", IntranetGW.String()+"/24") },
		func() error { return l.Addr("vpngw", "wan", VPNGW.String()+"/24") },
		func() error { return l.Route("vpngw", "default", "via", S4DMZBorder.String()) },
		func() error { return l.Router("vpngw") },
		func() error { return l.Veth("ha", "lan", "vpngw", "lan4") },
		func() error { return l.Addr("vpngw", "lan4", S4IntraGW.String()+"/24") },
		func() error { return l.Addr("ha", "lan", S4HAPrivate.String()+"/24") },
		func() error { return l.Route("ha", Intranet.String(), "via", S4IntraGW.String()) },
		func() error { return l.Addr("ha", "wan", S4DMZHA.String()+"/24") },
		func() error { return l.Route("ha", "default", "via", S4DMZBorder.String()) },
		func() error { return l.Router("ha") },
		// RFC 4093 §2.2's routing: the gateway sends what is addressed
		// to the home network to the home agent, on the DMZ.
		func() error { return l.Route("vpngw", S4HomeRoute()...) },
		// Strict reverse-path filtering on both public interfaces: the
		// laptop's IKE/ESP must come in where the answers go out.
		func() error { return l.Sysctl("vpngw", "net.ipv4.conf.wan.rp_filter", "1") },
		func() error { return l.Sysctl("ha", "net.ipv4.conf.wan.rp_filter", "1") },
		func() error { return s.filter() },
		func() error { return s.buildHotspots() },
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// S4HomeRoute is the route the §2.2 gateway needs (arguments of `ip route
// replace`): the virtual home network via the home agent's DMZ address.
func S4HomeRoute() []string {
	return []string{HomeNet.String(), "via", S4DMZHA.String(), "dev", "wan"}
}

// BuildS4Combined builds the §2.3 lab: the home agent and the VPN gateway
// on one box (namespace "ha"). The gateway answers at VPNGW; the home
// agent at ha, the same address or a second one on the box's public
// interface (S4CombinedHA).
func BuildS4Combined(l *lab.Lab, bin string, ha netip.Addr) (*S4, error) {
	s := &S4{Roaming: &Roaming{L: l, Bin: bin, Keepalive: 10, Lifetime: 60}, HA: ha, GatewayNS: "ha"}
	err := run([]func() error{
		func() error { return each([]string{"cn", "ha", "inet", "nat1", "nat2", "mn"}, l.AddNS) },
		func() error { return l.Veth("cn", "eth0", "ha", "lan") },
		func() error { return l.Addr("cn", "eth0", "10.20.0.2/24") },
		func() error { return l.Route("cn", "default", "via", IntranetGW.String()) },
		func() error { return l.Addr("ha", "lan", IntranetGW.String()+"/24") },
		func() error { return l.Veth("ha", "wan", "inet", "dmz") },
		func() error { return l.Addr("ha", "wan", VPNGW.String()+"/24") },
		func() error {
			if ha == VPNGW {
				return nil
			}
			return l.Addr("ha", "wan", ha.String()+"/24")
		},
		func() error { return l.Route("ha", "default", "via", S4DMZBorder.String()) },
		func() error { return l.Router("ha") },
		func() error { return l.Addr("inet", "dmz", S4DMZBorder.String()+"/24") },
		func() error { return l.Sysctl("ha", "net.ipv4.conf.wan.rp_filter", "1") },
		func() error { return s.buildHotspots() },
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// BuildS4LocalLink builds the §2.5 lab: the combined VPN gateway and home
// agent (namespace "ha") one-armed on the intranet's local link, behind the
// enterprise's firewall, which routes the box's public addresses and the
// VPN's pool to it and lets only mobile IP, IKE and NAT-T through to it.
// The local link is also the home network (home_link): a real link on
// which the home agent answers ARP for the laptop while it is away (RFC
// 5944 §4.6), so the gateway's packets to the home address take the home
// agent's host route for the binding. The gateway answers at VPNGW, the
// home agent at S4CombinedHA.
//
//	[cn] 10.20.0.2 ──┐
//	[fw] 10.20.0.1 ──┤ the local link "lan" (a switch): 10.20.0.0/24 and the home network 10.10.0.0/16
//	  │ 10.10.0.1    └── [ha: HA + VPN gateway] 10.20.0.3, 10.10.0.3; public 192.0.2.1 (VPN), 192.0.2.2 (HA)
//	  │ wan 203.0.113.10
//	[inet] 203.0.113.9 ── nat1/nat2 ── hs1/hs2 ── [mn]
func BuildS4LocalLink(l *lab.Lab, bin string) (*S4, error) {
	s := &S4{Roaming: &Roaming{L: l, Bin: bin, Keepalive: 10, Lifetime: 60}, HA: S4CombinedHA,
		GatewayNS: "ha", HomeLink: "lan"}
	err := run([]func() error{
		func() error { return each([]string{"cn", "fw", "ha", "lan", "inet", "nat1", "nat2", "mn"}, l.AddNS) },
		func() error { return l.IP("lan", "link", "add", "br0", "type", "bridge") },
		func() error { return l.Veth("cn", "eth0", "lan", "p-cn") },
		func() error { return l.Veth("fw", "lan", "lan", "p-fw") },
		func() error { return l.Veth("ha", "lan", "lan", "p-ha") },
		func() error {
			return l.IPBatch("lan", "link set p-cn master br0", "link set p-fw master br0",
				"link set p-ha master br0", "link set br0 up")
		},
		func() error { return l.Addr("cn", "eth0", Corp.String()+"/24") },
		func() error { return l.Route("cn", "default", "via", IntranetGW.String()) },
		func() error { return l.Addr("fw", "lan", IntranetGW.String()+"/24") },
		func() error { return l.Addr("fw", "lan", S4LocalGW.String()+"/16") },
		func() error { return l.Addr("ha", "lan", S4LocalBox.String()+"/24") },
		func() error { return l.Addr("ha", "lan", S4LocalHome.String()+"/16") },
		func() error { return l.Addr("ha", "lan", VPNGW.String()+"/32") },
		func() error { return l.Addr("ha", "lan", S4CombinedHA.String()+"/32") },
		func() error { return l.Route("ha", "default", "via", IntranetGW.String()) },
		func() error { return l.Router("ha") },
		func() error { return l.Veth("fw", "wan", "inet", "fw") },
		func() error { return l.Addr("fw", "wan", S4FirewallWAN.String()+"/30") },
		func() error { return l.Addr("inet", "fw", "203.0.113.9/30") },
		func() error { return l.Route("fw", "default", "via", "203.0.113.9") },
		func() error { return l.Route("inet", "192.0.2.0/24", "via", S4FirewallWAN.String()) },
		// The box's public addresses and the VPN's pool are behind it.
		func() error { return l.Route("fw", VPNGW.String()+"/32", "via", S4LocalBox.String()) },
		func() error { return l.Route("fw", S4CombinedHA.String()+"/32", "via", S4LocalBox.String()) },
		func() error { return l.Route("fw", VPNPool.String(), "via", S4LocalBox.String()) },
		func() error { return l.Router("fw") },
		func() error { return s.nft("fw", "s4-fw.nft", S4Firewall()) },
		func() error { return s.buildHotspots() },
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// S4Firewall is the §2.5 enterprise firewall's policy: from the Internet,
// only registrations and tunnels to the home agent (UDP 434) and IKE and
// NAT-T to the gateway (UDP 500, 4500), and the answers to what went out.
// What it drops is counted (counter dropped).
func S4Firewall() string {
	return fmt.Sprintf(`table ip s4fw {
	counter dropped {}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname != "wan" accept
		ct state established,related accept
		ip daddr %[1]s udp dport 434 accept
		ip daddr %[2]s udp dport { 500, 4500 } accept
		counter name dropped drop
	}
}
`, S4CombinedHA, VPNGW)
}

// buildHotspots builds the Internet's side of the acceptance lab as
// buildAccess does (the same names and addresses, so MoveTo works): inet
// routing to nat1 and nat2, each a NAT in front of its hotspot, and the
// laptop with hs1 and hs2 (hs2 down).
func (s *S4) buildHotspots() error {
	l := s.L
	return run([]func() error{
		func() error { return l.Veth("inet", "nat1", "nat1", "wan") },
		func() error { return l.Veth("inet", "nat2", "nat2", "wan") },
		func() error { return l.Veth("nat1", "lan", "mn", "hs1") },
		func() error { return l.Veth("nat2", "lan", "mn", "hs2") },
		func() error { return l.Addr("inet", "nat1", "203.0.113.1/30") },
		func() error { return l.Addr("inet", "nat2", "203.0.113.5/30") },
		func() error { return l.Router("inet") },
		func() error { return l.Addr("nat1", "wan", NATAddrs[1].String()+"/30") },
		func() error { return l.Route("nat1", "default", "via", "203.0.113.1") },
		func() error { return l.Addr("nat1", "lan", Gateways[1].String()+"/24") },
		func() error { return l.NAT("nat1", "wan", false) },
		func() error { return l.Addr("nat2", "wan", NATAddrs[2].String()+"/30") },
		func() error { return l.Route("nat2", "default", "via", "203.0.113.5") },
		func() error { return l.Addr("nat2", "lan", Gateways[2].String()+"/24") },
		func() error { return l.NAT("nat2", "wan", true) },
		func() error { return l.IP("mn", "link", "set", "hs2", "down") },
	})
}

// s4FilterTable is the nftables table of the §2.2 home agent's filter.
const s4FilterTable = "s4dmz"

// S4Filter is the §2.2 home agent's forwarding policy: between a home
// address and the VPN gateway, IKE and ESP-in-UDP (RFC 3948; libipsec
// always encapsulates) only, with their later fragments (a full-size ESP
// packet does not fit the MIPv4 tunnel's MTU and is fragmented; only the
// first fragment has the UDP header); anything else from or to the home
// network is dropped and counted. Counters: vpn_out, vpn_in, denied.
func S4Filter() string {
	return fmt.Sprintf(`table ip %[1]s {
	counter vpn_out {}
	counter vpn_in {}
	counter denied {}
	chain forward {
		type filter hook forward priority filter; policy accept;
		ip saddr %[2]s ip daddr %[3]s udp dport { 500, 4500 } counter name vpn_out accept
		ip saddr %[3]s ip daddr %[2]s udp sport { 500, 4500 } counter name vpn_in accept
		ip saddr %[2]s ip daddr %[3]s ip frag-off & 0x1fff != 0 counter name vpn_out accept
		ip saddr %[3]s ip daddr %[2]s ip frag-off & 0x1fff != 0 counter name vpn_in accept
		ip saddr %[2]s counter name denied drop
		ip daddr %[2]s counter name denied drop
	}
}
`, s4FilterTable, HomeNet, VPNGW)
}

func (s *S4) filter() error { return s.nft("ha", "s4-ha-filter.nft", S4Filter()) }

// nft loads rules into ns's nftables.
func (s *S4) nft(ns, file, rules string) error {
	f := filepath.Join(s.L.Dir(), file)
	if err := os.WriteFile(f, []byte(rules), 0o644); err != nil {
		return err
	}
	_, err := s.L.Exec(ns, "nft", "-f", f)
	return err
}

var nftCounter = regexp.MustCompile(`packets (\d+) bytes (\d+)`)

// FilterCount returns the packets counted by the §2.2 home agent's filter
// counter name (vpn_out, vpn_in or denied).
func (s *S4) FilterCount(name string) (uint64, error) { return s.count("ha", s4FilterTable, name) }

// count returns the packets of nftables counter name of table in ns.
func (s *S4) count(ns, table, name string) (uint64, error) {
	out, err := s.L.Exec(ns, "nft", "list", "counter", "ip", table, name)
	if err != nil {
		return 0, err
	}
	m := nftCounter.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("nft counter %s %s: %q", table, name, out)
	}
	return strconv.ParseUint(m[1], 10, 64)
}

// Start starts the home agent at s.HA and the laptop's mobile node
// registering with it.
func (s *S4) Start() error {
	ha := []string{"address", s.HA.String()}
	if s.HomeLink != "" {
		ha = append(ha, "home_link", s.HomeLink)
	}
	if err := s.StartHA(ha...); err != nil {
		return err
	}
	return s.StartMN("home_agent", s.HA.String())
}

// StartVPN starts the unmodified strongSwan gateway in its namespace and
// the laptop's client, bound to the home address with roam events off
// (the address never changes; mip4d moves it), and brings the VPN up.
func (s *S4) StartVPN() (*VPN, error) {
	gw, err := vpn.StartGateway(s.L, s.GatewayNS, vpn.GatewayConfig{Intranet: []netip.Prefix{Intranet}, Pool: VPNPool})
	if err != nil {
		return nil, err
	}
	c, err := vpn.StartClient(s.L, "mn", vpn.ClientConfig{Gateway: VPNGW, Intranet: []netip.Prefix{Intranet},
		LocalAddr: HoA, NoRoamEvents: true})
	if err != nil {
		return nil, err
	}
	if _, err := c.Initiate(10 * time.Second); err != nil {
		return nil, fmt.Errorf("VPN: %w\n%s", err, c.Log())
	}
	v := &VPN{GW: gw, Client: c}
	if v.SA, err = c.SA(); err != nil {
		return nil, err
	}
	if v.VIP, err = c.VirtualIP(); err != nil {
		return nil, err
	}
	return v, nil
}
