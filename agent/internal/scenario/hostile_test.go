package scenario

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/internal/pcap"
	"github.com/mip4d/mip4d/agent/wire"
)

// haCounters reads the home agent's engine and data plane counters.
type haCounters struct {
	Received  int64
	RevAcks   int64
	Replies   map[string]int64
	Drops     map[string]int64
	ControlIn int64
	PlaneDrop map[string]int64
	ReverseIn int64
}

func (r *Roaming) haCounters(t *testing.T) haCounters {
	t.Helper()
	var s struct {
		HA struct {
			Counters struct {
				Received int64            `json:"received"`
				RevAcks  int64            `json:"revocation_acks"`
				Replies  map[string]int64 `json:"replies_by_code"`
				Drops    map[string]int64 `json:"dropped"`
			} `json:"counters"`
		} `json:"ha"`
		DataPlane struct {
			ControlIn int64            `json:"control_in"`
			Drops     map[string]int64 `json:"dropped"`
			Reverse   struct {
				PacketsIn int64 `json:"packets_in"`
			} `json:"reverse"`
			// With the kernel plane, tunnel packets it drops never reach
			// the userspace plane: its drops count as the plane's.
			BPF *struct {
				Dropped map[string]int64 `json:"dropped"`
			} `json:"bpf"`
		} `json:"dataplane"`
	}
	must(t, r.Control("ha", "status", &s))
	drops := map[string]int64{}
	for k, v := range s.DataPlane.Drops {
		drops[k] += v
	}
	if s.DataPlane.BPF != nil {
		for k, v := range s.DataPlane.BPF.Dropped {
			drops[k] += v
		}
	}
	return haCounters{Received: s.HA.Counters.Received, RevAcks: s.HA.Counters.RevAcks, Replies: s.HA.Counters.Replies, Drops: s.HA.Counters.Drops,
		ControlIn: s.DataPlane.ControlIn, PlaneDrop: drops, ReverseIn: s.DataPlane.Reverse.PacketsIn}
}

