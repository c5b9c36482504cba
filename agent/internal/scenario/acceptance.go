package scenario

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/internal/vpn"
	"github.com/mip4d/mip4d/agent/uci"
)

// The acceptance lab of DESIGN.md §3: the roaming lab's Internet side and
// hotspots, plus an enterprise behind an unmodified strongSwan VPN
// gateway. The home agent of the roaming lab ("ha") is the external home
// agent (x-HA) here; its home network 10.10.0.0/16 — the x-home addresses —
// is routed on the Internet.
//
//	[cn] 10.20.0.2 ─┐
//	                ├─ [vpngw] 192.0.2.1 ── [inet] ── [ha = x-HA] 198.51.100.1
//	[iha] 10.20.1.2 ┘                         ├── [nat1] ── hs1 ─┐
//	                                          └── [nat2] ── hs2 ─┴─ [mn]
var (
	Corp       = netip.MustParseAddr("10.20.0.2") // the correspondent inside the enterprise
	IHA        = netip.MustParseAddr("10.20.1.2")
	VPNGW      = netip.MustParseAddr("192.0.2.1")
	Intranet   = netip.MustParsePrefix("10.20.0.0/16")
	VPNPool    = netip.MustParsePrefix("10.99.0.0/24")
	IntranetGW = netip.MustParseAddr("10.20.0.1")
	// The internal home network behind the i-HA, and the node's i-HoA.
	IHomeNet = netip.MustParsePrefix("10.30.0.0/16")
	IHoA     = netip.MustParseAddr("10.30.0.5")
	// The hotspot inside the enterprise (hs3).
	InsideCoA = netip.MustParseAddr("10.20.2.10")
	InsideGW  = netip.MustParseAddr("10.20.2.1")
)

// BuildAcceptance creates the acceptance lab.
func BuildAcceptance(l *lab.Lab, bin string) (*Roaming, error) {
	return buildAcceptance(&Roaming{L: l, Bin: bin, Keepalive: 10, Lifetime: 60})
}

func buildAcceptance(r *Roaming) (*Roaming, error) {
	l := r.L
	err := run([]func() error{
		func() error { return each([]string{"cn", "iha", "vpngw", "ha", "inet", "nat1", "nat2", "mn"}, l.AddNS) },
		func() error { return l.Veth("cn", "eth0", "vpngw", "lan") },
		func() error { return l.Veth("iha", "eth0", "vpngw", "lan2") },
		func() error { return l.Veth("vpngw", "wan", "inet", "vpn") },
		func() error { return l.Addr("cn", "eth0", "10.20.0.2/24") },
		func() error { return l.Route("cn", "default", "via", "10.20.0.1") },
		// The enterprise host completes its own checksums, as a host
		// behind a real NIC's wire does: a veth hands its peer packets
		// whose L4 checksum is still to be filled in (CHECKSUM_PARTIAL),
		// and a kernel tunnel (the i-HA's BPF plane, like a fou or ipip
		// device) keeps that state inside the encapsulation, which only a
		// NIC or the stack completes on the way out — not the veth to the
		// laptop, whose userspace i-MIP leg would hand the TUN a packet
		// with a wrong checksum.
		func() error { _, err := l.Exec("cn", "ethtool", "-K", "eth0", "tx", "off"); return err },
		func() error { return l.Addr("iha", "eth0", "10.20.1.2/24") },
		func() error { return l.Route("iha", "default", "via", "10.20.1.1") },
		func() error { return l.Addr("vpngw", "lan", "10.20.0.1/24") },
		func() error { return l.Addr("vpngw", "lan2", "10.20.1.1/24") },
		func() error { return l.Addr("vpngw", "wan", "192.0.2.1/24") },
		func() error { return l.Route("vpngw", "default", "via", "192.0.2.254") },
		func() error { return l.Router("vpngw") },
		func() error { return l.Addr("inet", "vpn", "192.0.2.254/24") },
		// The internal home network lives behind the i-HA.
		func() error { return l.Route("vpngw", IHomeNet.String(), "via", IHA.String()) },
		// hs3: a hotspot inside the enterprise.
		func() error { return l.Veth("vpngw", "lan3", "mn", "hs3") },
		func() error { return l.Addr("vpngw", "lan3", InsideGW.String()+"/24") },
		func() error { return l.IP("mn", "link", "set", "hs3", "down") },
	})
	if err != nil {
		return nil, err
	}
	if err := r.buildAccess(); err != nil {
		return nil, err
	}
	// The x-home addresses are reachable on the Internet, via the x-HA.
	return r, l.Route("inet", HomeNet.String(), "via", HAAddr.String())
}

