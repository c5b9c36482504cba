package wire

import "strconv"

// Code is the Code field of a Registration Reply (RFC 5944 §3.4). Ranges
// (RFC 5944 §6.4): 0–8 success, 64–127 denied by the foreign agent,
// 128–192 denied by the home agent, 193–200 gateway foreign agent.
type Code uint8

// Success.
const (
	CodeAccepted         Code = 0 // registration accepted
	CodeAcceptedNoSimult Code = 1 // accepted, but simultaneous mobility bindings unsupported
)

// Denied by the foreign agent (RFC 5944 §3.4 unless noted).
const (
	CodeFAUnspecified         Code = 64
	CodeFAProhibited          Code = 65
	CodeFAInsufficient        Code = 66
	CodeFAMNAuthFailed        Code = 67
	CodeFAHAAuthFailed        Code = 68
	CodeFALifetimeTooLong     Code = 69
	CodeFAPoorlyFormedRequest Code = 70
	CodeFAPoorlyFormedReply   Code = 71
	CodeFAEncapUnavailable    Code = 72
	CodeFAReserved73          Code = 73 // reserved and unavailable (was VJ compression)
	CodeFARevTunUnavailable   Code = 74 // RFC 3024 §3.4
	CodeFARevTunMandatory     Code = 75 // RFC 3024 §3.4
	CodeFATooDistant          Code = 76 // RFC 3024 §3.4
	CodeFAInvalidCoA          Code = 77
	CodeFATimeout             Code = 78
	CodeFADeliveryStyle       Code = 79 // RFC 3024 §3.4
	CodeFAHomeNetUnreachable  Code = 80
	CodeFAHAHostUnreachable   Code = 81
	CodeFAHAPortUnreachable   Code = 82
	CodeFAHAUnreachable       Code = 88
	CodeFANonzeroHARequired   Code = 90  // RFC 4433 §7 NONZERO-HA-REQD
	CodeFANonzeroHoARequired  Code = 96  // RFC 2794 §5 NONZERO_HOMEADDR_REQD
	CodeFAMissingNAI          Code = 97  // RFC 2794 §5
	CodeFAMissingHA           Code = 98  // RFC 2794 §5
	CodeFAMissingHoA          Code = 99  // RFC 2794 §5
	CodeFACVSEFromMN          Code = 100 // RFC 3115 §2.4 ERROR-FA-1
	CodeFACVSEFromHA          Code = 101 // RFC 3115 §2.4 ERROR-FA-2
	CodeFAUnknownChallenge    Code = 104 // RFC 4721 §10
	CodeFAMissingChallenge    Code = 105 // RFC 4721 §10
	CodeFAStaleChallenge      Code = 106 // RFC 4721 §10
	CodeFABadAAAAuth          Code = 108 // RFC 4721 §10
	CodeFAHAWrongChallenge    Code = 109 // RFC 4721 §10
	CodeFAInvalidHAAddr       Code = 194 // RFC 5944 §3.4, §3.7.2
)

// Denied by the home agent (RFC 5944 §3.4 unless noted).
const (
	CodeHAUnspecified         Code = 128
	CodeHAProhibited          Code = 129
	CodeHAInsufficient        Code = 130
	CodeHAMNAuthFailed        Code = 131
	CodeHAFAAuthFailed        Code = 132
	CodeHAIDMismatch          Code = 133
	CodeHAPoorlyFormedRequest Code = 134
	CodeHATooManyBindings     Code = 135
	CodeHAUnknownHA           Code = 136
	CodeHARevTunUnavailable   Code = 137 // RFC 3024 §3.4
	CodeHARevTunMandatory     Code = 138 // RFC 3024 §3.4
	CodeHAEncapUnavailable    Code = 139 // RFC 3024 §3.4
	CodeHACVSEFromMN          Code = 140 // RFC 3115 §2.4 ERROR-HA-1
	CodeHACVSEFromFA          Code = 141 // RFC 3115 §2.4 ERROR-HA-2
	CodeHAUDPEncapUnavailable Code = 142 // RFC 3519 §3.5 ERROR_HA_UDP_ENCAP_UNAVAIL
	CodeHARedirect            Code = 143 // RFC 4433 §7 REDIRECT-HA-REQ
	CodeHABadAAAAuth          Code = 144 // RFC 4721 §10 ha_bad_aaa_auth
	CodeHAMobNetError         Code = 147 // RFC 5177 §11 HA_MOBNET_ERROR
	CodeHAMobNetDisallowed    Code = 148 // RFC 5177 §11 HA_MOBNET_DISALLOWED
	CodeHAPMIPUnsupported     Code = 149 // RFC 5563 §12.2 PMIP_UNSUPPORTED
	CodeHAPMIPDisallowed      Code = 150 // RFC 5563 §12.2 PMIP_DISALLOWED
)

