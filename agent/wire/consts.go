package wire

import "strconv"

// Spec constants, in one place. Sections cited are where each number is
// defined.

// Port is the UDP port of Mobile IP control messages (RFC 5944 §1.8).
const Port = 434

// MsgType is the first byte of a Mobile IP message sent to UDP port 434.
type MsgType uint8

const (
	MsgRegistrationRequest MsgType = 1  // RFC 5944 §3.3
	MsgRegistrationReply   MsgType = 3  // RFC 5944 §3.4
	MsgTunnelData          MsgType = 4  // RFC 3519 §3.3
	MsgRevocation          MsgType = 7  // RFC 3543 §2.2
	MsgRevocationAck       MsgType = 15 // RFC 3543 §2.3
)

func (t MsgType) String() string {
	switch t {
	case MsgRegistrationRequest:
		return "Registration Request"
	case MsgRegistrationReply:
		return "Registration Reply"
	case MsgTunnelData:
		return "Tunnel Data"
	case MsgRevocation:
		return "Registration Revocation"
	case MsgRevocationAck:
		return "Registration Revocation Acknowledgement"
	}
	return "MsgType(" + strconv.Itoa(int(t)) + ")"
}

// ExtType is the type byte of an extension. Registration messages and ICMP
// Router Discovery messages number their extensions in two separate spaces
// (RFC 5944 §1.8); the constants below say which space they belong to.
type ExtType uint8

// Extensions of Mobile IP control messages (UDP port 434).
const (
	ExtPadding           ExtType = 0   // One-byte Padding, RFC 5944 §1.8
	ExtMNHAAuth          ExtType = 32  // Mobile-Home Authentication, RFC 5944 §3.5.2
	ExtMNFAAuth          ExtType = 33  // Mobile-Foreign Authentication, RFC 5944 §3.5.3
	ExtFAHAAuth          ExtType = 34  // Foreign-Home Authentication, RFC 5944 §3.5.4
	ExtGenAuth           ExtType = 36  // Generalized Authentication (MN-AAA), RFC 4721 §6
	ExtCVSE              ExtType = 38  // Critical Vendor/Organization Specific, RFC 3115 §2
	ExtUDPTunnelReply    ExtType = 44  // UDP Tunnel Reply, RFC 3519 §3.2
	ExtPMIPv4NonSkip     ExtType = 47  // PMIPv4 non-skippable extension, RFC 5563 §3
	ExtGREKey            ExtType = 48  // GRE Key, RFC 6245 §3
	ExtDeliveryStyle     ExtType = 130 // Encapsulating Delivery Style, RFC 3024 §3.3
	ExtMNNAI             ExtType = 131 // Mobile Node NAI, RFC 2794 §2
	ExtMNFAChallenge     ExtType = 132 // MN-FA Challenge, RFC 4721 §4
	ExtNVSE              ExtType = 134 // Normal Vendor/Organization Specific, RFC 3115 §3
	ExtNAICarrying       ExtType = 136 // NAI Carrying, RFC 3846 §3
	ExtRevocationSupport ExtType = 137 // Revocation Support, RFC 3543 §2.1
	ExtDynamicHA         ExtType = 139 // Dynamic HA Request/Reply, RFC 4433 §3.1
	ExtUDPTunnelRequest  ExtType = 144 // UDP Tunnel Request, RFC 3519 §3.1
	ExtPMIPv4Skip        ExtType = 147 // PMIPv4 skippable extension, RFC 5563 §3
	ExtMobileNetwork     ExtType = 148 // Mobile Network, RFC 5177 §3
	ExtTrustedNetworks   ExtType = 149 // Trusted Networks Configured, RFC 5265 §6.1
)

// Extensions of ICMP Router Discovery messages (Agent Advertisements).
const (
	AdvExtPadding       ExtType = 0  // One-byte Padding, RFC 5944 §2.1.3
	AdvExtMobilityAgent ExtType = 16 // Mobility Agent Advertisement, RFC 5944 §2.1.1
	AdvExtPrefixLengths ExtType = 19 // Prefix-Lengths, RFC 5944 §2.1.2
	AdvExtChallenge     ExtType = 24 // Challenge, RFC 4721 §3
)

// Skippable reports whether a receiver that does not recognise the
// extension may ignore it (types 128–255) rather than discard the whole
// message (types 0–127), RFC 5944 §1.8.
func (t ExtType) Skippable() bool { return t >= 128 }

// ICMP types and codes of Agent Discovery (RFC 5944 §2, RFC 1256).
const (
	ICMPTypeRouterAdvertisement        = 9
	ICMPTypeRouterSolicitation         = 10
	AdvCodeRoutesCommonTraffic         = 0  // RFC 5944 §2.1
	AdvCodeNoCommonTraffic             = 16 // RFC 5944 §2.1
	AdvertisementTTL                   = 1  // RFC 5944 §2.1, IP TTL of every advertisement
	SolicitationTTL                    = 1  // RFC 5944 §2.2
	AdvSeqRollover              uint16 = 256
)

// IP protocol numbers used as encapsulation identifiers (RFC 3519 §3.1.4).
const (
	ProtoIPIP    = 4  // RFC 2003
	ProtoGRE     = 47 // RFC 2784
	ProtoMinEnc  = 55 // RFC 2004
	ProtoICMP    = 1
	ProtoUDP     = 17
	InfiniteLife = 0xffff // lifetime value meaning infinity, RFC 5944 §3.3
)
