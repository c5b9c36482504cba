// Package encap builds and takes apart the three IPv4 tunnel encapsulations a
// Mobile IPv4 agent may use toward a care-of address (RFC 5944 §4.1):
//
//   - IP in IP (RFC 2003 §3), which every agent must support: a fresh outer
//     IPv4 header in front of the unchanged inner datagram.
//   - Minimal encapsulation (RFC 2004 §3): the original IPv4 header is
//     rewritten and an 8- or 12-octet minimal forwarding header is inserted
//     after it.
//   - GRE (RFC 2784 §2) with the Key and Sequence Number extensions
//     (RFC 2890 §2), carried in IPv4 protocol 47.
//
// It also holds an IPv4 header view, [IPv4], in the style of gVisor's
// pkg/tcpip/header: a byte slice with accessors, setters and IsValid.
//
// The package is pure framing: no sockets, no clocks, no goroutines. Every
// encapsulator writes into a caller-provided buffer with headroom in front of
// the inner packet, and every decapsulator returns views into the packet it
// was given, so neither allocates (this is asserted by tests with
// testing.AllocsPerRun). Errors are preallocated [*Error] values that carry a
// [Layer] and a [Code], so a data plane can count drops by cause without
// allocating. Multi-octet fields are read and written with
// encoding/binary.BigEndian; the package is tested on big-endian MIPS.
//
// Decoders never panic, whatever bytes they are given; they check every
// length before reading (the fuzz targets in the tests hold them to that).
package encap
