/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The layout shared by the tc programs (tunnel.c) and the daemon that
 * writes their maps (agent/bpfplane). Every struct is naturally aligned
 * with explicit padding, so C and Go agree on every octet on every
 * architecture; addresses, ports and the GRE key are kept in network
 * byte order, everything else in host order. agent/bpfplane's tests check
 * the sizes and offsets against the BTF clang writes for these types.
 */
#ifndef MIP4D_TUNNEL_H
#define MIP4D_TUNNEL_H

/* Roles: which inner address keys a tunnel. */
enum {
	ROLE_HA = 1, /* home agent: encapsulate by inner destination, decapsulate by inner source */
	ROLE_FA = 2, /* foreign agent / proxy: encapsulate by inner source, decapsulate by inner destination */
	ROLE_MN = 3, /* mobile node: like a foreign agent, for its own home address */
};

/* config.flags */
enum {
	CFG_PUNT_UNKNOWN = 1, /* the maps do not hold every binding: what matches none goes to userspace */
};

/* config is the single element of map "config". */
struct config {
	__be32 local;      /* our tunnel address: HA address, or care-of address */
	__u32 tun_ifindex; /* the TUN device decapsulated datagrams go into */
	__be16 port;       /* our UDP port: 434, or a mobile node's registration port */
	__u8 role;         /* ROLE_* */
	__u8 flags;        /* CFG_* */
};

/* Tunnel modes. */
enum {
	MODE_UDP = 1,  /* RFC 3519 MIP UDP tunnelling, Next Header 4 or 47 */
	MODE_IPIP = 2, /* RFC 2003 */
	MODE_GRE = 3,  /* RFC 2784 (RFC 2890 key) */
};

/* tunnel.flags and decap.flags */
enum {
	TUN_KEY = 1,    /* a GRE key is sent / expected */
	TUN_PUNT = 2,   /* this binding is served by userspace (simultaneous bindings, minimal encapsulation) */
};

/* tunnel is the value of map "tunnels", keyed by the home address (__be32). */
struct tunnel {
	__be32 local;  /* outer source */
	__be32 remote; /* outer destination: care-of address, NAT mapping or home agent */
	__be16 sport;  /* with MODE_UDP: outer UDP source port */
	__be16 dport;  /* with MODE_UDP: outer UDP destination port */
	__u32 oif;     /* interface index toward remote (from the daemon's route lookup) */
	__be32 key;    /* GRE key */
	__u32 slot;    /* index into "binding_stats" */
	__u16 mtu;     /* largest inner datagram that fits the path after encapsulation */
	__u8 mode;     /* MODE_* */
	__u8 next;     /* with MODE_UDP: Next Header, 4 or 47 (RFC 3519 §3.3) */
	__u8 flags;    /* TUN_* */
	__u8 pad[3];
};

/* decap_key keys map "decap": who may send us what (RFC 3024 §4.3.2). */
struct decap_key {
	__be32 remote; /* outer source address */
	__be32 home;   /* home address: inner source (HA), inner destination (FA, MN) */
	__be16 port;   /* outer UDP source port; 0 for raw IP-in-IP and GRE */
	__u16 pad;
};

/* decap is what a binding negotiated. */
struct decap {
	__u32 slot;  /* index into "binding_stats" */
	__be32 key;  /* GRE key */
	__u8 proto;  /* outer protocol: 17 (UDP), 4 or 47 */
	__u8 next;   /* with UDP: Next Header */
	__u8 flags;  /* TUN_* */
	__u8 pad;
};

/* endpoint_key keys map "endpoints": the tunnel endpoints that have any
 * binding, so a packet from one of them for a home address it does not
 * hold is told from a packet from a stranger. */
struct endpoint_key {
	__be32 remote;
	__be16 port;
	__u16 pad;
};

/* binding_stats is the per-CPU value of map "binding_stats", by slot. */
struct binding_stats {
	__u64 encap_packets;
	__u64 encap_bytes;
	__u64 decap_packets;
	__u64 decap_bytes;
};

