package wire

import (
	"bytes"
	"testing"

	"github.com/mip4d/mip4d/agent/internal/golden"
)

// Fuzz targets: one per decoder. Invariants: no panic; the allocation-free
// scanner and the struct decoder agree on validity; whatever decodes
// re-encodes to exactly the input. Crashers found by `make fuzz` are
// pinned in testdata/fuzz/<Target>/ and run by every `go test`.

func seed(f *testing.F, files ...string) {
	for _, name := range files {
		f.Add(golden.Load(f, "wire/"+name))
	}
}

func roundTrip(t *testing.T, b []byte, m Message, scanErr error) {
	err := m.UnmarshalBinary(b)
	if (err == nil) != (scanErr == nil) {
		t.Fatalf("scanner says %v, decoder says %v", scanErr, err)
	}
	if err != nil {
		if !isKnownErr(err) {
			t.Fatalf("untyped error %v", err)
		}
		return
	}
	out, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	if !bytes.Equal(out, b) {
		t.Fatalf("re-encode differs:\n in %x\nout %x", b, out)
	}
	if m.Len() != len(b) {
		t.Fatalf("Len %d, input %d", m.Len(), len(b))
	}
}

func FuzzRegistrationRequest(f *testing.F) {
	seed(f, "rrq-colocated-nat.hex", "rrq-keyed-md5.hex", "rrq-mn-to-fa.hex", "rrq-fa-relayed.hex", "rrq-dynamic-ha.hex")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, scanErr := ScanRequest(b)
		if v := RequestView(b); v.IsValid() {
			_ = v.Flags().String()
			_, _, _, _ = v.HomeAddr(), v.HomeAgent(), v.CareOf(), v.ID()
		}
		roundTrip(t, b, &RegistrationRequest{}, scanErr)
	})
}

func FuzzRegistrationReply(f *testing.F) {
	seed(f, "rrp-accepted-nat.hex", "rrp-redirect.hex", "rrp-denied-133.hex", "rrp-fa-denied-69.hex")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, scanErr := ScanReply(b)
		if v := ReplyView(b); v.IsValid() {
			_ = v.Code().String()
		}
		roundTrip(t, b, &RegistrationReply{}, scanErr)
	})
}

func FuzzAgentAdvertisement(f *testing.F) {
	seed(f, "adv-fa.hex")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, scanErr := ScanAdvertisement(b)
		m := &AgentAdvertisement{}
		roundTrip(t, b, m, scanErr)
		if scanErr == nil {
			if maa := m.MobilityAgent(); maa != nil {
				_ = maa.Validate()
				_ = maa.Flags.String()
			}
		}
	})
}

func FuzzAgentSolicitation(f *testing.F) {
	seed(f, "sol.hex")
	f.Fuzz(func(t *testing.T, b []byte) {
		m := &AgentSolicitation{}
		if m.UnmarshalBinary(b) != nil {
			return
		}
		out, _ := m.AppendBinary(nil)
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encode differs: %x vs %x", out, b)
		}
	})
}

func FuzzRevocation(f *testing.F) {
	seed(f, "rev.hex")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, scanErr := ScanRevocation(b)
		roundTrip(t, b, &Revocation{}, scanErr)
	})
}

func FuzzRevocationAck(f *testing.F) {
	seed(f, "revack.hex")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, scanErr := ScanRevocationAck(b)
		roundTrip(t, b, &RevocationAck{}, scanErr)
	})
}

// FuzzParseMessage feeds the port-434 dispatcher everything at once, as the
// daemon's socket reader does.
func FuzzParseMessage(f *testing.F) {
	seed(f, "rrq-fa-relayed.hex", "rrp-redirect.hex", "rev.hex", "revack.hex", "tun-data.hex")
	f.Fuzz(func(t *testing.T, b []byte) {
		if td := TunnelData(b); td.IsValid() {
			_, _ = td.NextHeader(), td.Payload()
			return
		}
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		out, err := m.AppendBinary(nil)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encode differs: %v", err)
		}
	})
}
