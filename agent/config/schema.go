// Package config reads mip4d's UCI configuration (/etc/config/mip4d) into
// the typed configurations of the role engines, validating every option
// against one schema. The same schema is printed by `mip4d schema --json`
// for the LuCI contract test and the init script, so the daemon, the web
// page and the procd validation can never disagree about an option.
//
// Errors name the file, the line and the option:
//
//	/etc/config/mip4d:14: option max_lifetime: "99999" is not in range(1,65535)
package config

// Datatype is a UCI/LuCI datatype expression (the names LuCI's
// cbi.datatypes and procd's validate_data use).
type Datatype string

const (
	TBool       Datatype = "bool"
	TUInt       Datatype = "uinteger"
	TPort       Datatype = "port"
	TIP4Addr    Datatype = "ip4addr"
	TCIDR4      Datatype = "cidr4"
	TString     Datatype = "string"
	TDevice     Datatype = "device" // an interface name
	TFile       Datatype = "file"   // an absolute path
	TSPI        Datatype = "range(256,4294967295)"
	TLifetime   Datatype = "range(1,65535)"
	TBindings   Datatype = "range(1,64)"
	TMTU        Datatype = "range(576,9000)"
	TKeepalive  Datatype = "range(0,65535)"
	TTolerance  Datatype = "range(1,3600)"
	TInterval   Datatype = "range(1,1800)"
	TVisitors   Datatype = "range(1,65535)"
	TQuarantine Datatype = "range(1,86400)"
	TMAC        Datatype = "macaddr"
)

// Option describes one option of a section.
type Option struct {
	Name     string   `json:"name"`
	Type     Datatype `json:"datatype"`
	List     bool     `json:"list,omitempty"`
	Required bool     `json:"required,omitempty"`
	Default  string   `json:"default,omitempty"`
	// Values, when set, is the closed set of allowed values.
	Values []string `json:"values,omitempty"`
	// Secret options (keys) are never shown in status or logs and are
	// password fields in LuCI.
	Secret bool   `json:"secret,omitempty"`
	Help   string `json:"help"`
}

// Section describes one section type.
type Section struct {
	Type string `json:"type"`
	// Name is the fixed name of a singleton section; "" for a type that
	// appears any number of times, usually anonymous.
	Name string `json:"name,omitempty"`
	// Roles lists the roles that read this section.
	Roles   []string `json:"roles"`
	Help    string   `json:"help"`
	Options []Option `json:"options"`
}

// Roles.
const (
	RoleHA    = "ha"
	RoleMN    = "mn"
	RoleFA    = "fa"
	RoleProxy = "proxy"
)

var keyOptions = []Option{
	{Name: "spi", Type: TSPI, Required: true, Help: "Security Parameter Index of the security association (256 and up; 0-255 are reserved, RFC 5944 §1.6)"},
	{Name: "key", Type: TString, Required: true, Secret: true, Help: "shared key: text, or hex digits after 0x for a binary key (16 bytes or more recommended)"},
	{Name: "algorithm", Type: TString, Default: "hmac-md5", Values: []string{"hmac-md5", "keyed-md5"}, Help: "authentication algorithm; keyed-md5 (prefix+suffix) only for legacy peers"},
}

var replayOptions = []Option{
	{Name: "replay", Type: TString, Default: "timestamps", Values: []string{"timestamps", "nonces"}, Help: "replay protection (RFC 5944 §5.7)"},
	{Name: "tolerance", Type: TTolerance, Default: "7", Help: "seconds a timestamp may differ from the home agent's clock"},
}

