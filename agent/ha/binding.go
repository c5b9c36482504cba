package ha

import (
	"errors"
	"net/netip"
	"time"
)

// Encap is the encapsulation used toward a care-of address.
type Encap uint8

const (
	EncapIPIP    Encap = iota // RFC 2003, the default
	EncapGRE                  // RFC 2784 (G bit)
	EncapMinimal              // RFC 2004 (M bit)
)

// MarshalText writes the encapsulation's name in state and status files.
func (e Encap) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText reads a name written by MarshalText.
func (e *Encap) UnmarshalText(b []byte) error {
	switch string(b) {
	case "ipip":
		*e = EncapIPIP
	case "gre":
		*e = EncapGRE
	case "minimal":
		*e = EncapMinimal
	default:
		return errors.New("ha: unknown encapsulation " + string(b))
	}
	return nil
}

func (e Encap) String() string {
	switch e {
	case EncapGRE:
		return "gre"
	case EncapMinimal:
		return "minimal"
	}
	return "ipip"
}

// Proto is the IP protocol number of the encapsulation, as used in the
// RFC 3519 Next Header field.
func (e Encap) Proto() uint8 {
	switch e {
	case EncapGRE:
		return 47
	case EncapMinimal:
		return 55
	}
	return 4
}

// Binding is one mobility binding (RFC 5944 §3.8.1): a home address, a
// care-of address and a lifetime, plus what the data plane needs to tunnel
// to it and to check what comes back.
type Binding struct {
	HomeAddr netip.Addr `json:"home_addr"`
	// CareOf is the Care-of Address field of the request.
	CareOf netip.Addr `json:"care_of"`
	NAI    string     `json:"nai,omitempty"`
	// Endpoint is where tunnelled packets go and where reverse-tunnelled
	// packets must come from: the care-of address, or with RFC 3519 the
	// request's observed source address and port (the NAT mapping).
	Endpoint netip.AddrPort `json:"endpoint"`
	// UDP says the tunnel is RFC 3519 MIP UDP tunnelling (port 434, Tunnel
	// Data header with Next Header = Encap.Proto()).
	UDP   bool  `json:"udp,omitempty"`
	Encap Encap `json:"encap"`
	// GREKey is the key of RFC 6245 when the request carried one.
	GREKey    uint32 `json:"gre_key,omitempty"`
	HasGREKey bool   `json:"has_gre_key,omitempty"`
	// ReverseTunnel is the T bit (RFC 3024).
	ReverseTunnel bool `json:"reverse_tunnel,omitempty"`
	// FA is the address of the foreign agent (or proxy) that relayed the
	// request; invalid when the mobile node registered a co-located
	// care-of address itself.
	FA netip.Addr `json:"fa,omitzero"`
	// FAEndpoint is where the agent's requests came from (its NAT mapping
	// when it is behind one): revocations go there.
	FAEndpoint netip.AddrPort `json:"fa_endpoint,omitzero"`
	// Revocable says the FA announced RFC 3543 revocation support.
	Revocable bool `json:"revocable,omitempty"`
	// ID is the Identification of the accepted request, to recognise
	// retransmissions (RFC 5944 §3.8.2.2 "duplicates").
	ID         uint64    `json:"id"`
	Lifetime   uint16    `json:"lifetime"` // granted, seconds
	Registered time.Time `json:"registered"`
	Expires    time.Time `json:"expires"`
}

// Infinite reports a lifetime of 0xffff (RFC 5944 §3.3).
func (b *Binding) Infinite() bool { return b.Lifetime == 0xffff }

// Remaining is the lifetime left at now, in whole seconds.
func (b *Binding) Remaining(now time.Time) uint16 {
	if b.Infinite() {
		return 0xffff
	}
	d := b.Expires.Sub(now)
	if d <= 0 {
		return 0
	}
	return uint16((d + time.Second - 1) / time.Second)
}

// EventKind says what happened to a binding. A binding is identified by
// its (home address, care-of address) pair: a mobile node that moves to a
// new care-of address produces BindingRemoved for the old pair and
// BindingAdded for the new one, in that order, in one Result.
type EventKind uint8

const (
	BindingAdded   EventKind = iota // a new (home address, care-of address) binding
	BindingMoved                    // same care-of address, new tunnel endpoint or parameters (e.g. a NAT rebinding)
	BindingRenewed                  // same everything, new lifetime
	BindingRemoved                  // deregistered, expired or replaced
)

func (k EventKind) String() string {
	return [...]string{"added", "moved", "renewed", "removed"}[k]
}

// Event tells the daemon to change the data plane and routes.
type Event struct {
	Kind    EventKind
	Binding Binding // a copy, as it is (or was, for BindingRemoved)
	Reason  string  // for BindingRemoved: "deregistered", "expired", "replaced"
}
