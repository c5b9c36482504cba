package dataplane

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"

	"github.com/mip4d/mip4d/agent/encap"
)

// deviceIPv4 checks a datagram read from the device and returns it trimmed
// to its Total Length. The kernel built it, so only the shape is checked;
// the header checksum is left to the encapsulators' callers downstream.
func deviceIPv4(b []byte) (encap.IPv4, Drop) {
	if len(b) == 0 || b[0]>>4 != encap.IPv4Version {
		return nil, DropNotIPv4
	}
	ip := encap.IPv4(b)
	if !ip.IsValid(len(b)) {
		return nil, DropMalformed
	}
	return ip[:ip.TotalLength()], DropNone
}

// innerIPv4 checks a decapsulated datagram as RFC 2003 §3.1 asks of a
// decapsulator: exactly one IPv4 datagram filling the payload, with a
// correct header checksum, and a TTL that is not zero.
func innerIPv4(b []byte) (encap.IPv4, Drop) {
	ip := encap.IPv4(b)
	if !ip.IsValid(len(b)) || int(ip.TotalLength()) != len(b) || !ip.IsChecksumValid() {
		return nil, DropMalformed
	}
	if ip.TTL() == 0 {
		return nil, DropTTLExpired
	}
	return ip, DropNone
}

// checksumUpdate16 returns checksum hc after a 16-bit word of the data it
// covers changes from old to new (RFC 1624 §3, eqn. 3). It also holds for
// partial words: a single octet changing at an even offset is old<<8 to
// new<<8, at an odd offset old to new.
func checksumUpdate16(hc, old, new uint16) uint16 {
	s := uint32(^hc) + uint32(^old) + uint32(new)
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return ^uint16(s)
}

// clampMSS lowers the Maximum Segment Size option of a TCP SYN (or
// SYN-ACK) in ip to mss when it is larger, patching the TCP checksum
// incrementally (RFC 1624), and reports whether it changed anything. A
// SYN without the option is left alone: its peer then assumes 536
// (RFC 1122 §4.2.2.6), which fits every tunnel.
func clampMSS(ip encap.IPv4, mss uint16) bool {
	if ip.Protocol() != protoTCP || ip.FragmentOffset() != 0 {
		return false
	}
	hl := ip.HeaderLength()
	tcp := ip[hl:ip.TotalLength()]
	if len(tcp) < tcpHeaderMinLen || tcp[13]&tcpFlagSYN == 0 {
		return false
	}
	doff := int(tcp[12]>>4) * 4
	if doff < tcpHeaderMinLen || doff > len(tcp) {
		return false
	}
	for i := tcpHeaderMinLen; i < doff; {
		switch tcp[i] {
		case ipOptionEnd:
			return false
		case ipOptionNOP:
			i++
			continue
		}
		if i+1 >= doff {
			return false
		}
		l := int(tcp[i+1])
		if l < 2 || i+l > doff {
			return false
		}
		if tcp[i] == tcpOptMSS && l == tcpOptMSSLen {
			o := i + 2
			if binary.BigEndian.Uint16(tcp[o:]) <= mss {
				return false
			}
			c := binary.BigEndian.Uint16(tcp[16:])
			nb := [2]byte{byte(mss >> 8), byte(mss)}
			for j := range 2 {
				old, new := uint16(tcp[o+j]), uint16(nb[j])
				if (o+j)%2 == 0 {
					old, new = old<<8, new<<8
				}
				c = checksumUpdate16(c, old, new)
				tcp[o+j] = nb[j]
			}
			binary.BigEndian.PutUint16(tcp[16:], c)
			return true
		}
		i += l
	}
	return false
}

// copiedOptions writes into dst the options of opts that RFC 791 §3.1
// copies into every fragment (the copied flag), padded with End of Option
// List to a multiple of 4, and returns their length. dst has room for 40.
func copiedOptions(dst, opts []byte) int {
	n := 0
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == ipOptionEnd {
			break
		}
		if t == ipOptionNOP {
			i++
			continue
		}
		if i+1 >= len(opts) {
			break
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			break
		}
		if t&ipOptionCopied != 0 {
			n += copy(dst[n:], opts[i:i+l])
		}
		i += l
	}
	for n%4 != 0 {
		dst[n] = ipOptionEnd
		n++
	}
	return n
}

