//go:build mips || mips64 || ppc64 || s390x

package bpfplane

import _ "embed"

// object is tunnel.c compiled for big-endian kernels (bpf2go -target
// bpfeb, BTF removed: see package bpfgen).
//
//go:embed bpfgen/tunnel_bpfeb.min.o
var object []byte
