package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mip4d/mip4d/agent/daemon"
	"github.com/mip4d/mip4d/agent/mn"
	"github.com/mip4d/mip4d/agent/proxy"
)

// `mip4d status` for people: a summary first (role, address, uptime, how
// many bindings, visitors or clients, the data plane, redundancy when the
// daemon reports it, the last error), then the recent warnings and errors,
// then every counter and detail of the answer as a tree, the zero ones
// left out unless --all. The summary reads the typed status; the tree
// walks the JSON, so a part of the status this code does not know yet is
// shown there all the same.

// redundancyView is the "redundancy" object of the status, when the daemon
// runs as one of a redundant pair of home agents (issue 10); the fields
// this view does not name still appear in the tree.
type redundancyView struct {
	Role       string `json:"role"`
	Peer       string `json:"peer"`
	Connected  bool   `json:"connected"`
	LagEntries int64  `json:"lag_entries"`
	LagMS      int64  `json:"lag_ms"`
}

// statusView is what the summary reads of the status.
type statusView struct {
	daemon.Status
	Redundancy *redundancyView `json:"redundancy"`
}

// summaryKeys are the top-level keys the summary shows in full, left out
// of the tree.
var summaryKeys = []string{"role", "version", "started", "uptime", "last_error", "log_events"}

// recentEvents is how many of the recent warnings and errors the text
// shows (--json has them all).
const recentEvents = 5

