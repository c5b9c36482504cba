//go:build !(mips || mips64 || ppc64 || s390x)

package bpfplane

import _ "embed"

// object is tunnel.c compiled for little-endian kernels (bpf2go -target
// bpfel, BTF removed: see package bpfgen).
//
//go:embed bpfgen/tunnel_bpfel.min.o
var object []byte
