// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * mip4d's kernel data plane: two tc programs that do per packet what
 * agent/dataplane does in userspace, for every role.
 *
 *   tun_egress    on the egress of mip4d's TUN device. The kernel routes
 *                 into the TUN what must be tunnelled (a home agent: the
 *                 datagrams for bound home addresses; a foreign agent or
 *                 proxy: its visitors' datagrams, by policy rule; a mobile
 *                 node: what leaves from its home address). The program
 *                 encapsulates it (RFC 3519 UDP with the 4-octet Tunnel
 *                 Data header, RFC 2003 IP in IP, RFC 2784 GRE with an RFC
 *                 2890 key, GRE inside RFC 3519 UDP) and redirects it to
 *                 the interface toward the far end.
 *   decap_eth     on the ingress of the interfaces tunnels arrive on
 *   decap_l3      (Ethernet, or without link-layer header). It takes a
 *                 tunnel apart after the RFC 3024 §4.3.2 checks (outer
 *                 source = the binding's care-of address or NAT mapping,
 *                 inner source = its home address; the negotiated
 *                 encapsulation, Next Header and GRE key) and redirects
 *                 the inner datagram into the TUN device's ingress, where
 *                 the kernel routes it exactly as it routes what the
 *                 userspace plane writes into the device.
 *
 * The userspace plane stays behind the programs as the slow path: what
 * they do not fully understand or own they leave alone (TC_ACT_OK), so it
 * reaches the TUN device or the sockets as before. That is: control
 * messages (UDP 434 that is not Tunnel Data), RFC 3519 keepalives, SYNs
 * (MSS clamping), datagrams larger than the tunnel MTU (fragmentation,
 * ICMP fragmentation needed), IP options, fragments, and bindings the maps
 * mark as served by userspace. Spoofed and mis-encapsulated tunnel packets
 * are dropped here and counted under the names agent/dataplane uses.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#define AF_INET 2
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "tunnel.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Legacy map definitions (section "maps"): the daemon's loader reads them
 * without a BTF parser; max_entries of the binding maps is set at load. */
struct map_def {
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
};

#define MAP(name, t, k, v, n, f)                                                                   \
	struct map_def SEC("maps") name = {                                                        \
		.type = t, .key_size = sizeof(k), .value_size = sizeof(v), .max_entries = n,       \
		.map_flags = f,                                                                    \
	}

MAP(config, BPF_MAP_TYPE_ARRAY, __u32, struct config, 1, 0);
MAP(tunnels, BPF_MAP_TYPE_HASH, __be32, struct tunnel, 1024, BPF_F_NO_PREALLOC);
MAP(decap, BPF_MAP_TYPE_HASH, struct decap_key, struct decap, 1024, BPF_F_NO_PREALLOC);
MAP(endpoints, BPF_MAP_TYPE_HASH, struct endpoint_key, __u32, 1024, BPF_F_NO_PREALLOC);
MAP(binding_stats, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, struct binding_stats, 1024, 0);
MAP(counters, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, __u64, C_NUM, 0);

#define ETH_HLEN_ 14
#define IP_HLEN 20
#define UDP_HLEN 8
#define TD_HLEN 4 /* RFC 3519 §3.3: Type 4, Next Header, Reserved */
#define MIP_TUNNEL_DATA 4
#define IP_DF_ 0x4000
#define IP_MF_ 0x2000
#define IP_OFFMASK_ 0x1fff
#define GRE_C 0x8000
#define GRE_R 0x4000
#define GRE_K 0x2000
#define GRE_S 0x1000
#define GRE_VER 0x0007
#define TCP_SYN 0x02
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define OUTER_TTL 64 /* encap.DefaultTTL */

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += n;
}

/* punt leaves the packet to the kernel and the userspace plane. */
static __always_inline int punt(__u32 why)
{
	count(why, 1);
	return TC_ACT_OK;
}

static __always_inline int drop(__u32 why)
{
	count(why, 1);
	return TC_ACT_SHOT;
}

static __always_inline void count_binding(__u32 slot, int encap, __u64 packets, __u64 bytes)
{
	struct binding_stats *s = bpf_map_lookup_elem(&binding_stats, &slot);
	if (!s)
		return;
	if (encap) {
		s->encap_packets += packets;
		s->encap_bytes += bytes;
	} else {
		s->decap_packets += packets;
		s->decap_bytes += bytes;
	}
}

