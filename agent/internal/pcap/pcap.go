// Package pcap writes classic libpcap capture files of raw IPv4 packets and
// builds the IPv4, UDP and ICMP packets to put in them, so that tests can
// hand our encodings to independent decoders (tshark, scapy).
//
// The packet builders here deliberately share no code with agent/encap:
// they are a second, simple implementation of RFC 791 / RFC 768 / RFC 792
// framing, used to cross-check the first.
//
// File format: the classic pcap global header (magic 0xa1b2c3d4,
// version 2.4, microsecond timestamps) and one record header per packet,
// written big-endian (readers detect byte order from the magic), with
// link type LINKTYPE_RAW (101): each record is an IPv4 packet with no
// link-layer header.
package pcap

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// File format constants.
const (
	Magic        = 0xa1b2c3d4 // microsecond-resolution timestamps
	VersionMajor = 2
	VersionMinor = 4
	LinkTypeRaw  = 101 // LINKTYPE_RAW: raw IPv4 (or IPv6) packets
	SnapLen      = 65535

	globalHeaderLen = 24
	recordHeaderLen = 16
)

// Writer writes a pcap file.
type Writer struct {
	w io.Writer
}

// NewWriter writes the global header to w and returns a Writer for records.
func NewWriter(w io.Writer) (*Writer, error) {
	var h [globalHeaderLen]byte
	be := binary.BigEndian
	be.PutUint32(h[0:], Magic)
	be.PutUint16(h[4:], VersionMajor)
	be.PutUint16(h[6:], VersionMinor)
	// h[8:16]: thiszone and sigfigs, zero.
	be.PutUint32(h[16:], SnapLen)
	be.PutUint32(h[20:], LinkTypeRaw)
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &Writer{w: w}, nil
}

// WritePacket writes one record holding pkt, captured whole at ts.
func (w *Writer) WritePacket(ts time.Time, pkt []byte) error {
	if len(pkt) > SnapLen {
		return fmt.Errorf("pcap: packet of %d octets exceeds the snap length", len(pkt))
	}
	var h [recordHeaderLen]byte
	be := binary.BigEndian
	be.PutUint32(h[0:], uint32(ts.Unix()))
	be.PutUint32(h[4:], uint32(ts.Nanosecond()/1000))
	be.PutUint32(h[8:], uint32(len(pkt)))  // captured length
	be.PutUint32(h[12:], uint32(len(pkt))) // original length
	if _, err := w.w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.w.Write(pkt)
	return err
}

// Epoch is the timestamp of the first packet WriteFile writes; each later
// packet is one millisecond after the one before.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// WriteFile writes pkts to a new pcap file at path.
func WriteFile(path string, pkts ...[]byte) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	bw := bufio.NewWriter(f)
	w, err := NewWriter(bw)
	if err != nil {
		return err
	}
	for i, p := range pkts {
		if err := w.WritePacket(Epoch.Add(time.Duration(i)*time.Millisecond), p); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Write writes pkts to a pcap file in t.TempDir() and returns its path,
// failing the test on error.
func Write(t testing.TB, name string, pkts ...[]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := WriteFile(path, pkts...); err != nil {
		t.Fatal(err)
	}
	return path
}

// Read parses a pcap file written by Writer (big- or little-endian,
// microsecond magic) and returns its packets. It exists to test Writer.
func Read(r io.Reader) (linkType uint32, pkts [][]byte, err error) {
	var h [globalHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	var bo binary.ByteOrder
	switch {
	case binary.BigEndian.Uint32(h[:]) == Magic:
		bo = binary.BigEndian
	case binary.LittleEndian.Uint32(h[:]) == Magic:
		bo = binary.LittleEndian
	default:
		return 0, nil, fmt.Errorf("pcap: bad magic %x", h[:4])
	}
	linkType = bo.Uint32(h[20:])
	for {
		var rh [recordHeaderLen]byte
		if _, err := io.ReadFull(r, rh[:]); err == io.EOF {
			return linkType, pkts, nil
		} else if err != nil {
			return 0, nil, err
		}
		n := bo.Uint32(rh[8:])
		if n > SnapLen || n != bo.Uint32(rh[12:]) {
			return 0, nil, fmt.Errorf("pcap: record of %d/%d octets", n, bo.Uint32(rh[12:]))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(r, p); err != nil {
			return 0, nil, err
		}
		pkts = append(pkts, p)
	}
}

// IPv4 holds the IPv4 header fields the packet builders let a test choose;
// the zero value gives TOS 0, ID 0, no DF and TTL 64.
type IPv4 struct {
	Src, Dst netip.Addr
	TOS      uint8
	TTL      uint8 // 0 means 64
	ID       uint16
	DF       bool
}

// Raw returns an IPv4 packet (20-octet header, correct header checksum)
// with the given protocol number carrying payload.
func (h IPv4) Raw(proto uint8, payload []byte) []byte {
	p := make([]byte, 20+len(payload))
	p[0] = 0x45
	p[1] = h.TOS
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:], h.ID)
	if h.DF {
		p[6] = 0x40
	}
	p[8] = h.TTL
	if p[8] == 0 {
		p[8] = 64
	}
	p[9] = proto
	src, dst := h.Src.As4(), h.Dst.As4()
	copy(p[12:16], src[:])
	copy(p[16:20], dst[:])
	binary.BigEndian.PutUint16(p[10:], InternetChecksum(p[:20]))
	copy(p[20:], payload)
	return p
}

// UDP returns an IPv4/UDP packet (RFC 768) with a correct UDP checksum
// over the pseudo-header, UDP header and payload.
func (h IPv4) UDP(srcPort, dstPort uint16, payload []byte) []byte {
	u := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], srcPort)
	binary.BigEndian.PutUint16(u[2:], dstPort)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], payload)
	src, dst := h.Src.As4(), h.Dst.As4()
	pseudo := make([]byte, 0, 12+len(u))
	pseudo = append(pseudo, src[:]...)
	pseudo = append(pseudo, dst[:]...)
	pseudo = append(pseudo, 0, 17, u[4], u[5])
	pseudo = append(pseudo, u...)
	c := InternetChecksum(pseudo)
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return h.Raw(17, u)
}

// ICMP returns an IPv4/ICMP packet (RFC 792) of the given type and code;
// rest is everything after the checksum (e.g. identifier, sequence and
// data of an echo, or the body of an agent advertisement).
func (h IPv4) ICMP(typ, code uint8, rest []byte) []byte {
	m := make([]byte, 4+len(rest))
	m[0], m[1] = typ, code
	copy(m[4:], rest)
	binary.BigEndian.PutUint16(m[2:], InternetChecksum(m))
	return h.Raw(1, m)
}

// UDP returns an IPv4/UDP packet from src to dst with default header
// fields; see IPv4.UDP.
func UDP(src, dst netip.AddrPort, payload []byte) []byte {
	return IPv4{Src: src.Addr(), Dst: dst.Addr()}.UDP(src.Port(), dst.Port(), payload)
}

// ICMP returns an IPv4/ICMP packet with default header fields; see
// IPv4.ICMP.
func ICMP(src, dst netip.Addr, typ, code uint8, rest []byte) []byte {
	return IPv4{Src: src, Dst: dst}.ICMP(typ, code, rest)
}

// Raw returns an IPv4 packet of protocol proto with default header
// fields; see IPv4.Raw.
func Raw(src, dst netip.Addr, proto uint8, payload []byte) []byte {
	return IPv4{Src: src, Dst: dst}.Raw(proto, payload)
}

// InternetChecksum is the RFC 1071 checksum of b, written the plain way
// (16-bit words, odd octet padded with zero).
func InternetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
