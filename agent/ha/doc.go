// Package ha is the home agent's protocol engine (RFC 5944 §3.8 and §4.2.3,
// with RFC 2794 NAI home address assignment, RFC 3024 reverse tunnelling,
// RFC 3519 NAT traversal, RFC 3543 registration revocation and the RFC 5265
// Trusted Networks Configured extension).
//
// The engine is pure: Handle takes a received Registration Request (its
// bytes and IP/UDP addresses) and the time, and returns the reply to send,
// the binding changes for the data plane, and any revocation messages. It
// owns no socket, no timer and no goroutine; the daemon feeds it and applies
// its events. Expire removes bindings whose lifetime ran out and says when
// to call it next.
//
// Every request is checked in the order RFC 5944 §3.8.2.1 gives: the
// authorization-enabling MN-HA extension (silently discarded without one or
// without a security association; 131 on a bad authenticator), the FA-HA
// extension when this HA shares an SA with the sender (132), the
// Identification (133, with the resynchronisation value of §5.7), then the
// request's contents (129, 130, 134, 135, 136, 137–139, 142).
package ha
