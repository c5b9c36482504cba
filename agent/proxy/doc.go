// Package proxy is the protocol engine of the proxy role: the local
// mobile-node proxy of a hotspot router, an integrated Proxy Mobility
// Agent in the terms of RFC 5563 (the PMIPv4 client and its foreign agent
// in one box, §2). It registers laptops that run no Mobile IP software
// with the home agent on their behalf, so a laptop keeps its address — and
// its VPN session — from hotspot to hotspot.
//
// Like the other engines it is pure: the daemon reports what happened — a
// client attached, answered a probe, left or released its lease, a reply
// or a revocation arrived, the clock — and gets back packets to send,
// clients to probe and events to apply (Output). It owns no socket, no
// timer and no goroutine; NextTimer says when to call Tick.
//
// # Daemon sequence
//
//	attach    DHCP DISCOVER/REQUEST with no binding: Attach(mac) → a
//	          registration in Output.Send. The secondary sign (§4.1: "or
//	          other means"): a neighbour entry the kernel learnt for the
//	          MAC, confirmed by the daemon's own ARP probe — Seen(mac,
//	          addr), for a client that kept its address from the last
//	          hotspot and asks no DHCP. The REQUEST that continues an
//	          exchange a revoked binding offered is Continued(mac).
//	register  HandleReply(src, bytes) for every reply on port 434 →
//	          ClientBound (MAC, NAI, home address, home agent, lifetime,
//	          UDP or not, keepalive): install the neighbour, the route and
//	          the tunnel, then let the DHCP server answer (Lease(mac) gives
//	          the address and the time left).
//	renew     Tick at NextTimer: at ¾ of the lifetime the engine asks for
//	          a probe (Output.Probe); the daemon answers ClientPresent or
//	          ClientGone (any DHCP renewal or reachable neighbour may be
//	          reported with ClientPresent too). Present → renewal →
//	          ClientRenewed; no answer within ProbeTimeout → deregistration
//	          and ClientReleased (RFC 5563 §4.4).
//	release   DHCP RELEASE/DECLINE, lease expiry, neighbour loss:
//	          Release(mac, reason) or ClientGone(mac) → a lifetime-0
//	          request and ClientReleased.
//	revoke    HandleRevocation(src, bytes) → an acknowledgement to send,
//	          ClientRevoked (remove everything), and a probe for the
//	          MAC-conflict rule below.
//	uplink    SetCareOf on a new uplink address; Refresh when RFC 3519
//	          keepalives to the home agent die; Stop deregisters all (the
//	          care-of address changed).
//	restart   Save at every change, Restore at the next start: bindings
//	          are served at once and confirmed before the next request.
//
// # What the requests carry (RFC 5563 §4.1, §7)
//
// D = 0 (§7) — the proxy is the client's foreign agent, its care-of
// address is the proxy's own; T = 1 (RFC 3024: all the client's traffic
// is tunnelled, §4.2.1); Home Address 0.0.0.0 for the home agent's pool
// unless the client has a static one, then the assigned address on
// renewals (§4.1.2); a timestamp Identification, new for every
// transmission (§4.4; code 133 resynchronises); MN-NAI (RFC 2794); the
// client's MN-HA authenticator (per-MN SA, §4.3). Then, as the foreign
// agent: RFC 3519 UDP Tunnel Request when configured (with F when forced;
// the home agent grants UDP when it sees a NAT), Revocation Support (RFC
// 3543 §3.2), and the FA-HA authenticator of the proxy's own SA (per-node
// SA, §4.3). Replies 149/150 stop all registration with that home agent
// (§8.1).
//
// # Trust model: who can register whom
//
// The home agent trusts two kinds of key. A per-client MN-HA key
// authorises registrations for one NAI: whoever holds it may move that
// NAI's binding — which is exactly what a proxy does when the laptop
// arrives. The per-proxy FA-HA key authenticates the proxy itself: the
// home agent checks it on every request from that proxy's address and
// signs its replies and revocations with it, so a proxy accepts a
// revocation only from the home agent and the home agent revokes only a
// proxy it can authenticate. A proxy can therefore register only the NAIs
// it holds keys for: the ones configured with a key, or, with a master
// secret, the NAIs derived from it (all of its configured NAIs and, if the
// unknown-client pattern is on, every NAI the pattern yields — the home
// agent accepts only those it is configured with). A stolen proxy key
// lets an attacker pose as that proxy; a stolen master secret lets it
// register any NAI derived from it, so the master secret deserves the
// same care as the home agent's own configuration, and per-client keys
// limit the damage to one client each. The laptop itself holds no key:
// to the proxy it is its MAC address, which proves nothing on an open
// link — link-layer access control (WPA2/3-Enterprise, 802.1X) is what
// binds a MAC to a person.
//
// # MAC conflicts (a MAC in two places)
//
// The home agent arbitrates bindings: the latest authenticated
// registration for an NAI wins, wherever it comes from (RFC 5944
// §3.8.2.2), and it revokes the previous proxy (RFC 3543; RFC 5563
// §4.1.4). So a client spoofing another's MAC on a different hotspot
// takes the binding at the home agent — and the proxy that lost it
// refuses to let that pass silently:
//
//  1. On a revocation the proxy acknowledges, removes the binding
//     (ClientRevoked) and probes the MAC. Gone (the normal move): done.
//     A DHCP request from it after the revocation is a new attachment
//     (it moved back, fast roaming): it registers again, no conflict.
//  2. Still here — it answers the probe: a conflict (ClientConflict,
//     counted, in status). If the client had been here at least
//     ConflictWindow (60 s) — the incumbent; its tenure runs from its
//     first binding here and survives reclaims — the proxy registers it
//     again at once and takes the binding back ("reclaim").
//  3. The other proxy's binding, a moment old, is revoked in turn; its
//     client is still there too, but it is the newcomer: it yields and
//     quarantines the MAC for Quarantine (10 min): no registration, DHCP
//     refused, a held REQUEST NAKed ("quarantine"). Its client proves it
//     is still there by answering the probe, or by the DHCP REQUEST of
//     the very exchange the revoked binding offered (same transaction ID:
//     dhcpserve's Continued, the engine's Continued) — a client that moved
//     away and came back would start a new exchange.
//  4. An incumbent reclaims at most MaxReclaims (5) times per Quarantine;
//     past that it yields too, so two proxies that both believe they hold
//     the incumbent (a peer with another rule) cannot ping-pong a binding
//     for ever: at most five flaps per ten minutes.
//
// The genuine client loses at most a probe timeout and one round trip per
// attempt, and both hotspots report every conflict (counters conflicts,
// reclaims, quarantines; a warning in the log). A spoofer with a stock DHCP
// client is quarantined at its first attempt if it answers probes, or if
// its REQUEST comes after the revocation (a race: in the lab the REQUEST
// is usually acknowledged first). One
// that ignores probes and whose exchange completed before the revocation
// — or that crafts its DHCP to look new every time — looks, to its proxy,
// like a client that moved away; each later try (a renewal, a new
// exchange) is undone by a reclaim, and the one after the fifth reclaim
// within ten minutes wins: the budget is what stops the ping-pong. A
// spoofer who waits until the genuine laptop is away (asleep, out of
// range) wins outright: without link-layer authentication nothing tells
// the two apart.
//
// Conflicts are seen only with revocation on; without it the latest
// registration simply wins at every renewal.
//
// # Keys derived from a master secret
//
// A client without a key of its own gets
//
//	key = HKDF-SHA256(IKM = master secret, salt = "mip4d proxy MN-HA key v1",
//	                  info = NAI, L = 16 bytes)
//
// (RFC 5869; the NAI exactly as sent in the MN-NAI extension) under SPI
// KeySPI (default 256), HMAC-MD5, timestamps. The home agent's admin
// installs the same key for the NAI with DeriveKey, or computes it with
//
//	python3 -c 'import hmac,hashlib,sys;p=hmac.new(b"mip4d proxy MN-HA key v1",sys.argv[1].encode(),hashlib.sha256).digest();print("0x"+hmac.new(p,sys.argv[2].encode()+b"\x01",hashlib.sha256).digest()[:16].hex())' MASTER NAI
//
// which prints the key in the 0x-hex form the configuration accepts.
//
// # Bounded under a flood
//
// A MAC with no identity (the default rule denies unknown clients) makes
// no entry at all. With the unknown-client pattern on, such clients hold
// at most MaxGuests entries in any state and start at most one
// registration per GuestInterval on average; the whole table holds at
// most MaxClients. Denied entries leave after their backoff, revoked ones
// after a short linger, quarantined ones at the end of the quarantine.
package proxy
