package scenario

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/vpn"
)

func newAcceptance(t *testing.T) *Roaming {
	t.Helper()
	vpn.Require(t)
	return labRoaming(t, BuildAcceptance)
}

// TestS1Colocated is scenario S1 (RFC 4093 §2.4 and §4.1): the laptop has a
// co-located care-of address behind the hotspots' NATs; its unmodified VPN
// client runs over the x-home address that mip4d keeps stable. Ten moves:
// the IKE SA and the CHILD SA never change, a TCP connection inside the VPN
// survives, and every move's gap and loss are reported.
func TestS1Colocated(t *testing.T) {
	r := newAcceptance(t)
	must(t, r.MoveTo(1))
	must(t, r.StartHA())
	must(t, r.StartMN())
	_, err := r.WaitRegistered(CoAs[1], 10*time.Second)
	must(t, err)
	v, err := r.StartVPN(HoA, false)
	must(t, err)
	t.Logf("VPN up: virtual IP %v, %v", v.VIP, v.SA)
	if v.SA.LocalHost != HoA {
		t.Fatalf("the VPN runs from %s, not from the x-home address %v", v.SA.LocalHost, HoA)
	}
	vpnMoves(t, r, v, 10, func() {})
	checkDataPlane(t, r, "ha", "mn")
}

// corpTraffic starts what the VPN scenarios measure, from the laptop to
// the enterprise host through its VPN: a UDP probe every 10 ms and a TCP
// stream every 20 ms; it lets them settle 500 ms. stop ends both.
func corpTraffic(t *testing.T, r *Roaming) (p *Probe, s *Stream, stop func()) {
	t.Helper()
	p, err := StartProbe(r.L, "mn", "cn", Corp, 7007, 10*time.Millisecond)
	must(t, err)
	s, err = StartStream(r.L, "mn", "cn", Corp, 7008, 20*time.Millisecond)
	if err != nil {
		p.Stop()
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	return p, s, func() { s.Stop(); p.Stop() }
}

// vpnMoves is the heart of S1, S2 and S5: a UDP probe and a TCP
// connection to the enterprise host through the VPN, n moves between the
// hotspots, each reported (path, care-of address, the NAT mapping the HA
// saw, gap, loss, registration time, IKE SA); every move keeps the IKE SA
// and the CHILD SA, the client saw no IKE exchange but the first, and the
// TCP connection survives. after runs once the moves are done, before
// the last checks.
func vpnMoves(t *testing.T, r *Roaming, v *VPN, n int, after func()) {
	t.Helper()
	p, s, stop := corpTraffic(t, r)
	defer stop()
	for _, m := range r.VPNHandoffs(v, p, n, 500*time.Millisecond, true, nil) {
		t.Logf("move %2d hs%d->hs%d care-of %v NAT %v: gap %v, lost %d, registered in %v, IKE SA #%d (same: %v)", m.N, m.From, m.To,
			m.CareOf, m.NAT, m.Gap.Round(time.Millisecond), m.Lost, m.Elapsed.Round(time.Millisecond), m.SA.UniqueID, m.SameSA)
		if m.Err != nil {
			t.Fatal(m.Err)
		}
		if !m.SameSA {
			t.Fatalf("move %d renegotiated the VPN: %s", m.N, m.Diff)
		}
	}
	after()
	if st := vpn.Stats(v.Client.Log()); st.IKEInitiated != 1 || st.IKERekeyed != 0 || st.Reauth != 0 {
		t.Fatalf("IKE activity during the moves: %+v", st)
	}
	must(t, s.Alive("the TCP connection inside the VPN"))
}

// TestBaselines moves the laptop without mip4d, its VPN client bound to the
// hotspot address: with MOBIKE the IKE SA survives (the CHILD SA is
// rekeyed); without it every move costs a new IKE SA. These are the rows
// mip4d's figures are compared with.
func TestBaselines(t *testing.T) {
	for _, mobike := range []bool{true, false} {
		name := map[bool]string{true: "mobike", false: "reestablish"}[mobike]
		t.Run(name, func(t *testing.T) {
			r := newAcceptance(t)
			must(t, r.MoveTo(1))
			v, err := r.StartVPN(netip.Addr{}, mobike)
			must(t, err)
			p, err := StartProbe(r.L, "mn", "cn", Corp, 7007, 10*time.Millisecond)
			must(t, err)
			defer p.Stop()
			time.Sleep(300 * time.Millisecond)
			for _, m := range r.Baseline(v, p, 3, 500*time.Millisecond, mobike, nil) {
				t.Logf("move %d hs%d->hs%d: gap %v, lost %d, IKE SA #%d same IKE %v same CHILD %v", m.N, m.From, m.To,
					m.Gap.Round(time.Millisecond), m.Lost, m.SA.UniqueID, m.SameIKE, m.SameSA)
				if m.Err != nil {
					t.Fatal(m.Err)
				}
				if mobike && !m.SameIKE {
					t.Fatalf("MOBIKE lost the IKE SA: %s", m.Diff)
				}
				if !mobike && m.SameIKE {
					t.Fatal("without MOBIKE the IKE SA cannot survive an address change")
				}
			}
		})
	}
}

// TestS3Principal is scenario S3 (RFC 4093 §2.1, the principal one): an
// x-HA on the Internet and an i-HA inside; the laptop goes outside →
// outside → inside → outside, twice round. Outside, its VPN runs over the
// x-home address and i-MIP runs through it; inside, i-MIP runs directly
// and the VPN is down. A UDP probe and a TCP connection addressed to the
// i-home address survive every move.
func TestS3Principal(t *testing.T) {
	r := newAcceptance(t)
	s3, err := r.StartS3()
	must(t, err)
	t.Logf("outside on hs1: IKE SA #%d, i-MIP through the VPN", s3.SA.UniqueID)
	p, err := StartProbeFrom(r.L, "mn", IHoA, "cn", Corp, 7007, 10*time.Millisecond)
	must(t, err)
	defer p.Stop()
	st, err := StartStreamFrom(r.L, "mn", IHoA, "cn", Corp, 7008, 20*time.Millisecond)
	must(t, err)
	defer st.Stop()
	time.Sleep(500 * time.Millisecond)

	for _, m := range s3.Moves(p, 6, 700*time.Millisecond, nil) {
		if m.Err != nil {
			t.Fatalf("%v\n%s", m.Err, r.Logs())
		}
		t.Logf("move %d hs%d -> hs%d: %s, i-MIP care-of %v, gap %v, %d probes lost, VPN %s #%d",
			m.N, m.From, m.To, m.Location, m.ICareOf, m.Gap.Round(time.Millisecond), m.Lost, m.VPN, m.SA.UniqueID)
		// 10 ms probes: a move that costs more than half a second of
		// them has broken something, even if the stream came back.
		if m.Lost > 50 {
			t.Fatalf("move %d lost %d probes (%v without an echo)\n%s", m.N, m.Lost, m.Gap, r.Logs())
		}
	}
	must(t, st.Alive("the session to the i-home address"))
}