/* segments is how many datagrams the (possibly GSO) packet stands for. */
static __always_inline __u64 segments(struct __sk_buff *skb)
{
	return skb->gso_segs > 1 ? skb->gso_segs : 1;
}

/* ip_checksum is the RFC 791 header checksum of a 20-octet header whose
 * checksum field is zero. */
static __always_inline __u16 ip_checksum(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 s = 0;
#pragma unroll
	for (int i = 0; i < IP_HLEN / 2; i++)
		s += w[i];
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

struct gre {
	__be16 flags;
	__be16 proto;
	__be32 key;
};

/* The outer headers, built on the stack and stored in one call. */
struct outer {
	struct iphdr ip;
	union {
		struct {
			__be16 source, dest, len, check;
			__u8 td[TD_HLEN];
			struct gre gre;
		} udp;
		struct gre gre;
	};
};

/*
 * tun_egress encapsulates what the kernel routed into the TUN device
 * (RFC 5944 §4.2.3 on a home agent, RFC 3024 §4.2 on a foreign agent,
 * RFC 3024 §4.1 / RFC 3519 on a mobile node).
 */
SEC("tc")
int tun_egress(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;

	struct iphdr ip;
	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) < 0)
		return punt(C_PUNT_LENGTH);
	if (ip.version != 4)
		return TC_ACT_OK;
	if (ip.ihl != 5)
		return punt(C_PUNT_OPTIONS);
	if (ip.frag_off & bpf_htons(IP_MF_ | IP_OFFMASK_))
		return punt(C_PUNT_FRAGMENT);

	__be32 home = cfg->role == ROLE_HA ? ip.daddr : ip.saddr;
	struct tunnel *t = bpf_map_lookup_elem(&tunnels, &home);
	if (!t)
		return punt(C_PUNT_NO_TUNNEL);
	if (t->flags & TUN_PUNT)
		return punt(C_PUNT_BINDING);
	/* RFC 2003 §3.1: never encapsulate TTL 0; §3.2: never back to the exit. */
	if (ip.ttl == 0)
		return drop(C_DROP_TTL_EXPIRED);
	if (ip.saddr == t->remote)
		return drop(C_DROP_ROUTING_LOOP);
	if (cfg->role == ROLE_HA && ip.protocol == IPPROTO_IPIP)
		return punt(C_PUNT_ROUTING_LOOP_CHECK);

	__u32 len = skb->len;
	__u32 l4 = 0; /* transport header length, for the GSO segment size */
	if (ip.protocol == IPPROTO_TCP) {
		__u8 tcp[14];
		if (bpf_skb_load_bytes(skb, IP_HLEN, tcp, sizeof(tcp)) < 0)
			return punt(C_PUNT_LENGTH);
		if (tcp[13] & TCP_SYN)
			return punt(C_PUNT_TCP_SYN);
		l4 = (tcp[12] >> 4) * 4;
	} else if (ip.protocol == IPPROTO_UDP) {
		l4 = UDP_HLEN;
	}
	if (skb->gso_size) {
		/* A super-packet: each of its segments must fit. */
		if (!l4 || IP_HLEN + l4 + skb->gso_size > t->mtu)
			return punt(C_PUNT_TOO_BIG);
	} else if (len > t->mtu) {
		return punt(C_PUNT_TOO_BIG);
	}

	/* The route toward the far end first: if there is none, nothing has
	 * been changed yet and userspace can still take the packet. */
	struct bpf_fib_lookup fib = {};
	fib.family = AF_INET;
	fib.ifindex = t->oif;
	fib.ipv4_src = t->local;
	fib.ipv4_dst = t->remote;
	fib.tos = ip.tos;
	int rc = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
	/* FWD_DISABLED: bpf_fib_lookup wants forwarding on the interface,
	 * which a mobile node need not have; the kernel's own output route
	 * lookup (bpf_redirect_neigh without a next hop) serves then. */
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH && rc != BPF_FIB_LKUP_RET_FWD_DISABLED)
		return punt(C_PUNT_ROUTE);

	struct outer o = {};
	__u32 hl = IP_HLEN;
	__u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4;
	__u32 gl = t->flags & TUN_KEY ? 8 : 4;
	o.ip.protocol = IPPROTO_IPIP;
	if (t->mode == MODE_UDP) {
		__u32 tl = TD_HLEN;
		if (t->next == IPPROTO_GRE)
			tl += gl;
		hl += UDP_HLEN + tl;
		flags |= BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2(tl);
		o.ip.protocol = IPPROTO_UDP;
		o.udp.source = t->sport;
		o.udp.dest = t->dport;
		o.udp.len = bpf_htons(len + hl - IP_HLEN);
		o.udp.td[0] = MIP_TUNNEL_DATA;
		o.udp.td[1] = t->next;
		o.udp.gre.flags = t->flags & TUN_KEY ? bpf_htons(GRE_K) : 0;
		o.udp.gre.proto = bpf_htons(ETH_P_IP);
		o.udp.gre.key = t->key;
	} else if (t->mode == MODE_GRE) {
		hl += gl;
		flags |= BPF_F_ADJ_ROOM_ENCAP_L4_GRE;
		o.ip.protocol = IPPROTO_GRE;
		o.gre.flags = t->flags & TUN_KEY ? bpf_htons(GRE_K) : 0;
		o.gre.proto = bpf_htons(ETH_P_IP);
		o.gre.key = t->key;
	} else if (t->mode != MODE_IPIP) {
		return punt(C_PUNT_BINDING);
	}
	if (len + hl > 0xffff)
		return punt(C_PUNT_TOO_BIG); /* a 64 KiB super-packet: no room for the outer headers */
	/* RFC 2003 §3.1: TOS and DF copied from the inner header. */
	o.ip.version = 4;
	o.ip.ihl = 5;
	o.ip.tos = ip.tos;
	o.ip.tot_len = bpf_htons(len + hl);
	o.ip.id = (__be16)bpf_get_prandom_u32();
	o.ip.frag_off = ip.frag_off & bpf_htons(IP_DF_);
	o.ip.ttl = OUTER_TTL;
	o.ip.saddr = t->local;
	o.ip.daddr = t->remote;
	o.ip.check = ip_checksum(&o.ip);

	__u64 segs = segments(skb);
	if (bpf_skb_adjust_room(skb, hl, BPF_ADJ_ROOM_MAC, flags) < 0)
		return punt(C_PUNT_ADJUST);
	/* hl is one of a few constants; storing each with its own constant
	 * size keeps the verifier's job simple. */
	int err;
	switch (hl) {
	case IP_HLEN:
		err = bpf_skb_store_bytes(skb, 0, &o, IP_HLEN, 0);
		break;
	case IP_HLEN + 4:
		err = bpf_skb_store_bytes(skb, 0, &o, IP_HLEN + 4, 0);
		break;
	case IP_HLEN + 8:
		err = bpf_skb_store_bytes(skb, 0, &o, IP_HLEN + 8, 0);
		break;
	case IP_HLEN + UDP_HLEN + TD_HLEN:
		err = bpf_skb_store_bytes(skb, 0, &o, IP_HLEN + UDP_HLEN + TD_HLEN, 0);
		break;
	case IP_HLEN + UDP_HLEN + TD_HLEN + 4:
		err = bpf_skb_store_bytes(skb, 0, &o, IP_HLEN + UDP_HLEN + TD_HLEN + 4, 0);
		break;
	case IP_HLEN + UDP_HLEN + TD_HLEN + 8:
		err = bpf_skb_store_bytes(skb, 0, &o, IP_HLEN + UDP_HLEN + TD_HLEN + 8, 0);
		break;
	default:
		err = -1;
	}
	if (err < 0)
		return drop(C_DROP_MALFORMED); /* half-built: it cannot go anywhere now */

	count(C_ENCAP_PACKETS, segs);
	count(C_ENCAP_BYTES, skb->len);
	count_binding(t->slot, 1, segs, skb->len);

	/* A link-layer header in front: bpf_redirect wants the frame as the
	 * Ethernet interface sends it, and bpf_redirect_neigh takes an
	 * Ethernet header off before it routes (net/core/filter.c). */
	if (bpf_skb_change_head(skb, ETH_HLEN_, 0) < 0)
		return drop(C_DROP_MALFORMED);
	struct ethhdr eth = {};
	eth.h_proto = bpf_htons(ETH_P_IP);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		/* The usual case: an Ethernet next hop whose address is known. */
		__builtin_memcpy(eth.h_dest, fib.dmac, ETH_ALEN);
		__builtin_memcpy(eth.h_source, fib.smac, ETH_ALEN);
	}
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) < 0)
		return drop(C_DROP_MALFORMED);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS)
		return bpf_redirect(fib.ifindex, 0);
	/* No resolved neighbour, an interface without a link-layer header
	 * (a VPN's TUN device), or no forwarding on it: the kernel routes
	 * the packet out of that interface and its neighbour code resolves
	 * the next hop (queueing meanwhile) and puts in front whatever
	 * header the interface needs. */
	return bpf_redirect_neigh(rc == BPF_FIB_LKUP_RET_NO_NEIGH ? fib.ifindex : t->oif, NULL, 0, 0);
}

