package proxy

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/ha"
	"github.com/mip4d/mip4d/agent/wire"
)

// zeroRand makes Identifications deterministic so a fuzz input built
// against one engine matches the next one built the same way.
type zeroRand struct{}

func (zeroRand) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// pendingLab is a proxy with the laptop's first request in flight, and
// the home agent's genuine reply to it.
func pendingLab(t testing.TB) (*Engine, []byte) {
	cfg := proxyConfig(hs1, fa1SA)
	cfg.UDPTunnel = true
	p, err := New(cfg, zeroRand{})
	if err != nil {
		t.Fatal(err)
	}
	out := p.Attach(laptop, t0)
	sas := auth.NewStore()
	sas.Add(auth.FAHA, auth.PeerAddr(hs1), fa1SA)
	h, _ := ha.New(haConfig(), sas, zeroRand{})
	_ = h.AddMobileNode(ha.MobileNode{NAI: laptopNAI, SAs: []*auth.SA{{SPI: DefaultKeySPI, Key: DeriveKey(master, laptopNAI)}}})
	res := h.Handle(ha.Packet{Src: netip.AddrPortFrom(natAddr, 999), Dst: out.Send[0].Dst, Data: out.Send[0].Data}, t0)
	if res.Reply == nil {
		t.Fatal("no reply")
	}
	return p, res.Reply.Data
}

// FuzzHandleReply: any bytes as a reply change nothing unless they are
// the genuine reply, and never crash.
func FuzzHandleReply(f *testing.F) {
	_, good := pendingLab(f)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte{3, 0, 0, 0})
	f.Add(append(bytes.Clone(good[:wire.ReplyHeaderLen]), 131, 0, 32, 20))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, good := pendingLab(t)
		o := p.HandleReply(netip.AddrPortFrom(haAddr, 434), b, t0)
		if len(o.Events) > 0 && !bytes.Equal(b, good) {
			// Only an authenticated reply may bind: it must verify with
			// the client's key.
			l, err := wire.ScanReply(b)
			if err != nil || l.MNHA < 0 || auth.Verify(b, l.MNHA, p.clients[laptop].sa) != nil {
				t.Fatalf("unauthenticated reply changed state: %+v", o.Events)
			}
		}
		if p.NumClients() > 1 {
			t.Fatal("a reply created a client")
		}
		p.Tick(t0.Add(time.Hour))
	})
}

// FuzzHandleRevocation: any bytes as a revocation never crash and only a
// valid FA-HA authenticated one revokes.
func FuzzHandleRevocation(f *testing.F) {
	p, good := pendingLab(f)
	p.HandleReply(netip.AddrPortFrom(haAddr, 434), good, t0)
	m := wire.Revocation{Flags: wire.RevocationA, HomeAddr: poolAddr, HomeDomain: haAddr, ForeignDomain: hs1,
		ID: uint32(auth.NTPTime(t0.Add(time.Second)) >> 32)}
	rev, _ := m.AppendBinary(nil)
	rev = auth.Append(rev, auth.FAHA, fa1SA)
	f.Add(rev)
	f.Add(rev[:wire.RevocationHeaderLen])
	f.Add([]byte{7})
	f.Add([]byte{15, 0, 0, 0, 10, 10, 9, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, good := pendingLab(t)
		p.HandleReply(netip.AddrPortFrom(haAddr, 434), good, t0)
		o := p.HandleRevocation(netip.AddrPortFrom(haAddr, 434), b, t0.Add(time.Second))
		if len(o.Events) > 0 {
			l, err := wire.ScanRevocation(b)
			if err != nil || l.FAHA < 0 || auth.Verify(b, l.FAHA, fa1SA) != nil {
				t.Fatalf("unauthenticated revocation acted on: %+v", o)
			}
		}
		p.Tick(t0.Add(time.Hour))
	})
}

// BenchmarkRenewal is the per-client hot path: build and sign a renewal,
// then match, verify and apply the home agent's signed reply.
func BenchmarkRenewal(b *testing.B) {
	p, good := pendingLab(b)
	from := netip.AddrPortFrom(haAddr, 434)
	p.HandleReply(from, good, t0)
	c := p.clients[laptop]
	lay, _ := wire.ScanReply(good)
	body := bytes.Clone(good[:lay.MNHA])
	tail := good[lay.MNHA+2+wire.AuthSPILen+auth.AuthenticatorLen : lay.FAHA]
	reply := make([]byte, 0, len(good))
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		out := p.register(c, now)
		if len(out.Send) != 1 {
			b.Fatal("no request")
		}
		id := wire.RequestView(out.Send[0].Data).ID()
		reply = append(reply[:0], body...)
		for i := range 8 {
			reply[12+i] = byte(id >> (56 - 8*i))
		}
		reply = auth.Append(reply, auth.MNHA, c.sa)
		reply = append(reply, tail...)
		reply = auth.Append(reply, auth.FAHA, fa1SA)
		if o := p.HandleReply(from, reply, now); len(o.Events) != 1 {
			b.Fatalf("reply not accepted: %+v", o)
		}
	}
}
