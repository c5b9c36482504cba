package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mip4d/mip4d/agent/wire"
)

// MinSPI is the lowest SPI a Mobility Security Association may use: 0–255
// are reserved (RFC 5944 §1.6).
const MinSPI = 256

// DefaultTolerance is the default timestamp tolerance (RFC 5944 §5.7.1).
const DefaultTolerance = 7 * time.Second

// ReplayMethod is the replay protection style of an SA (RFC 5944 §5.7).
type ReplayMethod uint8

const (
	Timestamps ReplayMethod = iota // mandatory, §5.7.1
	Nonces                         // optional, §5.7.2
)

func (m ReplayMethod) String() string {
	if m == Nonces {
		return "nonces"
	}
	return "timestamps"
}

// ParseReplayMethod reads the names used in configuration files.
func ParseReplayMethod(s string) (ReplayMethod, error) {
	switch s {
	case "", "timestamp", "timestamps":
		return Timestamps, nil
	case "nonce", "nonces":
		return Nonces, nil
	}
	return 0, errors.New(`auth: unknown replay method "` + s + `" (want timestamps or nonces)`)
}

// Role says between which entities an SA holds, and so which extension it
// authenticates.
type Role uint8

const (
	MNHA  Role = iota // mobile node – home agent: extension 32
	MNFA              // mobile node – foreign agent: extension 33
	FAHA              // foreign agent – home agent: extension 34 (also revocation)
	MNAAA             // mobile node – AAA: extension 36, sub-type 1
)

func (r Role) String() string {
	switch r {
	case MNHA:
		return "MN-HA"
	case MNFA:
		return "MN-FA"
	case FAHA:
		return "FA-HA"
	case MNAAA:
		return "MN-AAA"
	}
	return "role?"
}

// ExtType is the authentication extension the role uses.
func (r Role) ExtType() wire.ExtType {
	switch r {
	case MNFA:
		return wire.ExtMNFAAuth
	case FAHA:
		return wire.ExtFAHAAuth
	case MNAAA:
		return wire.ExtGenAuth
	}
	return wire.ExtMNHAAuth
}

// Errors.
var (
	ErrReservedSPI      = errors.New("auth: SPI 0–255 is reserved (RFC 5944 §1.6)")
	ErrEmptyKey         = errors.New("auth: empty key")
	ErrNoSA             = errors.New("auth: no security association for this peer and SPI")
	ErrBadAuthenticator = errors.New("auth: authenticator does not verify")
	ErrNotAuthExt       = errors.New("auth: no authentication extension at that offset")
)

// SA is a Mobility Security Association (RFC 5944 §1.6): an SPI selecting
// an algorithm, a key and a replay protection style.
type SA struct {
	SPI       uint32
	Algorithm Algorithm
	Key       Secret
	Replay    ReplayMethod
	// Tolerance is how far a timestamp Identification may be from the
	// receiver's clock; zero means DefaultTolerance.
	Tolerance time.Duration
}

// NewSA returns an SA after checking the SPI and key. The key is copied.
func NewSA(spi uint32, alg Algorithm, key []byte, replay ReplayMethod, tolerance time.Duration) (*SA, error) {
	if spi < MinSPI {
		return nil, ErrReservedSPI
	}
	if len(key) == 0 {
		return nil, ErrEmptyKey
	}
	if alg != HMACMD5 && alg != KeyedMD5 {
		return nil, errors.New("auth: unknown algorithm")
	}
	return &SA{SPI: spi, Algorithm: alg, Key: append(Secret(nil), key...), Replay: replay, Tolerance: tolerance}, nil
}

// tolerance returns the effective timestamp tolerance.
func (sa *SA) tolerance() time.Duration {
	if sa.Tolerance <= 0 {
		return DefaultTolerance
	}
	return sa.Tolerance
}

// String describes the SA without its key.
func (sa *SA) String() string {
	return "SPI " + strconv.FormatUint(uint64(sa.SPI), 10) + " " + sa.Algorithm.String() + " " + sa.Replay.String() +
		" key " + redacted
}