// fragmenter cuts one datagram into fragments of at most mtu octets
// (RFC 791 §3.2 "Fragmentation"), writing each into a buffer the caller
// supplies. Fragments keep the Identification, the original fragment
// offset is added to theirs, and More Fragments is kept on the last one if
// the original had it (fragmenting a fragment).
type fragmenter struct {
	ip       encap.IPv4
	hl       int // header length of the first fragment (all options)
	hlRest   int // header length of the others (copied options only)
	rest     [40]byte
	data     []byte
	off      int // data octets already emitted
	first    int // data octets per fragment: first fragment
	size     int // and the others
	baseOff  int // original fragment offset, octets
	origMF   bool
	finished bool
}

// init prepares to fragment ip, which must not have DF set, to mtu. It
// reports false if mtu cannot carry even 8 data octets.
func (f *fragmenter) init(ip encap.IPv4, mtu int) bool {
	f.ip = ip
	f.hl = ip.HeaderLength()
	f.hlRest = ipv4HeaderLen + copiedOptions(f.rest[:], ip.Options())
	f.data = ip[f.hl:ip.TotalLength()]
	f.first = (mtu - f.hl) &^ 7
	f.size = (mtu - f.hlRest) &^ 7
	f.off = 0
	f.baseOff = int(ip.FragmentOffset()) * 8
	f.origMF = ip.MF()
	f.finished = false
	return f.first >= 8 && f.size >= 8
}

// next writes the next fragment at the start of dst (which has room for
// mtu octets) and returns its length, or 0 when every fragment is out.
func (f *fragmenter) next(dst []byte) int {
	if f.finished {
		return 0
	}
	first := f.off == 0
	hl, size := f.hlRest, f.size
	if first {
		hl, size = f.hl, f.first
	}
	size = min(size, len(f.data)-f.off)
	last := f.off+size == len(f.data)
	copy(dst[:ipv4HeaderLen], f.ip[:ipv4HeaderLen])
	if first {
		copy(dst[ipv4HeaderLen:hl], f.ip[ipv4HeaderLen:hl])
	} else {
		copy(dst[ipv4HeaderLen:hl], f.rest[:hl-ipv4HeaderLen])
	}
	copy(dst[hl:], f.data[f.off:f.off+size])
	h := encap.IPv4(dst)
	h.SetHeaderLength(hl)
	h.SetTotalLength(uint16(hl + size))
	var flags uint8
	if !last || f.origMF {
		flags = encap.IPv4FlagMF
	}
	h.SetFlagsFragmentOffset(flags, uint16((f.baseOff+f.off)/8))
	h.UpdateChecksum()
	f.off += size
	f.finished = last
	return hl + size
}

// isICMPError reports whether ip carries an ICMP error message, about
// which no ICMP error may be sent (RFC 1122 §3.2.2).
func isICMPError(ip encap.IPv4) bool {
	if ip.Protocol() != protoICMP || ip.FragmentOffset() != 0 {
		return false
	}
	hl := ip.HeaderLength()
	if int(ip.TotalLength()) <= hl {
		return false
	}
	switch ip[hl] {
	case 3, 4, 5, 11, 12: // unreachable, source quench, redirect, time exceeded, parameter problem
		return true
	}
	return false
}

// mayAnswerWithICMP applies RFC 1122 §3.2.2 and RFC 1812 §4.3.2.7: no
// ICMP error about an ICMP error, a non-first fragment, or a datagram
// whose source is not a unicast host or whose destination is broadcast or
// multicast.
func mayAnswerWithICMP(ip encap.IPv4) bool {
	src, dst := ip.Src(), ip.Dst()
	switch {
	case ip.FragmentOffset() != 0, isICMPError(ip),
		src.IsUnspecified(), src.IsMulticast(), src.IsLoopback(), isLimitedBroadcast(src),
		dst.IsMulticast(), isLimitedBroadcast(dst):
		return false
	}
	return true
}

func isLimitedBroadcast(a netip.Addr) bool {
	return a.Is4() && a.As4() == [4]byte{255, 255, 255, 255}
}

// fragNeeded writes into b an ICMP Destination Unreachable, code 4
// "fragmentation needed and DF set", from src to the source of orig,
// carrying the next-hop MTU (RFC 1191 §4) and as much of orig as fits in
// 576 octets (RFC 1812 §4.3.2.3), and returns it. b has room for 576.
func fragNeeded(b []byte, orig encap.IPv4, src netip.Addr, mtu int, id uint16) []byte {
	quote := min(int(orig.TotalLength()), icmpMaxErrorLen-ipv4HeaderLen-icmpHeaderLen)
	total := ipv4HeaderLen + icmpHeaderLen + quote
	ip := encap.IPv4(b[:total])
	ip.Encode(&encap.IPv4Fields{
		TOS: 0xc0, TotalLength: uint16(total), ID: id, TTL: icmpErrorTTL, Protocol: protoICMP,
		Src: src, Dst: orig.Src(),
	})
	ip.UpdateChecksum()
	icmp := ip[ipv4HeaderLen:]
	icmp[0], icmp[1] = icmpDestUnreach, icmpFragNeeded
	icmp[2], icmp[3], icmp[4], icmp[5] = 0, 0, 0, 0
	binary.BigEndian.PutUint16(icmp[6:], uint16(mtu))
	copy(icmp[icmpHeaderLen:], orig[:quote])
	binary.BigEndian.PutUint16(icmp[2:], encap.Checksum(icmp))
	return ip
}

