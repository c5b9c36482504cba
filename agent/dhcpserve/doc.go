// Package dhcpserve is the DHCPv4 server of the proxy role (RFC 2131,
// RFC 5563 §4.1.1 step 5 and §6.3: "DHCP server in the AR"): it gives a
// laptop the home address its proxy registered for it, with the same
// server identifier and gateway on every hotspot, so the laptop keeps its
// address when it moves and its DHCP client never notices.
//
// The logic is pure, like the engines: Server.Handle takes a parsed
// message (HandleBytes takes the datagram) and returns the reply and an
// Event for the proxy; it asks a Leaser (the proxy engine) whether a MAC
// is admitted and what its binding is. The socket edge, Conn, is server4's
// interface-bound UDP socket with one reader goroutine and a bounded queue.
//
// # Asynchrony with the registration
//
// A DISCOVER or REQUEST from an admitted client without a binding is held
// (bounded: MaxPending, PendingTimeout) and returns an Attach event: the
// daemon calls the proxy's Attach, which registers with the home agent.
// When the proxy reports ClientBound the daemon calls Ready(mac), which
// answers the held message — OFFER for a DISCOVER, ACK (or NAK if the
// client asked for another address) for a REQUEST; on ClientDenied it
// calls Fail(mac), which NAKs a held REQUEST. The client's own
// retransmissions simply replace the held message. A MAC the proxy does
// not admit costs nothing: no reply, no state.
//
// # The gateway every hotspot shares
//
// The home address belongs to the home network, not to the hotspot, so
// the client's gateway cannot be "the router's address on this subnet".
// The proxy hands out a fixed gateway (Config.Gateway), the same on every
// hotspot, and answers ARP for it. Two ways make a stock client (ISC
// dhclient, busybox udhcpc, Windows, macOS) accept it:
//
//   - Network holds the home address and the gateway (e.g. the home
//     prefix 10.10.0.0/16 and gateway 10.10.0.1): the Subnet Mask is that
//     prefix and the gateway is on-link for every client. This is the
//     choice that works everywhere; the proxy then answers ARP for the
//     whole prefix (RFC 5563 §6.1: the access router is always the
//     layer-2 endpoint), and traffic between clients still goes through
//     the home agent (§4.2.3).
//   - Otherwise (Network unset, or a gateway outside it such as
//     169.254.1.1): the mask is /32 and option 121 (RFC 3442) carries
//     "gateway/32 on-link, default via gateway". Clients that implement
//     RFC 3442 — dhclient with Debian's hook, udhcpc's default script,
//     Windows, Android — accept it; one that does not cannot reach a
//     gateway outside its /32.
//
// Option 121 is also sent with the first layout when the client asks for
// it, and then carries the default route, since a client that takes
// option 121 ignores the Router option (RFC 3442).
//
// # Leases
//
// The lease is half of what the binding has left (at least MinLease, at
// most MaxLease, never past the binding), so a client renews well before
// the binding would lapse and every renewal doubles as proof it is still
// attached (a Present event). A lease that runs out unrenewed is a client
// that left: Tick returns LeaseExpired and the proxy deregisters (RFC 5563
// §6.3). RELEASE and DECLINE do the same at once.
package dhcpserve
