package scenario

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/internal/vpn"
)

// S3 is the running principal scenario of RFC 4093 §2.1 in the acceptance
// lab (RFC 5265): an x-HA on the Internet, an i-HA inside the enterprise,
// the strongSwan gateway between them, and a laptop in dual mode whose
// VPN client the mobile node drives.
type S3 struct {
	r      *Roaming
	Client *vpn.Client
	// SA is the VPN's SA of the current outside stay (zero inside).
	SA vpn.SA
}

// S3Status is what the mobile node reports about both layers.
type S3Status struct {
	MN struct {
		Location   string     `json:"location"`
		VPNAddress netip.Addr `json:"vpn_address"`
		Internal   struct {
			Registration MNState `json:"registration"`
		} `json:"internal"`
	} `json:"mn"`
}

// S3Move is one move of S3 and what it did to the VPN.
type S3Move struct {
	MoveResult
	Location string     // "inside" or "outside" after the move
	ICareOf  netip.Addr // the i-MIP care-of address: the VPN's inner address outside, the hotspot address inside
	SA       vpn.SA     // the VPN's SA after the move (zero inside)
	// VPN says what happened to the VPN: "same SA" (outside → outside,
	// no renegotiation), "down" (moved inside: no VPN there, by design),
	// "up: new SA" (back outside after being inside).
	VPN string
}

// StartS3 starts both home agents, the VPN gateway and the dual-mode
// mobile node on hs1, and waits until it is outside with i-MIP through
// the VPN.
func (r *Roaming) StartS3() (*S3, error) {
	r.Dual = true
	if r.At == 0 {
		if err := r.MoveTo(1); err != nil {
			return nil, err
		}
	}
	if err := r.StartHA(); err != nil {
		return nil, err
	}
	if _, err := r.StartIHA(); err != nil {
		return nil, err
	}
	if _, err := vpn.StartGateway(r.L, "vpngw", vpn.GatewayConfig{Intranet: []netip.Prefix{Intranet}, Pool: VPNPool}); err != nil {
		return nil, err
	}
	client, err := vpn.StartClient(r.L, "mn", vpn.ClientConfig{Gateway: VPNGW, Intranet: []netip.Prefix{Intranet}, LocalAddr: HoA, NoRoamEvents: true})
	if err != nil {
		return nil, err
	}
	r.VPNURI = client.URI()
	if err := r.StartMN(); err != nil {
		return nil, err
	}
	s := &S3{r: r, Client: client}
	if _, err := s.Wait("outside", 15*time.Second); err != nil {
		return nil, err
	}
	if s.SA, err = client.SA(); err != nil {
		return nil, err
	}
	return s, nil
}

// Wait waits until the node is at where (inside or outside) with i-MIP
// registered through the right path: the VPN's inner address outside,
// the hotspot's own address inside.
func (s *S3) Wait(where string, timeout time.Duration) (S3Status, error) {
	var st S3Status
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		st = S3Status{}
		if s.r.Control("mn", "status", &st) == nil {
			reg := st.MN.Internal.Registration
			path := VPNPool.Contains(reg.CareOf)
			if where == "inside" {
				path = reg.CareOf == InsideCoA
			}
			if st.MN.Location == where && reg.State == "registered" && path {
				return st, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return st, fmt.Errorf("not %s with i-MIP registered: location %q, i-MIP %s via %v", where,
		st.MN.Location, st.MN.Internal.Registration.State, st.MN.Internal.Registration.CareOf)
}

// Move takes the node to access network to (1, 2: the NATed hotspots
// outside; 3: the enterprise's own hotspot inside), waits until i-MIP is
// registered where it should be, dwells, and measures the gap in the
// probes to the i-home address. Outside → outside must keep the VPN's
// SA; inside the VPN must be down.
func (s *S3) Move(p *Probe, n, to int, dwell time.Duration) S3Move {
	r := s.r
	m := S3Move{MoveResult: MoveResult{N: n, From: r.At, To: to}}
	fromInside := r.At == 3
	at := p.Now()
	start := time.Now()
	var err error
	if to == 3 {
		err = r.MoveInside()
		m.CareOf, m.Location = InsideCoA, "inside"
	} else {
		err = r.MoveTo(to)
		m.CareOf, m.Location = CoAs[to], "outside"
	}
	if err != nil {
		m.Err = err
		return m
	}
	st, err := s.Wait(m.Location, 15*time.Second)
	m.Elapsed = time.Since(start)
	m.ICareOf = st.MN.Internal.Registration.CareOf
	if err != nil {
		m.Err = fmt.Errorf("move %d to hs%d: %w", n, to, err)
		return m
	}
	time.Sleep(dwell)
	h := p.Measure(at, p.Now()-5*p.Interval)
	m.Gap, m.Lost = h.Gap, h.Lost
	if !h.Recovered {
		m.Err = fmt.Errorf("move %d to hs%d: the session to the i-home address did not resume", n, to)
		return m
	}
	switch {
	case to == 3:
		m.VPN = "down"
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			sas, err := s.Client.SAs()
			if err == nil && len(sas) == 0 {
				break
			}
			if time.Now().After(deadline) {
				m.Err = fmt.Errorf("move %d: the VPN is still up inside: %v %v", n, sas, err)
				return m
			}
		}
		s.SA = vpn.SA{}
	case fromInside:
		m.VPN = "up: new SA"
		m.SA, err = s.Client.SA()
		s.SA = m.SA
	default:
		m.VPN = "same SA"
		m.SA, err = s.Client.SA()
		if err == nil && !m.SA.Same(s.SA) {
			err = fmt.Errorf("an outside move renegotiated the VPN: %s", m.SA.Diff(s.SA))
		}
	}
	if err != nil {
		m.Err = fmt.Errorf("move %d: %w", n, err)
	}
	return m
}

// S3Path is the tour of S3: outside → outside → inside → outside, then
// round again.
func S3Path(i int) int { return [...]int{2, 3, 1}[(i-1)%3] }

// Moves runs n moves along S3Path, stopping at the first failure.
func (s *S3) Moves(p *Probe, n int, dwell time.Duration, progress func(S3Move)) []S3Move {
	return repeat(n, func(i int) S3Move { return s.Move(p, i, S3Path(i), dwell) },
		func(m S3Move) error { return m.Err }, progress)
}
