# Run: /usr/bin/python3 testdata/encap/gen.py testdata/encap
#
# Generates testdata/encap/*.hex independently of the Go code (scapy builds
# the packets; minimal encapsulation is assembled by hand with scapy's
# checksum). Output is annotated by field.
import sys, os
from scapy.all import IP, UDP, ICMP, GRE, Raw, IPOption_Router_Alert
from scapy.utils import checksum

OUT = sys.argv[1]
HA, COA, CN, MN = "203.0.113.1", "198.51.100.20", "192.0.2.10", "10.10.0.5"

def hx(b): return " ".join("%02x" % x for x in b)

def ip_lines(b, label, ref):
    ihl = (b[0] & 15) * 4
    ff = int.from_bytes(b[6:8], "big")
    flags = []
    if ff & 0x4000: flags.append("DF")
    if ff & 0x2000: flags.append("MF")
    L = [f"# {label} IPv4 header ({ref})",
         (hx(b[0:1]), f"Version 4, IHL {b[0]&15} ({ihl} octets)"),
         (hx(b[1:2]), f"TOS 0x{b[1]:02x}"),
         (hx(b[2:4]), f"Total Length {int.from_bytes(b[2:4],'big')}"),
         (hx(b[4:6]), f"Identification 0x{int.from_bytes(b[4:6],'big'):04x}"),
         (hx(b[6:8]), f"Flags {'+'.join(flags) or 'none'}, Fragment Offset {ff & 0x1fff}"),
         (hx(b[8:9]), f"TTL {b[8]}"),
         (hx(b[9:10]), f"Protocol {b[9]}" + {1:" (ICMP)",4:" (IP in IP)",17:" (UDP)",47:" (GRE)",55:" (minimal encapsulation)"}.get(b[9], "")),
         (hx(b[10:12]), "Header Checksum"),
         (hx(b[12:16]), "Source " + ".".join(map(str, b[12:16]))),
         (hx(b[16:20]), "Destination " + ".".join(map(str, b[16:20]))),
    ]
    if ihl > 20:
        L.append((hx(b[20:ihl]), "Options (Router Alert, RFC 2113)"))
    return L, ihl

def transport_lines(b, proto):
    if proto == 17:
        return [("# UDP header",),
                (hx(b[0:2]), f"Source Port {int.from_bytes(b[0:2],'big')}"),
                (hx(b[2:4]), f"Destination Port {int.from_bytes(b[2:4],'big')}"),
                (hx(b[4:6]), f"Length {int.from_bytes(b[4:6],'big')}"),
                (hx(b[6:8]), "Checksum"),
                (hx(b[8:]), f"Payload {bytes(b[8:])!r}")]
    if proto == 1:
        return [("# ICMP",),
                (hx(b[0:1]), f"Type {b[0]} (Echo Request)"),
                (hx(b[1:2]), f"Code {b[1]}"),
                (hx(b[2:4]), "Checksum"),
                (hx(b[4:6]), f"Identifier 0x{int.from_bytes(b[4:6],'big'):04x}"),
                (hx(b[6:8]), f"Sequence {int.from_bytes(b[6:8],'big')}"),
                (hx(b[8:]), f"Data {bytes(b[8:])!r}")]
    raise Exception(proto)

def datagram_lines(b, label, ref):
    L, ihl = ip_lines(b, label, ref)
    return L + transport_lines(b[ihl:], b[9])

def gre_lines(b):
    w = int.from_bytes(b[0:2], "big")
    names = [n for bit, n in ((0x8000, "C"), (0x2000, "K"), (0x1000, "S")) if w & bit]
    L = [("# GRE header (RFC 2784 §2.1, RFC 2890 §2)",),
         (hx(b[0:2]), f"C K S bits: {'+'.join(names) or 'none'}, Reserved0 0, Ver 0"),
         (hx(b[2:4]), "Protocol Type 0x0800 (IPv4)")]
    i = 4
    if w & 0x8000:
        L += [(hx(b[i:i+2]), "Checksum (RFC 2784 §2.5)"), (hx(b[i+2:i+4]), "Reserved1")]; i += 4
    if w & 0x2000:
        L += [(hx(b[i:i+4]), f"Key 0x{int.from_bytes(b[i:i+4],'big'):08x} (RFC 2890 §2.1)")]; i += 4
    if w & 0x1000:
        L += [(hx(b[i:i+4]), f"Sequence Number {int.from_bytes(b[i:i+4],'big')} (RFC 2890 §2.2)")]; i += 4
    return L, i

