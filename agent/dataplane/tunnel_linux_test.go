package dataplane

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/mn"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestTunnelNetns runs a home agent plane and a mobile node plane in two
// network namespaces, with real TUN devices, the real UDP port 434 and
// raw protocol-4 sockets, a binding installed directly, and passes real
// traffic both ways between a correspondent node and the mobile node's
// home address: ping, a TCP connection, RFC 3519 keepalives, the plane's
// own ICMP fragmentation needed and fragmentation, and spoofed packets
// that must be dropped. Once in RFC 3519 UDP mode and once in IP in IP.
//
//	cn 192.0.2.2 ── 192.0.2.1 ha 198.51.100.1 ── 198.51.100.2 mn (home address 10.1.0.2)
func TestTunnelNetns(t *testing.T) {
	l := newLab(t, "cn", "ha", "mn")
	must(t, l.Veth("cn", "eth0", "ha", "lan"))
	must(t, l.Veth("ha", "wan", "mn", "eth0"))
	must(t, l.Addr("cn", "eth0", "192.0.2.2/24"))
	must(t, l.Route("cn", "default", "via", "192.0.2.1"))
	must(t, l.Addr("ha", "lan", "192.0.2.1/24"))
	must(t, l.Addr("ha", "wan", "198.51.100.1/24"))
	must(t, l.Router("ha"))
	must(t, l.Addr("mn", "eth0", "198.51.100.2/24"))
	hcn, hha, hmn := l.Handle(t, "cn"), l.Handle(t, "ha"), l.Handle(t, "mn")

	var (
		haAddr = netip.MustParseAddr("198.51.100.1")
		coa    = netip.MustParseAddr("198.51.100.2")
		cn     = netip.MustParseAddr("192.0.2.2")
	)
	for i, c := range []struct {
		name         string
		udp, offload bool
	}{{"udp", true, true}, {"ipip", false, true}, {"udp-plain", true, false}, {"ipip-plain", false, false}} {
		udp, offload := c.udp, c.offload
		// A home address per case: cn caches the path MTU it learns
		// per destination.
		hoa := netip.AddrFrom4([4]byte{10, 1, 0, byte(2 + i)})
		t.Run(c.name, func(t *testing.T) {
			// The home agent's device gets MTU 1500, larger than
			// the tunnel carries, so that oversized datagrams reach
			// the plane (with the recommended DeviceMTU the kernel
			// answers them itself).
			var hdev, mdev *TUN
			var hc HAConns
			var mc MNConns
			inNS(t, hha, func() {
				var err error
				hdev, err = openTUN("m4ha", 1500, offload)
				must(t, err)
				sc, err := listenUDP(netip.MustParseAddrPort("0.0.0.0:434"), offload)
				must(t, err)
				rc, err := ListenRaw(protoIPIP, netip.Addr{})
				must(t, err)
				hc = HAConns{UDP: sc, IPIP: rc}
			})
			mcfg := MNConfig{}
			var mport uint16
			inNS(t, hmn, func() {
				var err error
				mdev, err = openTUN("m4mn", mcfg.DeviceMTU(), offload)
				must(t, err)
				sc, err := listenUDP(netip.MustParseAddrPort("0.0.0.0:0"), offload)
				must(t, err)
				mport = sc.LocalAddr().Port()
				rc, err := ListenRaw(protoIPIP, netip.Addr{})
				must(t, err)
				mc = MNConns{UDP: sc, IPIP: rc}
			})
			must(t, l.IP("ha", "route", "add", hoa.String()+"/32", "dev", "m4ha"))
			must(t, l.IP("mn", "addr", "add", hoa.String()+"/32", "dev", "m4mn"))
			must(t, l.IP("mn", "route", "add", "192.0.2.0/24", "dev", "m4mn", "src", hoa.String()))

			h, err := NewHA(HAConfig{Addr: haAddr}, hdev, hc)
			must(t, err)
			var heard atomic.Int64
			mcfg.Heard = func() { heard.Add(1) }
			m, err := NewMN(mcfg, mdev, mc)
			must(t, err)
			b := ha.Binding{HomeAddr: hoa, CareOf: coa, Endpoint: netip.AddrPortFrom(coa, 0), Encap: ha.EncapIPIP, ReverseTunnel: true}
			tun := mn.Tunnel{Up: true, HomeAddr: hoa, Local: coa, Remote: netip.AddrPortFrom(haAddr, 0), Reverse: true}
			if udp {
				b.UDP, b.Endpoint = true, netip.AddrPortFrom(coa, mport)
				tun.UDP, tun.Remote = true, netip.AddrPortFrom(haAddr, 434)
			}
			must(t, h.Apply(ha.Event{Kind: ha.BindingAdded, Binding: b}))
			m.SetTunnel(tun)

			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			for _, run := range []func(context.Context) error{h.Run, m.Run} {
				wg.Go(func() {
					if err := run(ctx); err != nil {
						t.Errorf("Run: %v", err)
					}
				})
			}
			t.Cleanup(func() { cancel(); wg.Wait() })

			// Ping both ways.
			if !l.Ping("cn", hoa, 5) {
				t.Fatalf("cn cannot ping the home address; HA %+v MN %+v", h.Stats(), m.Stats())
			}
			if !l.Ping("mn", cn, 3) {
				t.Fatalf("the mobile node cannot ping cn")
			}

			// Fragmentation of what may be fragmented: cn sends 1500
			// and 528 octet fragments, the first is too big for the
			// tunnel and the plane fragments it again (before cn
			// learns the path MTU below).
			if out, err := l.Exec("cn", "ping", "-c", "2", "-i", "0.3", "-W", "2", "-M", "dont", "-s", "2000", hoa.String()); err != nil {
				t.Errorf("ping of 2028 octets without DF: %v\n%s", err, out)
			}

			// A TCP connection from the home address, 1 MiB each way;
			// cn's SYN-ACK offers MSS 1460, which the plane clamps.
			tcpEcho(t, hcn, hmn, netip.AddrPortFrom(cn, 0), 1<<20)

			// The plane's own fragmentation needed: a 1500-octet DF
			// datagram does not fit the tunnel.
			want := map[bool]string{true: "mtu = 1468", false: "mtu = 1480"}[udp]
			out, _ := l.Exec("cn", "ping", "-c", "2", "-i", "0.3", "-W", "1", "-M", "do", "-s", "1472", hoa.String())
			if !strings.Contains(out, want) && !strings.Contains(out, strings.ReplaceAll(want, " = ", "=")) {
				t.Errorf("ping -M do 1500 octets: no %q in\n%s", want, out)
			}

			if udp {
				// RFC 3519 keepalive, answered by the home agent plane.
				before := heard.Load()
				must(t, m.SendKeepalive())
				deadline := time.Now().Add(3 * time.Second)
				for m.Stats().KeepaliveReplies == 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if m.Stats().KeepaliveReplies != 1 || h.Stats().KeepalivesAnswered != 1 || heard.Load() <= before {
					t.Errorf("keepalive: MN %d replies, HA %d answered, heard %d", m.Stats().KeepaliveReplies, h.Stats().KeepalivesAnswered, heard.Load())
				}
			}

			// Spoofed traffic from the mobile node's network is
			// dropped and counted.
			spoof(t, hmn, udp, haAddr, hoa)
			deadline := time.Now().Add(3 * time.Second)
			wantDrop := map[bool]string{true: "outer_source_mismatch", false: "inner_source_mismatch"}[udp]
			for h.Stats().Drops[wantDrop] == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}

			hs, ms := h.Stats(), m.Stats()
			js, _ := json.Marshal(map[string]any{"ha": hs, "mn": ms,
				"ha_tun": hdev.OffloadStats(), "mn_tun": mdev.OffloadStats(), "offloads": []TUNOffloads{hdev.Offloads(), mdev.Offloads()}})
			t.Logf("counters: %s", js)
			// With offloads the 1 MiB each way crosses the devices as
			// super-packets: read and cut on each side, gathered and
			// written on each side.
			if offload && hdev.Offloads().TSO {
				for name, o := range map[string]OffloadStats{"ha": hdev.OffloadStats(), "mn": mdev.OffloadStats()} {
					if o.SuperPacketsIn == 0 || o.SegmentsIn < 2*o.SuperPacketsIn || o.SuperPacketsOut == 0 || o.SegmentsOut < 2*o.SuperPacketsOut {
						t.Errorf("%s device: offloads unused: %+v", name, o)
					}
				}
			}
			if !offload && (hdev.Offloads() != TUNOffloads{} || mdev.Offloads() != TUNOffloads{}) {
				t.Errorf("offloads on when not asked for")
			}
			switch {
			// 1 MiB in segments of at most 1428 octets (the clamped
			// MSS) is at least 735 of them each way, counted one by
			// one even when they cross the device as super-packets
			// (and the receivers, given super-packets, ACK less).
			case hs.Forward.PacketsOut < 735 || hs.Reverse.PacketsOut < 735 || ms.Forward.PacketsOut < 735 || ms.Reverse.PacketsOut < 735:
				t.Error("too few packets counted for a 1 MiB exchange")
			case hs.MSSClamped == 0:
				t.Error("cn's SYN-ACK (MSS 1460) was not clamped")
			case hs.FragNeededSent == 0 || hs.Drops["too_big"] == 0:
				t.Error("no fragmentation needed sent")
			case hs.Fragmented == 0 || hs.FragmentsOut < 2:
				t.Error("nothing fragmented")
			case hs.Drops[wantDrop] != 1:
				t.Errorf("spoofed packet: drops %v, want one %s", hs.Drops, wantDrop)
			case hs.ReadErrors+hs.WriteErrors+ms.ReadErrors+ms.WriteErrors != 0:
				t.Error("I/O errors")
			}
		})
	}
}

