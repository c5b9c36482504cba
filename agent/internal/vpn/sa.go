package vpn

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// SA is one IKE SA as swanctl lists it: the identity the lab compares
// across handoffs (unique id and SPIs), where it runs, and its CHILD SAs.
type SA struct {
	Name     string // connection name
	UniqueID uint32 // charon's IKE SA unique id, #N in swanctl and [N] in the log
	State    string // ESTABLISHED, CONNECTING, DELETING, ...

	LocalHost  netip.Addr
	LocalPort  uint16
	LocalID    string
	RemoteHost netip.Addr
	RemotePort uint16
	RemoteID   string

	Initiator    bool
	InitiatorSPI string // 16 hex digits
	ResponderSPI string

	NATLocal  bool // this end is behind a NAT
	NATRemote bool // the peer is behind a NAT
	NATFake   bool // NAT faked (to force UDP encapsulation)
	NATAny    bool // any of the above

	Established time.Duration // age
	RekeyIn     time.Duration // 0 if no rekeying is scheduled

	VIPs       []netip.Addr // virtual IPs of this end (the client's)
	RemoteVIPs []netip.Addr // virtual IPs of the peer (a gateway's clients)

	Children []ChildSA
}

// ChildSA is one CHILD SA (the ESP SA pair) of an IKE SA.
type ChildSA struct {
	Name     string
	UniqueID uint32 // {N} in swanctl and the log
	ReqID    uint32
	State    string // INSTALLED, REKEYED, DELETED, ...
	Encap    bool   // ESP in UDP (always, under libipsec)
	SPIIn    string // 8 hex digits
	SPIOut   string

	BytesIn, BytesOut     uint64
	PacketsIn, PacketsOut uint64

	Installed time.Duration // age
	RekeyIn   time.Duration
	LocalTS   []netip.Prefix
	RemoteTS  []netip.Prefix
}

// Child returns the SA's current CHILD SA: the installed one with the
// highest unique id (after a rekey the old one lingers as REKEYED or
// DELETED for a while).
func (s SA) Child() (ChildSA, bool) {
	var best ChildSA
	ok := false
	for _, c := range s.Children {
		if c.State == "INSTALLED" && (!ok || c.UniqueID > best.UniqueID) {
			best, ok = c, true
		}
	}
	return best, ok
}

// SameIKE reports whether o is the same IKE SA as s: same unique id and
// SPIs, so not re-established (its endpoints may have moved by MOBIKE).
func (s SA) SameIKE(o SA) bool {
	return s.UniqueID == o.UniqueID && s.InitiatorSPI == o.InitiatorSPI && s.ResponderSPI == o.ResponderSPI
}

// Same reports whether o is the same IKE SA with the same CHILD SA as s:
// no renegotiation of any kind happened between the two snapshots.
func (s SA) Same(o SA) bool {
	if !s.SameIKE(o) {
		return false
	}
	a, aok := s.Child()
	b, bok := o.Child()
	return aok == bok && a.UniqueID == b.UniqueID && a.SPIIn == b.SPIIn && a.SPIOut == b.SPIOut
}

// Diff describes how o differs from s in what identifies the SA and
// where it runs ("" when nothing did): re-established IKE SA, rekeyed
// CHILD SA, moved endpoints, another virtual IP.
func (s SA) Diff(o SA) string {
	var d []string
	if !s.SameIKE(o) {
		d = append(d, fmt.Sprintf("IKE SA re-established: #%d %s_i %s_r -> #%d %s_i %s_r",
			s.UniqueID, s.InitiatorSPI, s.ResponderSPI, o.UniqueID, o.InitiatorSPI, o.ResponderSPI))
	}
	a, _ := s.Child()
	b, _ := o.Child()
	if a.UniqueID != b.UniqueID || a.SPIIn != b.SPIIn || a.SPIOut != b.SPIOut {
		d = append(d, fmt.Sprintf("CHILD SA changed: {%d} %s_i %s_o -> {%d} %s_i %s_o",
			a.UniqueID, a.SPIIn, a.SPIOut, b.UniqueID, b.SPIIn, b.SPIOut))
	}
	if s.LocalHost != o.LocalHost || s.LocalPort != o.LocalPort {
		d = append(d, fmt.Sprintf("local %v:%d -> %v:%d", s.LocalHost, s.LocalPort, o.LocalHost, o.LocalPort))
	}
	if s.RemoteHost != o.RemoteHost || s.RemotePort != o.RemotePort {
		d = append(d, fmt.Sprintf("remote %v:%d -> %v:%d", s.RemoteHost, s.RemotePort, o.RemoteHost, o.RemotePort))
	}
	if fmt.Sprint(s.VIPs) != fmt.Sprint(o.VIPs) {
		d = append(d, fmt.Sprintf("virtual IP %v -> %v", s.VIPs, o.VIPs))
	}
	return strings.Join(d, "; ")
}

