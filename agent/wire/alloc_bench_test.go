package wire

import (
	"testing"

	"github.com/mip4d/mip4d/agent/internal/golden"
)

// walkRequest is what a role engine does on receipt: check the whole
// message, read the fixed fields and visit every extension.
func walkRequest(b []byte) (n int) {
	if _, err := ScanRequest(b); err != nil {
		return -1
	}
	v := RequestView(b)
	if v.HomeAddr().IsValid() && v.ID() != 0 {
		n++
	}
	s := v.Extensions()
	for s.Next() {
		e := s.Ext()
		n += len(e.Data()) + int(e.SubType())
	}
	return n
}

func TestDecodeAllocatesNothing(t *testing.T) {
	rrq := golden.Load(t, "wire/rrq-dynamic-ha.hex")
	rrp := golden.Load(t, "wire/rrp-redirect.hex")
	adv := golden.Load(t, "wire/adv-fa.hex")
	td := golden.Load(t, "wire/tun-data.hex")
	rev := golden.Load(t, "wire/rev.hex")
	for name, f := range map[string]func(){
		"request": func() { walkRequest(rrq) },
		"reply": func() {
			if _, err := ScanReply(rrp); err != nil {
				t.Fatal(err)
			}
			v := ReplyView(rrp)
			_, _ = v.Code(), v.HomeAgent()
			s := v.Extensions()
			for s.Next() {
			}
		},
		"advertisement": func() {
			if _, err := ScanAdvertisement(adv); err != nil {
				t.Fatal(err)
			}
			_ = AdvertisementView(adv).Router(0)
		},
		"revocation":  func() { _, _ = ScanRevocation(rev) },
		"tunnel data": func() { _ = TunnelData(td).IsValid() && TunnelData(td).NextHeader() == 4 },
		"encode header into headroom": func() {
			PutTunnelDataHeader(td, ProtoIPIP)
		},
	} {
		if a := testing.AllocsPerRun(200, f); a != 0 {
			t.Errorf("%s: %.1f allocations per run, want 0", name, a)
		}
	}
}

func TestEncodeIntoBufferAllocatesNothing(t *testing.T) {
	var m RegistrationRequest
	if err := m.UnmarshalBinary(golden.Load(t, "wire/rrq-fa-relayed.hex")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	if a := testing.AllocsPerRun(200, func() { _, _ = m.AppendBinary(buf[:0]) }); a != 0 {
		t.Errorf("AppendBinary into a large enough buffer: %.1f allocations", a)
	}
}

func BenchmarkScanRequest(b *testing.B) {
	msg := golden.Load(b, "wire/rrq-fa-relayed.hex")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if walkRequest(msg) < 0 {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkUnmarshalRequest(b *testing.B) {
	msg := golden.Load(b, "wire/rrq-fa-relayed.hex")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	var m RegistrationRequest
	for b.Loop() {
		if err := m.UnmarshalBinary(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendRequest(b *testing.B) {
	var m RegistrationRequest
	if err := m.UnmarshalBinary(golden.Load(b, "wire/rrq-fa-relayed.hex")); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	b.SetBytes(int64(m.Len()))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = m.AppendBinary(buf[:0])
	}
}

func BenchmarkScanAdvertisement(b *testing.B) {
	msg := golden.Load(b, "wire/adv-fa.hex")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ScanAdvertisement(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendAdvertisement(b *testing.B) {
	var m AgentAdvertisement
	if err := m.UnmarshalBinary(golden.Load(b, "wire/adv-fa.hex")); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 128)
	b.SetBytes(int64(m.Len()))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = m.AppendBinary(buf[:0])
	}
}