// isEchoRequestTo reports whether ip is a whole ICMP echo request with a
// correct checksum addressed to dst (an RFC 3519 §4.9 keepalive when dst is
// the home agent).
func isEchoRequestTo(ip encap.IPv4, dst netip.Addr) bool {
	if ip.Protocol() != protoICMP || ip.IsFragment() || ip.Dst() != dst {
		return false
	}
	icmp := ip.Payload()
	return len(icmp) >= icmpHeaderLen && icmp[0] == icmpEchoRequest && icmp[1] == 0 && encap.Checksum(icmp) == 0
}

// isEchoReplyTo reports whether ip is a whole, valid ICMP echo reply to
// dst.
func isEchoReplyTo(ip encap.IPv4, dst netip.Addr) bool {
	if ip.Protocol() != protoICMP || ip.IsFragment() || ip.Dst() != dst {
		return false
	}
	icmp := ip.Payload()
	return len(icmp) >= icmpHeaderLen && icmp[0] == icmpEchoReply && icmp[1] == 0 && encap.Checksum(icmp) == 0
}

// echoReplyInPlace turns the echo request ip into its echo reply (RFC 792
// "Echo or Echo Reply Message"): addresses swapped, type 0, a fresh TTL,
// both checksums fixed.
func echoReplyInPlace(ip encap.IPv4) {
	icmp := ip.Payload()
	c := binary.BigEndian.Uint16(icmp[2:])
	icmp[0] = icmpEchoReply
	binary.BigEndian.PutUint16(icmp[2:], checksumUpdate16(c, icmpEchoRequest<<8, icmpEchoReply<<8))
	src, dst := ip.Src(), ip.Dst()
	ip.SetSrc(dst)
	ip.SetDst(src)
	ip.SetTTL(defaultTTLOnReply)
	ip.UpdateChecksum()
}

// echoRequest writes into b an ICMP echo request from src to dst with the
// given identifier and sequence number and keepalivePayload octets of
// data, and returns it.
func echoRequest(b []byte, src, dst netip.Addr, id, seq, ipid uint16) []byte {
	total := ipv4HeaderLen + icmpHeaderLen + keepalivePayload
	ip := encap.IPv4(b[:total])
	ip.Encode(&encap.IPv4Fields{TotalLength: uint16(total), ID: ipid, TTL: keepaliveTTL, Protocol: protoICMP, Src: src, Dst: dst})
	ip.UpdateChecksum()
	icmp := ip[ipv4HeaderLen:]
	clear(icmp)
	icmp[0] = icmpEchoRequest
	binary.BigEndian.PutUint16(icmp[4:], id)
	binary.BigEndian.PutUint16(icmp[6:], seq)
	copy(icmp[icmpHeaderLen:], "mip4d-ka")
	binary.BigEndian.PutUint16(icmp[2:], encap.Checksum(icmp))
	return ip
}

// echoReplyID returns the identifier of a whole ICMP echo reply, or false.
func echoReplyID(ip encap.IPv4) (uint16, bool) {
	if ip.Protocol() != protoICMP || ip.IsFragment() {
		return 0, false
	}
	icmp := ip.Payload()
	if len(icmp) < icmpHeaderLen || icmp[0] != icmpEchoReply || icmp[1] != 0 {
		return 0, false
	}
	return binary.BigEndian.Uint16(icmp[4:]), true
}

// rateLimiter allows up to limit events per second (RFC 1812 §4.3.2.8).
type rateLimiter struct {
	mu     sync.Mutex
	limit  int
	second int64
	n      int
}

func (r *rateLimiter) allow(now time.Time) bool {
	s := now.Unix()
	r.mu.Lock()
	defer r.mu.Unlock()
	if s != r.second {
		r.second, r.n = s, 0
	}
	if r.n >= r.limit {
		return false
	}
	r.n++
	return true
}