/* Counters: indexes into the per-CPU array "counters". The names are in
 * agent/bpfplane (counterNames); keep the two in step. */
enum {
	C_ENCAP_PACKETS,
	C_ENCAP_BYTES,
	C_DECAP_PACKETS,
	C_DECAP_BYTES,
	C_CONTROL,          /* a datagram to our UDP port that is not tunnel data: to the daemon */
	/* punted: handed to the userspace plane as it is */
	C_PUNT_NO_TUNNEL,   /* encapsulation: nothing bound for this address here */
	C_PUNT_BINDING,     /* a binding marked TUN_PUNT */
	C_PUNT_OPTIONS,     /* IP options */
	C_PUNT_FRAGMENT,    /* a fragment */
	C_PUNT_TCP_SYN,     /* a SYN: its MSS is clamped in userspace */
	C_PUNT_TOO_BIG,     /* larger than the tunnel MTU: fragmentation or ICMP in userspace */
	C_PUNT_KEEPALIVE,   /* RFC 3519 §4.9 keepalives and their answers */
	C_PUNT_ROUTE,       /* no route or neighbour toward the tunnel's far end */
	C_PUNT_LENGTH,      /* lengths that do not add up (several datagrams in one, padding) */
	C_PUNT_GRE_FLAGS,   /* GRE with checksum, sequence or routing */
	C_PUNT_UNKNOWN,     /* no binding matched, but the maps are not complete */
	C_PUNT_ADJUST,      /* the kernel refused to resize the packet */
	C_PUNT_ROUTING_LOOP_CHECK, /* IP in IP toward a home agent binding: userspace checks RFC 5944 §4.2.3 */
	/* dropped (the names match agent/dataplane's drop reasons) */
	C_DROP_MALFORMED,
	C_DROP_NO_BINDING,
	C_DROP_OUTER_SOURCE_MISMATCH,
	C_DROP_INNER_SOURCE_MISMATCH,
	C_DROP_INNER_DESTINATION_MISMATCH,
	C_DROP_WRONG_NEXT_HEADER,
	C_DROP_WRONG_ENCAPSULATION,
	C_DROP_GRE_KEY_MISMATCH,
	C_DROP_TTL_EXPIRED,
	C_DROP_ROUTING_LOOP,
	C_NUM,
};

/* The layout agent/bpfplane writes (layout.go; its tests read these
 * lines and check its encoders against them). */
#define LAYOUT(type, member, off) \
	_Static_assert(__builtin_offsetof(struct type, member) == off, #type "." #member)
#define SIZE(type, n) _Static_assert(sizeof(struct type) == n, #type)
SIZE(config, 12);
LAYOUT(config, local, 0);
LAYOUT(config, tun_ifindex, 4);
LAYOUT(config, port, 8);
LAYOUT(config, role, 10);
LAYOUT(config, flags, 11);
SIZE(tunnel, 32);
LAYOUT(tunnel, local, 0);
LAYOUT(tunnel, remote, 4);
LAYOUT(tunnel, sport, 8);
LAYOUT(tunnel, dport, 10);
LAYOUT(tunnel, oif, 12);
LAYOUT(tunnel, key, 16);
LAYOUT(tunnel, slot, 20);
LAYOUT(tunnel, mtu, 24);
LAYOUT(tunnel, mode, 26);
LAYOUT(tunnel, next, 27);
LAYOUT(tunnel, flags, 28);
SIZE(decap_key, 12);
LAYOUT(decap_key, remote, 0);
LAYOUT(decap_key, home, 4);
LAYOUT(decap_key, port, 8);
SIZE(decap, 12);
LAYOUT(decap, slot, 0);
LAYOUT(decap, key, 4);
LAYOUT(decap, proto, 8);
LAYOUT(decap, next, 9);
LAYOUT(decap, flags, 10);
SIZE(endpoint_key, 8);
LAYOUT(endpoint_key, remote, 0);
LAYOUT(endpoint_key, port, 4);
SIZE(binding_stats, 32);

#endif
