package auth

import (
	"testing"

	"github.com/mip4d/mip4d/agent/internal/golden"
	"github.com/mip4d/mip4d/agent/wire"
)

// FuzzVerify feeds arbitrary messages and offsets to the authenticator
// parser (SPIAt, Verify): it must never panic, and must never accept a
// message whose authenticator it did not compute itself.
func FuzzVerify(f *testing.F) {
	for _, name := range []string{"wire/rrq-colocated-nat.hex", "wire/rrq-mn-to-fa.hex", "wire/rrq-fa-relayed.hex"} {
		msg := golden.Load(f, name)
		l, _ := wire.ScanRequest(msg)
		f.Add(msg, l.MNHA)
		f.Add(msg, l.MNAAA)
		f.Add(msg, l.FAHA)
	}
	f.Fuzz(func(t *testing.T, msg []byte, off int) {
		spi, err := SPIAt(msg, off)
		if err != nil {
			if Verify(msg, off, goldMNHA) == nil {
				t.Fatal("Verify accepted what SPIAt rejected")
			}
			return
		}
		err = Verify(msg, off, goldMNHA)
		if err == nil {
			if spi != goldMNHA.SPI {
				t.Fatal("accepted with another SPI")
			}
			// It verified: recomputing over the covered bytes must agree.
			covered, got, _ := authBounds(msg, off)
			var want [AuthenticatorLen]byte
			goldMNHA.Compute(covered, &want)
			if string(got) != string(want[:]) {
				t.Fatal("accepted a wrong authenticator")
			}
		}
	})
}
