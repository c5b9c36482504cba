package proxy

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
)

// MAC is a client's Ethernet address: the key of the client table (RFC
// 5563 §4.2.1 — the proxy tells its clients apart by layer-2 address).
type MAC [6]byte

func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// MarshalText writes the colon form, for status output.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads what ParseMAC reads.
func (m *MAC) UnmarshalText(b []byte) error {
	v, err := ParseMAC(string(b))
	if err == nil {
		*m = v
	}
	return err
}

// ParseMAC reads an Ethernet address in any form net.ParseMAC accepts
// (aa:bb:cc:dd:ee:ff, aa-bb-…, aabb.ccdd.eeff).
func ParseMAC(s string) (MAC, error) {
	h, err := net.ParseMAC(s)
	if err != nil || len(h) != 6 {
		return MAC{}, fmt.Errorf("proxy: %q is not an Ethernet address", s)
	}
	return MAC(h), nil
}

// MACFrom converts a hardware address; ok is false unless it is a 6-byte
// unicast address.
func MACFrom(h net.HardwareAddr) (m MAC, ok bool) {
	if len(h) != 6 || h[0]&1 != 0 {
		return MAC{}, false
	}
	return MAC(h), true
}

// hex12 is the MAC as 12 lowercase hex digits, the %m of a pattern.
func (m MAC) hex12() string { return hex.EncodeToString(m[:]) }

// Client is one configured client: a MAC mapped to the identity the proxy
// registers for it (RFC 5563 §7: the PMA needs the device's NAI and MN-HA
// security association).
type Client struct {
	MAC MAC
	// NAI is the identity registered with the home agent (RFC 2794).
	NAI string
	// HomeAddr is a static home address; the zero Addr asks the home
	// agent's pool (a zero Home Address field, RFC 5563 §4.1.1 step 3).
	HomeAddr netip.Addr
	// SA is the client's MN-HA security association. Nil derives it from
	// Config.MasterKey with DeriveKey.
	SA *auth.SA
}

// Config is the proxy's setup.
type Config struct {
	// HomeAgent is the home agent every client registers with (RFC 5563
	// §7 item 4).
	HomeAgent netip.Addr
	// CareOf is the proxy's own address toward the home agent: the
	// Care-of Address of every request (RFC 5563 §4.1.1 step 3, the
	// proxy acting as the co-located foreign agent) and the source of the
	// requests. SetCareOf changes it.
	CareOf netip.Addr
	// SA is the proxy's own FA-HA security association with the home
	// agent (RFC 5563 §4.3 per-node SA, §7 item 3): it appends an FA-HA
	// Authentication extension to every request, checks it on replies and
	// authenticates revocations (RFC 3543 §3.3). Nil sends none and turns
	// revocation off.
	SA *auth.SA
	// Lifetime requested, seconds. Zero means DefaultLifetime.
	Lifetime uint16
	// UDPTunnel asks for RFC 3519 UDP tunnelling in every request (the
	// home agent grants it when it sees a NAT); ForceUDP sets its F flag.
	UDPTunnel bool
	ForceUDP  bool
	// Revocation adds the Revocation Support extension (RFC 3543 §3.2), so
	// the home agent revokes this proxy's binding when the client moves
	// to another proxy. Needs SA.
	Revocation bool
	// DeviceID adds the PMIPv4 Device ID extension with the client's MAC
	// (RFC 5563 §5.3), for the home agent's logs.
	DeviceID bool
	// Clients is the MAC → NAI table.
	Clients []Client
	// UnknownNAI is the rule for clients not in Clients: empty denies them
	// (the default); otherwise a pattern such as "%m@guests.example.net"
	// where %m is the MAC as 12 lowercase hex digits and %% a percent
	// sign. Their keys come from MasterKey.
	UnknownNAI string
	// MasterKey derives per-client MN-HA keys (DeriveKey) for clients
	// without an SA of their own; KeySPI and KeyAlgorithm complete those
	// SAs (zero SPI means DefaultKeySPI).
	MasterKey    auth.Secret
	KeySPI       uint32
	KeyAlgorithm auth.Algorithm
	// MaxClients bounds the client table (zero: DefaultMaxClients).
	MaxClients int
	// MaxGuests bounds the entries of clients admitted by UnknownNAI, in
	// any state (zero: DefaultMaxGuests); GuestInterval is the average
	// spacing of their first registrations (a token bucket of MaxGuests
	// tokens; zero: DefaultGuestInterval).
	MaxGuests     int
	GuestInterval time.Duration
	// ProbeTimeout is how long the proxy waits for the daemon to confirm
	// a client is still attached (RFC 5563 §4.4) before it deregisters it
	// (zero: DefaultProbeTimeout).
	ProbeTimeout time.Duration
	// RegistrationTimeout is how long a first registration may go
	// unanswered before the client is told no (zero:
	// DefaultRegistrationTimeout). MaxRetransmit caps the retransmission
	// interval (zero: DefaultMaxRetransmit).
	RegistrationTimeout time.Duration
	MaxRetransmit       time.Duration
	// ConflictWindow, Quarantine and MaxReclaims are the MAC-conflict
	// rule (package doc): a binding revoked while its client is still here
	// is taken back if the client had been here at least ConflictWindow,
	// at most MaxReclaims times per Quarantine; otherwise the MAC is
	// refused for Quarantine (zero: the defaults).
	ConflictWindow time.Duration
	Quarantine     time.Duration
	MaxReclaims    int
}

