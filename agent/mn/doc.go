// Package mn is the mobile node's protocol engine (RFC 5944 §2.4 and §3.6,
// RFC 3519 §4.4 and §4.9–4.10, RFC 2794).
//
// Like the home agent engine it is pure: the daemon tells it what happened
// — a new co-located care-of address from netlink, an Agent Advertisement,
// a Registration Reply, a keepalive answered, the clock — and it answers
// with packets to send and the tunnel the data plane should run. It owns no
// socket and no timer; NextTimer says when to call Tick.
//
// Registration follows RFC 5944 §3.6: a new Identification per request
// (timestamps; nonces retransmit unchanged), retransmission from 1 s
// doubling up to the lifetime, re-registration before the granted lifetime
// runs out, code 133 resynchronisation, code 69 retried with the lifetime
// the foreign agent offered. Behind a NAT it asks for RFC 3519 UDP
// tunnelling and keeps the NAT mapping alive with keepalives at the
// interval the home agent gave; when keepalives go unanswered it registers
// again, which also repairs a NAT that lost its mapping.
package mn
