package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/dhcpserve"
	"github.com/mip4d/mip4d/agent/fa"
	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/mn"
	"github.com/mip4d/mip4d/agent/proxy"
	"github.com/mip4d/mip4d/agent/uci"
)

// DefaultPath is where OpenWrt keeps the file.
const DefaultPath = "/etc/config/mip4d"

// Config is the validated configuration.
type Config struct {
	Path          string
	Role          string
	Enabled       bool
	LogLevel      slog.Level
	StateDir      string
	RunDir        string
	ControlSocket string
	// DataPlane is where tunnelled packets are handled: DataPlaneAuto,
	// DataPlaneBPF or DataPlaneUserspace.
	DataPlane string
	// HasSecrets says the file holds keys (and so must be mode 0600).
	HasSecrets bool

	HA    *HA    // role ha
	MN    *MN    // role mn
	FA    *FA    // role fa
	Proxy *Proxy // role proxy
}

// The data plane choices (option dataplane of the globals section).
const (
	DataPlaneAuto      = "auto"      // the kernel plane if it loads, else userspace
	DataPlaneBPF       = "bpf"       // the kernel plane (tc BPF); userspace if it cannot load, with an error
	DataPlaneUserspace = "userspace" // the daemon's own plane only
)

// Proxy is the proxy role's configuration (RFC 5563).
type Proxy struct {
	// Engine lacks the care-of address unless configured (the daemon
	// takes the uplink's) and UDPTunnel unless forced (see UDPTunnel).
	Engine    proxy.Config
	DHCP      dhcpserve.Config
	Interface string
	Uplink    string
	TUN       string
	MTU       int
	// UDPTunnel is "auto", "1" or "0".
	UDPTunnel  string
	GatewayMAC net.HardwareAddr
}

// FA is the foreign agent role's configuration.
type FA struct {
	// Engine is the engine's configuration without the addresses the
	// daemon learns from the interfaces (CareOf unless configured, Addr,
	// LinkPrefix, Local) and BehindNAT unless forced (see BehindNAT).
	Engine    fa.Config
	Interface string // the visitors' link
	Uplink    string
	TUN       string
	MTU       int
	// AdvInterval is the time between Agent Advertisements.
	AdvInterval time.Duration
	// BehindNAT is "auto", "1" or "0" (option behind_nat).
	BehindNAT   string
	MobileNodes []FAMobileNode
	Peers       []Peer
}

// FAMobileNode is an MN-FA security association, keyed by the node's
// home address or NAI.
type FAMobileNode struct {
	NAI      string
	HomeAddr netip.Addr
	SA       *auth.SA
}

// HA is the home agent role's configuration.
type HA struct {
	Engine      ha.Config
	Interface   string // TUN device
	HomeLink    string
	MTU         int
	MobileNodes []ha.MobileNode
	Peers       []Peer
	// Redundancy is set with an ha_peer section.
	Redundancy *Redundancy
}

// Redundancy is the replication to the other home agent of a redundant
// pair (package hasync).
type Redundancy struct {
	// Role is the role at the first start: "master" or "backup".
	Role  string
	Peer  netip.AddrPort
	Local netip.AddrPort
	// Key is the HMAC-SHA256 key; never logged.
	Key auth.Secret
}

// Peer is an FA-HA security association.
type Peer struct {
	Addr netip.Addr
	SA   *auth.SA
}

// MN is the mobile node role's configuration.
type MN struct {
	Engine    mn.Config
	Mode      string // "colocated" or "fa"
	Uplink    string
	Interface string
	MTU       int
	Routes    []netip.Prefix
	// VPNUp, VPNDown and VPNInterface drive the VPN in RFC 5265 dual mode.
	VPNUp, VPNDown, VPNInterface string
	// Internal, when set, is the i-MIP layer of RFC 5265 dual mode.
	Internal *Internal
}

// Internal is the i-MIP layer (RFC 5265) of a mobile node.
type Internal struct {
	Engine    mn.Config
	Interface string
	Port      uint16
	Routes    []netip.Prefix
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	f, err := uci.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return FromUCI(f)
}