// String is the SA in one line, as a handoff table shows it.
func (s SA) String() string {
	c, _ := s.Child()
	return fmt.Sprintf("%s #%d %s %s_i %s_r %v:%d-%v:%d vip %v child {%d} %s_i %s_o",
		s.Name, s.UniqueID, s.State, s.InitiatorSPI, s.ResponderSPI, s.LocalHost, s.LocalPort,
		s.RemoteHost, s.RemotePort, s.VIPs, c.UniqueID, c.SPIIn, c.SPIOut)
}

// node is one section of swanctl's --pretty output (a vici message).
type node struct {
	name  string
	kv    map[string]string
	lists map[string][]string
	subs  []*node
}

// parsePretty parses swanctl's --pretty dump of vici messages:
//
//	list-sa event {
//	  vpn {
//	    uniqueid = 1
//	    local-vips = [
//	      10.99.0.1
//	    ]
//	    child-sas {
//	      ...
//	    }
//	  }
//	}
//
// One element per line, so values may hold spaces (identities do). It
// returns a root whose sections are the messages.
func parsePretty(s string) (*node, error) {
	newNode := func(name string) *node {
		return &node{name: name, kv: map[string]string{}, lists: map[string][]string{}}
	}
	root := newNode("")
	stack := []*node{root}
	list := "" // the list being read, if any
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimRight(strings.TrimLeft(line, " \t"), "\r")
		cur := stack[len(stack)-1]
		switch {
		case list != "":
			if line == "]" {
				list = ""
			} else {
				cur.lists[list] = append(cur.lists[list], line)
			}
		case line == "":
		case line == "}":
			if len(stack) == 1 {
				return nil, fmt.Errorf("vpn: swanctl output line %d: unbalanced }", i+1)
			}
			stack = stack[:len(stack)-1]
		case strings.HasSuffix(line, " = ["):
			list = strings.TrimSuffix(line, " = [")
			cur.lists[list] = []string{}
		case strings.HasSuffix(line, " {"):
			n := newNode(strings.TrimSuffix(line, " {"))
			cur.subs = append(cur.subs, n)
			stack = append(stack, n)
		case strings.Contains(line, " ="):
			k, v, _ := strings.Cut(line, " =")
			cur.kv[k] = strings.TrimPrefix(v, " ")
		default:
			return nil, fmt.Errorf("vpn: swanctl output line %d: cannot parse %q", i+1, line)
		}
	}
	if len(stack) != 1 || list != "" {
		return nil, fmt.Errorf("vpn: swanctl output truncated")
	}
	return root, nil
}

// ParseSAs parses the output of `swanctl --list-sas --pretty`: one
// "list-sa event" message per IKE SA.
func ParseSAs(out string) ([]SA, error) {
	root, err := parsePretty(out)
	if err != nil {
		return nil, err
	}
	var sas []SA
	for _, msg := range root.subs {
		if msg.name != "list-sa event" {
			continue
		}
		for _, n := range msg.subs {
			sa, err := parseSA(n)
			if err != nil {
				return nil, err
			}
			sas = append(sas, sa)
		}
	}
	return sas, nil
}

// fields reads typed values out of a node, remembering the first error.
type fields struct {
	n   *node
	err error
}

func (f *fields) fail(k, v string, err error) {
	if f.err == nil {
		f.err = fmt.Errorf("vpn: SA %s: %s = %q: %v", f.n.name, k, v, err)
	}
}

func (f *fields) str(k string) string { return f.n.kv[k] }

func (f *fields) uint(k string, bits int) uint64 {
	v, ok := f.n.kv[k]
	if !ok {
		return 0
	}
	x, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		f.fail(k, v, err)
	}
	return x
}

