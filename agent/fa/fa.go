package fa

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/internal/order"
	"github.com/mip4d/mip4d/agent/wire"
)

// Config is the foreign agent's policy.
type Config struct {
	// CareOf is the care-of address this agent offers: the source of the
	// requests it relays and the end of the tunnels from home agents.
	CareOf netip.Addr
	// Addr is the agent's address on the visitor link: the source of its
	// advertisements and the mobile nodes' router.
	Addr netip.Addr
	// LinkPrefix is the prefix length of Addr on the link (the
	// Prefix-Lengths extension, RFC 5944 §2.1.2).
	LinkPrefix int
	// Local are all of this agent's own addresses: a request naming one
	// of them as home agent is denied with 194 (RFC 5944 §3.7.2).
	Local []netip.Addr
	// MaxLifetime is the longest registration lifetime accepted (69 if
	// asked for more); it is advertised.
	MaxLifetime uint16
	// AdvLifetime is the ICMP advertisement lifetime, seconds.
	AdvLifetime uint16
	// ReverseTunnel offers RFC 3024 reverse tunnelling (T);
	// ReverseTunnelRequired denies requests without it (75), which RFC
	// 3519 §4.5 recommends behind a NAT.
	ReverseTunnel         bool
	ReverseTunnelRequired bool
	// GRE offers GRE encapsulation (G).
	GRE bool
	// BehindNAT makes the agent ask its home agents for RFC 3519 UDP
	// tunnelling (U in advertisements, extension 144 in relayed requests).
	BehindNAT bool
	// Revocation offers RFC 3543 revocation (X).
	Revocation bool
	// RegistrationRequired sets R: co-located nodes must register through
	// this agent too.
	RegistrationRequired bool
	// Challenges turns on RFC 4721 challenges in advertisements and
	// replies.
	Challenges bool
	// MaxVisitors bounds the visitor list (66 when full; B advertised).
	MaxVisitors int
	// MaxPending bounds pending requests per mobile node (66).
	MaxPending int
	// PendingTimeout is how long a relayed request may wait for its
	// reply before the node is told 78 (RFC 5944 §3.7.1: 7 s).
	PendingTimeout time.Duration
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case !c.CareOf.Is4():
		return errors.New("fa: the care-of address must be IPv4")
	case !c.Addr.Is4():
		return errors.New("fa: the link address must be IPv4")
	case c.MaxLifetime == 0:
		return errors.New("fa: maximum lifetime must be at least 1 s")
	case c.ReverseTunnelRequired && !c.ReverseTunnel:
		return errors.New("fa: reverse tunnelling cannot be required when it is not offered")
	}
	return nil
}

func (c *Config) defaults() {
	if c.AdvLifetime == 0 {
		c.AdvLifetime = 3 * max(c.MaxLifetime/30, 10) // advertise often enough: interval ≤ lifetime/3
	}
	if c.MaxVisitors <= 0 {
		c.MaxVisitors = 1024
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 5 // RFC 5944 §3.7.1: typically 5
	}
	if c.PendingTimeout <= 0 {
		c.PendingTimeout = 7 * time.Second
	}
	if c.LinkPrefix == 0 {
		c.LinkPrefix = 24
	}
}

// MAC is a link-layer (Ethernet) address.
type MAC [6]byte

func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// MarshalText writes the usual colon form (JSON, logs).
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads the colon form.
func (m *MAC) UnmarshalText(b []byte) error {
	h, err := net.ParseMAC(string(b))
	if err != nil || len(h) != 6 {
		return fmt.Errorf("fa: bad MAC %q", b)
	}
	copy(m[:], h)
	return nil
}

// MACFrom converts a hardware address (invalid lengths give the zero MAC).
func MACFrom(h net.HardwareAddr) MAC {
	var m MAC
	if len(h) == 6 {
		copy(m[:], h)
	}
	return m
}

