package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/mip4d/mip4d/agent/bpfplane"
)

// Status is the answer to `mip4d status --json` (and the LuCI status
// page's data). Keys never appear in it.
type Status struct {
	Role      string          `json:"role"`
	Version   string          `json:"version"`
	Started   time.Time       `json:"started"`
	UptimeSec int64           `json:"uptime"`
	HA        *HAStatus       `json:"ha,omitempty"`
	MN        *MNStatus       `json:"mn,omitempty"`
	FA        *FAStatus       `json:"fa,omitempty"`
	Proxy     *ProxyStatus    `json:"proxy,omitempty"`
	DataPlane json.RawMessage `json:"dataplane,omitempty"`
	// Redundancy is a home agent's side of a redundant pair (an ha_peer
	// section): its role, the replication link, lag and counters.
	Redundancy *RedundancyStatus `json:"redundancy,omitempty"`
	// LastError is the last error the daemon logged (a socket, netlink,
	// data plane or state file failure; a denied registration is not
	// one), absent when there was none since it started; LogEvents are
	// the last few warnings and errors, oldest first.
	LastError *LogEvent  `json:"last_error,omitempty"`
	LogEvents []LogEvent `json:"log_events,omitempty"`
}

// HAStatus is the home agent's part.
type HAStatus struct {
	Address     netip.Addr     `json:"address"`
	HomeNetwork netip.Prefix   `json:"home_network"`
	Bindings    int            `json:"bindings"`
	MobileNodes int            `json:"mobile_nodes"`
	PoolSize    int            `json:"pool_size,omitempty"`
	PoolUsed    int            `json:"pool_used,omitempty"`
	Revocations int            `json:"revocations_pending"`
	Counters    any            `json:"counters"`
	StateFile   string         `json:"state_file"`
	StateSaved  time.Time      `json:"state_saved,omitzero"`
	Extra       map[string]any `json:"extra,omitempty"`
}

// MNStatus is the mobile node's part.
type MNStatus struct {
	State    any `json:"registration"`
	Counters any `json:"counters"`
	// RFC 5265 dual mode: where the node found itself, the internal
	// layer, and the VPN's inner address (i-MIP's care-of address outside).
	Location   string     `json:"location,omitempty"`
	Internal   *MNStatus  `json:"internal,omitempty"`
	VPNAddress netip.Addr `json:"vpn_address,omitzero"`
}

// FAStatus is the foreign agent's part.
type FAStatus struct {
	CareOf      netip.Addr   `json:"care_of"`
	Link        string       `json:"link"`
	LinkAddress netip.Prefix `json:"link_address"`
	BehindNAT   bool         `json:"behind_nat"`
	Visitors    any          `json:"visitors"`
	Pending     int          `json:"pending"`
	Counters    any          `json:"counters"`
}

// ProxyStatus is the proxy's part: its clients (MAC, NAI, home address,
// state, binding age, counters; never a key) and its DHCP server.
type ProxyStatus struct {
	Interface string     `json:"interface"`
	Gateway   netip.Addr `json:"gateway"`
	Proxy     any        `json:"proxy"`
	Counters  any        `json:"counters"`
	DHCP      any        `json:"dhcp"`
	// StateFile keeps the clients across restarts of the daemon.
	StateFile  string    `json:"state_file"`
	StateSaved time.Time `json:"state_saved,omitzero"`
}

// BindingRow is one line of `mip4d bindings --json`.
type BindingRow struct {
	HomeAddr      netip.Addr     `json:"home_addr"`
	CareOf        netip.Addr     `json:"care_of"`
	NAI           string         `json:"nai,omitempty"`
	Endpoint      netip.AddrPort `json:"endpoint"`
	Tunnel        string         `json:"tunnel"`
	ReverseTunnel bool           `json:"reverse_tunnel"`
	FA            netip.Addr     `json:"foreign_agent,omitzero"`
	Lifetime      uint16         `json:"lifetime"`
	Remaining     uint16         `json:"remaining"`
	Registered    time.Time      `json:"registered"`
	// ID is the Identification of the accepted registration (RFC 5944
	// §5.7), the same on the active and the standby.
	ID uint64 `json:"id"`
	// Kernel are the binding's counters in the kernel data plane (absent
	// when the userspace plane serves it).
	Kernel *bpfplane.BindingStats `json:"kernel,omitempty"`
}

