package bpfgen

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"
)

// TestVerifier loads every program of the object with cilium/ebpf: each
// passes this kernel's verifier.
func TestVerifier(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: loading BPF programs needs root")
	}
	var objs TunnelObjects
	err := LoadTunnelObjects(&objs, nil)
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		t.Fatalf("verifier: %+v", ve)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	for name, p := range map[string]*ebpf.Program{"tun_egress": objs.TunEgress, "decap_eth": objs.DecapEth, "decap_l3": objs.DecapL3} {
		if p == nil || p.FD() < 0 {
			t.Errorf("%s: not loaded", name)
		}
	}
}
