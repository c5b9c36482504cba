// Package keepalived writes the keepalived configuration that makes two
// mip4d home agents one redundant home agent (README "Home agent
// redundancy"). keepalived runs VRRP (RFC 5798) between the two boxes and
// owns the home agent address: the master holds it as a virtual address,
// and every state change runs `mip4d -c CONF ha-role INSTANCE NAME STATE
// PRIO` (keepalived's notify argv form), which tells the daemon its role.
// mip4d itself does no election; it replicates bindings to its peer over
// its own authenticated channel (agent/hasync) so the box that takes the
// address over already holds every binding.
//
// The generated file is what packaging/openwrt/mip4d/files/
// keepalived-mip4d.conf.example ships (its test checks the two agree and
// that `keepalived -t` accepts both), and what the scenario labs run.
package keepalived

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Config is one box's half of a redundant home agent pair.
type Config struct {
	RouterID  string       // global_defs router_id, e.g. "mip4d_ha1"
	Instance  string       // vrrp_instance name (default VI_MIP4D)
	Interface string       // the home link's interface, e.g. "eth0"
	VRID      int          // virtual_router_id, 1..255, the same on both boxes
	Priority  int          // 1..254; equal on both boxes with NoPreempt
	AdvertInt float64      // seconds between adverts (keepalived accepts 0.01 steps); dead after ~3
	VIP       netip.Prefix // the home agent address with the home link's prefix length
	Local     netip.Addr   // this box's own address (unicast_src_ip)
	Peers     []netip.Addr // the other box (unicast_peer); none: multicast
	NoPreempt bool         // a restarted box stays backup (no second failover)
	Notify    []string     // notify command, argv; keepalived appends TYPE NAME STATE PRIO
	AuthPass  string       // optional VRRP "PASS" authentication (<= 8 chars); not security
}

// Render returns the keepalived.conf text. It checks the fields keepalived
// would reject or silently ignore.
func (c Config) Render() (string, error) {
	if c.Instance == "" {
		c.Instance = "VI_MIP4D"
	}
	switch {
	case c.Interface == "":
		return "", fmt.Errorf("keepalived: no interface")
	case c.VRID < 1 || c.VRID > 255:
		return "", fmt.Errorf("keepalived: virtual_router_id %d not in 1..255", c.VRID)
	case c.Priority < 1 || c.Priority > 254:
		return "", fmt.Errorf("keepalived: priority %d not in 1..254", c.Priority)
	case c.AdvertInt < 0.01 || c.AdvertInt > 255:
		return "", fmt.Errorf("keepalived: advert_int %v not in 0.01..255 s", c.AdvertInt)
	case !c.VIP.IsValid() || !c.VIP.Addr().Is4():
		return "", fmt.Errorf("keepalived: virtual address %v is not an IPv4 prefix", c.VIP)
	case len(c.Notify) == 0 || !strings.HasPrefix(c.Notify[0], "/"):
		return "", fmt.Errorf("keepalived: notify needs an absolute command (script security)")
	case len(c.AuthPass) > 8:
		return "", fmt.Errorf("keepalived: auth_pass longer than 8 characters")
	}
	for _, a := range c.Notify {
		if strings.ContainsAny(a, "\"\n \t") {
			return "", fmt.Errorf("keepalived: notify argument %q needs quoting keepalived does not do", a)
		}
	}
	var b strings.Builder
	b.WriteString("# keepalived configuration for a redundant mip4d home agent (README \"Home agent redundancy\").\n")
	b.WriteString("# keepalived elects the master and moves the home agent address; mip4d is told its role by notify\n")
	b.WriteString("# and replicates bindings to its peer itself (ha_peer in /etc/config/mip4d).\n")
	b.WriteString("global_defs {\n")
	if c.RouterID != "" {
		fmt.Fprintf(&b, "\trouter_id %s\n", c.RouterID)
	}
	b.WriteString("\tenable_script_security\n\tscript_user root\n")
	// Gratuitous ARP at once and once more after a second: mip4d also
	// announces the proxied home addresses itself when it becomes master.
	b.WriteString("\tvrrp_garp_master_delay 1\n\tvrrp_garp_master_repeat 1\n")
	b.WriteString("}\n\n")
	fmt.Fprintf(&b, "vrrp_instance %s {\n", c.Instance)
	// With nopreempt keepalived requires the initial state BACKUP; the
	// first box up becomes master after the dead interval.
	b.WriteString("\tstate BACKUP\n")
	// VRRPv3 (RFC 5798 §5.2.7): advert intervals in centiseconds, so a
	// sub-second dead interval; VRRPv2 rounds them to whole seconds.
	b.WriteString("\tversion 3\n")
	fmt.Fprintf(&b, "\tinterface %s\n", c.Interface)
	fmt.Fprintf(&b, "\tvirtual_router_id %d\n", c.VRID)
	fmt.Fprintf(&b, "\tpriority %d\n", c.Priority)
	fmt.Fprintf(&b, "\tadvert_int %s\n", strconv.FormatFloat(c.AdvertInt, 'f', -1, 64))
	if c.NoPreempt {
		b.WriteString("\tnopreempt\n")
	}
	if c.AuthPass != "" {
		fmt.Fprintf(&b, "\tauthentication {\n\t\tauth_type PASS\n\t\tauth_pass %s\n\t}\n", c.AuthPass)
	}
	if len(c.Peers) > 0 {
		if c.Local.IsValid() {
			fmt.Fprintf(&b, "\tunicast_src_ip %v\n", c.Local)
		}
		b.WriteString("\tunicast_peer {\n")
		for _, p := range c.Peers {
			fmt.Fprintf(&b, "\t\t%v\n", p)
		}
		b.WriteString("\t}\n")
	}
	fmt.Fprintf(&b, "\tvirtual_ipaddress {\n\t\t%v dev %s\n\t}\n", c.VIP, c.Interface)
	// One notify for every transition: keepalived runs
	// `CMD... INSTANCE NAME STATE PRIO`, the form mip4d ha-role accepts.
	fmt.Fprintf(&b, "\tnotify \"%s\"\n", strings.Join(c.Notify, " "))
	b.WriteString("}\n")
	return b.String(), nil
}

// Shipped is the configuration packaging/openwrt/mip4d/files/
// keepalived-mip4d.conf.example ships: box 1 of the README's pair.
func Shipped() Config {
	return Config{
		RouterID:  "mip4d_ha1",
		Interface: "br-lan",
		VRID:      51,
		Priority:  100,
		AdvertInt: 0.1,
		VIP:       netip.MustParsePrefix("198.51.100.10/24"),
		Local:     netip.MustParseAddr("198.51.100.11"),
		Peers:     []netip.Addr{netip.MustParseAddr("198.51.100.12")},
		NoPreempt: true,
		Notify:    []string{"/usr/sbin/mip4d", "-c", "/etc/config/mip4d", "ha-role"},
	}
}
