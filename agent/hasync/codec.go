// Package hasync replicates a home agent's bindings to its standby: the
// wire format, the session state machine (pure: bytes and time in, bytes
// out, testable with a fake clock), the bounded send queue with its lag
// accounting, and in conn.go the thin TCP edge.
//
// mip4d elects nothing: keepalived (VRRP) decides which home agent owns the
// virtual address and tells the daemon its role. The active one sends every
// change of a mobile node's state (an accepted registration or
// deregistration, an expiry, a pool lease, a new replay nonce: an
// ha.NodeState) to the standby without waiting for it; the standby applies
// it, installs no data plane and answers no registration, and expires the
// bindings on its own when their lifetime runs out. A standby that starts
// or reconnects first gets a full snapshot; both sides send theirs, and
// ha.Engine.ApplyNode merges them per mobile node (the newer accepted
// Identification wins, compared as NTP time; the replay state is the
// maximum of both, RFC 5944 §5.7), so a split brain heals without
// reopening a replay window.
//
// # Wire format
//
// A TCP stream of frames, all integers big-endian:
//
//	0      version   1 octet, 1
//	1      type      1 octet: 1 Hello, 2 HelloAck, 3 SnapshotBegin,
//	                 4 Records, 5 SnapshotEnd, 6 Ack, 7 Role
//	2      reserved  2 octets, 0
//	4      length    4 octets: payload length, at most MaxPayload
//	8      seq       8 octets: 0 for Hello, then 1, 2, ... per direction
//	16     session   16 octets: the receiver's Hello nonce (0 in Hello)
//	32     payload   length octets
//	32+len HMAC      32 octets: HMAC-SHA256 with the peer key over
//	                 octets 0 to 32+len (the header and the payload)
//
// Payloads:
//
//	Hello          nonce (16), role (1)
//	HelloAck       role (1)
//	SnapshotBegin  number of nodes (4)
//	Records        count (2), then count node records
//	SnapshotEnd    empty
//	Ack            highest seq received (8)
//	Role           role (1)
//
// A node record (an ha.NodeState):
//
//	node id    length (1), octets (the NAI, or the static home address)
//	flags      1: bit 0 a pool lease follows
//	replay     last timestamp (8), nonce (4), accepted Identification (8),
//	           updated (8, Unix ns, 0 none)
//	lease      address (4), released (8, Unix ns, 0 bound)   (bit 0)
//	bindings   count (1), then per binding 56 octets: home (4),
//	           care-of (4), endpoint (4+2), flags (1: 0 UDP, 1 GRE key,
//	           2 reverse tunnel, 3 revocable, 4 NAI = node id), encap (1),
//	           GRE key (4), FA (4, 0 none), FA endpoint (4+2), ID (8),
//	           lifetime (2), registered (8), expires (8)
//
// Replay protection: every frame's HMAC covers its sequence number and the
// receiver's fresh random Hello nonce, so a frame recorded from an earlier
// connection carries another session and one replayed within a connection
// an old sequence number; both are refused (rejected_replay) like a frame
// whose HMAC does not verify (rejected_auth) or that does not parse
// (rejected_malformed), and the connection is closed. Nothing but Hello is
// sent before the peer has proved it holds the key with a HelloAck bound
// to this side's nonce, so a replayed Hello learns no binding. The key is
// never logged.
package hasync

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/ha"
)

// Version is the wire format's version.
const Version = 1

// Frame types.
type Type uint8

const (
	TypeHello         Type = 1
	TypeHelloAck      Type = 2
	TypeSnapshotBegin Type = 3
	TypeRecords       Type = 4
	TypeSnapshotEnd   Type = 5
	TypeAck           Type = 6
	TypeRole          Type = 7
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeHelloAck:
		return "hello-ack"
	case TypeSnapshotBegin:
		return "snapshot-begin"
	case TypeRecords:
		return "records"
	case TypeSnapshotEnd:
		return "snapshot-end"
	case TypeAck:
		return "ack"
	case TypeRole:
		return "role"
	}
	return "unknown"
}

const (
	HeaderLen = 32
	MACLen    = sha256.Size
	// MaxPayload bounds one frame (a reader allocates no more).
	MaxPayload = 1 << 20
	// NonceLen is the length of a Hello nonce.
	NonceLen = 16
	// MinKeyLen is the shortest peer key accepted (HMAC-SHA256's block of
	// security, RFC 2104 §3).
	MinKeyLen = 32
	// bindingLen is one binding's encoding.
	bindingLen = 56
)

// Role is what keepalived told a home agent it is.
type Role uint8

const (
	RoleBackup Role = iota
	RoleMaster
	RoleFault
	RoleStop
)

