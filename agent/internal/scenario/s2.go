package scenario

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/uci"
)

// Scenario S2 (RFC 4093 §4.2): the hotspots run mip4d as foreign agents,
// themselves behind the hotspots' NATs (RFC 3519 from the agent), and the
// laptop registers through them:
//
//	mn ─ wlan0 (a bridge of hs1, hs2; one port up at a time: the radio)
//	   hs1 ─ [fa1] lan 172.16.1.1/24, wan 192.168.1.2/24 (care-of address) ─ [nat1] ─ inet
//	   hs2 ─ [fa2] lan 172.16.2.1/24, wan 192.168.2.2/24 (care-of address) ─ [nat2] ─ inet
//
// The laptop keeps only its home address, on wlan0, with the agent it
// hears as its router.
var (
	FACoAs    = [3]netip.Addr{{}, netip.MustParseAddr("192.168.1.2"), netip.MustParseAddr("192.168.2.2")}
	FALinks   = [3]netip.Prefix{{}, netip.MustParsePrefix("172.16.1.1/24"), netip.MustParsePrefix("172.16.2.1/24")}
	faSPI     = "2000"
	faKey     = "0x666f726569676e206167656e74206b6579"
	MNUplink  = "wlan0"
	faAdvSecs = "1"
)

// AddFAs rebuilds the hotspots of a built lab with a foreign agent in
// each (see above) and puts the mobile node's two radios into one bridge.
func (r *Roaming) AddFAs() error {
	l := r.L
	steps := []func() error{
		func() error { return l.IP("mn", "link", "add", MNUplink, "type", "bridge") },
		// A port that stays up keeps the bridge's carrier: otherwise each
		// move takes it down and up, and the kernel's link watch delays a
		// bridge's carrier-up by up to a second (it is not an "urgent"
		// event), during which nothing leaves — an artefact of the
		// bridge, not of roaming.
		func() error { return l.IP("mn", "link", "add", "radio0", "type", "veth", "peer", "name", "radio0p") },
		func() error { return l.IP("mn", "link", "set", "radio0p", "up") },
		func() error { return l.IP("mn", "link", "set", "radio0", "master", MNUplink, "up") },
		func() error { return l.IP("mn", "link", "set", MNUplink, "up") },
	}
	for hs := 1; hs <= 2; hs++ {
		nat, fa, dev := fmt.Sprintf("nat%d", hs), fmt.Sprintf("fa%d", hs), fmt.Sprintf("hs%d", hs)
		steps = append(steps,
			func() error { return l.IP("mn", "link", "del", dev) },
			func() error { return l.AddNS(fa) },
			func() error { return l.Veth(nat, "lan", fa, "wan") },
			func() error { return l.Addr(nat, "lan", Gateways[hs].String()+"/24") },
			func() error { return l.Addr(fa, "wan", FACoAs[hs].String()+"/24") },
			func() error { return l.Route(fa, "default", "via", Gateways[hs].String()) },
			func() error { return l.Router(fa) },
			func() error { return l.Veth(fa, "lan", "mn", dev) },
			func() error { return l.Addr(fa, "lan", FALinks[hs].String()) },
			func() error { return l.IP("mn", "link", "set", dev, "master", MNUplink) },
			func() error { return l.IP("mn", "link", "set", dev, "down") },
		)
	}
	if err := run(steps); err != nil {
		return err
	}
	r.FAs, r.At = true, 0
	return nil
}

// BuildS2 is the acceptance lab with foreign agents on the hotspots.
func BuildS2(l *lab.Lab, bin string) (*Roaming, error) {
	r, err := BuildAcceptance(l, bin)
	if err != nil {
		return nil, err
	}
	return r, r.AddFAs()
}

// CareOfAt is the care-of address the node registers on hotspot hs: its
// own (co-located) or the hotspot's foreign agent's.
func (r *Roaming) CareOfAt(hs int) netip.Addr {
	if r.FAs {
		return FACoAs[hs]
	}
	return CoAs[hs]
}