// Request is a Registration Request as received from a mobile node on
// the link.
type Request struct {
	Src  netip.AddrPort // IP source (home address or 0.0.0.0, or a co-located CoA) and UDP port
	Dst  netip.Addr     // IP destination (this agent, or a multicast/broadcast address)
	TTL  uint8          // IP TTL as received (RFC 3024 §4.2.1: must be 255)
	MAC  MAC            // link-layer source
	Data []byte
}

// Packet is a message to send.
type Packet struct {
	Src, Dst netip.AddrPort
	// MAC, for packets to a mobile node, is its link-layer address: the
	// daemon delivers without ARP (RFC 5944 §4.6).
	MAC  MAC
	Data []byte
}

// Visitor is one visitor list entry (RFC 5944 §3.7.1).
type Visitor struct {
	MAC       MAC            `json:"mac"`
	HomeAddr  netip.Addr     `json:"home_addr"`
	HomeAgent netip.Addr     `json:"home_agent"`
	NAI       string         `json:"nai,omitempty"`
	Src       netip.AddrPort `json:"src"` // where the node's requests came from
	// Colocated: the node registered a co-located care-of address through
	// this agent (R bit); the agent relays but does not tunnel.
	Colocated bool `json:"colocated,omitempty"`
	// ReverseTunnel is the T bit as granted.
	ReverseTunnel bool `json:"reverse_tunnel,omitempty"`
	// UDP: the home agent accepted RFC 3519 tunnelling with this agent.
	UDP       bool          `json:"udp,omitempty"`
	Keepalive time.Duration `json:"keepalive,omitempty"`
	GRE       bool          `json:"gre,omitempty"`
	// Revocable: revocation support was negotiated with the home agent;
	// RevStamp is the timestamp of the home agent's Revocation Support
	// extension, which any revocation of this registration must not
	// precede (RFC 3543 §4.2.2.2).
	Revocable bool      `json:"revocable,omitempty"`
	RevStamp  uint32    `json:"-"`
	ID        uint64    `json:"id"`
	Lifetime  uint16    `json:"lifetime"`
	Since     time.Time `json:"since"`
	Expires   time.Time `json:"expires"`
}

// Key identifies a visitor: RFC 5265 §3.5 parallel registrations differ
// only in their home agent.
type Key struct {
	MAC       MAC
	HomeAddr  netip.Addr
	HomeAgent netip.Addr
}

func (v *Visitor) key() Key { return Key{v.MAC, v.HomeAddr, v.HomeAgent} }

// EventKind says what happened to a visitor.
type EventKind uint8

const (
	VisitorAdded EventKind = iota
	VisitorUpdated
	VisitorRemoved
)

func (k EventKind) String() string { return [...]string{"added", "updated", "removed"}[k] }

// Event tells the daemon to change delivery (neighbour entry, route) and
// the data plane (reverse tunnel toward the home agent).
type Event struct {
	Kind    EventKind
	Visitor Visitor
	Reason  string
}

// Result is what one call decided.
type Result struct {
	Send   []Packet
	Events []Event
	Code   wire.Code // for requests: the denial code sent, or 0 when relayed
	Drop   Drop
}

type pending struct {
	req       Request
	mnSA      *auth.SA // MN-FA SA, to sign the reply
	hoa       netip.Addr
	nai       string
	ha        netip.Addr
	id        uint64
	lifetime  uint16
	flags     wire.RequestFlags
	colocated bool
	sentAt    time.Time
	udpAsked  bool
	revAsked  bool
}

// Engine is a foreign agent. Not safe for concurrent use.
type Engine struct {
	cfg        Config
	sas        *auth.Store
	rand       io.Reader
	seq        uint16
	advertised bool
	visitors   map[Key]*Visitor
	pending    []*pending
	challenges auth.Challenges
	lastDeny   map[netip.AddrPort]time.Time // 1 denial/s per node (RFC 5944 §3.7.2)
	revIDs     map[netip.Addr]uint32        // last revocation identifier per home agent
	Counters   Counters
}