// CheckPermissions reports a file holding keys that others can read.
func (c *Config) CheckPermissions() error {
	if !c.HasSecrets {
		return nil
	}
	st, err := os.Stat(c.Path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s holds keys but is mode %04o: run chmod 600 %s", c.Path, st.Mode().Perm(), c.Path)
	}
	return nil
}

// reader reads one section with schema checks and positions for errors.
type reader struct {
	f    *uci.File
	s    *uci.Section
	spec *Section
	err  error
}

func (r *reader) fail(line int, format string, args ...any) {
	if r.err == nil {
		r.err = r.f.Errorf(line, format, args...)
	}
}

// get returns an option's value (or its default) after validation.
func (r *reader) get(name string) string {
	spec := r.spec.option(name)
	if spec == nil {
		panic("config: schema has no option " + r.spec.Type + "." + name)
	}
	if o := r.s.Option(name); o != nil && len(o.Values) > 0 {
		return o.Values[len(o.Values)-1]
	}
	return spec.Default
}

func (r *reader) line(name string) int {
	if o := r.s.Option(name); o != nil {
		return o.Line
	}
	return r.s.Line
}

func (r *reader) boolean(name string) bool {
	v, _ := parseBool(r.get(name))
	return v
}

func (r *reader) uint(name string) uint64 {
	v, _ := strconv.ParseUint(r.get(name), 10, 64)
	return v
}

func (r *reader) addr(name string) netip.Addr {
	v := r.get(name)
	if v == "" {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(v)
	return a
}

func (r *reader) prefix(name string) netip.Prefix {
	v := r.get(name)
	if v == "" {
		return netip.Prefix{}
	}
	p, _ := netip.ParsePrefix(v)
	return p
}

func (r *reader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range r.s.List(name) {
		p, _ := netip.ParsePrefix(v)
		out = append(out, p.Masked())
	}
	return out
}

// sa builds a security association from spi/key/algorithm (and replay
// options when the section has them).
func (r *reader) sa() *auth.SA {
	alg, _ := auth.ParseAlgorithm(r.get("algorithm"))
	key, err := parseKey(r.get("key"))
	if err != nil {
		r.fail(r.line("key"), "option key: %v", err)
		return nil
	}
	replay, tol := auth.Timestamps, time.Duration(0)
	if r.spec.option("replay") != nil {
		replay, _ = auth.ParseReplayMethod(r.get("replay"))
		tol = time.Duration(r.uint("tolerance")) * time.Second
	}
	sa, err := auth.NewSA(uint32(r.uint("spi")), alg, key, replay, tol)
	if err != nil {
		r.fail(r.line("spi"), "%v", err)
		return nil
	}
	return sa
}

// parseKey reads "0x<hex>" as binary, anything else as text.
// ParseKey reads a key as the configuration writes it: text, or hex
// digits after 0x.
func ParseKey(v string) ([]byte, error) { return parseKey(v) }

func parseKey(v string) ([]byte, error) {
	if h, ok := strings.CutPrefix(v, "0x"); ok {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) == 0 {
			return nil, errors.New("the value after 0x must be an even number of hex digits")
		}
		return b, nil
	}
	if v == "" {
		return nil, errors.New("empty key")
	}
	return []byte(v), nil
}

