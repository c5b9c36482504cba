// Package wire is mip4d's Mobile IPv4 codec: every control message mip4d
// puts on the wire, encoded and decoded byte-exact.
//
// It covers Registration Request and Reply (RFC 5944 §3.3–3.4), their
// extensions in the three layouts of RFC 5944 §1.9–1.11 plus the one-byte
// padding, Agent Advertisement and Solicitation (RFC 5944 §2), the MIP UDP
// tunnel data header (RFC 3519 §3.3), and Registration Revocation and its
// acknowledgement (RFC 3543 §2).
//
// Two levels of API are offered:
//
//   - Views over received bytes (RequestView, ReplyView, ExtScanner) that
//     check lengths and expose fields without copying or allocating. Role
//     engines use them on the receive path, and authenticators are always
//     computed over the bytes as received, never over a re-encoding.
//   - Message structs (RegistrationRequest, RegistrationReply, ...) with an
//     ordered list of Extension values, for building messages and for
//     tests. Extensions keep their order, and any extension the codec does
//     not know is kept as a RawExtension holding its exact bytes, so
//     encode(decode(b)) == b for every valid b.
//
// Decoding never panics. Errors are typed (see errors.go) so a caller can
// tell input that must be silently discarded from input that deserves a
// reply with code 70 ("poorly formed Request", FA) or 134 (HA).
package wire
