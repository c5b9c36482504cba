package linkio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// raw is an AF_PACKET socket on one interface for one EtherType, with a
// BPF filter, sending whole Ethernet frames.
type raw struct {
	f       *os.File
	ifindex int
	proto   uint16
	MAC     net.HardwareAddr
}

// Socket is an AF_PACKET socket on one interface that receives only IPv4
// datagrams addressed to UDP port 434 and ICMP Router Advertisements and
// Solicitations, and sends whole Ethernet frames.
type Socket struct{ *raw }

// filter accepts IPv4 frames that are UDP with destination port 434, or
// ICMP of type 9 or 10 (unfragmented; Parse rechecks everything).
var filter = func() []bpf.RawInstruction {
	raw, err := bpf.Assemble([]bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: 12, Size: 2}, // EtherType
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x0800, SkipTrue: 13}, // → 15 drop
		/* 2 */ bpf.LoadAbsolute{Off: 20, Size: 2}, // flags + fragment offset
		/* 3 */ bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 11}, // a later fragment → 15
		/* 4 */ bpf.LoadAbsolute{Off: 23, Size: 1}, // protocol
		/* 5 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 17, SkipFalse: 3}, // not UDP → 9
		/* 6 */ bpf.LoadMemShift{Off: 14}, // X = IP header length
		/* 7 */ bpf.LoadIndirect{Off: 16, Size: 2}, // UDP destination port
		/* 8 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 434, SkipTrue: 5, SkipFalse: 6}, // → 14 / 15
		/* 9 */ bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 1, SkipTrue: 5}, // not ICMP → 15
		/* 10 */ bpf.LoadMemShift{Off: 14},
		/* 11 */ bpf.LoadIndirect{Off: 14, Size: 1}, // ICMP type
		/* 12 */ bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: 9, SkipFalse: 2}, // < 9 → 15
		/* 13 */ bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: 10, SkipTrue: 1}, // > 10 → 15
		/* 14 */ bpf.RetConstant{Val: 0xffff},
		/* 15 */ bpf.RetConstant{Val: 0},
	})
	if err != nil {
		panic(err)
	}
	return raw
}()

// Open opens the socket on the named interface.
func Open(dev string) (*Socket, error) {
	r, err := openRaw(dev, unix.ETH_P_IP, filter)
	if err != nil {
		return nil, err
	}
	return &Socket{r}, nil
}

// Read reads the next matching frame into b (blocking; Close unblocks).
// Frames the host sent itself are skipped.
func (s *Socket) Read(b []byte) (Frame, error) {
	for {
		n, err := s.readFrame(b)
		if err != nil {
			return Frame{}, err
		}
		if f, perr := Parse(b[:n]); perr == nil {
			return f, nil
		}
	}
}

// arpFilter accepts ARP replies.
var arpFilter = func() []bpf.RawInstruction {
	raw, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2}, // EtherType
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: etherTypeARP, SkipTrue: 3},
		bpf.LoadAbsolute{Off: 20, Size: 2}, // operation
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(ARPReply), SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		panic(err)
	}
	return raw
}()

// ARPSocket asks the link who is there: it sends ARP requests and reads
// the replies (a proxy confirming that a client is still attached before
// it renews the client's registration, RFC 5563 §4.4).
type ARPSocket struct{ *raw }

// OpenARP opens an ARP socket on the named interface.
func OpenARP(dev string) (*ARPSocket, error) {
	r, err := openRaw(dev, etherTypeARP, arpFilter)
	if err != nil {
		return nil, err
	}
	return &ARPSocket{r}, nil
}

// Probe sends an ARP request for target from sender to dst (unicast to
// the MAC a client had, or broadcast).
func (s *ARPSocket) Probe(dst net.HardwareAddr, sender, target netip.Addr) error {
	return s.Write(AppendARP(nil, dst, s.MAC, ARP{Op: ARPRequest, SenderMAC: s.MAC, SenderIP: sender, TargetIP: target}))
}

// Read reads the next ARP reply into b (blocking; Close unblocks); its
// hardware addresses alias b.
func (s *ARPSocket) Read(b []byte) (ARP, error) {
	for {
		n, err := s.readFrame(b)
		if err != nil {
			return ARP{}, err
		}
		if m, perr := ParseARP(b[:n]); perr == nil && m.Op == ARPReply {
			return m, nil
		}
	}
}

// openRaw opens an AF_PACKET socket on dev for EtherType proto with the
// filter attached before it is bound.
func openRaw(dev string, proto uint16, filter []bpf.RawInstruction) (*raw, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return nil, fmt.Errorf("linkio: %w", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, int(htons(proto)))
	if err != nil {
		return nil, fmt.Errorf("linkio: packet socket: %w", err)
	}
	prog := make([]unix.SockFilter, len(filter))
	for i, r := range filter {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("linkio: filter: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("linkio: bind to %s: %w", dev, err)
	}
	// Frames that arrived before the filter was attached may be queued:
	// drain them.
	buf := make([]byte, 2048)
	for {
		if _, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != nil {
			break
		}
	}
	return &raw{f: os.NewFile(uintptr(fd), "packet:"+dev), ifindex: ifi.Index, proto: proto, MAC: ifi.HardwareAddr}, nil
}

// readFrame reads the next frame into b, skipping those the host sent.
func (s *raw) readFrame(b []byte) (int, error) {
	rc, err := s.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err = rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), b, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return 0, err
		}
		if rerr != nil {
			return 0, rerr
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		return n, nil
	}
}

// Write sends a whole Ethernet frame.
func (s *raw) Write(frame []byte) error {
	if len(frame) < etherHeaderLen {
		return errors.New("linkio: short frame")
	}
	to := &unix.SockaddrLinklayer{Protocol: htons(s.proto), Ifindex: s.ifindex, Halen: 6}
	copy(to.Addr[:], frame[0:6])
	rc, err := s.f.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		werr = unix.Sendto(int(fd), frame, 0, to)
		return werr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return werr
}

// SetReadDeadline bounds Read.
func (s *raw) SetReadDeadline(t time.Time) error { return s.f.SetReadDeadline(t) }

// Close closes the socket.
func (s *raw) Close() error { return s.f.Close() }

func htons(v uint16) uint16 { return v<<8 | v>>8 }