func sum(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// udpErrors reads the UDP receive-buffer drops of a namespace's kernel, so
// packets the kernel dropped before mip4d could read them are accounted.
func (r *Roaming) udpErrors(t *testing.T, ns string) int64 {
	out, err := r.L.Exec(ns, "cat", "/proc/net/snmp")
	must(t, err)
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}

// TestHostileInput sends 100,000 hostile packets to the home agent from
// the Internet side — random bytes, mutated valid requests,
// unauthenticated, replayed and wrong-SPI requests, and spoofed tunnel
// packets (UDP and raw IP-in-IP) — while the mobile node is registered.
// The home agent must not crash, no binding may change, and its counters
// must account for every packet that reached it.
func TestHostileInput(t *testing.T) {
	r := startRegistered(t)
	before, err := r.WaitBinding(CoAs[1], false, 5*time.Second)
	must(t, err)
	c0 := r.haCounters(t)
	k0, raw0 := r.udpErrors(t, "ha"), r.rawDrops(t, "ha")
	rng := rand.New(rand.NewPCG(7, 11))

	sa, _ := auth.NewSA(1000, auth.HMACMD5, mustKey(), auth.Timestamps, 0)
	old := auth.NTPTime(time.Now().Add(-time.Hour))
	valid := func(id uint64, spi uint32, sign bool) []byte {
		m := wire.RegistrationRequest{Flags: wire.FlagD | wire.FlagT, Lifetime: 600, HomeAddr: HoA, HomeAgent: HAAddr,
			CareOf: netip.MustParseAddr("198.51.100.254"), ID: id,
			Extensions: []wire.Extension{&wire.NAI{NAI: mnNAI}, &wire.UDPTunnelRequest{}}}
		b, _ := m.AppendBinary(nil)
		if sign {
			s := *sa
			s.SPI = spi
			b = auth.Append(b, auth.MNHA, &s)
		}
		return b
	}
	replay := valid(old, 1000, true) // genuine key, stale Identification
	inner := pcap.UDP(netip.AddrPortFrom(HoA, 5000), netip.AddrPortFrom(CN, 7007), []byte("spoofed"))
	spoofedTD := append(wire.AppendTunnelDataHeader(nil, wire.ProtoIPIP), inner...)
	innerOther := pcap.UDP(netip.AddrPortFrom(netip.MustParseAddr("10.10.0.99"), 5000), netip.AddrPortFrom(CN, 7007), []byte("x"))

	var control, tunnelUDP, rawIPIP, spoofedSrc int
	err = r.L.In("inet", func() error {
		udp, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(HAAddr, wire.Port)))
		if err != nil {
			return err
		}
		defer udp.Close()
		ipip, err := net.ListenPacket("ip4:4", "0.0.0.0")
		if err != nil {
			return err
		}
		defer ipip.Close()
		// A raw socket that writes whole IPv4 datagrams: forged sources.
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer syscall.Close(fd)
		haSA := &syscall.SockaddrInet4{Addr: HAAddr.As4()}
		send := func(b []byte) {
			if len(b) > 0 && b[0] == byte(wire.MsgTunnelData) {
				tunnelUDP++
			} else {
				control++
			}
			_, _ = udp.Write(b)
		}
		for i := 0; i < 100_000; i++ {
			switch k := i % 20; {
			case k < 4: // random bytes
				b := make([]byte, rng.IntN(200))
				for j := range b {
					b[j] = byte(rng.Uint32())
				}
				send(b)
			case k < 8: // mutated genuine request
				b := append([]byte(nil), replay...)
				for n := 1 + rng.IntN(3); n > 0; n-- {
					b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
				}
				send(b)
			case k < 11: // unauthenticated
				send(valid(auth.NTPTime(time.Now()), 0, false))
			case k < 14: // replayed
				send(replay)
			case k < 16: // wrong SPI
				send(valid(auth.NTPTime(time.Now()), 4242, true))
			case k < 18: // tunnel data from a stranger, inner source = the home address
				send(spoofedTD)
			case k < 19: // raw IP-in-IP from a stranger
				_, _ = ipip.WriteTo(inner, &net.IPAddr{IP: HAAddr.AsSlice()})
				rawIPIP++
			default: // tunnel data forged to come from the binding's own NAT mapping, with a foreign inner source
				pkt := pcap.UDP(before.Endpoint, netip.AddrPortFrom(HAAddr, wire.Port),
					append(wire.AppendTunnelDataHeader(nil, wire.ProtoIPIP), innerOther...))
				_ = syscall.Sendto(fd, pkt, 0, haSA)
				spoofedSrc++
			}
			if i%200 == 199 {
				time.Sleep(2 * time.Millisecond) // stay under the socket buffers
			}
		}
		return nil
	})
	must(t, err)
	// Let the engine drain its queue: the plane has handed it everything
	// when the two counts meet.
	var c1 haCounters
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		c1 = r.haCounters(t)
		if c1.Received-c0.Received == c1.ControlIn-c0.ControlIn {
			break
		}
	}
	if !r.HA.Running() {
		t.Fatalf("the home agent died:\n%s", r.HA.Output())
	}
	after, err := r.WaitBinding(CoAs[1], false, time.Second)
	must(t, err)
	if after.Endpoint != before.Endpoint || after.Registered != before.Registered || after.Lifetime != before.Lifetime {
		t.Fatalf("hostile input changed the binding:\nbefore %+v\nafter  %+v", before, after)
	}
	kernel := r.udpErrors(t, "ha") - k0 + r.rawDrops(t, "ha") - raw0
	d := func(m1, m0 map[string]int64, k string) int64 { return m1[k] - m0[k] }
	// Every engine message ended as one reply, one drop or one ack.
	received := c1.Received - c0.Received
	if received != c1.ControlIn-c0.ControlIn {
		t.Errorf("engine saw %d messages, the plane handed it %d", received, c1.ControlIn-c0.ControlIn)
	}
	if out := sum(c1.Replies) - sum(c0.Replies) + sum(c1.Drops) - sum(c0.Drops) + c1.RevAcks - c0.RevAcks; out != received {
		t.Errorf("engine: %d messages, %d replies, drops and acks", received, out)
	}
	// Every packet sent was handed to the engine, dropped by the plane
	// (tunnel checks, a full queue) or dropped by the kernel before
	// mip4d could read it. The node's own traffic meanwhile (keepalives,
	// a renewal) is a handful more.
	sent := int64(control + tunnelUDP + rawIPIP + spoofedSrc)
	accounted := c1.ControlIn - c0.ControlIn + sum(c1.PlaneDrop) - sum(c0.PlaneDrop) + kernel
	if accounted < sent || accounted > sent+10 {
		t.Errorf("sent %d hostile packets, accounted %d (engine %d, plane drops %s, kernel %d)", sent, accounted,
			received, diff(c1.PlaneDrop, c0.PlaneDrop), kernel)
	}
	if n := d(c1.Replies, c0.Replies, "0 registration accepted"); n > 3 {
		t.Errorf("%d registrations accepted during the attack (only the node's own renewals may be)", n)
	}
	if n := d(c1.PlaneDrop, c0.PlaneDrop, "inner_source_mismatch"); n < int64(spoofedSrc)*9/10 {
		t.Errorf("forged tunnel packets from the binding's own endpoint: %d sent, %d dropped for their inner source", spoofedSrc, n)
	}
	if r.L.Ping("mn", CN, 2) == false {
		t.Fatal("the mobile node lost connectivity")
	}
	t.Logf("sent %d control, %d UDP tunnel, %d raw IP-in-IP, %d forged-source; replies %v; engine drops %v; plane drops %v; kernel drops %d",
		control, tunnelUDP, rawIPIP, spoofedSrc, diff(c1.Replies, c0.Replies), diff(c1.Drops, c0.Drops), diff(c1.PlaneDrop, c0.PlaneDrop), kernel)
}

// rawDrops sums the drops of a namespace's raw sockets (/proc/net/raw).
func (r *Roaming) rawDrops(t *testing.T, ns string) int64 {
	out, err := r.L.Exec(ns, "cat", "/proc/net/raw")
	must(t, err)
	var n int64
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 {
			continue
		}
		v, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
		n += v
	}
	return n
}

func diff(a, b map[string]int64) string {
	m := map[string]int64{}
	for k, v := range a {
		if d := v - b[k]; d != 0 {
			m[k] = d
		}
	}
	j, _ := json.Marshal(m)
	return string(j)
}

func mustKey() []byte {
	var b []byte
	fmt.Sscanf(strings.TrimPrefix(labKey, "0x"), "%x", &b)
	return b
}