def render(lines):
    out = []
    for l in lines:
        if len(l) == 1 or isinstance(l, str):
            out.append(l if isinstance(l, str) else l[0])
        else:
            out.append(f"{l[0]:<24}# {l[1]}")
    return "\n".join(out) + "\n"

def write(name, title, packets):
    # packets: list of (separator label, lines)
    s = f"# {title}\n# Bytes built independently of mip4d by testdata/encap/gen.py (scapy 2.5.0).\n"
    for i, (label, lines) in enumerate(packets):
        s += f"--- {label}\n" + render(lines)
    open(os.path.join(OUT, name), "w").write(s)

inner = IP(src=CN, dst=MN, ttl=63, id=0x0102, flags="DF", tos=0xb8)/UDP(sport=40000, dport=7)/Raw(b"ping")
ib = bytes(inner)
inner2 = IP(src=CN, dst=MN, ttl=64, id=0xbeef, tos=0)/ICMP(type=8, code=0, id=0x4d49, seq=1)/Raw(b"mip4d")
ib2 = bytes(inner2)
innerOpt = IP(src=CN, dst=MN, ttl=17, id=0x0a0b, tos=0x10, options=[IPOption_Router_Alert()])/UDP(sport=434, dport=434)/Raw(b"opts")
ibo = bytes(innerOpt)
assert len(ibo) - 8 - 4 == 24

def ipip(inn, ttl, id, df):
    p = IP(src=HA, dst=COA, ttl=ttl, id=id, tos=inn[1], flags=df, proto=4)/Raw(inn)
    return bytes(p)

# IP in IP, inner DF and TOS copied.
o = ipip(ib, 64, 0x1234, "DF")
ol, _ = ip_lines(o, "Outer", "RFC 2003 §3.1: TOS and DF copied from inner")
write("ipip-udp.hex", "IP in IP (RFC 2003 §3): HA 203.0.113.1 tunnels a UDP datagram from CN to MN home address via care-of address 198.51.100.20; outer TTL 64, ID 0x1234",
      [("inner", datagram_lines(ib, "Inner", "RFC 791")),
       ("encapsulated", ol + datagram_lines(ib, "Inner", "RFC 791, unchanged"))])

# IP in IP, inner without DF, outer TTL 255, tunnel not setting DF.
o = ipip(ib2, 255, 0xfffe, 0)
ol, _ = ip_lines(o, "Outer", "RFC 2003 §3.1: inner DF clear, so outer DF clear")
write("ipip-icmp.hex", "IP in IP (RFC 2003 §3): ICMP echo without DF; outer TTL 255, ID 0xfffe",
      [("inner", datagram_lines(ib2, "Inner", "RFC 791")),
       ("encapsulated", ol + datagram_lines(ib2, "Inner", "RFC 791, unchanged"))])

def gre(inn, id, **kw):
    g = GRE(proto=0x0800, **kw)
    p = IP(src=HA, dst=COA, ttl=64, id=id, tos=inn[1], flags=("DF" if inn[6] & 0x40 else 0), proto=47)/g/Raw(inn)
    return bytes(p)

