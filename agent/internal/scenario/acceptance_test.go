package scenario

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/internal/vpn"
)

func newAcceptance(t *testing.T) *Roaming {
	t.Helper()
	vpn.Require(t)
	l := lab.ForTest(t)
	r, err := BuildAcceptance(l, mip4d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(r.Logs())
		}
	})
	return r
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
	p, err := StartProbe(r.L, "mn", "cn", Corp, 7007, 10*time.Millisecond)
	must(t, err)
	defer p.Stop()
	s, err := StartStream(r.L, "mn", "cn", Corp, 7008, 20*time.Millisecond)
	must(t, err)
	defer s.Stop()
	time.Sleep(500 * time.Millisecond)
	moves := r.VPNHandoffs(v, p, 10, 500*time.Millisecond, true, nil)
	for _, m := range moves {
		t.Logf("move %2d hs%d->hs%d care-of %v NAT %v: gap %v, lost %d, IKE SA #%d (same: %v)", m.N, m.From, m.To, m.CareOf, m.NAT,
			m.Gap.Round(time.Millisecond), m.Lost, m.SA.UniqueID, m.SameSA)
		if m.Err != nil {
			t.Fatal(m.Err)
		}
		if !m.SameSA {
			t.Fatalf("move %d renegotiated the VPN: %s", m.N, m.Diff)
		}
	}
	if st := vpn.Stats(v.Client.Log()); st.IKEInitiated != 1 || st.IKERekeyed != 0 || st.Reauth != 0 {
		t.Fatalf("IKE activity during the moves: %+v", st)
	}
	before := s.Received()
	time.Sleep(300 * time.Millisecond)
	if err := s.Err(); err != nil {
		t.Fatalf("the TCP connection inside the VPN broke: %v", err)
	}
	if s.Received() <= before {
		t.Fatal("the TCP connection inside the VPN stalled")
	}
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
// outside → inside → outside. Outside, its VPN runs over the x-home
// address and i-MIP runs through the VPN; inside, i-MIP runs directly and
// the VPN is down. A session addressed to the i-home address survives
// every move.
func TestS3Principal(t *testing.T) {
	r := newAcceptance(t)
	r.Dual = true
	must(t, r.MoveTo(1))
	must(t, r.StartHA())
	_, err := r.StartIHA()
	must(t, err)
	gw, err := vpn.StartGateway(r.L, "vpngw", vpn.GatewayConfig{Intranet: []netip.Prefix{Intranet}, Pool: VPNPool})
	must(t, err)
	_ = gw
	client, err := vpn.StartClient(r.L, "mn", vpn.ClientConfig{Gateway: VPNGW, Intranet: []netip.Prefix{Intranet}, LocalAddr: HoA, NoRoamEvents: true})
	must(t, err)
	r.VPNURI = client.URI()
	must(t, r.StartMN())

	type mnStatus struct {
		MN struct {
			Location   string     `json:"location"`
			VPNAddress netip.Addr `json:"vpn_address"`
			Internal   struct {
				Registration MNState `json:"registration"`
			} `json:"internal"`
		} `json:"mn"`
	}
	waitLocation := func(where string, icoa func(netip.Addr) bool) mnStatus {
		t.Helper()
		var s mnStatus
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			s = mnStatus{}
			if r.Control("mn", "status", &s) == nil && s.MN.Location == where && s.MN.Internal.Registration.State == "registered" &&
				icoa(s.MN.Internal.Registration.CareOf) {
				return s
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("not %s with i-MIP registered: %+v\n%s", where, s, r.Logs())
		return s
	}
	inVPN := func(a netip.Addr) bool { return VPNPool.Contains(a) }
	s := waitLocation("outside", inVPN)
	t.Logf("outside on hs1: VPN address %v is the i-MIP care-of address", s.MN.VPNAddress)
	sa0, err := client.SA()
	must(t, err)

	p, err := StartProbeFrom(r.L, "mn", IHoA, "cn", Corp, 7007, 10*time.Millisecond)
	must(t, err)
	defer p.Stop()
	st, err := StartStreamFrom(r.L, "mn", IHoA, "cn", Corp, 7008, 20*time.Millisecond)
	must(t, err)
	defer st.Stop()
	time.Sleep(500 * time.Millisecond)

	step := func(name string, move func() error, where string, icoa func(netip.Addr) bool) {
		t.Helper()
		at := p.Now()
		must(t, move())
		waitLocation(where, icoa)
		time.Sleep(700 * time.Millisecond)
		h := p.Measure(at, p.Now()-100*time.Millisecond)
		if !h.Recovered {
			t.Fatalf("%s: the session to the i-home address did not resume", name)
		}
		t.Logf("%s: %s, gap %v, %d probes lost", name, where, h.Gap.Round(time.Millisecond), h.Lost)
	}
	step("hs1 -> hs2", func() error { return r.MoveTo(2) }, "outside", inVPN)
	if sa, err := client.SA(); err != nil || !sa.Same(sa0) {
		t.Fatalf("an outside move renegotiated the VPN: %v %s", err, sa.Diff(sa0))
	}
	step("hs2 -> inside", r.MoveInside, "inside", func(a netip.Addr) bool { return a == InsideCoA })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		sas, err := client.SAs()
		if err == nil && len(sas) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the VPN is still up inside: %v %v", sas, err)
		}
	}
	step("inside -> hs1", func() error { return r.MoveTo(1) }, "outside", inVPN)
	if err := st.Err(); err != nil {
		t.Fatalf("the session to the i-home address broke: %v", err)
	}
	before := st.Received()
	time.Sleep(300 * time.Millisecond)
	if st.Received() <= before {
		t.Fatal("the session to the i-home address stalled")
	}
}
