package ha

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/wire"
)

// benchHA builds a home agent with n mobile nodes, each with its own
// HMAC-MD5 key, all registered once (so n bindings exist), and returns it
// with the heap bytes the nodes and bindings occupy, per binding.
func benchHA(tb testing.TB, n int) (*Engine, []*auth.SA, float64) {
	cfg := Config{Addr: haAddr, HomeNet: netip.MustParsePrefix("10.0.0.0/8"), MaxLifetime: 3600, MaxBindings: 1, NATTraversal: true}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	e, err := New(cfg, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	sas := make([]*auth.SA, n)
	for i := range n {
		key := make(auth.Secret, 16)
		binary.BigEndian.PutUint64(key, uint64(i)*0x9e3779b97f4a7c15)
		sas[i] = &auth.SA{SPI: 256 + uint32(i%1000), Key: key}
		if err := e.AddMobileNode(MobileNode{HomeAddr: benchHoA(i), SAs: []*auth.SA{sas[i]}}); err != nil {
			tb.Fatal(err)
		}
	}
	reqs := buildRequests(tb, sas, 0, n, t0)
	for i, p := range reqs {
		if res := e.Handle(p, t0); res.Code != wire.CodeAccepted {
			tb.Fatalf("setup registration %d: %v %v", i, res.Code, res.Drop)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	return e, sas, float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

func benchHoA(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// buildRequests signs count registrations of nodes first, first+1, ...
// (wrapping), the k-th stamped now + k µs so Identifications keep rising.
func buildRequests(tb testing.TB, sas []*auth.SA, first, count int, now time.Time) []Packet {
	out := make([]Packet, count)
	for k := range count {
		i := (first + k) % len(sas)
		hoa := benchHoA(i)
		m := wire.RegistrationRequest{Flags: wire.FlagD | wire.FlagT, Lifetime: 1800, HomeAddr: hoa, HomeAgent: haAddr,
			CareOf: netip.AddrFrom4([4]byte{192, 0, byte(k >> 8), byte(k)}), ID: auth.NTPTime(now.Add(time.Duration(k) * time.Microsecond))}
		b, err := m.AppendBinary(make([]byte, 0, 64))
		if err != nil {
			tb.Fatal(err)
		}
		out[k] = Packet{Src: netip.AddrPortFrom(m.CareOf, 40000), Dst: netip.AddrPortFrom(haAddr, 434), Data: auth.Append(b, auth.MNHA, sas[i])}
	}
	return out
}

// BenchmarkRegistration measures authenticated registrations per second on
// one core at 1k, 100k and 1M bindings: real HMAC-MD5 verification of the
// request, the replay check, the binding update and a signed reply. The
// baseline, measured in the same run, is one HMAC-MD5 verification of the
// same request: x_hmac is how many verifications one registration costs.
func BenchmarkRegistration(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		if testing.Short() && n > 1000 {
			continue
		}
		b.Run(fmt.Sprintf("bindings=%d", n), func(b *testing.B) {
			e, sas, perBinding := benchHA(b, n)
			const batch = 4096
			now := t0.Add(time.Second)
			reqs := buildRequests(b, sas, 0, batch, now)
			base := hmacBaseline(b, reqs, sas)
			b.ReportAllocs()
			b.ResetTimer()
			next := 0
			for k := 0; k < b.N; k++ {
				if k%batch == 0 && k > 0 {
					b.StopTimer()
					next += batch
					now = now.Add(batch * time.Microsecond)
					reqs = buildRequests(b, sas, next, batch, now)
					b.StartTimer()
				}
				if res := e.Handle(reqs[k%batch], now); res.Code != wire.CodeAccepted {
					b.Fatalf("registration: %v %v", res.Code, res.Drop)
				}
			}
			b.StopTimer()
			nsPerReg := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(1e9/nsPerReg, "regs/s")
			b.ReportMetric(nsPerReg/base, "x_hmac")
			b.ReportMetric(perBinding, "B/binding")
			if e.NumBindings() != n {
				b.Fatalf("%d bindings, want %d", e.NumBindings(), n)
			}
		})
	}
}

// hmacBaseline is the ns per MN-HA verification of the same requests, the
// best of three rounds of 20000, measured in this run on this machine.
func hmacBaseline(b *testing.B, reqs []Packet, sas []*auth.SA) float64 {
	const rounds = 20000
	best := 0.0
	for range 3 {
		start := time.Now()
		for k := range rounds {
			p := reqs[k%len(reqs)]
			if auth.Verify(p.Data, wire.RequestHeaderLen, sas[k%len(reqs)%len(sas)]) != nil {
				b.Fatal("baseline verify")
			}
		}
		if ns := float64(time.Since(start).Nanoseconds()) / rounds; best == 0 || ns < best {
			best = ns
		}
	}
	return best
}