for name, title, id, kw in [
    ("gre-plain.hex", "GRE (RFC 2784 §2) without optional fields", 0x2000, {}),
    ("gre-key-seq.hex", "GRE with Key 0x01020304 and Sequence Number 7 (RFC 2890 §2)", 0x2001,
     dict(key_present=1, key=0x01020304, seqnum_present=1, seqence_number=7)),
    ("gre-csum-key-seq.hex", "GRE with Checksum (RFC 2784 §2.5), Key 0xdeadbeef and Sequence Number 4294967295", 0x2002,
     dict(chksum_present=1, key_present=1, key=0xdeadbeef, seqnum_present=1, seqence_number=0xffffffff)),
    ("gre-csum.hex", "GRE with Checksum only (RFC 2784 §2.5)", 0x2003, dict(chksum_present=1)),
]:
    o = gre(ib, id, **kw)
    ol, _ = ip_lines(o, "Delivery", "RFC 2784 §4: Protocol 47; TOS and DF copied from inner")
    gl, gn = gre_lines(o[20:])
    assert o[20+gn:] == ib
    write(name, title + "; HA 203.0.113.1 to care-of address 198.51.100.20, outer TTL 64",
          [("inner", datagram_lines(ib, "Inner", "RFC 791")),
           ("encapsulated", ol + gl + datagram_lines(ib, "Inner", "RFC 791, unchanged"))])

def minimal(inn, encapsulator):
    ihl = (inn[0] & 15) * 4
    src, dst, proto = inn[12:16], inn[16:20], inn[9]
    s = src != bytes(map(int, encapsulator.split(".")))
    mh = bytes([proto, 0x80 if s else 0, 0, 0]) + dst + (src if s else b"")
    c = checksum(mh)
    mh = mh[:2] + c.to_bytes(2, "big") + mh[4:]
    h = bytearray(inn[:ihl])
    h[9] = 55
    h[12:16] = bytes(map(int, (encapsulator if s else ".".join(map(str, src))).split(".")))
    h[16:20] = bytes(map(int, COA.split(".")))
    tl = len(inn) + len(mh)
    h[2:4] = tl.to_bytes(2, "big")
    h[10:12] = b"\0\0"
    h[10:12] = checksum(bytes(h)).to_bytes(2, "big")
    return bytes(h), mh, s

def min_lines(mh, s):
    L = [("# Minimal forwarding header (RFC 2004 §3)",),
         (hx(mh[0:1]), f"Protocol {mh[0]} (original)"),
         (hx(mh[1:2]), f"S={1 if s else 0}, reserved 0"),
         (hx(mh[2:4]), "Header Checksum (forwarding header only)"),
         (hx(mh[4:8]), "Original Destination Address " + ".".join(map(str, mh[4:8])))]
    if s:
        L.append((hx(mh[8:12]), "Original Source Address " + ".".join(map(str, mh[8:12]))))
    return L

for name, title, inn in [
    ("minimal-s1.hex", "Minimal encapsulation (RFC 2004 §3) by HA 203.0.113.1 of a datagram from CN: S=1, 12-octet header", ib),
    ("minimal-options.hex", "Minimal encapsulation (RFC 2004 §3) of a datagram with IP options (IHL 6): S=1", ibo),
]:
    h, mh, s = minimal(inn, HA)
    assert s
    ihl = (inn[0] & 15) * 4
    hl, _ = ip_lines(h, "Modified", "RFC 2004 §3: Protocol 55, Destination = tunnel exit, Source = encapsulator, Total Length +12")
    write(name, title, [("inner", datagram_lines(inn, "Original", "RFC 791")),
                        ("encapsulated", hl + min_lines(mh, s) + transport_lines(inn[ihl:], inn[9]))])

# S=0: the HA itself is the original source.
own = IP(src=HA, dst=MN, ttl=64, id=0x0042, flags="DF")/UDP(sport=434, dport=4000)/Raw(b"hello")
ob = bytes(own)
h, mh, s = minimal(ob, HA)
assert not s
hl, _ = ip_lines(h, "Modified", "RFC 2004 §3: Protocol 55, Destination = tunnel exit, Source unchanged, Total Length +8")
write("minimal-s0.hex", "Minimal encapsulation (RFC 2004 §3) by HA 203.0.113.1 of its own datagram: S=0, 8-octet header",
      [("inner", datagram_lines(ob, "Original", "RFC 791")),
       ("encapsulated", hl + min_lines(mh, s) + transport_lines(ob[20:], 17))])
