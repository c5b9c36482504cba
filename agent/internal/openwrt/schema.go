package openwrt

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Schema is what `mip4d schema --json` prints. It is decoded here rather
// than imported from agent/config so that the generators and tests work
// from the daemon's own output, as the LuCI contract test does.
type Schema []Section

// Section is one section type of the schema.
type Section struct {
	Type    string   `json:"type"`
	Name    string   `json:"name,omitempty"`
	Roles   []string `json:"roles"`
	Help    string   `json:"help"`
	Options []Option `json:"options"`
}

// Option is one option of a section.
type Option struct {
	Name     string   `json:"name"`
	Datatype string   `json:"datatype"`
	List     bool     `json:"list,omitempty"`
	Required bool     `json:"required,omitempty"`
	Default  string   `json:"default,omitempty"`
	Values   []string `json:"values,omitempty"`
	Secret   bool     `json:"secret,omitempty"`
	Help     string   `json:"help"`
}

// ParseSchema decodes `mip4d schema --json`.
func ParseSchema(b []byte) (Schema, error) {
	var s Schema
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if len(s) == 0 {
		return nil, fmt.Errorf("schema: no sections")
	}
	return s, nil
}

// Section returns the section of type typ, or nil.
func (s Schema) Section(typ string) *Section {
	for i := range s {
		if s[i].Type == typ {
			return &s[i]
		}
	}
	return nil
}