var codeNames = map[Code]string{
	CodeAccepted:              "registration accepted",
	CodeAcceptedNoSimult:      "registration accepted, but simultaneous mobility bindings unsupported",
	CodeFAUnspecified:         "FA: reason unspecified",
	CodeFAProhibited:          "FA: administratively prohibited",
	CodeFAInsufficient:        "FA: insufficient resources",
	CodeFAMNAuthFailed:        "FA: mobile node failed authentication",
	CodeFAHAAuthFailed:        "FA: home agent failed authentication",
	CodeFALifetimeTooLong:     "FA: requested Lifetime too long",
	CodeFAPoorlyFormedRequest: "FA: poorly formed Request",
	CodeFAPoorlyFormedReply:   "FA: poorly formed Reply",
	CodeFAEncapUnavailable:    "FA: requested encapsulation unavailable",
	CodeFAReserved73:          "FA: reserved and unavailable",
	CodeFARevTunUnavailable:   "FA: requested reverse tunnel unavailable",
	CodeFARevTunMandatory:     "FA: reverse tunnel is mandatory and 'T' bit not set",
	CodeFATooDistant:          "FA: mobile node too distant",
	CodeFAInvalidCoA:          "FA: invalid care-of address",
	CodeFATimeout:             "FA: registration timeout",
	CodeFADeliveryStyle:       "FA: delivery style not supported",
	CodeFAHomeNetUnreachable:  "FA: home network unreachable (ICMP error received)",
	CodeFAHAHostUnreachable:   "FA: home agent host unreachable (ICMP error received)",
	CodeFAHAPortUnreachable:   "FA: home agent port unreachable (ICMP error received)",
	CodeFAHAUnreachable:       "FA: home agent unreachable (other ICMP error received)",
	CodeFANonzeroHARequired:   "FA: non-zero HA address required in Registration Request",
	CodeFANonzeroHoARequired:  "FA: non-zero home address required",
	CodeFAMissingNAI:          "FA: missing NAI",
	CodeFAMissingHA:           "FA: missing home agent",
	CodeFAMissingHoA:          "FA: missing home address",
	CodeFACVSEFromMN:          "FA: unsupported vendor CVSE from mobile node",
	CodeFACVSEFromHA:          "FA: unsupported vendor CVSE from home agent",
	CodeFAUnknownChallenge:    "FA: unknown challenge",
	CodeFAMissingChallenge:    "FA: missing challenge",
	CodeFAStaleChallenge:      "FA: stale challenge",
	CodeFABadAAAAuth:          "FA: bad MN-AAA authenticator",
	CodeFAHAWrongChallenge:    "FA: home agent returned the wrong challenge",
	CodeFAInvalidHAAddr:       "FA: invalid home agent address",
	CodeHAUnspecified:         "HA: reason unspecified",
	CodeHAProhibited:          "HA: administratively prohibited",
	CodeHAInsufficient:        "HA: insufficient resources",
	CodeHAMNAuthFailed:        "HA: mobile node failed authentication",
	CodeHAFAAuthFailed:        "HA: foreign agent failed authentication",
	CodeHAIDMismatch:          "HA: registration Identification mismatch",
	CodeHAPoorlyFormedRequest: "HA: poorly formed Request",
	CodeHATooManyBindings:     "HA: too many simultaneous mobility bindings",
	CodeHAUnknownHA:           "HA: unknown home agent address",
	CodeHARevTunUnavailable:   "HA: requested reverse tunnel unavailable",
	CodeHARevTunMandatory:     "HA: reverse tunnel is mandatory and 'T' bit not set",
	CodeHAEncapUnavailable:    "HA: requested encapsulation unavailable",
	CodeHACVSEFromMN:          "HA: unsupported vendor CVSE from mobile node",
	CodeHACVSEFromFA:          "HA: unsupported vendor CVSE from foreign agent",
	CodeHAUDPEncapUnavailable: "HA: requested UDP tunnel encapsulation unavailable",
	CodeHARedirect:            "HA: re-register with redirected HA",
	CodeHABadAAAAuth:          "HA: bad MN-AAA authenticator",
	CodeHAMobNetError:         "HA: mobile network prefix operation error",
	CodeHAMobNetDisallowed:    "HA: mobile router operation is not permitted",
	CodeHAPMIPUnsupported:     "HA: proxy registration not supported",
	CodeHAPMIPDisallowed:      "HA: proxy registrations from this agent are not allowed",
}

// String names the code as its RFC does, prefixed with the agent that
// denies ("FA: ", "HA: "); unknown codes print as "code N".
func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return "code " + strconv.Itoa(int(c))
}

// Accepted reports whether the code means the registration was accepted
// (0–8, RFC 5944 §6.4).
func (c Code) Accepted() bool { return c <= 8 }

// ByForeignAgent reports whether the code is a denial from a foreign
// agent (64–127, and 194 which RFC 5944 §3.4 lists with them).
func (c Code) ByForeignAgent() bool { return (c >= 64 && c <= 127) || c == CodeFAInvalidHAAddr }

// ByHomeAgent reports whether the code is a denial from a home agent
// (128–192).
func (c Code) ByHomeAgent() bool { return c >= 128 && c <= 192 }

// KnownCodes lists every code this package names, in ascending order.
func KnownCodes() []Code {
	out := make([]Code, 0, len(codeNames))
	for c := 0; c < 256; c++ {
		if _, ok := codeNames[Code(c)]; ok {
			out = append(out, Code(c))
		}
	}
	return out
}
