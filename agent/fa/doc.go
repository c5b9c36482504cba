// Package fa is the foreign agent's protocol engine (RFC 5944 §2.3 and
// §3.7, with RFC 3024 reverse tunnelling, RFC 3519 NAT traversal for a
// foreign agent behind a NAT, RFC 3543 revocation, RFC 4721 challenges,
// RFC 2794 NAIs and RFC 5265 §3.5's parallel registrations).
//
// It is pure like the other engines: it builds Agent Advertisements and
// answers Solicitations, checks a mobile node's Registration Request and
// either denies it (with the FA codes of RFC 5944 §3.4 and RFC 3024) or
// relays it to the home agent with its own extensions appended; it matches
// the home agent's Reply to the pending request, checks it, relays it to
// the mobile node and keeps the visitor list; it expires visitors and
// pending requests (code 78); it honours revocations. The daemon owns the
// sockets, the ICMP advertisements on the link, and the neighbour entries
// and routes that deliver tunnelled traffic to visitors without ARP (RFC
// 5944 §4.6).
//
// The visitor list is keyed by (link-layer address, home address, home
// agent), so one mobile node may hold two registrations at once through
// this agent — one to its external home agent and one to its internal one
// — as the RFC 5265 §3.3 detection algorithm does (§3.5).
package fa
