package scenario

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/internal/vpn"
)

// More than one VPN vendor (RFC 4093 §5.4: interoperability between
// vendors; §5.1: the VPN unmodified). The acceptance lab of S1 with the
// laptop's VPN any of vpn.Kinds — strongSwan, OpenVPN, WireGuard — each
// run over the x-home address that mip4d keeps, and moved the same way:
// the same moves, the same probes, the same table, and for each VPN its
// own proof that the session is the one it started with (vpn.Session).

// StartTunnel starts the enterprise's VPN of kind in the acceptance lab:
// its gateway in vpngw (192.0.2.1), the laptop's client in mn running
// from the x-home address (HoA), the intranet 10.20.0.0/16 behind it and
// the laptop's inner address from VPNPool. mip4d's mobile node must be
// registered first (the home address is on its TUN device then).
func (r *Roaming) StartTunnel(kind vpn.Kind) (vpn.Tunnel, error) {
	t, err := vpn.Open(r.L, kind, vpn.TunnelConfig{
		GatewayNS: "vpngw", ClientNS: "mn", Gateway: VPNGW,
		Intranet: []netip.Prefix{Intranet}, Pool: VPNPool, LocalAddr: HoA,
	})
	if err != nil {
		return nil, fmt.Errorf("VPN %s: %w", kind, err)
	}
	return t, nil
}

// StartS1Tunnel is S1 up to the VPN, with the VPN of kind: the laptop on
// hs1 (behind nat1), the home agent and the mobile node started, the node
// registered, then StartTunnel. The demo and the tests start from here.
func (r *Roaming) StartS1Tunnel(kind vpn.Kind) (vpn.Tunnel, error) {
	if r.At != 1 {
		if err := r.MoveTo(1); err != nil {
			return nil, err
		}
	}
	if err := r.StartHA(); err != nil {
		return nil, err
	}
	if err := r.StartMN(); err != nil {
		return nil, err
	}
	if _, err := r.WaitRegistered(CoAs[1], 10*time.Second); err != nil {
		return nil, err
	}
	return r.StartTunnel(kind)
}

// TunnelMove is one handoff as the VPN saw it.
type TunnelMove struct {
	MoveResult
	Kind vpn.Kind
	// Session is the VPN's session after the move.
	Session vpn.Session
	// Same says it is the session the tunnel started with: nothing that
	// identifies it changed and no new one was set up.
	Same bool
	// Diff is what changed, if anything.
	Diff string
}

// TunnelHandoffs moves the node n times between the hotspots while p's
// probes run through the VPN t (and, typically, a Stream beside them):
// each move waits for the home agent's new binding, dwells, measures the
// gap and the loss, and reads the VPN's session, compared with the one t
// started with. progress, if not nil, is called after each move.
func (r *Roaming) TunnelHandoffs(t vpn.Tunnel, p *Probe, n int, dwell time.Duration, progress func(TunnelMove)) []TunnelMove {
	var out []TunnelMove
	for i := 1; i <= n; i++ {
		to := 3 - r.At
		m := TunnelMove{MoveResult: MoveResult{N: i, From: r.At, To: to, CareOf: r.CareOfAt(to)}, Kind: t.Kind()}
		at := p.Now()
		start := time.Now()
		if err := r.MoveTo(to); err != nil {
			m.Err = err
			out = append(out, m)
			break
		}
		b, err := r.WaitBinding(r.CareOfAt(to), false, 10*time.Second)
		if err != nil {
			m.Err = fmt.Errorf("move %d: %w", i, err)
		}
		m.NAT = b.Endpoint
		m.Elapsed = time.Since(start)
		time.Sleep(dwell)
		h := p.Measure(at, p.Now()-5*p.Interval)
		m.Gap, m.Lost = h.Gap, h.Lost
		if !h.Recovered && m.Err == nil {
			m.Err = fmt.Errorf("move %d: traffic through %s did not resume", i, t.Kind())
		}
		s, err := t.Session()
		if err != nil && m.Err == nil {
			m.Err = fmt.Errorf("move %d: %s: %w", i, t.Kind(), err)
		}
		m.Session = s
		m.Diff = t.First().Diff(s)
		m.Same = err == nil && m.Diff == ""
		out = append(out, m)
		if progress != nil {
			progress(m)
		}
	}
	return out
}
