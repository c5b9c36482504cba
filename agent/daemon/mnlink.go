package daemon

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/mip4d/mip4d/agent/linkio"
	"github.com/mip4d/mip4d/agent/mn"
	"github.com/mip4d/mip4d/agent/netconf"
	"github.com/mip4d/mip4d/agent/wire"
)

// mnLink is a mobile node's link to foreign agents (mode fa): it hears
// Agent Advertisements and Registration Replies on the uplink and sends
// Solicitations and Registration Requests there, at the link layer, since
// the node's home address does not belong to the foreign link.
type mnLink struct {
	sock   *linkio.Socket
	frames chan linkio.Frame
	agents map[netip.Addr]net.HardwareAddr // foreign agents' MACs, from their advertisements
}

func openMNLink(ctx context.Context, dev string) (*mnLink, error) {
	s, err := linkio.Open(dev)
	if err != nil {
		return nil, err
	}
	l := &mnLink{sock: s, frames: make(chan linkio.Frame, 64), agents: map[netip.Addr]net.HardwareAddr{}}
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	go func() {
		buf := make([]byte, 4096)
		for {
			f, err := s.Read(buf)
			if err != nil {
				close(l.frames)
				return
			}
			// The buffer is reused: keep copies of what outlives it.
			f.SrcMAC = append(net.HardwareAddr(nil), f.SrcMAC...)
			f.DstMAC = nil
			f.Payload = append([]byte(nil), f.Payload...)
			select {
			case l.frames <- f:
			default: // the engine is behind; advertisements repeat
			}
		}
	}()
	return l, nil
}

// handle passes one frame to the engine.
func (l *mnLink) handle(r *mnRunner, f linkio.Frame) {
	now := r.o.now()
	switch {
	case f.Proto == 1 && len(f.Payload) > 0 && f.Payload[0] == wire.ICMPTypeRouterAdvertisement:
		l.agents[f.Src] = f.SrcMAC
		r.exec(r.x, r.x.eng.HandleAdvertisement(f.Src, f.Payload, now))
	case f.Proto == 17 && f.SrcPort == wire.Port && len(f.Payload) > 0 && wire.MsgType(f.Payload[0]) == wire.MsgRegistrationReply:
		r.exec(r.x, r.x.eng.HandleReply(f.Payload, now))
	}
}

// send puts one of the engine's packets on the link: solicitations
// broadcast with TTL 1, requests to the agent's MAC with TTL 255.
func (l *mnLink) send(p mn.Packet) error {
	src := p.Src
	if !src.IsValid() {
		src = netip.IPv4Unspecified()
	}
	if p.TTL1 {
		dst := netip.AddrFrom4([4]byte{255, 255, 255, 255})
		return l.sock.Write(linkio.AppendICMP(nil, linkio.Broadcast, l.sock.MAC, src, dst, 1, p.Data))
	}
	mac := l.agents[p.Dst.Addr()]
	if mac == nil {
		mac = linkio.Broadcast
	}
	ttl := uint8(64)
	if p.TTL255 {
		ttl = 255
	}
	return l.sock.Write(linkio.AppendUDP(nil, mac, l.sock.MAC, netip.AddrPortFrom(src, wire.Port), p.Dst, ttl, p.Data))
}

// routeViaFA gives the home address to the uplink and routes through the
// foreign agent, which decapsulates for us and reverse-tunnels what we
// send (RFC 5944 §4.2.1, RFC 3024).
func (r *mnRunner) routeViaFA(t mn.Tunnel) error {
	fa := r.x.eng.ForeignAgent()
	if r.hoaOnLink != t.HomeAddr {
		if err := r.nc.ReplaceAddr(r.c.Uplink, netip.PrefixFrom(t.HomeAddr, 32)); err != nil {
			return err
		}
		r.hoaOnLink = t.HomeAddr
	}
	rt := netconf.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gw: fa, Dev: r.c.Uplink, Src: t.HomeAddr, OnLink: true}
	if err := r.nc.ReplaceRoute(rt); err != nil {
		return err
	}
	r.faRoute = rt
	return nil
}

func (r *mnRunner) unrouteFA() {
	if r.faRoute.Dst.IsValid() {
		_ = r.nc.DelRoute(r.faRoute)
		r.faRoute = netconf.Route{}
	}
	if r.hoaOnLink.IsValid() {
		_ = r.nc.DelAddr(r.c.Uplink, netip.PrefixFrom(r.hoaOnLink, 32))
		r.hoaOnLink = netip.Addr{}
	}
}

// linkSolicitGap bounds the solicitations a flapping link triggers.
const linkSolicitGap = 250 * time.Millisecond

// solicitEvery is how often a node in fa mode without an agent solicits
// (RFC 5944 §2.4: at most once a second, backing off).
const solicitEvery = 3 * time.Second