// PrintBindings renders the answer to "bindings" for people: a home
// agent's bindings, a foreign agent's visitors or a proxy's clients.
// (mip4d status renders its own answer: cmd/mip4d statustext.go.)
func PrintBindings(w io.Writer, res json.RawMessage) error {
	var vs []visitorRow
	if err := json.Unmarshal(res, &vs); err == nil && len(vs) > 0 && vs[0].MAC != "" {
		if vs[0].HomeAgent.IsValid() {
			return printVisitors(w, vs)
		}
		var cs []proxyClientRow
		if err := json.Unmarshal(res, &cs); err != nil {
			return err
		}
		return printProxyClients(w, cs)
	}
	var rows []BindingRow
	if err := json.Unmarshal(res, &rows); err != nil {
		return err
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "no bindings")
		return nil
	}
	kernel := slices.ContainsFunc(rows, func(r BindingRow) bool { return r.Kernel != nil })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "HOME ADDRESS\tCARE-OF\tENDPOINT\tTUNNEL\tREMAINING\tNAI"
	if kernel {
		head += "\tKERNEL PKTS OUT/IN"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		fmt.Fprintf(tw, "%v\t%v\t%v\t%s\t%ds/%ds\t%s", r.HomeAddr, r.CareOf, r.Endpoint, r.Tunnel, r.Remaining, r.Lifetime, r.NAI)
		switch {
		case r.Kernel != nil:
			fmt.Fprintf(tw, "\t%d/%d", r.Kernel.EncapPackets, r.Kernel.DecapPackets)
		case kernel:
			fmt.Fprint(tw, "\tuserspace")
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// visitorRow is what `mip4d bindings` shows of a foreign agent's visitor
// (fa.Visitor's JSON).
type visitorRow struct {
	MAC       string        `json:"mac"`
	HomeAddr  netip.Addr    `json:"home_addr"`
	HomeAgent netip.Addr    `json:"home_agent"`
	NAI       string        `json:"nai"`
	Colocated bool          `json:"colocated"`
	Reverse   bool          `json:"reverse_tunnel"`
	UDP       bool          `json:"udp"`
	Lifetime  uint16        `json:"lifetime"`
	Expires   time.Time     `json:"expires"`
	Keepalive time.Duration `json:"keepalive"`
}

func printVisitors(w io.Writer, vs []visitorRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MAC\tHOME ADDRESS\tHOME AGENT\tTUNNEL\tREMAINING\tNAI")
	for _, v := range vs {
		tunnel := "ipip"
		switch {
		case v.Colocated:
			tunnel = "relay only (co-located)"
		case v.UDP:
			tunnel = "udp"
		}
		if v.Reverse && !v.Colocated {
			tunnel += ", reverse"
		}
		left := max(time.Until(v.Expires).Round(time.Second), 0)
		fmt.Fprintf(tw, "%s\t%v\t%v\t%s\t%v/%ds\t%s\n", v.MAC, v.HomeAddr, v.HomeAgent, tunnel, left, v.Lifetime, v.NAI)
	}
	return tw.Flush()
}

// proxyClientRow is what `mip4d bindings` shows of a proxy's client
// (proxy.ClientStatus's JSON).
type proxyClientRow struct {
	MAC          string     `json:"mac"`
	NAI          string     `json:"nai"`
	HomeAddr     netip.Addr `json:"home_addr"`
	State        string     `json:"state"`
	BindingAge   int64      `json:"binding_age"`
	Lifetime     uint16     `json:"lifetime"`
	LifetimeLeft int64      `json:"lifetime_left"`
	UDP          bool       `json:"udp_tunnel"`
}

func printProxyClients(w io.Writer, cs []proxyClientRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MAC\tNAI\tHOME ADDRESS\tSTATE\tTUNNEL\tBOUND FOR\tREMAINING")
	for _, c := range cs {
		tunnel := "ipip"
		if c.UDP {
			tunnel = "udp"
		}
		home := "-"
		if c.HomeAddr.IsValid() {
			home = c.HomeAddr.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%ds\t%ds/%ds\n", c.MAC, c.NAI, home, c.State, tunnel, c.BindingAge, c.LifetimeLeft, c.Lifetime)
	}
	return tw.Flush()
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`null`)
	}
	return b
}