// Roles lists every role, in schema order.
func (s Schema) Roles() []string {
	var out []string
	for _, sec := range s {
		for _, r := range sec.Roles {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

// Option returns the option called name, or nil.
func (sec *Section) Option(name string) *Option {
	for i := range sec.Options {
		if sec.Options[i].Name == name {
			return &sec.Options[i]
		}
	}
	return nil
}

// Shared reports whether every role reads the section (the globals).
func (sec *Section) shared(all []string) bool {
	for _, r := range all {
		if !slices.Contains(sec.Roles, r) {
			return false
		}
	}
	return true
}

// examples are the values the default configuration shows for options
// without a default, chosen so that the file, uncommented for a role, is a
// configuration `mip4d check-config` accepts (a test checks it). An option
// missing here gets a value from its datatype; add one when that value does
// not make a valid example.
var examples = map[string][]string{
	"mip4d.role":                {"ha"},
	"homeagent.address":         {"198.51.100.1"},
	"homeagent.home_network":    {"10.10.0.0/16"},
	"homeagent.home_link":       {"br-lan"},
	"homeagent.trusted_network": {"10.0.0.0/8", "172.16.0.0/12"},
	"homeagent.pool_start":      {"10.10.1.1"},
	"homeagent.pool_end":        {"10.10.1.254"},
	"homeagent.redundancy_role": {"backup"},
	"ha_peer.address":           {"198.51.100.12"},
	"ha_peer.local_address":     {"198.51.100.11"},
	"ha_peer.key":               {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	"mobile_node.nai":           {"laptop@example.net"},
	"mobile_node.home_address":  {"10.10.0.5"},
	"mobile_node.spi":           {"1000"},
	"mobile_node.key":           {"change-me-to-a-long-random-secret"},
	"agent_peer.address":        {"203.0.113.1"},
	"agent_peer.spi":            {"2000"},
	"agent_peer.key":            {"change-me-to-another-long-secret"},
	"mobilenode.nai":            {"laptop@example.net"},
	"mobilenode.home_address":   {"10.10.0.5"},
	"mobilenode.home_network":   {"10.10.0.0/16"},
	"mobilenode.home_agent":     {"198.51.100.1"},
	"mobilenode.uplink":         {"wan"},
	"mobilenode.spi":            {"1000"},
	"mobilenode.key":            {"change-me-to-a-long-random-secret"},
	"mobilenode.route":          {"10.0.0.0/8", "192.0.2.0/24"},
	"mobilenode.vpn_up":         {"ifup vpn"},
	"mobilenode.vpn_down":       {"ifdown vpn"},
	"foreignagent.interface":    {"br-lan"},
	"foreignagent.uplink":       {"wan"},
	"foreignagent.care_of":      {"192.0.2.10"},
	"proxy.interface":           {"br-lan"},
	"proxy.uplink":              {"wan"},
	"proxy.care_of":             {"192.0.2.10"},
	"proxy.home_agent":          {"198.51.100.1"},
	"proxy.spi":                 {"2000"},
	"proxy.key":                 {"change-me-to-another-long-secret"},
	"proxy.unknown_nai":         {"%m@guests.example.net"},
	"proxy.master_key":          {"change-me-to-a-master-secret"},
	"proxy.gateway":             {"10.10.0.1"},
	"proxy.gateway_mac":         {"02:00:5e:10:00:01"},
	"proxy.client_network":      {"10.10.0.0/16"},
	"proxy.dns":                 {"10.10.0.53"},
	"proxy.domain":              {"corp.example"},
	"proxy.client_mtu":          {"1400"},
	"proxy_client.mac":          {"02:00:00:00:00:01"},
	"proxy_client.nai":          {"laptop@example.net"},
	"proxy_client.home_address": {"10.10.0.5"},
	"proxy_client.spi":          {"1000"},
	"proxy_client.key":          {"change-me-to-a-long-random-secret"},
	"internal.nai":              {"laptop@corp.example"},
	"internal.home_address":     {"10.200.0.5"},
	"internal.home_network":     {"10.200.0.0/16"},
	"internal.home_agent":       {"10.200.0.1"},
	"internal.route":            {"10.200.0.0/16"},
	"internal.spi":              {"1001"},
	"internal.key":              {"change-me-to-a-third-long-secret"},
}

// alsoLive are optional options shown uncommented in their section's
// block because the section needs one of a group (an NAI or a static home
// address) and the schema cannot say so.
var alsoLive = map[string]bool{"mobile_node.home_address": true, "mobilenode.nai": true, "mobilenode.vpn_up": true,
	"proxy_client.spi": true, "proxy_client.key": true}

// Example returns the values the default configuration shows for o.
func (sec *Section) Example(o *Option) []string {
	if v, ok := examples[sec.Type+"."+o.Name]; ok {
		return v
	}
	if o.Default != "" {
		return []string{o.Default}
	}
	if len(o.Values) > 0 {
		return []string{o.Values[0]}
	}
	switch dt := o.Datatype; {
	case dt == "ip4addr":
		return []string{"192.0.2.1"}
	case dt == "cidr4":
		return []string{"192.0.2.0/24"}
	case dt == "bool":
		return []string{"0"}
	case dt == "uinteger", dt == "port":
		return []string{"1"}
	case dt == "device":
		return []string{"eth0"}
	case dt == "file":
		return []string{"/var/run/mip4d"}
	case strings.HasPrefix(dt, "range("):
		lo, _, _ := strings.Cut(strings.TrimPrefix(dt, "range("), ",")
		return []string{lo}
	}
	return []string{"example"}
}

// quote renders a UCI value in single quotes.
func quote(v string) string {
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// StateNote is the flash-wear decision, shown in the default configuration
// (and in the README).
const StateNote = `State: the home agent keeps its bindings, pool leases and replay state in
state_dir/ha.state so that a restart or a reboot loses nothing: a laptop
keeps its home address, which its VPN tunnel is built to. It is written
atomically, and only when a binding changes, at most once a second (a
registration or renewal; a few hundred bytes a node). With default
lifetimes that is about one small write per node every few minutes, which
the flash overlay's wear levelling absorbs for years. The default is
therefore /etc/mip4d (flash, kept across sysupgrade). A home agent serving
many nodes with short lifetimes should set state_dir '/var/run/mip4d'
(tmpfs: no flash writes; bindings survive daemon restarts and upgrades, not
a reboot, after which nodes re-register within their lifetime). A mobile
node keeps no state.`

// DefaultConfig renders /etc/config/mip4d: every section and option of the
// schema, commented out, each with its help, datatype and default, with
// example values. The globals section is live with enabled '0' so a fresh
// install starts nothing. Each role-specific section is one block that
// starts with "#config" and ends at a blank line: removing one '#' from
// each of its lines enables it with its required options; its optional
// options stay commented ("#option").
func DefaultConfig(s Schema) string {
	var b strings.Builder
	roles := s.Roles()
	b.WriteString(`# /etc/config/mip4d: Mobile IPv4 daemon (mip4d).
#
# Generated from ` + "`mip4d schema --json`" + `: every section and option mip4d
# reads is here once, commented out, with what it does, its datatype and
# default, and an example value. To set up a box:
#   1. in 'globals', uncomment 'role' and pick the role;
#   2. uncomment the sections marked for that role (remove one '#' from each
#      line of the block) and fill in addresses, SPIs and keys;
#   3. set enabled to 1, then: mip4d check-config && /etc/init.d/mip4d restart
# LuCI (Services > Mobile IP) edits the same file. Keys make this file
# secret: it is mode 0600, and uci keeps it so.
#
`)
	for _, l := range strings.Split(StateNote, "\n") {
		b.WriteString("# " + l + "\n")
	}
	for i := range s {
		sec := &s[i]
		b.WriteString("\n")
		shared := sec.shared(roles)
		p := "#" // prefix of the section's lines
		if shared {
			p = ""
		}
		if shared {
			fmt.Fprintf(&b, "# %s (every role)\n", sec.Help)
		} else {
			fmt.Fprintf(&b, "# Role %s: %s", strings.Join(sec.Roles, ", "), sec.Help)
			if sec.Name == "" {
				b.WriteString("; repeat the section for each one")
			}
			b.WriteString("\n")
		}
		if sec.Name != "" {
			fmt.Fprintf(&b, "%sconfig %s %s\n", p, sec.Type, quote(sec.Name))
		} else {
			fmt.Fprintf(&b, "%sconfig %s\n", p, sec.Type)
		}
		for j := range sec.Options {
			o := &sec.Options[j]
			fmt.Fprintf(&b, "%s\t# %s\n", p, o.Help)
			fmt.Fprintf(&b, "%s\t#   %s\n", p, describe(o))
			kw := "option"
			if o.List {
				kw = "list"
			}
			live := ""
			switch {
			case shared && o.Name == "enabled":
			case !shared && (o.Required || alsoLive[sec.Type+"."+o.Name]):
			default:
				live = "#"
			}
			vals := sec.Example(o)
			if shared && o.Name == "enabled" {
				vals = []string{"0"}
			}
			for _, v := range vals {
				fmt.Fprintf(&b, "%s\t%s%s %s %s\n", p, live, kw, o.Name, quote(v))
			}
		}
	}
	return b.String()
}

// describe is the one-line type summary of an option.
func describe(o *Option) string {
	var parts []string
	if o.Required {
		parts = append(parts, "required")
	}
	if o.List {
		parts = append(parts, "list of "+o.Datatype)
	} else {
		parts = append(parts, o.Datatype)
	}
	if len(o.Values) > 0 {
		parts = append(parts, "one of "+strings.Join(o.Values, ", "))
	}
	if o.Default != "" {
		parts = append(parts, "default "+o.Default)
	}
	if o.Secret {
		parts = append(parts, "secret")
	}
	return strings.Join(parts, "; ")
}

// ValidateType translates a schema datatype into procd's validate_data
// datatype. validate_data's file, directory and device check that the
// thing exists, and mip4d creates its state directory, socket and TUN
// device itself, so those become strings (a device name of at most 15
// characters); `mip4d check-config` checks them fully before every start.
func ValidateType(o *Option) string {
	var t string
	switch dt := o.Datatype; {
	case len(o.Values) > 0:
		q := make([]string, len(o.Values))
		for i, v := range o.Values {
			q[i] = strconv.Quote(v)
		}
		t = "or(" + strings.Join(q, ",") + ")"
	case dt == "file":
		t = "string"
	case dt == "device":
		t = "maxlength(15)"
	default:
		t = dt
	}
	if o.List {
		t = "list(" + t + ")"
	}
	return t
}

// Validation markers in the init script: the lines between them are
// generated by InitValidation.
const (
	ValidateBegin = "# BEGIN generated validation: `go run ./agent/internal/tools/ipk -update`; do not edit"
	ValidateEnd   = "# END generated validation"
)

// InitValidation renders the init script's procd validation functions, one
// per section type, for uci_load_validate and procd_add_validation.
func InitValidation(s Schema) string {
	var b strings.Builder
	b.WriteString(ValidateBegin + "\n")
	var types []string
	for i := range s {
		sec := &s[i]
		types = append(types, sec.Type)
		fmt.Fprintf(&b, "mip4d_validate_%s() {\n\tuci_load_validate mip4d %s \"$1\" \"$2\"", sec.Type, sec.Type)
		for j := range sec.Options {
			o := &sec.Options[j]
			spec := o.Name + ":" + ValidateType(o)
			if o.Default != "" {
				spec += ":" + o.Default
			}
			fmt.Fprintf(&b, " \\\n\t\t'%s'", spec)
		}
		b.WriteString("\n}\n")
	}
	fmt.Fprintf(&b, "MIP4D_SECTION_TYPES='%s'\n", strings.Join(types, " "))
	b.WriteString(ValidateEnd + "\n")
	return b.String()
}

// ReplaceValidation puts the generated block into an init script between
// the markers.
func ReplaceValidation(script, block string) (string, error) {
	i := strings.Index(script, ValidateBegin)
	j := strings.Index(script, ValidateEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("init script: validation markers missing")
	}
	return script[:i] + block + script[j+len(ValidateEnd)+1:], nil
}
