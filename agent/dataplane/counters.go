package dataplane

import (
	"sync/atomic"

	"github.com/mip4d/mip4d/agent/encap"
)

// Drop is why the plane discarded a packet.
type Drop uint8

// Drop reasons. Each is counted in Counters.Drops and named in Stats.
const (
	DropNone Drop = iota
	// DropNotIPv4: the device handed over something that is not IPv4
	// (an IPv6 router solicitation, say).
	DropNotIPv4
	// DropMalformed: a header that does not parse, a length that
	// disagrees, a bad checksum (RFC 791, RFC 2784 §2.5).
	DropMalformed
	// DropTruncated: the datagram was larger than the receive buffer.
	DropTruncated
	// DropFragment: an outer fragment that the kernel did not reassemble.
	DropFragment
	// DropNoBinding: no binding for the destination (forward) or for
	// either the outer source or the inner source (reverse).
	DropNoBinding
	// DropOuterSourceMismatch: the inner source is a bound home address
	// but the outer source (address, and port with UDP) is none of its
	// endpoints (RFC 3024 §4.3.2); on a mobile node, a tunnelled packet
	// not from the home agent.
	DropOuterSourceMismatch
	// DropInnerSourceMismatch: the outer source is a binding's endpoint
	// but the inner source is not that binding's home address (RFC 3024
	// §4.3.2: spoofing by a registered node).
	DropInnerSourceMismatch
	// DropInnerDestinationMismatch: a mobile node received a tunnelled
	// packet that is not for its home address.
	DropInnerDestinationMismatch
	// DropWrongNextHeader: the Tunnel Data Next Header is not the
	// binding's encapsulation (RFC 3519 §3.3).
	DropWrongNextHeader
	// DropWrongEncapsulation: a raw IP-in-IP or GRE packet for a binding
	// that negotiated another encapsulation (RFC 3024 §4.3.2).
	DropWrongEncapsulation
	// DropGREKeyMismatch: the GRE key is absent, present or different
	// from the binding's (RFC 6245 §3, RFC 2890 §2.1).
	DropGREKeyMismatch
	// DropUnsupportedEncapsulation: a binding asks for an encapsulation
	// this plane cannot send (minimal encapsulation, or GRE without a
	// GRE socket).
	DropUnsupportedEncapsulation
	// DropTTLExpired: inner TTL 0 (RFC 2003 §3.1).
	DropTTLExpired
	// DropRoutingLoop: the packet would go back where it came from
	// (RFC 2003 §3.2, RFC 2784 §3.1, RFC 5944 §4.2.3).
	DropRoutingLoop
	// DropTooBig: larger than fits with DF set; an ICMP fragmentation
	// needed went back to the sender (RFC 1191, RFC 2003 §5.1).
	DropTooBig
	// DropNoTunnel: a mobile node has no tunnel up (not registered, at
	// home, or registered through a foreign agent that tunnels for it).
	DropNoTunnel
	// DropSourceNotHome: a mobile node was asked to tunnel a packet whose
	// source is not its home address.
	DropSourceNotHome
	// DropControlQueueFull: a control message found the engine's channel
	// full.
	DropControlQueueFull
	// DropNoBuffer: no packet buffer was free (should not happen: every
	// batch has its own ring).
	DropNoBuffer
	// DropWriteError: the socket or device refused the packet.
	DropWriteError
	numDrops
)

var dropNames = [numDrops]string{
	"", "not_ipv4", "malformed", "truncated", "fragment", "no_binding",
	"outer_source_mismatch", "inner_source_mismatch", "inner_destination_mismatch",
	"wrong_next_header", "wrong_encapsulation", "gre_key_mismatch",
	"unsupported_encapsulation", "ttl_expired", "routing_loop", "too_big",
	"no_tunnel", "source_not_home", "control_queue_full", "no_buffer", "write_error",
}

func (d Drop) String() string {
	if d < numDrops && d != DropNone {
		return dropNames[d]
	}
	return "none"
}

// dropFor maps an error of package encap to a drop reason.
func dropFor(err error) Drop {
	// A type assertion, not errors.As: encap returns *encap.Error values
	// unwrapped, and this runs per packet (errors.As would allocate).
	e, ok := err.(*encap.Error)
	if !ok {
		return DropMalformed
	}
	switch e.Code {
	case encap.CodeTTLExpired:
		return DropTTLExpired
	case encap.CodeRoutingLoop:
		return DropRoutingLoop
	case encap.CodeFragment:
		return DropFragment
	case encap.CodeTooBig:
		return DropTooBig
	case encap.CodeNoRoom:
		return DropNoBuffer
	}
	return DropMalformed
}