// VPN is the enterprise's remote access: the gateway and the laptop's
// client, both unmodified strongSwan.
type VPN struct {
	GW     *vpn.Gateway
	Client *vpn.Client
	VIP    netip.Addr
	SA     vpn.SA // as first established
}

// StartVPN starts the gateway and the laptop's client. With local valid,
// the client runs IKE and ESP from that address only (the x-home address:
// x-MIP) and ignores address changes (MOBIKE off), as RFC 5265 wants;
// otherwise it uses whatever address it has, with MOBIKE as asked (the
// baselines).
func (r *Roaming) StartVPN(local netip.Addr, mobike bool) (*VPN, error) {
	gw, err := vpn.StartGateway(r.L, "vpngw", vpn.GatewayConfig{Intranet: []netip.Prefix{Intranet}, Pool: VPNPool, MOBIKE: mobike})
	if err != nil {
		return nil, err
	}
	cc := vpn.ClientConfig{Gateway: VPNGW, Intranet: []netip.Prefix{Intranet}, LocalAddr: local, MOBIKE: mobike}
	if local.IsValid() {
		cc.NoRoamEvents = true
	}
	c, err := vpn.StartClient(r.L, "mn", cc)
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

// VPNMove is one handoff as the VPN saw it.
type VPNMove struct {
	MoveResult
	SA      vpn.SA
	SameSA  bool   // same IKE SA and CHILD SA: no renegotiation at all
	SameIKE bool   // same IKE SA (MOBIKE may still rekey the CHILD SA)
	Diff    string // what changed, if anything
}

// VPNHandoffs moves the node n times while probes run through the VPN,
// and records the VPN's SA after each move.
func (r *Roaming) VPNHandoffs(v *VPN, p *Probe, n int, dwell time.Duration, waitBinding bool, progress func(VPNMove)) []VPNMove {
	var out []VPNMove
	for i := 1; i <= n; i++ {
		to := 3 - r.At
		m := VPNMove{MoveResult: MoveResult{N: i, From: r.At, To: to, CareOf: r.CareOfAt(to)}}
		at := p.Now()
		start := time.Now()
		if err := r.MoveTo(to); err != nil {
			m.Err = err
			out = append(out, m)
			break
		}
		if waitBinding {
			b, err := r.WaitBinding(r.CareOfAt(to), false, 10*time.Second)
			if err != nil {
				m.Err = err
			}
			m.NAT = b.Endpoint
		}
		m.Elapsed = time.Since(start)
		time.Sleep(dwell)
		h := p.Measure(at, p.Now()-5*p.Interval)
		m.Gap, m.Lost = h.Gap, h.Lost
		if !h.Recovered && m.Err == nil {
			m.Err = fmt.Errorf("move %d: traffic through the VPN did not resume", i)
		}
		sa, err := v.Client.SA()
		if err != nil && m.Err == nil {
			m.Err = fmt.Errorf("move %d: %w", i, err)
		}
		m.SA = sa
		m.SameSA, m.SameIKE = sa.Same(v.SA), sa.SameIKE(v.SA)
		if !m.SameSA {
			m.Diff = sa.Diff(v.SA)
		}
		out = append(out, m)
		if progress != nil {
			progress(m)
		}
	}
	return out
}

// Baseline runs the same moves without mip4d: the VPN client uses the
// hotspot address itself, with MOBIKE (RFC 4555: the IKE SA follows the
// address; libipsec rekeys the CHILD SA) or without it (the SA is
// re-established; reestablish is called after each move when the client
// has not done it by itself).
func (r *Roaming) Baseline(v *VPN, p *Probe, n int, dwell time.Duration, mobike bool, progress func(VPNMove)) []VPNMove {
	var out []VPNMove
	for i := 1; i <= n; i++ {
		to := 3 - r.At
		m := VPNMove{MoveResult: MoveResult{N: i, From: r.At, To: to, CareOf: CoAs[to]}}
		at := p.Now()
		start := time.Now()
		prev, _ := v.Client.SA()
		if err := r.MoveTo(to); err != nil {
			m.Err = err
			out = append(out, m)
			break
		}
		sa, err := v.Client.WaitSA(6*time.Second, func(s vpn.SA) bool {
			return s.LocalHost == CoAs[to] && !s.Same(prev) && s.State == "ESTABLISHED"
		})
		if err != nil && !mobike {
			if _, ierr := v.Client.Initiate(10 * time.Second); ierr == nil {
				sa, err = v.Client.SA()
			}
		}
		if err != nil {
			m.Err = fmt.Errorf("move %d: the VPN did not recover: %w", i, err)
		}
		m.Elapsed = time.Since(start)
		time.Sleep(dwell)
		h := p.Measure(at, p.Now()-5*p.Interval)
		m.Gap, m.Lost = h.Gap, h.Lost
		m.SA, m.SameSA, m.SameIKE = sa, sa.Same(v.SA), sa.SameIKE(v.SA)
		if !m.SameSA {
			m.Diff = sa.Diff(v.SA)
		}
		out = append(out, m)
		if progress != nil {
			progress(m)
		}
	}
	return out
}

// StartIHA starts the internal home agent in the enterprise: the internal
// home network on its TUN, the intranet as its trusted networks (RFC 5265
// §3.1, §4.3), UDP tunnelling allowed on request.
func (r *Roaming) StartIHA() (*lab.Proc, error) {
	f := &uci.File{}
	section(f, "mip4d", "globals", "role", "ha", "log_level", "debug",
		"state_dir", r.L.Dir()+"/iha-state", "control_socket", r.Socket("iha"))
	s := section(f, "homeagent", "homeagent", "address", IHA.String(), "home_network", IHomeNet.String(),
		"max_lifetime", "600", "keepalive", fmt.Sprint(r.Keepalive), "force_udp", "1")
	_ = s.AddList("trusted_network", Intranet.String())
	section(f, "mobile_node", "", "nai", mnNAI, "home_address", IHoA.String(), "spi", labSPI, "key", labKey)
	cfg, err := r.writeConfig("iha", f)
	if err != nil {
		return nil, err
	}
	p, err := r.L.Start("iha", "iha", r.Bin, "run", "--config", cfg)
	if err != nil {
		return nil, err
	}
	r.IHAProc = p
	return p, r.waitSocket("iha", p)
}

// MoveInside attaches the node to the enterprise's own hotspot (hs3).
func (r *Roaming) MoveInside() error {
	var cmds []string
	if r.At != 0 {
		old := fmt.Sprintf("hs%d", r.At)
		cmds = append(cmds, "addr flush dev "+old, "link set "+old+" down")
	}
	cmds = append(cmds, "link set hs3 up")
	if err := r.L.IPBatch("mn", cmds...); err != nil {
		return err
	}
	if err := r.waitLinkUp("vpngw", "lan3"); err != nil {
		return err
	}
	if err := r.L.IPBatch("mn", "addr add "+InsideCoA.String()+"/24 dev hs3",
		"route replace default via "+InsideGW.String()+" dev hs3"); err != nil {
		return err
	}
	r.At = 3
	return nil
}