// New returns a foreign agent. sas holds MN-FA SAs (peer: the node's home
// address or NAI) and FA-HA SAs (peer: the home agent's address).
func New(cfg Config, sas *auth.Store, rand io.Reader) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	if sas == nil {
		sas = auth.NewStore()
	}
	e := &Engine{cfg: cfg, sas: sas, rand: rand, visitors: map[Key]*Visitor{},
		lastDeny: map[netip.AddrPort]time.Time{}, revIDs: map[netip.Addr]uint32{}}
	e.challenges.Rand = rand
	return e, nil
}

// Config returns the configuration in use (with defaults filled in).
func (e *Engine) Config() Config { return e.cfg }

// advFlags are the Mobility Agent Advertisement flags (RFC 5944 §2.1.1).
func (e *Engine) advFlags() wire.AdvFlags {
	f := wire.AdvF
	if len(e.visitors) >= e.cfg.MaxVisitors {
		f |= wire.AdvB
	}
	if e.cfg.RegistrationRequired {
		f |= wire.AdvR
	}
	if e.cfg.GRE {
		f |= wire.AdvG
	}
	if e.cfg.ReverseTunnel {
		f |= wire.AdvT
	}
	if e.cfg.BehindNAT {
		f |= wire.AdvU
	}
	if e.cfg.Revocation {
		f |= wire.AdvX
	}
	return f
}

// Advertisement returns the next Agent Advertisement (an ICMP message).
// mn, if valid, is the node a unicast advertisement answers (a
// Solicitation): its challenge is remembered for that node.
func (e *Engine) Advertisement(mn netip.AddrPort) []byte {
	if e.advertised {
		e.seq = wire.NextAdvSequence(e.seq) // §2.3.2: 0 first, 0xffff → 256
	}
	e.advertised = true
	m := wire.AgentAdvertisement{
		Lifetime: e.cfg.AdvLifetime,
		Routers:  []wire.RouterAddress{{Addr: e.cfg.Addr}},
		Extensions: []wire.Extension{
			&wire.MobilityAgentAdv{Sequence: e.seq, RegLifetime: e.cfg.MaxLifetime, Flags: e.advFlags(),
				CareOf: []netip.Addr{e.cfg.CareOf}},
			&wire.PrefixLengths{Lengths: []uint8{uint8(e.cfg.LinkPrefix)}},
		},
	}
	if e.cfg.Challenges {
		var ch []byte
		if mn.IsValid() {
			ch = e.challenges.OfferUnicast(mn.Addr().String())
		} else {
			ch = e.challenges.Advertise()
		}
		m.Extensions = append(m.Extensions, &wire.Challenge{Kind: wire.AdvExtChallenge, Challenge: ch})
	}
	if m.Len()%2 == 1 {
		m.Extensions = append(m.Extensions, &wire.Padding{}) // §2.1.3
	}
	b, _ := m.MarshalBinary()
	e.Counters.Advertisements.Add(1)
	return b
}

// IsSolicitation reports whether an ICMP message is an Agent Solicitation.
func IsSolicitation(b []byte) bool {
	var s wire.AgentSolicitation
	return s.UnmarshalBinary(b) == nil
}

// Visitors returns the visitor list, sorted.
func (e *Engine) Visitors() []Visitor {
	out := make([]Visitor, 0, len(e.visitors))
	for _, v := range e.visitors {
		out = append(out, *v)
	}
	order.By(out, func(a, b Visitor) int {
		if c := a.HomeAddr.Compare(b.HomeAddr); c != 0 {
			return c
		}
		return a.HomeAgent.Compare(b.HomeAgent)
	})
	return out
}

// NumPending is the number of relayed requests awaiting replies.
func (e *Engine) NumPending() int { return len(e.pending) }