// Direction counts one way through the plane: what came in and what went
// out after the plane's decisions.
type Direction struct {
	PacketsIn  atomic.Int64
	BytesIn    atomic.Int64
	PacketsOut atomic.Int64
	BytesOut   atomic.Int64
}

// Counters are a plane's statistics. They are atomics (64-bit aligned on
// 32-bit MIPS by their type) so the status socket reads them while the
// readers run.
type Counters struct {
	// Forward is device to tunnel: datagrams read from the TUN device,
	// and encapsulated datagrams handed to the sockets (outer octets as
	// sent; with UDP, the UDP payload).
	Forward Direction
	// Reverse is tunnel to device: tunnelled datagrams received (as
	// received, before any check), and inner datagrams written to the
	// device.
	Reverse Direction

	ControlIn  atomic.Int64 // control messages handed to the engine
	ControlOut atomic.Int64 // control messages sent for the engine

	KeepalivesAnswered atomic.Int64 // RFC 3519 keepalives answered by a home agent plane
	KeepalivesSent     atomic.Int64 // keepalive requests sent by a mobile node plane
	KeepaliveReplies   atomic.Int64 // replies to them received

	MSSClamped      atomic.Int64 // TCP SYNs whose MSS option was lowered
	Fragmented      atomic.Int64 // inner datagrams fragmented before encapsulation
	FragmentsOut    atomic.Int64 // fragments produced
	FragNeededSent  atomic.Int64 // ICMP fragmentation needed written to the device
	ICMPRateLimited atomic.Int64

	ReadErrors  atomic.Int64
	WriteErrors atomic.Int64

	Drops [numDrops]atomic.Int64
}

func (c *Counters) drop(d Drop) { c.Drops[d].Add(1) }

// DirectionStats is a plain copy of a Direction.
type DirectionStats struct {
	PacketsIn  int64 `json:"packets_in"`
	BytesIn    int64 `json:"bytes_in"`
	PacketsOut int64 `json:"packets_out"`
	BytesOut   int64 `json:"bytes_out"`
}

// Stats is a plain copy of Counters for status output. Drops lists only
// the reasons seen.
type Stats struct {
	Forward            DirectionStats   `json:"forward"`
	Reverse            DirectionStats   `json:"reverse"`
	ControlIn          int64            `json:"control_in"`
	ControlOut         int64            `json:"control_out"`
	KeepalivesAnswered int64            `json:"keepalives_answered"`
	KeepalivesSent     int64            `json:"keepalives_sent"`
	KeepaliveReplies   int64            `json:"keepalive_replies"`
	MSSClamped         int64            `json:"mss_clamped"`
	Fragmented         int64            `json:"fragmented"`
	FragmentsOut       int64            `json:"fragments_out"`
	FragNeededSent     int64            `json:"icmp_frag_needed_sent"`
	ICMPRateLimited    int64            `json:"icmp_rate_limited"`
	ReadErrors         int64            `json:"read_errors"`
	WriteErrors        int64            `json:"write_errors"`
	Drops              map[string]int64 `json:"dropped"`
}

func (d *Direction) snapshot() DirectionStats {
	return DirectionStats{
		PacketsIn: d.PacketsIn.Load(), BytesIn: d.BytesIn.Load(),
		PacketsOut: d.PacketsOut.Load(), BytesOut: d.BytesOut.Load(),
	}
}

// Snapshot copies the counters.
func (c *Counters) Snapshot() Stats {
	s := Stats{
		Forward: c.Forward.snapshot(), Reverse: c.Reverse.snapshot(),
		ControlIn: c.ControlIn.Load(), ControlOut: c.ControlOut.Load(),
		KeepalivesAnswered: c.KeepalivesAnswered.Load(), KeepalivesSent: c.KeepalivesSent.Load(),
		KeepaliveReplies: c.KeepaliveReplies.Load(), MSSClamped: c.MSSClamped.Load(),
		Fragmented: c.Fragmented.Load(), FragmentsOut: c.FragmentsOut.Load(),
		FragNeededSent: c.FragNeededSent.Load(), ICMPRateLimited: c.ICMPRateLimited.Load(),
		ReadErrors: c.ReadErrors.Load(), WriteErrors: c.WriteErrors.Load(),
		Drops: map[string]int64{},
	}
	for d := Drop(1); d < numDrops; d++ {
		if v := c.Drops[d].Load(); v != 0 {
			s.Drops[d.String()] = v
		}
	}
	return s
}
