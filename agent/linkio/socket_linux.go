package linkio

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Socket is an AF_PACKET socket on one interface that receives only IPv4
// datagrams addressed to UDP port 434 and ICMP Router Advertisements and
// Solicitations, and sends whole Ethernet frames.
type Socket struct {
	fd      int
	f       *os.File
	ifindex int
	MAC     net.HardwareAddr
}

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
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return nil, fmt.Errorf("linkio: %w", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, int(htons(unix.ETH_P_IP)))
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
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index}); err != nil {
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
	return &Socket{fd: fd, f: os.NewFile(uintptr(fd), "packet:"+dev), ifindex: ifi.Index, MAC: ifi.HardwareAddr}, nil
}

// Read reads the next matching frame into b (blocking; Close unblocks).
// Frames the host sent itself are skipped.
func (s *Socket) Read(b []byte) (Frame, error) {
	rc, err := s.f.SyscallConn()
	if err != nil {
		return Frame{}, err
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
			return Frame{}, err
		}
		if rerr != nil {
			return Frame{}, rerr
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		f, perr := Parse(b[:n])
		if perr != nil {
			continue
		}
		return f, nil
	}
}

// Write sends a whole Ethernet frame.
func (s *Socket) Write(frame []byte) error {
	if len(frame) < etherHeaderLen {
		return errors.New("linkio: short frame")
	}
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: s.ifindex, Halen: 6}
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
func (s *Socket) SetReadDeadline(t time.Time) error { return s.f.SetReadDeadline(t) }

// Close closes the socket.
func (s *Socket) Close() error { return s.f.Close() }

func htons(v uint16) uint16 { return v<<8 | v>>8 }
