package proxy

import (
	"net/netip"
	"time"
)

// Status is a snapshot for the control socket and the LuCI page. It never
// holds a key.
type Status struct {
	HomeAgent netip.Addr     `json:"home_agent"`
	CareOf    netip.Addr     `json:"care_of,omitzero"`
	Clients   []ClientStatus `json:"clients"`
	// Refused is the home agent's 149/150 when it refused proxy
	// registrations (RFC 5563 §8.1); nothing is sent to it after that.
	Refused string `json:"refused_by_home_agent,omitempty"`
}

// ClientStatus is one proxied client.
type ClientStatus struct {
	MAC      MAC        `json:"mac"`
	NAI      string     `json:"nai"`
	Guest    bool       `json:"guest,omitempty"`
	HomeAddr netip.Addr `json:"home_addr,omitzero"`
	State    string     `json:"state"`
	// BoundSince is when the current binding was first granted;
	// BindingAge and LifetimeLeft are seconds.
	BoundSince   time.Time      `json:"bound_since,omitzero"`
	BindingAge   int64          `json:"binding_age"`
	Lifetime     uint16         `json:"lifetime"`
	LifetimeLeft int64          `json:"lifetime_left"`
	UDP          bool           `json:"udp_tunnel"`
	Keepalive    int64          `json:"keepalive,omitempty"`
	Revocable    bool           `json:"revocable,omitempty"`
	LastReply    string         `json:"last_reply,omitempty"`
	Counters     ClientCounters `json:"counters"`
}

// Status reports the client table at now, sorted by MAC.
func (e *Engine) Status(now time.Time) Status {
	s := Status{HomeAgent: e.cfg.HomeAgent, CareOf: e.cfg.CareOf, Clients: []ClientStatus{}}
	if e.refused != 0 {
		s.Refused = e.refused.String()
	}
	for _, c := range e.sorted() {
		cs := ClientStatus{MAC: c.mac, NAI: c.nai, Guest: c.guest, HomeAddr: c.hoa, State: c.state.String(),
			UDP: c.udp, Keepalive: int64(c.keepalive / time.Second), Revocable: c.revocable, Counters: c.stats}
		if c.state.holdsBinding() {
			cs.BoundSince = c.boundAt
			cs.BindingAge = int64(now.Sub(c.boundAt) / time.Second)
			cs.Lifetime = c.granted
			cs.LifetimeLeft = max(0, int64(c.expires.Sub(now)/time.Second))
		}
		if c.replied {
			cs.LastReply = c.lastCode.String()
		}
		s.Clients = append(s.Clients, cs)
	}
	return s
}