func concat(parts ...[]Option) []Option {
	var out []Option
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Schema is every section and option mip4d reads.
var Schema = []Section{
	{Type: "mip4d", Name: "globals", Roles: []string{RoleHA, RoleMN, RoleFA, RoleProxy}, Help: "what this box is and where the daemon keeps its files",
		Options: []Option{
			{Name: "role", Type: TString, Required: true, Values: []string{RoleHA, RoleMN, RoleFA, RoleProxy}, Help: "ha: home agent; mn: mobile node; fa: foreign agent on a hotspot router; proxy: Mobile IP on the hotspot router for laptops with none (RFC 5563)"},
			{Name: "enabled", Type: TBool, Default: "1", Help: "start the daemon at boot"},
			{Name: "log_level", Type: TString, Default: "info", Values: []string{"debug", "info", "warn", "error"}, Help: "log verbosity"},
			{Name: "state_dir", Type: TFile, Default: "/etc/mip4d", Help: "where state that must survive a reboot is kept (home agent bindings); on flash, written only when bindings change"},
			{Name: "run_dir", Type: TFile, Default: "/var/run/mip4d", Help: "where state that must survive a restart of the daemon but not a reboot is kept (a proxy's clients); tmpfs on OpenWrt, so no flash wear"},
			{Name: "control_socket", Type: TFile, Default: "/var/run/mip4d.sock", Help: "root-only control socket for mip4d status"},
			{Name: "dataplane", Type: TString, Default: DataPlaneAuto, Values: []string{DataPlaneAuto, DataPlaneBPF, DataPlaneUserspace}, Help: "where tunnelled packets are handled: bpf (tc programs in the kernel; needs kmod-sched-bpf), userspace (the daemon, through its TUN device), auto (bpf if it loads, else userspace)"},
		}},
	{Type: "homeagent", Name: "homeagent", Roles: []string{RoleHA}, Help: "home agent service (RFC 5944 §3.8)",
		Options: []Option{
			{Name: "address", Type: TIP4Addr, Required: true, Help: "the home agent's address: mobile nodes register to it and tunnels start from it"},
			{Name: "home_network", Type: TCIDR4, Required: true, Help: "the home network prefix; home addresses come from it"},
			{Name: "interface", Type: TDevice, Default: "mip4d0", Help: "TUN device that carries the virtual home network"},
			{Name: "home_link", Type: TDevice, Help: "a real interface on the home network: mip4d answers ARP there for mobile nodes that are away (RFC 5944 §4.6)"},
			{Name: "mtu", Type: TMTU, Default: "1500", Help: "path MTU toward care-of addresses; the tunnel MTU is derived from it"},
			{Name: "max_lifetime", Type: TLifetime, Default: "600", Help: "longest registration lifetime granted, seconds"},
			{Name: "max_bindings", Type: TBindings, Default: "1", Help: "simultaneous bindings per mobile node (S bit); 1 disables them"},
			{Name: "nat_traversal", Type: TBool, Default: "1", Help: "allow RFC 3519 UDP tunnelling when a NAT is detected"},
			{Name: "force_udp", Type: TBool, Default: "0", Help: "allow mobile nodes to force UDP tunnelling without a NAT (F flag)"},
			{Name: "keepalive", Type: TKeepalive, Default: "110", Help: "NAT keepalive interval given to mobile nodes, seconds (0: their default)"},
			{Name: "gre", Type: TBool, Default: "1", Help: "offer GRE encapsulation (G bit)"},
			{Name: "reverse_tunnel_required", Type: TBool, Default: "0", Help: "deny registrations without reverse tunnelling (T bit, RFC 3024)"},
			{Name: "revocation", Type: TBool, Default: "1", Help: "revoke bindings at foreign agents and proxies that support it (RFC 3543)"},
			{Name: "trusted_network", Type: TCIDR4, List: true, Help: "source networks from which a registration is 'inside' (RFC 5265 Trusted Networks Configured); set on an i-HA"},
			{Name: "pool_start", Type: TIP4Addr, Help: "first home address handed out by NAI (RFC 2794)"},
			{Name: "pool_end", Type: TIP4Addr, Help: "last home address of the pool"},
			{Name: "pool_hold", Type: TUInt, Default: "3600", Help: "seconds a released pool address stays reserved for its NAI"},
			{Name: "redundancy_role", Type: TString, Values: []string{"master", "backup"}, Help: "with an ha_peer section: the role at the first start, until keepalived says otherwise (mip4d ha-role); later starts resume the last role told, kept in run_dir. Default backup"},
		}},
	{Type: "ha_peer", Roles: []string{RoleHA}, Help: "the other home agent of a redundant pair (keepalived/VRRP moves option address, the virtual address, between them): bindings, pool leases and replay state are replicated to it over TCP, authenticated with HMAC-SHA256",
		Options: []Option{
			{Name: "address", Type: TIP4Addr, Required: true, Help: "the peer's own replication address (not the virtual address)"},
			{Name: "local_address", Type: TIP4Addr, Required: true, Help: "this home agent's own replication address (not the virtual address): it listens there, and the lower of the two addresses connects"},
			{Name: "port", Type: TPort, Default: "4340", Help: "TCP port of the replication, on both"},
			{Name: "key", Type: TString, Required: true, Secret: true, Help: "HMAC-SHA256 key shared by the pair: at least 32 bytes as hex digits (64 or more, 0x optional); head -c 32 /dev/urandom | hexdump -ve '1/1 \"%02x\"' makes one"},
		}},
	{Type: "mobile_node", Roles: []string{RoleHA, RoleFA}, Help: "a mobile node and the security association this agent shares with it: MN-HA on a home agent (which serves it), MN-FA on a foreign agent (RFC 5944 §3.7.2.1: requests without it are then denied)",
		Options: concat([]Option{
			{Name: "nai", Type: TString, Help: "the node's NAI (user@realm); required for pool addresses"},
			{Name: "home_address", Type: TIP4Addr, Help: "static home address; leave out to assign one from the pool"},
		}, keyOptions, replayOptions)},
	{Type: "agent_peer", Roles: []string{RoleHA, RoleFA}, Help: "an FA-HA security association: on a home agent, with a foreign agent or proxy; on a foreign agent, with a home agent",
		Options: concat([]Option{
			{Name: "address", Type: TIP4Addr, Required: true, Help: "the peer's address: on a home agent, the agent's care-of address (the source of its relayed registrations); on a foreign agent, the home agent's"},
		}, keyOptions)},
	{Type: "foreignagent", Name: "foreignagent", Roles: []string{RoleFA}, Help: "foreign agent service on a hotspot router (RFC 5944 §2.3, §3.7; RFC 3024 reverse tunnels; RFC 3519 when the router is behind a NAT)",
		Options: []Option{
			{Name: "interface", Type: TDevice, Required: true, Help: "the visitors' link (br-lan, say): advertisements go out and registrations come in here"},
			{Name: "uplink", Type: TDevice, Help: "interface whose address is the care-of address; default: the interface of the default route"},
			{Name: "care_of", Type: TIP4Addr, Help: "care-of address to offer; default: the uplink's address"},
			{Name: "tun", Type: TDevice, Default: "mip4d0", Help: "TUN device carrying the visitors' reverse-tunnelled traffic"},
			{Name: "mtu", Type: TMTU, Default: "1500", Help: "path MTU toward home agents"},
			{Name: "max_lifetime", Type: TLifetime, Default: "600", Help: "longest registration lifetime relayed, seconds (longer requests are denied with 69)"},
			{Name: "advertise_interval", Type: TInterval, Default: "1", Help: "seconds between Agent Advertisements (RFC 5944 §2.3.2; at most one a second); mobile nodes notice a move within about this long"},
			{Name: "reverse_tunnel", Type: TBool, Default: "1", Help: "offer RFC 3024 reverse tunnelling (T bit); needed through VPN gateways and ingress filtering"},
			{Name: "reverse_tunnel_required", Type: TBool, Default: "0", Help: "deny registrations without reverse tunnelling (75)"},
			{Name: "behind_nat", Type: TString, Default: "auto", Values: []string{"auto", "1", "0"}, Help: "ask home agents for RFC 3519 UDP tunnelling (U bit, extension 144); auto: when the care-of address is private (RFC 1918, RFC 6598)"},
			{Name: "revocation", Type: TBool, Default: "1", Help: "offer RFC 3543 registration revocation (X bit)"},
			{Name: "registration_required", Type: TBool, Default: "0", Help: "R bit: nodes with a co-located care-of address must register through this agent too"},
			{Name: "challenges", Type: TBool, Default: "0", Help: "RFC 4721 challenges in advertisements; needs mobile_node sections with MN-FA keys"},
			{Name: "max_visitors", Type: TVisitors, Default: "1024", Help: "largest visitor list (66 when full; B bit advertised)"},
		}},
	{Type: "proxy", Name: "proxy", Roles: []string{RoleProxy}, Help: "proxy Mobile IP on a hotspot router (RFC 5563): laptops with only a DHCP client keep the address their home agent gives them — and so their VPN — from hotspot to hotspot",
		Options: concat([]Option{
			{Name: "interface", Type: TDevice, Required: true, Help: "the clients' link (br-lan, say): DHCP is served here; turn dnsmasq's DHCP off on it"},
			{Name: "uplink", Type: TDevice, Help: "interface whose address is the care-of address; default: the interface of the default route"},
			{Name: "care_of", Type: TIP4Addr, Help: "care-of address; default: the uplink's address"},
			{Name: "home_agent", Type: TIP4Addr, Required: true, Help: "the home agent every client registers with"},
		}, keyOptions, []Option{
			{Name: "lifetime", Type: TLifetime, Default: "300", Help: "registration lifetime asked for, seconds; renewals come after a check that the client is still attached (RFC 5563 §4.4)"},
			{Name: "udp_tunnel", Type: TString, Default: "auto", Values: []string{"auto", "1", "0"}, Help: "ask for RFC 3519 UDP tunnelling; auto: when the care-of address is private (RFC 1918, RFC 6598)"},
			{Name: "force_udp", Type: TBool, Default: "0", Help: "force UDP tunnelling even without a NAT (F flag)"},
			{Name: "revocation", Type: TBool, Default: "1", Help: "RFC 3543: the home agent tells this proxy when a client has moved to another"},
			{Name: "device_id", Type: TBool, Default: "0", Help: "send the client's MAC to the home agent (RFC 5563 §5.3), for its logs"},
			{Name: "unknown_nai", Type: TString, Help: "clients without a proxy_client section: empty refuses them; a pattern such as %m@guests.example.net (%m: the MAC as 12 hex digits) admits them with keys derived from master_key"},
			{Name: "master_key", Type: TString, Secret: true, Help: "derives each client's MN-HA key without one of its own: HKDF-SHA256 with the NAI (mip4d proxy-key computes it for the home agent's configuration)"},
			{Name: "key_spi", Type: TSPI, Default: "256", Help: "SPI of the derived keys"},
			{Name: "max_clients", Type: TVisitors, Default: "256", Help: "largest client table"},
			{Name: "conflict_window", Type: TTolerance, Default: "60", Help: "MAC conflicts: a client whose binding the home agent moved to another hotspot while it still answers here takes it back if it had been here this many seconds; a newer one yields"},
			{Name: "quarantine", Type: TQuarantine, Default: "600", Help: "MAC conflicts: seconds a yielding client's MAC is refused; also the period in which a client takes its binding back at most 5 times"},
			{Name: "gateway", Type: TIP4Addr, Required: true, Help: "the clients' router and DHCP server address: the same on every hotspot, so a client sees no change when it moves"},
			{Name: "gateway_mac", Type: TMAC, Help: "MAC address given to the clients' interface, the same on every hotspot, so clients' ARP caches stay right across moves"},
			{Name: "client_network", Type: TCIDR4, Help: "subnet mask given to clients: a prefix holding their home addresses and the gateway (the home network, say); default: a /32 with classless static routes (RFC 3442) to the gateway"},
			{Name: "dns", Type: TIP4Addr, List: true, Help: "DNS servers offered"},
			{Name: "domain", Type: TString, Help: "domain name offered"},
			{Name: "client_mtu", Type: TMTU, Help: "interface MTU offered to clients (the tunnel costs 20 to 32 bytes)"},
			{Name: "tun", Type: TDevice, Default: "mip4d0", Help: "TUN device carrying the clients' tunnelled traffic"},
			{Name: "mtu", Type: TMTU, Default: "1500", Help: "path MTU toward the home agent"},
		})},
	{Type: "proxy_client", Roles: []string{RoleProxy}, Help: "a client this proxy registers: its MAC, the identity it registers under, and its MN-HA key (or one derived from master_key)",
		Options: []Option{
			{Name: "mac", Type: TMAC, Required: true, Help: "the client's MAC address"},
			{Name: "nai", Type: TString, Required: true, Help: "the NAI registered for it (user@realm)"},
			{Name: "home_address", Type: TIP4Addr, Help: "a static home address; default: the home agent's pool"},
			{Name: "spi", Type: TSPI, Help: "SPI of its MN-HA key; with key"},
			{Name: "key", Type: TString, Secret: true, Help: "its MN-HA key: text, or hex after 0x; default: derived from the proxy's master_key"},
			{Name: "algorithm", Type: TString, Default: "hmac-md5", Values: []string{"hmac-md5", "keyed-md5"}, Help: "authentication algorithm"},
		}},
	{Type: "mobilenode", Name: "mobilenode", Roles: []string{RoleMN}, Help: "this box as a mobile node",
		Options: concat([]Option{
			{Name: "nai", Type: TString, Help: "this node's NAI; required without a home_address"},
			{Name: "home_address", Type: TIP4Addr, Help: "static home address; leave out to be given one"},
			{Name: "home_network", Type: TCIDR4, Help: "the home network; an address in it on the uplink means the node is home"},
			{Name: "home_agent", Type: TIP4Addr, Required: true, Help: "the home agent's address"},
			{Name: "mode", Type: TString, Default: "colocated", Values: []string{"colocated", "fa"}, Help: "colocated: the uplink's own address (DHCP) is the care-of address; fa: register through a foreign agent heard on the uplink"},
			{Name: "uplink", Type: TDevice, Help: "interface whose address is the care-of address (required in fa mode); default: the interface of the default route"},
			{Name: "interface", Type: TDevice, Default: "mip4d0", Help: "TUN device carrying the home address"},
			{Name: "mtu", Type: TMTU, Default: "1500", Help: "path MTU of the uplink"},
			{Name: "lifetime", Type: TLifetime, Default: "300", Help: "registration lifetime asked for, seconds"},
			{Name: "reverse_tunnel", Type: TBool, Default: "1", Help: "send traffic from the home address back through the tunnel (T bit)"},
			{Name: "udp_tunnel", Type: TBool, Default: "1", Help: "ask for RFC 3519 UDP tunnelling (granted when the home agent sees a NAT)"},
			{Name: "force_udp", Type: TBool, Default: "0", Help: "force UDP tunnelling even without a NAT (F flag)"},
			{Name: "keepalive", Type: TKeepalive, Default: "110", Help: "NAT keepalive interval when the home agent gives none, seconds"},
			{Name: "route", Type: TCIDR4, List: true, Help: "destinations sent through the tunnel; default 0.0.0.0/0"},
			{Name: "vpn_up", Type: TString, Help: "RFC 5265 dual mode: command that brings the VPN up (over the home address) when the node finds itself outside (swanctl --initiate --child NAME, say)"},
			{Name: "vpn_down", Type: TString, Help: "RFC 5265 dual mode: command that takes the VPN down when the node finds itself inside; the old path is gone by then, so do not wait for the gateway (swanctl --terminate --ike NAME --force)"},
			{Name: "vpn_interface", Type: TDevice, Default: "ipsec0", Help: "RFC 5265 dual mode: interface on which the VPN's inner address (the i-MIP care-of address when outside) appears"},
		}, keyOptions, replayOptions)},
	{Type: "internal", Name: "internal", Roles: []string{RoleMN}, Help: "RFC 5265 dual mode: the internal home agent (i-HA). With this section the node registers with both home agents on every move, finds out from the i-HA's Trusted Networks Configured extension whether it is inside, and when outside runs the VPN over the external home address and i-MIP through the VPN",
		Options: concat([]Option{
			{Name: "nai", Type: TString, Help: "the node's NAI at the i-HA"},
			{Name: "home_address", Type: TIP4Addr, Required: true, Help: "the internal home address (i-HoA): sessions with the intranet use it"},
			{Name: "home_network", Type: TCIDR4, Help: "the internal home network"},
			{Name: "home_agent", Type: TIP4Addr, Required: true, Help: "the i-HA's address"},
			{Name: "interface", Type: TDevice, Default: "mip4d1", Help: "TUN device carrying the internal home address"},
			{Name: "port", Type: TPort, Default: "4340", Help: "UDP port of the i-MIP registrations and tunnel (the external layer uses 434)"},
			{Name: "lifetime", Type: TLifetime, Default: "60", Help: "i-MIP lifetime asked for; re-registration at 3/4 of it also bounds how long a move out of the intranet goes unnoticed (T_MONITOR, RFC 5265 §3.2.4)"},
			{Name: "udp_tunnel", Type: TBool, Default: "1", Help: "ask the i-HA for RFC 3519 UDP tunnelling"},
			{Name: "force_udp", Type: TBool, Default: "1", Help: "force UDP tunnelling (keeps i-MIP off the raw IP-in-IP socket the external layer uses)"},
			{Name: "route", Type: TCIDR4, List: true, Required: true, Help: "intranet destinations reached through the internal home address"},
		}, keyOptions, replayOptions)},
}

// section returns the spec of a section type.
func section(typ string) *Section {
	for i := range Schema {
		if Schema[i].Type == typ {
			return &Schema[i]
		}
	}
	return nil
}

// option returns the spec of an option of s.
func (s *Section) option(name string) *Option {
	for i := range s.Options {
		if s.Options[i].Name == name {
			return &s.Options[i]
		}
	}
	return nil
}
