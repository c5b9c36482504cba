package proxy

import (
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
)

// Saved is what the proxy keeps of its clients across a restart of the
// daemon: the bindings the home agent holds for them through this proxy.
// The laptops do not know the proxy restarted — their DHCP leases run on —
// so a proxy that forgot them would leave them cut off until their next
// DHCP renewal. No key is in it: keys come from the configuration.
type Saved struct {
	CareOf netip.Addr `json:"care_of"`
	// LastRevocationID is the revocation replay state (RFC 3543 §3.5).
	LastRevocationID uint32        `json:"last_revocation_id,omitempty"`
	HaveRevocationID bool          `json:"have_revocation_id,omitempty"`
	Clients          []SavedClient `json:"clients"`
}

// SavedClient is one client's binding.
type SavedClient struct {
	MAC       MAC           `json:"mac"`
	NAI       string        `json:"nai"`
	HomeAddr  netip.Addr    `json:"home_addr"`
	Lifetime  uint16        `json:"lifetime"`
	BoundAt   time.Time     `json:"bound_at"`
	HeldSince time.Time     `json:"held_since"`
	Expires   time.Time     `json:"expires"`
	UDP       bool          `json:"udp,omitempty"`
	Keepalive time.Duration `json:"keepalive,omitempty"`
	Revocable bool          `json:"revocable,omitempty"`
	RevStamp  uint32        `json:"revocation_stamp,omitempty"`
}

// Save returns the bindings this proxy holds, in MAC order.
func (e *Engine) Save() Saved {
	s := Saved{CareOf: e.cfg.CareOf, LastRevocationID: e.lastRevID, HaveRevocationID: e.haveRevID, Clients: []SavedClient{}}
	for _, c := range e.sorted() {
		if !c.state.holdsBinding() {
			continue
		}
		s.Clients = append(s.Clients, SavedClient{MAC: c.mac, NAI: c.nai, HomeAddr: c.hoa, Lifetime: c.granted,
			BoundAt: c.boundAt, HeldSince: c.heldSince, Expires: c.expires, UDP: c.udp, Keepalive: c.keepalive,
			Revocable: c.revocable, RevStamp: c.revStamp})
	}
	return s
}

// Restore takes back the bindings a previous run saved, at start, before
// anything else reaches the engine. A binding is taken back only if it
// has not run out, was made from this care-of address, and its MAC still
// maps to the same NAI under the configuration now in force. Each one is
// served at once (a ClientBound event, reason "restored": the home agent
// still tunnels to this proxy) and confirmed at once (RFC 5563 §4.4): a
// client still here is registered again, one gone is released. It returns
// the number of clients restored.
func (e *Engine) Restore(s Saved, now time.Time) (Output, int) {
	var out Output
	if s.CareOf != e.cfg.CareOf {
		return out, 0
	}
	if s.HaveRevocationID {
		e.lastRevID, e.haveRevID = s.LastRevocationID, true
	}
	n := 0
	for _, sc := range s.Clients {
		if e.clients[sc.MAC] != nil || !now.Before(sc.Expires) || !sc.HomeAddr.Is4() || sc.HomeAddr.IsUnspecified() ||
			len(e.clients) >= e.cfg.MaxClients {
			continue
		}
		nai, static, sa, guest, ok := e.identity(sc.MAC)
		if !ok || nai != sc.NAI || static.IsValid() && !static.IsUnspecified() && static != sc.HomeAddr {
			continue
		}
		if guest && e.guests >= e.cfg.MaxGuests {
			continue
		}
		c := &client{mac: sc.MAC, nai: nai, guest: guest, static: static, sa: sa, lastSeen: time.Time{},
			ids: auth.IDGenerator{Method: auth.Timestamps, Rand: e.rand}, state: Bound, hoa: sc.HomeAddr,
			granted: sc.Lifetime, boundAt: sc.BoundAt, heldSince: sc.HeldSince, expires: sc.Expires,
			udp: sc.UDP, keepalive: sc.Keepalive, revocable: sc.Revocable, revStamp: sc.RevStamp, coa: e.cfg.CareOf}
		if c.heldSince.IsZero() {
			c.heldSince = c.boundAt
		}
		e.clients[sc.MAC] = c
		if guest {
			e.guests++
		}
		n++
		out.Events = append(out.Events, e.event(c, ClientBound, "restored"))
		out.merge(e.confirm(c, now))
	}
	return out, n
}
