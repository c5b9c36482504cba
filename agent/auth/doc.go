// Package auth is mip4d's authentication and replay-protection core for
// Mobile IPv4 registrations (RFC 5944 §3.5 and §5, RFC 4721).
//
// It computes and checks authenticators over exactly the bytes RFC 5944
// §3.5.1 names — the registration message up to and including the Type,
// Length and SPI of the authentication extension — with HMAC-MD5 (the
// default) or the legacy keyed-MD5 "prefix+suffix" mode, chosen per
// security association. It keeps the associations (MN-HA, MN-FA, FA-HA,
// MN-AAA) in a Store indexed by peer and SPI, and implements both replay
// protection styles of RFC 5944 §5.7: 64-bit NTP timestamps with a
// tolerance, and nonces, including the code-133 resynchronisation on both
// sides. It also holds the foreign agent's challenge rules of RFC 4721.
//
// Keys are Secret values: they format as "[redacted]" in every fmt verb,
// in slog and in JSON, so they cannot leak into logs or status output.
//
// Everything here is pure: time is a parameter, randomness is an io.Reader
// the caller supplies.
package auth