func (r Role) String() string {
	switch r {
	case RoleMaster:
		return "master"
	case RoleFault:
		return "fault"
	case RoleStop:
		return "stop"
	}
	return "backup"
}

// ParseRole reads master, backup, fault or stop (any case, as keepalived's
// notify passes MASTER, BACKUP, FAULT, STOP).
func ParseRole(s string) (Role, bool) {
	switch s {
	case "master", "MASTER", "Master":
		return RoleMaster, true
	case "backup", "BACKUP", "Backup":
		return RoleBackup, true
	case "fault", "FAULT", "Fault":
		return RoleFault, true
	case "stop", "STOP", "Stop":
		return RoleStop, true
	}
	return RoleBackup, false
}

// Errors of Open; each is counted as its rejected_ counter.
var (
	ErrMalformed = errors.New("hasync: malformed frame")
	ErrAuth      = errors.New("hasync: frame not authenticated by the peer key")
	ErrReplay    = errors.New("hasync: replayed frame (old sequence number or another session)")
)

// Header is a frame's fixed header.
type Header struct {
	Type    Type
	Length  uint32
	Seq     uint64
	Session [NonceLen]byte
}

// ParseHeader checks the fixed header of a frame (what a stream reader
// needs to know how much follows).
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen || b[0] != Version || b[2] != 0 || b[3] != 0 {
		return Header{}, ErrMalformed
	}
	h := Header{Type: Type(b[1]), Length: binary.BigEndian.Uint32(b[4:]), Seq: binary.BigEndian.Uint64(b[8:])}
	copy(h.Session[:], b[16:32])
	if h.Length > MaxPayload || h.Type < TypeHello || h.Type > TypeRole {
		return Header{}, ErrMalformed
	}
	return h, nil
}

// FrameLen is the whole length of a frame with this header.
func (h Header) FrameLen() int { return HeaderLen + int(h.Length) + MACLen }

// sealer signs and verifies frames with the peer key.
type sealer struct{ mac hash.Hash }

func newSealer(key []byte) *sealer { return &sealer{mac: hmac.New(sha256.New, key)} }

// seal appends a frame to dst.
func (s *sealer) seal(dst []byte, t Type, seq uint64, session [NonceLen]byte, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, Version, byte(t), 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = append(dst, session[:]...)
	dst = append(dst, payload...)
	s.mac.Reset()
	s.mac.Write(dst[start:])
	return s.mac.Sum(dst)
}

// open checks a whole frame's length and HMAC and returns its header and
// payload (aliasing b).
func (s *sealer) open(b []byte) (Header, []byte, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, nil, err
	}
	if len(b) != h.FrameLen() {
		return h, nil, ErrMalformed
	}
	n := HeaderLen + int(h.Length)
	s.mac.Reset()
	s.mac.Write(b[:n])
	var sum [MACLen]byte
	if !hmac.Equal(s.mac.Sum(sum[:0]), b[n:]) {
		return h, nil, ErrAuth
	}
	return h, b[HeaderLen:n], nil
}

// AppendNode appends a node record.
func AppendNode(dst []byte, ns *ha.NodeState) ([]byte, error) {
	if len(ns.Node) == 0 || len(ns.Node) > 255 || len(ns.Bindings) > 255 {
		return dst, ErrMalformed
	}
	dst = append(dst, byte(len(ns.Node)))
	dst = append(dst, ns.Node...)
	var flags byte
	if ns.Lease != nil {
		flags |= 1
	}
	dst = append(dst, flags)
	dst = binary.BigEndian.AppendUint64(dst, ns.Replay.Last)
	dst = binary.BigEndian.AppendUint32(dst, ns.Replay.Nonce)
	dst = binary.BigEndian.AppendUint64(dst, ns.Replay.Accepted)
	dst = appendTime(dst, ns.Replay.Updated)
	if ns.Lease != nil {
		if !ns.Lease.Addr.Is4() {
			return dst, ErrMalformed
		}
		dst = append4(dst, ns.Lease.Addr)
		dst = appendTime(dst, ns.Lease.Released)
	}
	dst = append(dst, byte(len(ns.Bindings)))
	for i := range ns.Bindings {
		b := &ns.Bindings[i]
		if !b.HomeAddr.Is4() || !b.CareOf.Is4() {
			return dst, ErrMalformed
		}
		if b.NAI != "" && b.NAI != ns.Node {
			return dst, ErrMalformed // a binding belongs to its node
		}
		dst = append4(dst, b.HomeAddr)
		dst = append4(dst, b.CareOf)
		dst = appendAddrPort(dst, b.Endpoint)
		var f byte
		for i, v := range []bool{b.UDP, b.HasGREKey, b.ReverseTunnel, b.Revocable, b.NAI != ""} {
			if v {
				f |= 1 << i
			}
		}
		dst = append(dst, f, byte(b.Encap))
		dst = binary.BigEndian.AppendUint32(dst, b.GREKey)
		dst = append4(dst, b.FA)
		dst = appendAddrPort(dst, b.FAEndpoint)
		dst = binary.BigEndian.AppendUint64(dst, b.ID)
		dst = binary.BigEndian.AppendUint16(dst, b.Lifetime)
		dst = appendTime(dst, b.Registered)
		dst = appendTime(dst, b.Expires)
	}
	return dst, nil
}

