package bpfplane

import (
	"net/netip"

	"github.com/mip4d/mip4d/agent/fa"
	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/mn"
	"github.com/mip4d/mip4d/agent/wire"
)

// The role adapters turn what the engines decided into Changes, as
// agent/dataplane's Apply and SetTunnel read the same events.

// HAChanges are a home agent's binding events as changes: a binding is
// tunnelled from addr (port 434 with RFC 3519) to its endpoint, the
// care-of address or the NAT mapping seen (RFC 5944 §4.2.3, RFC 3519
// §3.1), and accepted back only from there (RFC 3024 §4.3.2).
func HAChanges(addr netip.Addr, evs []ha.Event) []Change {
	out := make([]Change, 0, len(evs))
	for _, ev := range evs {
		b := ev.Binding
		k := Key{Home: b.HomeAddr, Peer: b.CareOf}
		if ev.Kind == ha.BindingRemoved {
			out = append(out, Change{Key: k})
			continue
		}
		out = append(out, Change{Key: k, Binding: &Binding{Home: b.HomeAddr, Local: addr, Remote: b.Endpoint,
			LocalPort: wire.Port, UDP: b.UDP, Encap: b.Encap, HasKey: b.HasGREKey, Key: b.GREKey}})
	}
	return out
}

// FAChanges are a foreign agent's (or proxy's) visitor events as changes:
// a visitor's datagrams are reverse-tunnelled from the care-of address
// coa to its home agent (RFC 3024 §4.2), and what its home agent tunnels
// to it is taken apart (RFC 5944 §4.2.2). Co-located visitors are only
// relayed for: they have no tunnel here.
func FAChanges(coa netip.Addr, evs []fa.Event) []Change {
	out := make([]Change, 0, len(evs))
	for _, ev := range evs {
		v := ev.Visitor
		if v.Colocated {
			continue
		}
		k := Key{Home: v.HomeAddr, Peer: v.HomeAgent}
		if ev.Kind == fa.VisitorRemoved {
			out = append(out, Change{Key: k})
			continue
		}
		b := &Binding{Home: v.HomeAddr, Local: coa, Remote: netip.AddrPortFrom(v.HomeAgent, 0), UDP: v.UDP, Encap: ha.EncapIPIP}
		if v.UDP {
			b.Remote, b.LocalPort = netip.AddrPortFrom(v.HomeAgent, wire.Port), wire.Port
		}
		if v.GRE {
			b.Encap = ha.EncapGRE
		}
		out = append(out, Change{Key: k, Binding: b})
	}
	return out
}

// MNChanges is a mobile node's new tunnel state as changes, given the one
// before: the tunnel runs from the co-located care-of address (port, our
// registration port, with RFC 3519) to the home agent. Down, or through a
// foreign agent (which tunnels for the node), there is none.
func MNChanges(prev, t mn.Tunnel, port uint16) []Change {
	var out []Change
	if prev.Up && prev.HomeAddr.IsValid() {
		out = append(out, Change{Key: Key{Home: prev.HomeAddr, Peer: prev.Remote.Addr()}})
	}
	if !t.Up || t.ViaFA || !t.HomeAddr.Is4() || !t.Local.Is4() || !t.Remote.Addr().Is4() {
		return out
	}
	b := &Binding{Home: t.HomeAddr, Local: t.Local, Remote: t.Remote, UDP: t.UDP, Encap: ha.EncapIPIP}
	if t.UDP {
		b.LocalPort = port
	} else {
		b.Remote = netip.AddrPortFrom(t.Remote.Addr(), 0)
	}
	return append(out, Change{Key: Key{Home: t.HomeAddr, Peer: t.Remote.Addr()}, Binding: b})
}