/* parse_gre reads the GRE header at off (RFC 2784 §2, RFC 2890 §2):
 * returns its length, 0 to punt (checksum, routing, sequence: userspace
 * has the whole rule set), or -1 for a malformed one. */
static __always_inline int parse_gre(struct __sk_buff *skb, __u32 off, __u8 *has_key, __be32 *key)
{
	struct gre g = {};
	if (bpf_skb_load_bytes(skb, off, &g, 4) < 0)
		return -1;
	__u16 f = bpf_ntohs(g.flags);
	if (f & GRE_VER)
		return -1;
	if (f & (GRE_C | GRE_R | GRE_S))
		return 0;
	if (g.proto != bpf_htons(ETH_P_IP))
		return -1;
	*has_key = 0;
	*key = 0;
	if (!(f & GRE_K))
		return 4;
	if (bpf_skb_load_bytes(skb, off + 4, key, 4) < 0)
		return -1;
	*has_key = 1;
	return 8;
}

/*
 * take_apart takes apart a tunnel packet addressed to us (l2 octets of
 * link-layer header in front of the outer IPv4 header).
 */
static __always_inline int take_apart(struct __sk_buff *skb, __u32 l2)
{
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;

	struct iphdr o;
	if (bpf_skb_load_bytes(skb, l2, &o, sizeof(o)) < 0)
		return TC_ACT_OK;
	if (o.version != 4 || o.ihl != 5 || o.daddr != cfg->local)
		return TC_ACT_OK; /* not for us, or options: the kernel's */
	if (o.protocol != IPPROTO_UDP && o.protocol != IPPROTO_IPIP && o.protocol != IPPROTO_GRE)
		return TC_ACT_OK;
	if (o.frag_off & bpf_htons(IP_MF_ | IP_OFFMASK_))
		return punt(C_PUNT_FRAGMENT); /* the kernel reassembles; the sockets get it */
	__u16 check = o.check;
	o.check = 0;
	if (ip_checksum(&o) != check)
		return drop(C_DROP_MALFORMED);
	__u32 tot = bpf_ntohs(o.tot_len);
	if (tot != skb->len - l2)
		return punt(C_PUNT_LENGTH); /* link padding, or worse: the kernel decides */

	__u32 off = l2 + IP_HLEN;
	__be16 sport = 0;
	__u8 next = o.protocol, has_key = 0;
	__be32 key = 0;
	if (o.protocol == IPPROTO_UDP) {
		struct {
			__be16 source, dest, len, check;
			__u8 td[TD_HLEN];
		} u;
		if (bpf_skb_load_bytes(skb, off, &u, sizeof(u)) < 0)
			return TC_ACT_OK;
		if (u.dest != cfg->port)
			return TC_ACT_OK;
		if (u.td[0] != MIP_TUNNEL_DATA) {
			count(C_CONTROL, 1);
			return TC_ACT_OK; /* signalling: the daemon's */
		}
		if (bpf_ntohs(u.len) != tot - IP_HLEN)
			return punt(C_PUNT_LENGTH); /* a UDP GSO run of datagrams */
		sport = u.source;
		next = u.td[1];
		off += UDP_HLEN + TD_HLEN;
		if (next == IPPROTO_GRE) {
			int n = parse_gre(skb, off, &has_key, &key);
			if (n < 0)
				return drop(C_DROP_MALFORMED);
			if (n == 0)
				return punt(C_PUNT_GRE_FLAGS);
			off += n;
		} else if (next != IPPROTO_IPIP) {
			return drop(C_DROP_WRONG_NEXT_HEADER);
		}
	} else if (o.protocol == IPPROTO_GRE) {
		int n = parse_gre(skb, off, &has_key, &key);
		if (n < 0)
			return drop(C_DROP_MALFORMED);
		if (n == 0)
			return punt(C_PUNT_GRE_FLAGS);
		off += n;
	}

	struct iphdr in;
	if (bpf_skb_load_bytes(skb, off, &in, sizeof(in)) < 0)
		return drop(C_DROP_MALFORMED);
	if (in.version != 4 || in.ihl < 5)
		return drop(C_DROP_MALFORMED);
	if (bpf_ntohs(in.tot_len) != skb->len - off)
		return punt(C_PUNT_LENGTH);
	/* RFC 2003 §3.1: a decapsulated TTL 0 MUST be discarded. */
	if (in.ttl == 0)
		return drop(C_DROP_TTL_EXPIRED);

	__u32 ihl = in.ihl * 4;
	if (!(in.frag_off & bpf_htons(IP_OFFMASK_))) {
		__u8 l4[14];
		if (in.protocol == IPPROTO_ICMP) {
			if (bpf_skb_load_bytes(skb, off + ihl, l4, 1) < 0)
				return drop(C_DROP_MALFORMED);
			/* RFC 3519 §4.9 keepalives (to us) and their answers
			 * (from the far end): the userspace plane answers and
			 * counts them, and tells the engine it heard. */
			if ((l4[0] == ICMP_ECHO_REQUEST && in.daddr == cfg->local) ||
			    (l4[0] == ICMP_ECHO_REPLY && (in.daddr == cfg->local || in.saddr == o.saddr)))
				return punt(C_PUNT_KEEPALIVE);
		} else if (in.protocol == IPPROTO_TCP) {
			if (bpf_skb_load_bytes(skb, off + ihl, l4, sizeof(l4)) < 0)
				return drop(C_DROP_MALFORMED);
			if (l4[13] & TCP_SYN)
				return punt(C_PUNT_TCP_SYN);
		}
	}

	struct decap_key k = {};
	k.remote = o.saddr;
	k.home = cfg->role == ROLE_HA ? in.saddr : in.daddr;
	k.port = sport;
	struct decap *d = bpf_map_lookup_elem(&decap, &k);
	if (!d) {
		if (cfg->flags & CFG_PUNT_UNKNOWN)
			return punt(C_PUNT_UNKNOWN);
		/* RFC 3024 §4.3.2: which half of the pair is wrong. */
		if (bpf_map_lookup_elem(&tunnels, &k.home))
			return drop(C_DROP_OUTER_SOURCE_MISMATCH);
		struct endpoint_key e = {};
		e.remote = o.saddr;
		e.port = sport;
		if (bpf_map_lookup_elem(&endpoints, &e))
			return drop(cfg->role == ROLE_HA ? C_DROP_INNER_SOURCE_MISMATCH
							 : C_DROP_INNER_DESTINATION_MISMATCH);
		return drop(cfg->role == ROLE_MN ? C_DROP_OUTER_SOURCE_MISMATCH : C_DROP_NO_BINDING);
	}
	if (d->flags & TUN_PUNT)
		return punt(C_PUNT_BINDING);
	if (d->proto != o.protocol)
		return drop(C_DROP_WRONG_ENCAPSULATION);
	if (o.protocol == IPPROTO_UDP && d->next != next)
		return drop(C_DROP_WRONG_NEXT_HEADER);
	if (next == IPPROTO_GRE && (has_key != !!(d->flags & TUN_KEY) || (has_key && key != d->key)))
		return drop(C_DROP_GRE_KEY_MISMATCH);
	/* RFC 2784 §3.1: for the tunnel's own far end, it would loop. */
	if (in.daddr == o.saddr)
		return drop(C_DROP_ROUTING_LOOP);

	__u32 hl = off - l2;
	__u64 segs = segments(skb);
	__u32 inner = skb->len - off;
	if (bpf_skb_adjust_room(skb, -(__s32)hl, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO) < 0)
		return punt(C_PUNT_ADJUST);
	count(C_DECAP_PACKETS, segs);
	count(C_DECAP_BYTES, inner);
	count_binding(d->slot, 0, segs, inner);
	return bpf_redirect(cfg->tun_ifindex, BPF_F_INGRESS);
}

SEC("tc")
int decap_eth(struct __sk_buff *skb)
{
	return take_apart(skb, ETH_HLEN_);
}

SEC("tc")
int decap_l3(struct __sk_buff *skb)
{
	return take_apart(skb, 0);
}
