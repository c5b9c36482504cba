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
	// Same says it is the session the tunnel started with, at the same
	// place: nothing that identifies it changed, no new one was set up,
	// and the gateway sees the client at the same address and port.
	Same bool
	// Kept says it is the session the tunnel started with, wherever the
	// gateway now sees the client (a baseline VPN that follows its
	// client keeps the session but is not Same).
	Kept bool
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
		m.record(t, s, err)
		out = append(out, m)
		if progress != nil {
			progress(m)
		}
	}
	return out
}

func (m *TunnelMove) record(t vpn.Tunnel, s vpn.Session, err error) {
	m.Session = s
	m.Diff = t.First().Diff(s)
	m.Same = err == nil && m.Diff == ""
	m.Kept = err == nil && t.First().Kept(s)
}

// StartBaselineTunnel starts the VPN of kind without mip4d: the laptop on
// hs1 (behind nat1), the client running from whatever address it has
// (OpenVPN unbound, strongSwan without MOBIKE) — the baselines.
func (r *Roaming) StartBaselineTunnel(kind vpn.Kind) (vpn.Tunnel, error) {
	if r.At != 1 {
		if err := r.MoveTo(1); err != nil {
			return nil, err
		}
	}
	t, err := vpn.Open(r.L, kind, vpn.TunnelConfig{
		GatewayNS: "vpngw", ClientNS: "mn", Gateway: VPNGW,
		Intranet: []netip.Prefix{Intranet}, Pool: VPNPool,
	})
	if err != nil {
		return nil, fmt.Errorf("VPN %s: %w", kind, err)
	}
	return t, nil
}

// TunnelBaseline makes the same moves without mip4d, the VPN t started
// by StartBaselineTunnel. With reestablish, the VPN is set up again after
// each move (t.Reestablish), as a VPN without mobility support must;
// without, it is left to cope by itself: OpenVPN's server floats to the
// client's new address, keeping the session (Kept, not Same); strongSwan
// without MOBIKE does not recover; wireguard-go 0.0.20220316 keeps
// sending from the address the laptop lost (its "sticky" source address:
// "Failed to send data packet: network is unreachable") until its
// handshake retry 15 s later ("stopped hearing back after 15 seconds")
// sends from the new one: a gap of about 15 s and a new handshake, after
// which its gateway follows it.
func (r *Roaming) TunnelBaseline(t vpn.Tunnel, p *Probe, n int, dwell time.Duration, reestablish bool, progress func(TunnelMove)) []TunnelMove {
	var out []TunnelMove
	for i := 1; i <= n; i++ {
		to := 3 - r.At
		m := TunnelMove{MoveResult: MoveResult{N: i, From: r.At, To: to, CareOf: CoAs[to]}, Kind: t.Kind()}
		at := p.Now()
		start := time.Now()
		if err := r.MoveTo(to); err != nil {
			m.Err = err
			out = append(out, m)
			break
		}
		if reestablish {
			if _, err := t.Reestablish(); err != nil {
				m.Err = fmt.Errorf("move %d: %s: %w", i, t.Kind(), err)
			}
		}
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
		m.NAT = s.Peer
		m.record(t, s, err)
		out = append(out, m)
		if progress != nil {
			progress(m)
		}
	}
	return out
}