// Format makes every fmt verb, %+v and %#v included, print String.
func (sa *SA) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(sa.String())) }

// LogValue logs the SA's public attributes only.
func (sa *SA) LogValue() slog.Value {
	return slog.GroupValue(slog.Uint64("spi", uint64(sa.SPI)), slog.String("alg", sa.Algorithm.String()),
		slog.String("replay", sa.Replay.String()))
}

// Compute writes the authenticator of data (the bytes RFC 5944 §3.5.1
// covers) into out.
func (sa *SA) Compute(data []byte, out *[AuthenticatorLen]byte) {
	compute(sa.Algorithm, sa.Key, data, out)
}

// Peer identifies the other end of an SA: an IP address (a home agent,
// foreign agent, or mobile node home address) or, for mobile nodes that
// register by NAI with a zero home address (RFC 2794), the NAI.
type Peer struct {
	Addr netip.Addr
	NAI  string
}

// PeerAddr is a Peer known by address.
func PeerAddr(a netip.Addr) Peer { return Peer{Addr: a} }

// PeerNAI is a Peer known by NAI.
func PeerNAI(nai string) Peer { return Peer{NAI: nai} }

func (p Peer) String() string {
	if p.NAI != "" {
		return p.NAI
	}
	return p.Addr.String()
}

type storeKey struct {
	role Role
	peer Peer
	spi  uint32
}

// Store holds security associations, indexed as RFC 5944 §3.5.4 and §3.8
// select them: by role, peer and SPI. It is safe for concurrent use.
type Store struct {
	mu    sync.RWMutex
	m     map[storeKey]*SA
	peers map[peerKey][]*SA // the SAs of each (role, peer), in the order added
}

type peerKey struct {
	role Role
	peer Peer
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{m: make(map[storeKey]*SA), peers: make(map[peerKey][]*SA)} }

// Add installs sa for (role, peer), replacing one with the same SPI.
func (s *Store) Add(role Role, peer Peer, sa *SA) {
	k, pk := storeKey{role, peer, sa.SPI}, peerKey{role, peer}
	s.mu.Lock()
	if old, ok := s.m[k]; ok {
		s.peers[pk] = slices.DeleteFunc(s.peers[pk], func(x *SA) bool { return x == old })
	}
	s.m[k] = sa
	s.peers[pk] = append(s.peers[pk], sa)
	s.mu.Unlock()
}

// Remove deletes the SA for (role, peer, spi).
func (s *Store) Remove(role Role, peer Peer, spi uint32) {
	k, pk := storeKey{role, peer, spi}, peerKey{role, peer}
	s.mu.Lock()
	if old, ok := s.m[k]; ok {
		delete(s.m, k)
		s.peers[pk] = slices.DeleteFunc(s.peers[pk], func(x *SA) bool { return x == old })
		if len(s.peers[pk]) == 0 {
			delete(s.peers, pk)
		}
	}
	s.mu.Unlock()
}

// Lookup finds the SA for (role, peer, spi).
func (s *Store) Lookup(role Role, peer Peer, spi uint32) (*SA, bool) {
	s.mu.RLock()
	sa, ok := s.m[storeKey{role, peer, spi}]
	s.mu.RUnlock()
	return sa, ok
}

// Has reports whether any SA exists for (role, peer), whatever its SPI:
// an HA uses it to decide whether an FA-HA extension is mandatory (RFC
// 5944 §3.8.2.1 c–d).
func (s *Store) Has(role Role, peer Peer) bool {
	_, ok := s.First(role, peer)
	return ok
}

// First returns the first SA added for (role, peer) that is still present:
// the one an agent signs with when it originates a message to that peer
// (a revocation, an FA-HA extension).
func (s *Store) First(role Role, peer Peer) (*SA, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := s.peers[peerKey{role, peer}]
	if len(l) == 0 {
		return nil, false
	}
	return l[0], true
}

// Len is the number of SAs held.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}
