package encap

// Spec constants. Section numbers refer to the RFC named on each line.
const (
	// IPv4Version is the Version field of every IPv4 header (RFC 791 §3.1).
	IPv4Version = 4
	// IPv4MinimumSize is the length of an IPv4 header without options
	// (IHL = 5, RFC 791 §3.1).
	IPv4MinimumSize = 20
	// IPv4MaximumHeaderSize is the largest IPv4 header (IHL = 15).
	IPv4MaximumHeaderSize = 60
	// IPv4MaximumSize is the largest Total Length an IPv4 header can carry.
	IPv4MaximumSize = 0xffff

	// ProtocolICMP, ProtocolUDP: IPv4 protocol numbers used in tests and by
	// callers classifying inner packets.
	ProtocolICMP = 1
	ProtocolUDP  = 17
	// ProtocolIPIP is the outer Protocol field of IP in IP (RFC 2003 §3.1).
	ProtocolIPIP = 4
	// ProtocolGRE is the delivery header's Protocol field for GRE over IPv4
	// (RFC 2784 §4).
	ProtocolGRE = 47
	// ProtocolMinimal is the Protocol field of a datagram carrying a minimal
	// forwarding header (RFC 2004 §3).
	ProtocolMinimal = 55

	// DefaultTTL is the outer TTL used when a tunnel leaves TTL at zero.
	// RFC 2003 §3.1 only asks for "a value appropriate for delivery of the
	// encapsulated datagram to the tunnel exit point"; 64 is the IANA
	// Assigned Numbers default IP TTL, which RFC 5944's examples also use.
	DefaultTTL = 64

	// MinimalHeaderSize is the minimal forwarding header without the
	// Original Source Address (S = 0); MinimalHeaderSizeWithSource is the
	// header with it (S = 1). RFC 2004 §3.
	MinimalHeaderSize           = 8
	MinimalHeaderSizeWithSource = 12

	// GREHeaderSize is the GRE base header (RFC 2784 §2.1); each of the
	// Checksum+Reserved1 (RFC 2784 §2.5, §2.6), Key (RFC 2890 §2.1) and
	// Sequence Number (RFC 2890 §2.2) fields adds GREFieldSize octets.
	GREHeaderSize = 4
	GREFieldSize  = 4
	// GREMaximumHeaderSize is a GRE header with C, K and S all set.
	GREMaximumHeaderSize = GREHeaderSize + 3*GREFieldSize
	// GREProtocolIPv4 is the GRE Protocol Type of an IPv4 payload
	// (RFC 2784 §3).
	GREProtocolIPv4 = 0x0800
)

// IPv4 header field offsets (RFC 791 §3.1).
const (
	ipVersIHL   = 0
	ipTOS       = 1
	ipTotalLen  = 2
	ipID        = 4
	ipFlagsFrag = 6
	ipTTL       = 8
	ipProtocol  = 9
	ipChecksum  = 10
	ipSrc       = 12
	ipDst       = 16
)

// IPv4 Flags bits as they sit in the 16-bit Flags/Fragment Offset word.
const (
	ipFlagReserved = 0x8000 // must be zero (RFC 791 §3.1)
	ipFlagDF       = 0x4000 // Don't Fragment
	ipFlagMF       = 0x2000 // More Fragments
	ipFragOffMask  = 0x1fff // Fragment Offset, in units of 8 octets
)

// IPv4 Flags as returned by [IPv4.Flags] (the three high bits of octet 6).
const (
	IPv4FlagReserved = 4
	IPv4FlagDF       = 2
	IPv4FlagMF       = 1
)

// GRE first-word bits (RFC 2784 §2.1 with RFC 2890 §2): bit 0 is the most
// significant bit of the first octet.
const (
	greFlagC = 0x8000 // bit 0: Checksum Present (RFC 2784 §2.2)
	greFlagR = 0x4000 // bit 1: RFC 1701 Routing Present, must be zero (RFC 2784 §2.3)
	greFlagK = 0x2000 // bit 2: Key Present (RFC 2890 §2)
	greFlagS = 0x1000 // bit 3: Sequence Number Present (RFC 2890 §2)
	// Bits 4 (RFC 1701 Strict Source Route) and 5 (high bit of RFC 1701
	// Recursion Control) must be zero too: RFC 2784 §2.3 discards a packet
	// with any of bits 1-5 set, and RFC 2890 takes only bits 2 and 3 back.
	greMustBeZero = 0x4000 | 0x0800 | 0x0400
	// Bits 6-12 are reserved: sent as zero, ignored on receipt (RFC 2784 §2.3).
	greReserved0Mask  = 0x03f8
	greReserved0Shift = 3
	greVersionMask    = 0x0007 // bits 13-15 (RFC 2784 §2.3.1)
)

// Minimal forwarding header layout (RFC 2004 §3).
const (
	minProtocol     = 0
	minFlags        = 1
	minChecksum     = 2
	minOrigDst      = 4
	minOrigSrc      = 8
	minFlagS        = 0x80 // Original Source Address Present
	minReservedMask = 0x7f
)