// FromUCI validates a parsed file against the schema and builds the typed
// configuration. Unknown sections and options are errors: a typo must not
// silently fall back to a default.
func FromUCI(f *uci.File) (*Config, error) {
	c := &Config{Path: f.Filename}
	// Pass 1: every section and option known, every value well-typed,
	// required options present, singletons single.
	seen := map[string]int{}
	for _, s := range f.Sections {
		spec := section(s.Type)
		if spec == nil {
			return nil, f.Errorf(s.Line, "unknown section type %q (known: %s)", s.Type, knownTypes())
		}
		if spec.Name != "" {
			if s.Anonymous || s.Name != spec.Name {
				return nil, f.Errorf(s.Line, "section %s must be named '%s' (config %s '%s')", s.Type, spec.Name, s.Type, spec.Name)
			}
			if prev, dup := seen[s.Type]; dup {
				return nil, f.Errorf(s.Line, "section %s '%s' repeated (first at line %d)", s.Type, spec.Name, prev)
			}
			seen[s.Type] = s.Line
		}
		for _, o := range s.Options {
			os := spec.option(o.Name)
			if os == nil {
				return nil, f.Errorf(o.Line, "option %q is not an option of %s sections", o.Name, s.Type)
			}
			if o.IsList && !os.List {
				return nil, f.Errorf(o.Line, "option %s takes one value; use 'option', not 'list'", o.Name)
			}
			for _, v := range o.Values {
				if err := os.check(v); err != nil {
					return nil, f.Errorf(o.Line, "option %s: %v", o.Name, err)
				}
			}
			if os.Secret {
				c.HasSecrets = true
			}
		}
		for _, os := range spec.Options {
			if os.Required && s.Option(os.Name) == nil {
				return nil, f.Errorf(s.Line, "%s section: option %s is required (%s)", s.Type, os.Name, os.Help)
			}
		}
	}
	// Pass 2: build.
	g := f.Section("globals")
	if g == nil || g.Type != "mip4d" {
		return nil, f.Errorf(0, "no 'config mip4d globals' section: it says which role this box plays")
	}
	r := &reader{f: f, s: g, spec: section("mip4d")}
	c.Role = r.get("role")
	c.Enabled = r.boolean("enabled")
	c.StateDir = r.get("state_dir")
	c.RunDir = r.get("run_dir")
	c.ControlSocket = r.get("control_socket")
	c.DataPlane = r.get("dataplane")
	_ = c.LogLevel.UnmarshalText([]byte(r.get("log_level")))
	var err error
	switch c.Role {
	case RoleHA:
		c.HA, err = buildHA(f)
	case RoleMN:
		c.MN, err = buildMN(f)
	case RoleFA:
		c.FA, err = buildFA(f)
	case RoleProxy:
		c.Proxy, err = buildProxy(f)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func knownTypes() string {
	var ts []string
	for _, s := range Schema {
		ts = append(ts, s.Type)
	}
	return strings.Join(ts, ", ")
}

func buildHA(f *uci.File) (*HA, error) {
	s := f.Section("homeagent")
	if s == nil {
		return nil, f.Errorf(0, "role ha needs a 'config homeagent homeagent' section")
	}
	r := &reader{f: f, s: s, spec: section("homeagent")}
	h := &HA{Interface: r.get("interface"), HomeLink: r.get("home_link"), MTU: int(r.uint("mtu"))}
	h.Engine = ha.Config{
		Addr: r.addr("address"), HomeNet: r.prefix("home_network").Masked(),
		MaxLifetime: uint16(r.uint("max_lifetime")), MaxBindings: int(r.uint("max_bindings")),
		NATTraversal: r.boolean("nat_traversal"), AllowForce: r.boolean("force_udp"),
		Keepalive: uint16(r.uint("keepalive")), GRE: r.boolean("gre"),
		ReverseTunnelRequired: r.boolean("reverse_tunnel_required"), Revocation: r.boolean("revocation"),
		TrustedNetworks: r.prefixes("trusted_network"),
		Pool:            ha.PoolRange{First: r.addr("pool_start"), Last: r.addr("pool_end")},
		PoolHold:        uint32(r.uint("pool_hold")),
	}
	if h.Engine.Pool.First.IsValid() != h.Engine.Pool.Last.IsValid() {
		return nil, f.Errorf(s.Line, "homeagent: pool_start and pool_end go together")
	}
	if err := h.Engine.Validate(); err != nil {
		return nil, f.Errorf(s.Line, "homeagent: %v", strings.TrimPrefix(err.Error(), "ha: "))
	}
	for _, ms := range f.SectionsOfType("mobile_node") {
		r := &reader{f: f, s: ms, spec: section("mobile_node")}
		m := ha.MobileNode{NAI: r.get("nai"), HomeAddr: r.addr("home_address")}
		if sa := r.sa(); sa != nil {
			m.SAs = []*auth.SA{sa}
		}
		if r.err != nil {
			return nil, r.err
		}
		if err := m.Validate(&h.Engine); err != nil {
			return nil, f.Errorf(ms.Line, "mobile_node: %v", strings.TrimPrefix(err.Error(), "ha: "))
		}
		h.MobileNodes = append(h.MobileNodes, m)
	}
	for _, ps := range f.SectionsOfType("agent_peer") {
		r := &reader{f: f, s: ps, spec: section("agent_peer")}
		p := Peer{Addr: r.addr("address"), SA: r.sa()}
		if r.err != nil {
			return nil, r.err
		}
		h.Peers = append(h.Peers, p)
	}
	rd, err := buildRedundancy(f, s, h)
	if err != nil {
		return nil, err
	}
	h.Redundancy = rd
	return h, nil
}

// buildRedundancy reads the ha_peer section and redundancy_role.
func buildRedundancy(f *uci.File, hs *uci.Section, h *HA) (*Redundancy, error) {
	hr := &reader{f: f, s: hs, spec: section("homeagent")}
	role := hr.get("redundancy_role")
	peers := f.SectionsOfType("ha_peer")
	switch {
	case len(peers) == 0 && role != "":
		return nil, f.Errorf(hr.line("redundancy_role"), "option redundancy_role: needs an ha_peer section (the other home agent of the pair)")
	case len(peers) == 0:
		return nil, nil
	case len(peers) > 1:
		return nil, f.Errorf(peers[1].Line, "ha_peer: only one peer is supported (a pair of home agents)")
	}
	if role == "" {
		role = "backup"
	}
	ps := peers[0]
	r := &reader{f: f, s: ps, spec: section("ha_peer")}
	port := uint16(r.uint("port"))
	rd := &Redundancy{Role: role, Peer: netip.AddrPortFrom(r.addr("address"), port), Local: netip.AddrPortFrom(r.addr("local_address"), port)}
	v := strings.TrimPrefix(r.get("key"), "0x")
	k, err := hex.DecodeString(v)
	switch {
	case err != nil:
		return nil, f.Errorf(r.line("key"), "option key: the peer key must be hex digits (an even number of them)")
	case len(k) < 32:
		return nil, f.Errorf(r.line("key"), "option key: the peer key must be at least 32 bytes (64 hex digits); this one has %d", len(k))
	case rd.Peer.Addr() == rd.Local.Addr():
		return nil, f.Errorf(ps.Line, "ha_peer: address and local_address must differ")
	case rd.Local.Addr() == h.Engine.Addr || rd.Peer.Addr() == h.Engine.Addr:
		return nil, f.Errorf(ps.Line, "ha_peer: address and local_address are the home agents' own addresses; %v (homeagent option address) is the virtual address keepalived moves between them", h.Engine.Addr)
	}
	rd.Key = k
	return rd, nil
}

func buildFA(f *uci.File) (*FA, error) {
	s := f.Section("foreignagent")
	if s == nil || s.Type != "foreignagent" {
		return nil, f.Errorf(0, "role fa needs a 'config foreignagent foreignagent' section")
	}
	r := &reader{f: f, s: s, spec: section("foreignagent")}
	a := &FA{Interface: r.get("interface"), Uplink: r.get("uplink"), TUN: r.get("tun"), MTU: int(r.uint("mtu")),
		AdvInterval: time.Duration(r.uint("advertise_interval")) * time.Second, BehindNAT: r.get("behind_nat")}
	a.Engine = fa.Config{
		CareOf: r.addr("care_of"), MaxLifetime: uint16(r.uint("max_lifetime")),
		ReverseTunnel: r.boolean("reverse_tunnel"), ReverseTunnelRequired: r.boolean("reverse_tunnel_required"),
		BehindNAT: a.BehindNAT == "1", Revocation: r.boolean("revocation"),
		RegistrationRequired: r.boolean("registration_required"), Challenges: r.boolean("challenges"),
		MaxVisitors: int(r.uint("max_visitors")),
		// RFC 5944 §2.3.1: the advertisement lifetime is at least three
		// intervals, so two lost advertisements are not a move.
		AdvLifetime: uint16(min(3*r.uint("advertise_interval"), 65535)),
	}
	if r.err != nil {
		return nil, r.err
	}
	switch {
	case a.Interface == a.Uplink:
		return nil, f.Errorf(s.Line, "foreignagent: the visitors' interface and the uplink must differ")
	case a.Engine.ReverseTunnelRequired && !a.Engine.ReverseTunnel:
		return nil, f.Errorf(s.Line, "foreignagent: reverse_tunnel_required needs reverse_tunnel")
	}
	for _, ms := range f.SectionsOfType("mobile_node") {
		r := &reader{f: f, s: ms, spec: section("mobile_node")}
		m := FAMobileNode{NAI: r.get("nai"), HomeAddr: r.addr("home_address"), SA: r.sa()}
		if r.err != nil {
			return nil, r.err
		}
		if m.NAI == "" && !m.HomeAddr.IsValid() {
			return nil, f.Errorf(ms.Line, "mobile_node: an MN-FA key needs the node's nai or home_address")
		}
		a.MobileNodes = append(a.MobileNodes, m)
	}
	if a.Engine.Challenges && len(a.MobileNodes) == 0 {
		return nil, f.Errorf(s.Line, "foreignagent: challenges need MN-FA keys (mobile_node sections)")
	}
	for _, ps := range f.SectionsOfType("agent_peer") {
		r := &reader{f: f, s: ps, spec: section("agent_peer")}
		p := Peer{Addr: r.addr("address"), SA: r.sa()}
		if r.err != nil {
			return nil, r.err
		}
		a.Peers = append(a.Peers, p)
	}
	return a, nil
}

func buildProxy(f *uci.File) (*Proxy, error) {
	s := f.Section("proxy")
	if s == nil || s.Type != "proxy" {
		return nil, f.Errorf(0, "role proxy needs a 'config proxy proxy' section")
	}
	r := &reader{f: f, s: s, spec: section("proxy")}
	p := &Proxy{Interface: r.get("interface"), Uplink: r.get("uplink"), TUN: r.get("tun"), MTU: int(r.uint("mtu")),
		UDPTunnel: r.get("udp_tunnel")}
	if v := r.get("gateway_mac"); v != "" {
		p.GatewayMAC, _ = net.ParseMAC(v)
	}
	var master auth.Secret
	if v := r.get("master_key"); v != "" {
		k, err := parseKey(v)
		if err != nil {
			r.fail(r.line("master_key"), "option master_key: %v", err)
		}
		master = k
	}
	p.Engine = proxy.Config{
		HomeAgent: r.addr("home_agent"), CareOf: r.addr("care_of"), SA: r.sa(), Lifetime: uint16(r.uint("lifetime")),
		UDPTunnel: p.UDPTunnel == "1", ForceUDP: r.boolean("force_udp"), Revocation: r.boolean("revocation"),
		DeviceID: r.boolean("device_id"), UnknownNAI: r.get("unknown_nai"), MasterKey: master,
		KeySPI: uint32(r.uint("key_spi")), MaxClients: int(r.uint("max_clients")),
		ConflictWindow: time.Duration(r.uint("conflict_window")) * time.Second,
		Quarantine:     time.Duration(r.uint("quarantine")) * time.Second,
	}
	p.DHCP = dhcpserve.Config{ServerID: r.addr("gateway"), Network: r.prefix("client_network").Masked(),
		Domain: r.get("domain"), MTU: uint16(r.uint("client_mtu"))}
	for _, v := range r.s.List("dns") {
		a, _ := netip.ParseAddr(v)
		p.DHCP.DNS = append(p.DHCP.DNS, a)
	}
	if r.err != nil {
		return nil, r.err
	}
	if p.Interface == p.Uplink {
		return nil, f.Errorf(s.Line, "proxy: the clients' interface and the uplink must differ")
	}
	for _, cs := range f.SectionsOfType("proxy_client") {
		r := &reader{f: f, s: cs, spec: section("proxy_client")}
		mac, _ := proxy.ParseMAC(r.get("mac"))
		c := proxy.Client{MAC: mac, NAI: r.get("nai"), HomeAddr: r.addr("home_address")}
		if (cs.Option("key") == nil) != (cs.Option("spi") == nil) {
			return nil, f.Errorf(cs.Line, "proxy_client: spi and key go together (leave both out to derive the key from master_key)")
		}
		if cs.Option("key") != nil {
			c.SA = r.sa()
		}
		if r.err != nil {
			return nil, r.err
		}
		p.Engine.Clients = append(p.Engine.Clients, c)
	}
	// Validate with a stand-in care-of address when the daemon is to
	// find it, so the file's own mistakes show now.
	e := p.Engine
	if !e.CareOf.IsValid() {
		e.CareOf = netip.IPv4Unspecified()
	}
	if err := e.Validate(); err != nil {
		return nil, f.Errorf(s.Line, "%v", err)
	}
	if err := p.DHCP.Validate(); err != nil {
		return nil, f.Errorf(s.Line, "proxy: %v", strings.TrimPrefix(err.Error(), "dhcpserve: "))
	}
	return p, nil
}

func buildMN(f *uci.File) (*MN, error) {
	s := f.Section("mobilenode")
	if s == nil {
		return nil, f.Errorf(0, "role mn needs a 'config mobilenode mobilenode' section")
	}
	r := &reader{f: f, s: s, spec: section("mobilenode")}
	m := &MN{Mode: r.get("mode"), Uplink: r.get("uplink"), Interface: r.get("interface"), MTU: int(r.uint("mtu")), Routes: r.prefixes("route")}
	if m.Mode == "fa" && m.Uplink == "" {
		return nil, f.Errorf(s.Line, "mobilenode: mode fa needs the uplink on which foreign agents are heard")
	}
	if len(m.Routes) == 0 {
		m.Routes = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	}
	m.Engine = mn.Config{
		NAI: r.get("nai"), HomeAddr: r.addr("home_address"), HomeNet: r.prefix("home_network").Masked(),
		HomeAgent: r.addr("home_agent"), SA: r.sa(), Lifetime: uint16(r.uint("lifetime")),
		ReverseTunnel: r.boolean("reverse_tunnel"), UDPTunnel: r.boolean("udp_tunnel"), ForceUDP: r.boolean("force_udp"),
		Keepalive: time.Duration(r.uint("keepalive")) * time.Second,
	}
	m.VPNUp, m.VPNDown, m.VPNInterface = r.get("vpn_up"), r.get("vpn_down"), r.get("vpn_interface")
	if r.err != nil {
		return nil, r.err
	}
	if err := m.Engine.Validate(); err != nil {
		return nil, f.Errorf(s.Line, "mobilenode: %v", strings.TrimPrefix(err.Error(), "mn: "))
	}
	if is := f.Section("internal"); is != nil && is.Type == "internal" {
		r := &reader{f: f, s: is, spec: section("internal")}
		in := &Internal{Interface: r.get("interface"), Port: uint16(r.uint("port")), Routes: r.prefixes("route")}
		in.Engine = mn.Config{NAI: r.get("nai"), HomeAddr: r.addr("home_address"), HomeNet: r.prefix("home_network").Masked(),
			HomeAgent: r.addr("home_agent"), SA: r.sa(), Lifetime: uint16(r.uint("lifetime")), ReverseTunnel: true,
			UDPTunnel: r.boolean("udp_tunnel"), ForceUDP: r.boolean("force_udp")}
		if r.err != nil {
			return nil, r.err
		}
		switch {
		case in.Engine.HomeAgent == m.Engine.HomeAgent:
			return nil, f.Errorf(is.Line, "internal: the i-HA and the x-HA must have different addresses (RFC 5265 §3.5)")
		case in.Interface == m.Interface:
			return nil, f.Errorf(is.Line, "internal: the i-MIP interface must differ from the mobile node's %s", m.Interface)
		case in.Port == 434:
			return nil, f.Errorf(is.Line, "internal: port 434 is the external layer's; pick another")
		case m.VPNUp == "":
			return nil, f.Errorf(s.Line, "mobilenode: dual mode (an internal section) needs vpn_up, the command that brings the VPN up")
		}
		if err := in.Engine.Validate(); err != nil {
			return nil, f.Errorf(is.Line, "internal: %v", strings.TrimPrefix(err.Error(), "mn: "))
		}
		m.Internal = in
	}
	return m, nil
}