func append4(dst []byte, a netip.Addr) []byte {
	if !a.Is4() {
		return append(dst, 0, 0, 0, 0)
	}
	b := a.As4()
	return append(dst, b[:]...)
}

func appendAddrPort(dst []byte, ap netip.AddrPort) []byte {
	dst = append4(dst, ap.Addr())
	return binary.BigEndian.AppendUint16(dst, ap.Port())
}

func appendTime(dst []byte, t time.Time) []byte {
	var v int64
	if !t.IsZero() {
		v = t.UnixNano()
	}
	return binary.BigEndian.AppendUint64(dst, uint64(v))
}

// reader walks a payload with bounds checks.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if r.bad || len(r.b) < n {
		r.bad = true
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
func (r *reader) u8() byte    { return r.take(1)[0] }
func (r *reader) u16() uint16 { return binary.BigEndian.Uint16(r.take(2)) }
func (r *reader) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *reader) u64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }
func (r *reader) addr() netip.Addr {
	return netip.AddrFrom4([4]byte(r.take(4)))
}

// addrOpt is an address where 0.0.0.0 means none.
func (r *reader) addrOpt() netip.Addr {
	a := r.addr()
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

func (r *reader) addrPort(opt bool) netip.AddrPort {
	a := r.addr()
	p := r.u16()
	if opt && a.IsUnspecified() && p == 0 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, p)
}

func (r *reader) time() time.Time {
	v := int64(r.u64())
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v)
}

// ParseNode reads one node record from the front of b and returns the rest.
func ParseNode(b []byte) (ha.NodeState, []byte, error) {
	r := &reader{b: b}
	var ns ha.NodeState
	n := int(r.u8())
	if n == 0 {
		return ns, nil, ErrMalformed
	}
	ns.Node = string(r.take(n))
	flags := r.u8()
	if flags&^1 != 0 {
		return ns, nil, ErrMalformed
	}
	ns.Replay.Last, ns.Replay.Nonce, ns.Replay.Accepted = r.u64(), r.u32(), r.u64()
	ns.Replay.Updated = r.time()
	if flags&1 != 0 {
		ns.Lease = &ha.PoolLease{NAI: ns.Node, Addr: r.addr(), Released: r.time()}
	}
	nb := int(r.u8())
	if r.bad || len(r.b) < nb*bindingLen {
		return ns, nil, ErrMalformed
	}
	if nb > 0 {
		ns.Bindings = make([]ha.Binding, nb)
	}
	for i := range nb {
		b := &ns.Bindings[i]
		b.HomeAddr, b.CareOf = r.addr(), r.addr()
		b.Endpoint = r.addrPort(false)
		f, enc := r.u8(), r.u8()
		if f&^0x1f != 0 || enc > uint8(ha.EncapMinimal) {
			return ns, nil, ErrMalformed
		}
		b.UDP, b.HasGREKey, b.ReverseTunnel, b.Revocable = f&1 != 0, f&2 != 0, f&4 != 0, f&8 != 0
		if f&16 != 0 {
			b.NAI = ns.Node
		}
		b.Encap = ha.Encap(enc)
		b.GREKey = r.u32()
		b.FA = r.addrOpt()
		b.FAEndpoint = r.addrPort(true)
		b.ID = r.u64()
		b.Lifetime = r.u16()
		b.Registered, b.Expires = r.time(), r.time()
	}
	if r.bad {
		return ns, nil, ErrMalformed
	}
	return ns, r.b, nil
}

// ParseRecords reads a Records payload.
func ParseRecords(p []byte) ([]ha.NodeState, error) {
	if len(p) < 2 {
		return nil, ErrMalformed
	}
	n := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	// Each record is at least 32 octets: refuse a count the payload cannot
	// hold before allocating for it.
	if n*32 > len(p) {
		return nil, ErrMalformed
	}
	out := make([]ha.NodeState, 0, n)
	for range n {
		ns, rest, err := ParseNode(p)
		if err != nil {
			return nil, err
		}
		out = append(out, ns)
		p = rest
	}
	if len(p) != 0 {
		return nil, ErrMalformed
	}
	return out, nil
}