// FAConfig writes foreign agent hs's configuration: the visitors on its
// lan, its care-of address the uplink's (private: RFC 3519 toward the
// home agent), an FA-HA key shared with the home agent.
func (r *Roaming) FAConfig(hs int) (string, error) {
	name := fmt.Sprintf("fa%d", hs)
	f := &uci.File{}
	section(f, "mip4d", "globals", "role", "fa", "log_level", "debug", "control_socket", r.Socket(name))
	section(f, "foreignagent", "foreignagent", "interface", "lan", "uplink", "wan", "advertise_interval", faAdvSecs,
		"max_lifetime", "600", "reverse_tunnel_required", "1")
	section(f, "agent_peer", "", "address", HAAddr.String(), "spi", faSPI, "key", faKey)
	return r.writeConfig(name, f)
}

// StartFAs starts both foreign agents and waits for their control
// sockets.
func (r *Roaming) StartFAs() error { return r.startHotspotDaemons(r.FAConfig) }

// startHotspotDaemons starts mip4d in fa1 and fa2 with the configuration
// config writes for each, and waits for their control sockets.
func (r *Roaming) startHotspotDaemons(config func(hs int) (string, error)) error {
	for hs := 1; hs <= 2; hs++ {
		name := fmt.Sprintf("fa%d", hs)
		cfg, err := config(hs)
		if err != nil {
			return err
		}
		p, err := r.L.Start(name, name, r.Bin, "run", "--config", cfg)
		if err != nil {
			return err
		}
		r.FAProcs = append(r.FAProcs, p)
		if err := r.waitSocket(name, p); err != nil {
			return err
		}
	}
	return nil
}

// moveFA takes the node's radio from one hotspot to the other: the old
// port of the bridge down, the new one up. The node learns where it is
// from the agent's advertisement (or its answer to a solicitation).
func (r *Roaming) moveFA(hs int) error {
	var cmds []string
	if r.At != 0 {
		cmds = append(cmds, fmt.Sprintf("link set hs%d down", r.At))
	}
	cmds = append(cmds, fmt.Sprintf("link set hs%d up", hs))
	if err := r.L.IPBatch("mn", cmds...); err != nil {
		return err
	}
	if err := r.waitLinkUp(fmt.Sprintf("fa%d", hs), "lan"); err != nil {
		return err
	}
	r.At = hs
	return nil
}

// Visitors is foreign agent hs's visitor list.
func (r *Roaming) Visitors(hs int) ([]S2Visitor, error) {
	var vs []S2Visitor
	err := r.Control(fmt.Sprintf("fa%d", hs), "bindings", &vs)
	return vs, err
}

// S2Visitor is the part of a foreign agent's visitor entry the lab reads.
type S2Visitor struct {
	MAC       string     `json:"mac"`
	HomeAddr  netip.Addr `json:"home_addr"`
	HomeAgent netip.Addr `json:"home_agent"`
	UDP       bool       `json:"udp"`
	Reverse   bool       `json:"reverse_tunnel"`
}

// WaitVisitor waits until foreign agent hs lists the node's home address.
func (r *Roaming) WaitVisitor(hs int, timeout time.Duration) (S2Visitor, error) {
	deadline := time.Now().Add(timeout)
	var last []S2Visitor
	for time.Now().Before(deadline) {
		vs, err := r.Visitors(hs)
		if err == nil {
			last = vs
			for _, v := range vs {
				if v.HomeAddr == HoA {
					return v, nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return S2Visitor{}, fmt.Errorf("fa%d never listed %v as a visitor (visitors: %+v)", hs, HoA, last)
}

// StartS2 starts the foreign agents, the home agent and the mobile node
// in fa mode on hs1, waits for the registration through fa1, and brings
// the VPN up over the home address.
func (r *Roaming) StartS2() (*VPN, error) {
	if err := r.StartFAs(); err != nil {
		return nil, err
	}
	if err := r.MoveTo(1); err != nil {
		return nil, err
	}
	if err := r.StartHA(); err != nil {
		return nil, err
	}
	if err := r.StartMN("mode", "fa", "uplink", MNUplink); err != nil {
		return nil, err
	}
	if _, err := r.WaitRegistered(FACoAs[1], 10*time.Second); err != nil {
		return nil, err
	}
	return r.StartVPN(HoA, false)
}