func printStatus(w io.Writer, res json.RawMessage, all bool, now time.Time) error {
	var st statusView
	if err := json.Unmarshal(res, &st); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	var tree map[string]any
	d := json.NewDecoder(bytes.NewReader(res))
	d.UseNumber()
	if err := d.Decode(&tree); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range summary(&st, now) {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	// The recent warnings and errors, but the last error: the summary has
	// it.
	var evs []daemon.LogEvent
	for _, e := range st.LogEvents {
		if le := st.LastError; le == nil || !e.Time.Equal(le.Time) || e.Msg != le.Msg || e.Detail != le.Detail {
			evs = append(evs, e)
		}
	}
	if len(evs) > 0 {
		fmt.Fprintf(w, "\nrecent warnings and errors (%d, newest last):\n", len(evs))
		if len(evs) > recentEvents {
			fmt.Fprintf(w, "  ... %d older (mip4d status --json)\n", len(evs)-recentEvents)
			evs = evs[len(evs)-recentEvents:]
		}
		for _, e := range evs {
			fmt.Fprintf(w, "  %s  %-5s %s\n", e.Time.Format("2006-01-02 15:04:05"), e.Level, eventText(e))
		}
	}

	for _, k := range summaryKeys {
		delete(tree, k)
	}
	hidden := 0
	if !all {
		hidden = prune(tree)
	}
	switch {
	case all:
		fmt.Fprintln(w, "\ncounters and details:")
	case hidden > 0:
		fmt.Fprintf(w, "\ncounters and details (%d zero counters hidden; --all shows them):\n", hidden)
	default:
		fmt.Fprintln(w, "\ncounters and details:")
	}
	printTree(w, "  ", tree)
	return nil
}

func eventText(e daemon.LogEvent) string {
	if e.Detail == "" {
		return e.Msg
	}
	return e.Msg + ": " + e.Detail
}

// summary is the rows of the summary: label, value.
func summary(st *statusView, now time.Time) [][2]string {
	var rows [][2]string
	add := func(k, format string, args ...any) { rows = append(rows, [2]string{k, fmt.Sprintf(format, args...)}) }
	role := map[string]string{"ha": "home agent", "mn": "mobile node", "fa": "foreign agent", "proxy": "proxy (RFC 5563)"}[st.Role]
	if role == "" {
		role = st.Role
	}
	if st.MN != nil && st.MN.Internal != nil {
		role += ", dual mode (RFC 5265)"
		if st.MN.Location != "" {
			role += ": " + st.MN.Location
		}
	}
	if r := st.Redundancy; r != nil && r.Role != "" {
		role += ", redundancy " + r.Role
	}
	add("role", "%s", role)
	add("version", "%s", st.Version)
	up := fmtDuration(time.Duration(st.UptimeSec) * time.Second)
	if !st.Started.IsZero() {
		up += " (since " + st.Started.Format("2006-01-02 15:04:05 MST") + ")"
	}
	add("uptime", "%s", up)

	if h := st.HA; h != nil {
		add("address", "%v, home network %v", h.Address, h.HomeNetwork)
		b := fmt.Sprintf("%d (%s configured", h.Bindings, plural(h.MobileNodes, "mobile node"))
		if h.PoolSize > 0 {
			b += fmt.Sprintf("; pool %d of %d in use", h.PoolUsed, h.PoolSize)
		}
		if h.Revocations > 0 {
			b += fmt.Sprintf("; %s pending", plural(h.Revocations, "revocation"))
		}
		add("bindings", "%s)", b)
	}
	if m := st.MN; m != nil {
		reg := mnState(m.State)
		a := "home " + addrText(reg.HomeAddr) + ", care-of " + addrText(reg.CareOf)
		if reg.FA.IsValid() {
			a += " via foreign agent " + reg.FA.String()
		}
		add("address", "%s", a)
		add("registration", "%s", registration(reg, now))
		if m.Internal != nil {
			ireg := mnState(m.Internal.State)
			i := "home " + addrText(ireg.HomeAddr) + ", care-of " + addrText(ireg.CareOf)
			if m.VPNAddress.IsValid() {
				i += ", VPN address " + m.VPNAddress.String()
			}
			add("internal", "%s; %s", i, registration(ireg, now))
		}
	}
	if f := st.FA; f != nil {
		a := "care-of " + addrText(f.CareOf)
		if f.BehindNAT {
			a += " (behind a NAT)"
		}
		a += ", visitors' link " + f.Link
		if f.LinkAddress.IsValid() {
			a += " (" + f.LinkAddress.String() + ")"
		}
		add("address", "%s", a)
		n := 0
		if vs, ok := f.Visitors.([]any); ok {
			n = len(vs)
		}
		add("visitors", "%d (%s pending)", n, plural(f.Pending, "request"))
	}
	if p := st.Proxy; p != nil {
		var ps proxy.Status
		remarshal(p.Proxy, &ps)
		add("address", "care-of %s, gateway %v on %s, home agent %s", addrText(ps.CareOf), p.Gateway, p.Interface, addrText(ps.HomeAgent))
		c := fmt.Sprintf("%d", len(ps.Clients))
		if ps.Refused != "" {
			c += "; refused by the home agent: " + ps.Refused
		}
		add("clients", "%s", c)
	}
	add("data plane", "%s", dataPlaneText(st.DataPlane))
	if r := st.Redundancy; r != nil {
		conn := "not connected"
		if r.Connected {
			conn = "connected"
		}
		add("redundancy", "%s; peer %s %s; %s, %d ms behind", r.Role, r.Peer, conn, plural(int(r.LagEntries), "entry"), r.LagMS)
	}
	if e := st.LastError; e != nil {
		add("last error", "%s ago (%s): %s", fmtDuration(now.Sub(e.Time).Round(time.Second)), e.Time.Format("2006-01-02 15:04:05"), eventText(*e))
	} else {
		add("last error", "none")
	}
	return rows
}

func mnState(v any) mn.Status {
	var s mn.Status
	remarshal(v, &s)
	return s
}

// remarshal turns a decoded JSON value (any) into its type.
func remarshal(v, into any) {
	if b, err := json.Marshal(v); err == nil {
		_ = json.Unmarshal(b, into)
	}
}

func registration(s mn.Status, now time.Time) string {
	r := s.State
	if s.HomeAgent.IsValid() {
		r += " with " + s.HomeAgent.String()
	}
	if !s.Expires.IsZero() {
		r += fmt.Sprintf(", %ds of %ds left", int64(max(s.Expires.Sub(now), 0).Round(time.Second)/time.Second), s.Lifetime)
	}
	if s.UDP {
		r += ", UDP tunnel"
	}
	if s.LastCode != "" {
		r += ", last reply " + s.LastCode
	}
	return r
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

func dataPlaneText(raw json.RawMessage) string {
	var dp daemon.DataPlaneStatus
	if len(raw) == 0 || json.Unmarshal(raw, &dp) != nil || dp.Mode == "" {
		return "-"
	}
	if dp.Mode == "bpf" && dp.BPF != nil {
		return fmt.Sprintf("bpf (kernel) on %s, %s (configured %s)", strings.Join(dp.BPF.Interfaces, ", "), plural(dp.BPF.Tunnels, "tunnel"), dp.Configured)
	}
	switch dp.ModeReason {
	case "", "configured":
		return fmt.Sprintf("%s (configured %s)", dp.Mode, dp.Configured)
	default:
		return fmt.Sprintf("%s (configured %s; %s)", dp.Mode, dp.Configured, dp.ModeReason)
	}
}

// plural is "1 tunnel", "2 tunnels", "0 entries".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// fmtDuration is a duration in days, hours, minutes and seconds: 2d3h4m5s.
func fmtDuration(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 0 {
		s = 0
	}
	days, s := s/86400, s%86400
	h, s := s/3600, s%3600
	m, s := s/60, s%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh%dm%ds", days, h, m, s)
	case h > 0:
		return fmt.Sprintf("%dh%dm%ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm%ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// prune removes the zero numbers from a decoded status, and the objects
// and lists left empty; it returns how many numbers it removed.
func prune(m map[string]any) int {
	n := 0
	for k, v := range m {
		var gone bool
		switch v := v.(type) {
		case json.Number:
			if isZero(v) {
				n++
				gone = true
			}
		case map[string]any:
			n += prune(v)
			gone = len(v) == 0
		case []any:
			for _, x := range v {
				if o, ok := x.(map[string]any); ok {
					n += prune(o)
				}
			}
			gone = len(v) == 0
		}
		if gone {
			delete(m, k)
		}
	}
	return n
}

func isZero(n json.Number) bool {
	f, err := n.Float64()
	return err == nil && f == 0
}

// printTree prints a decoded status as indented "key: value" lines, keys
// sorted; a list of objects as numbered items.
func printTree(w io.Writer, indent string, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := m[k].(type) {
		case map[string]any:
			if len(v) == 0 {
				fmt.Fprintf(w, "%s%s: -\n", indent, k)
				continue
			}
			fmt.Fprintf(w, "%s%s:\n", indent, k)
			printTree(w, indent+"  ", v)
		case []any:
			if len(v) == 0 {
				fmt.Fprintf(w, "%s%s: none\n", indent, k)
				continue
			}
			if _, objects := v[0].(map[string]any); objects {
				fmt.Fprintf(w, "%s%s:\n", indent, k)
				for i, x := range v {
					fmt.Fprintf(w, "%s  #%d:\n", indent, i+1)
					if o, ok := x.(map[string]any); ok {
						printTree(w, indent+"    ", o)
					} else {
						fmt.Fprintf(w, "%s    %v\n", indent, x)
					}
				}
				continue
			}
			parts := make([]string, len(v))
			for i, x := range v {
				parts[i] = fmt.Sprint(x)
			}
			fmt.Fprintf(w, "%s%s: %s\n", indent, k, strings.Join(parts, ", "))
		case nil:
			fmt.Fprintf(w, "%s%s: -\n", indent, k)
		case string:
			if v == "" {
				v = "-"
			}
			fmt.Fprintf(w, "%s%s: %s\n", indent, k, v)
		default:
			fmt.Fprintf(w, "%s%s: %v\n", indent, k, v)
		}
	}
}