func (c *Config) defaults() {
	if c.Lifetime == 0 {
		c.Lifetime = DefaultLifetime
	}
	if c.KeySPI == 0 {
		c.KeySPI = DefaultKeySPI
	}
	if c.MaxClients <= 0 {
		c.MaxClients = DefaultMaxClients
	}
	if c.MaxGuests <= 0 {
		c.MaxGuests = min(DefaultMaxGuests, c.MaxClients)
	}
	if c.GuestInterval <= 0 {
		c.GuestInterval = DefaultGuestInterval
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	if c.RegistrationTimeout <= 0 {
		c.RegistrationTimeout = DefaultRegistrationTimeout
	}
	if c.MaxRetransmit <= 0 {
		c.MaxRetransmit = DefaultMaxRetransmit
	}
	if c.ConflictWindow <= 0 {
		c.ConflictWindow = DefaultConflictWindow
	}
	if c.Quarantine <= 0 {
		c.Quarantine = DefaultQuarantine
	}
	if c.MaxReclaims <= 0 {
		c.MaxReclaims = DefaultMaxReclaims
	}
}

// Validate checks the configuration with messages that name the setting.
func (c *Config) Validate() error {
	switch {
	case !c.HomeAgent.Is4():
		return errors.New("proxy: home agent address must be IPv4")
	case c.CareOf.IsValid() && !c.CareOf.Is4():
		return errors.New("proxy: care-of address must be IPv4")
	case c.Revocation && c.SA == nil:
		return errors.New("proxy: revocation needs the proxy's FA-HA security association (RFC 3543 §3.3)")
	case c.KeySPI != 0 && c.KeySPI < auth.MinSPI:
		return fmt.Errorf("proxy: key SPI %d is reserved (RFC 5944 §1.6: 0–255)", c.KeySPI)
	case c.MaxGuests > c.MaxClients && c.MaxClients > 0:
		return errors.New("proxy: max guests cannot exceed max clients")
	}
	if c.UnknownNAI != "" {
		if err := checkPattern(c.UnknownNAI); err != nil {
			return err
		}
		if len(c.MasterKey) == 0 {
			return errors.New("proxy: unknown clients get derived keys: a master key is needed")
		}
	}
	seen := map[MAC]bool{}
	nais := map[string]bool{}
	for i, cl := range c.Clients {
		switch {
		case cl.MAC == MAC{} || cl.MAC[0]&1 != 0:
			return fmt.Errorf("proxy: client %d: %v is not a unicast Ethernet address", i+1, cl.MAC)
		case seen[cl.MAC]:
			return fmt.Errorf("proxy: client %v configured twice", cl.MAC)
		case cl.NAI == "":
			return fmt.Errorf("proxy: client %v has no NAI", cl.MAC)
		case len(cl.NAI) > 255:
			return fmt.Errorf("proxy: client %v: NAI longer than 255 bytes (RFC 2794 §2)", cl.MAC)
		case nais[cl.NAI]:
			// Two MACs registering one NAI would move one binding back
			// and forth.
			return fmt.Errorf("proxy: NAI %s is given to two clients", cl.NAI)
		case cl.HomeAddr.IsValid() && !cl.HomeAddr.Is4():
			return fmt.Errorf("proxy: client %v: home address must be IPv4", cl.MAC)
		case cl.SA == nil && len(c.MasterKey) == 0:
			return fmt.Errorf("proxy: client %v has no key and no master key is configured", cl.MAC)
		case cl.SA != nil && cl.SA.Replay != auth.Timestamps:
			// RFC 5563 §4.4: the home agent orders requests from several
			// proxies by their timestamps; nonces are out of scope.
			return fmt.Errorf("proxy: client %v: proxy registrations use timestamps (RFC 5563 §4.4)", cl.MAC)
		}
		seen[cl.MAC], nais[cl.NAI] = true, true
	}
	return nil
}

// checkPattern accepts a pattern with exactly one %m, an @realm, and no
// other % escapes than %%.
func checkPattern(p string) error {
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			continue
		}
		if i+1 == len(p) {
			return fmt.Errorf("proxy: pattern %q ends in %%", p)
		}
		switch p[i+1] {
		case 'm':
			n++
		case '%':
		default:
			return fmt.Errorf("proxy: pattern %q: unknown escape %%%c (want %%m or %%%%)", p, p[i+1])
		}
		i++
	}
	switch {
	case n != 1:
		// Without %m every unknown client would share one NAI, and so one
		// binding.
		return fmt.Errorf("proxy: pattern %q must contain %%m exactly once", p)
	case !strings.Contains(p, "@"):
		return fmt.Errorf("proxy: pattern %q is not an NAI (user@realm)", p)
	}
	return nil
}

// ExpandPattern returns the NAI the pattern gives mac.
func ExpandPattern(pattern string, mac MAC) string {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '%' && i+1 < len(pattern) {
			switch pattern[i+1] {
			case 'm':
				b.WriteString(mac.hex12())
				i++
				continue
			case '%':
				b.WriteByte('%')
				i++
				continue
			}
		}
		b.WriteByte(pattern[i])
	}
	return b.String()
}