func (f *fields) secs(k string) time.Duration { return time.Duration(f.uint(k, 32)) * time.Second }

func (f *fields) yes(k string) bool { return f.n.kv[k] == "yes" }

func (f *fields) addr(k string) netip.Addr {
	v, ok := f.n.kv[k]
	if !ok {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		f.fail(k, v, err)
	}
	return a
}

func (f *fields) addrs(k string) []netip.Addr {
	var as []netip.Addr
	for _, v := range f.n.lists[k] {
		a, err := netip.ParseAddr(v)
		if err != nil {
			f.fail(k, v, err)
		}
		as = append(as, a)
	}
	return as
}

func (f *fields) prefixes(k string) []netip.Prefix {
	var ps []netip.Prefix
	for _, v := range f.n.lists[k] {
		// Traffic selectors may be ranges or carry protocol/port
		// restrictions ("10.0.0.0/24[udp/500]"); keep what is a prefix.
		v, _, _ = strings.Cut(v, "[")
		if p, err := netip.ParsePrefix(v); err == nil {
			ps = append(ps, p)
		}
	}
	return ps
}

func parseSA(n *node) (SA, error) {
	f := &fields{n: n}
	s := SA{
		Name:         n.name,
		UniqueID:     uint32(f.uint("uniqueid", 32)),
		State:        f.str("state"),
		LocalHost:    f.addr("local-host"),
		LocalPort:    uint16(f.uint("local-port", 16)),
		LocalID:      f.str("local-id"),
		RemoteHost:   f.addr("remote-host"),
		RemotePort:   uint16(f.uint("remote-port", 16)),
		RemoteID:     f.str("remote-id"),
		Initiator:    f.yes("initiator"),
		InitiatorSPI: f.str("initiator-spi"),
		ResponderSPI: f.str("responder-spi"),
		NATLocal:     f.yes("nat-local"),
		NATRemote:    f.yes("nat-remote"),
		NATFake:      f.yes("nat-fake"),
		NATAny:       f.yes("nat-any"),
		Established:  f.secs("established"),
		RekeyIn:      f.secs("rekey-time"),
		VIPs:         f.addrs("local-vips"),
		RemoteVIPs:   f.addrs("remote-vips"),
	}
	if s.UniqueID == 0 && f.err == nil {
		f.err = fmt.Errorf("vpn: SA %s without uniqueid", n.name)
	}
	for _, sub := range n.subs {
		if sub.name != "child-sas" {
			continue
		}
		for _, cn := range sub.subs {
			g := &fields{n: cn}
			c := ChildSA{
				Name:       g.str("name"),
				UniqueID:   uint32(g.uint("uniqueid", 32)),
				ReqID:      uint32(g.uint("reqid", 32)),
				State:      g.str("state"),
				Encap:      g.yes("encap"),
				SPIIn:      g.str("spi-in"),
				SPIOut:     g.str("spi-out"),
				BytesIn:    g.uint("bytes-in", 64),
				BytesOut:   g.uint("bytes-out", 64),
				PacketsIn:  g.uint("packets-in", 64),
				PacketsOut: g.uint("packets-out", 64),
				Installed:  g.secs("install-time"),
				RekeyIn:    g.secs("rekey-time"),
				LocalTS:    g.prefixes("local-ts"),
				RemoteTS:   g.prefixes("remote-ts"),
			}
			if g.err != nil && f.err == nil {
				f.err = g.err
			}
			s.Children = append(s.Children, c)
		}
	}
	return s, f.err
}

// parseCounters parses `swanctl --counters --raw`:
// "counters reply {counters { {ike-rekey-init=0 ...}} success=yes}" (the
// counters sit in a section without a name).
func parseCounters(out string) (map[string]uint64, error) {
	i := strings.Index(out, "counters {")
	if i < 0 {
		return nil, fmt.Errorf("vpn: no counters in %q (is the counters plugin loaded?)", out)
	}
	body, _, ok := strings.Cut(out[i+len("counters {"):], "}")
	if !ok {
		return nil, fmt.Errorf("vpn: counters truncated: %q", out)
	}
	m := map[string]uint64{}
	for _, kv := range strings.Fields(strings.ReplaceAll(body, "{", " ")) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("vpn: counter %q", kv)
		}
		x, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("vpn: counter %q: %v", kv, err)
		}
		m[k] = x
	}
	return m, nil
}