// tcpEcho connects from namespace client to an echo server in namespace
// server and sends n random octets, which must come back intact.
func tcpEcho(t *testing.T, server, client netns.NsHandle, at netip.AddrPort, n int) {
	t.Helper()
	var ln net.Listener
	inNS(t, server, func() {
		var err error
		ln, err = net.Listen("tcp4", at.String())
		must(t, err)
	})
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.Copy(c, c)
	}()
	var c net.Conn
	inNS(t, client, func() {
		var err error
		c, err = net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		must(t, err)
	})
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	data := make([]byte, n)
	rand.Read(data)
	go func() {
		c.Write(data)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("TCP echo through the tunnel: %d of %d octets back, %v", len(got), n, err)
	}
}

// spoof sends, from namespace h, one tunnelled datagram the home agent
// must refuse: with UDP, tunnel data from a port that is not the
// binding's; with IP in IP, an inner source that is not the home address.
func spoof(t *testing.T, h netns.NsHandle, udp bool, haAddr, hoa netip.Addr) {
	t.Helper()
	inNS(t, h, func() {
		if udp {
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(haAddr, 434)))
			must(t, err)
			defer c.Close()
			_, err = c.Write(tunnelData(4, udpPacket(hoa, netip.MustParseAddr("192.0.2.2"), 60, false)))
			must(t, err)
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, protoIPIP)
		must(t, err)
		defer unix.Close(fd)
		inner := udpPacket(netip.MustParseAddr("10.1.0.99"), netip.MustParseAddr("192.0.2.2"), 60, false)
		must(t, unix.Sendto(fd, inner, 0, &unix.SockaddrInet4{Addr: haAddr.As4()}))
	})
}
