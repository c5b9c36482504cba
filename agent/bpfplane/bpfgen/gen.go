// Package bpfgen holds the compiled tc programs of agent/bpfplane
// (bpf/tunnel.c) as bpf2go generated them: the objects for little- and
// big-endian kernels and their cilium/ebpf bindings. The daemon embeds the
// objects (stripped of BTF, which it does not need: tunnel_bpfel.min.o,
// tunnel_bpfeb.min.o) and loads them with agent/bpfplane's own small
// loader, because cilium/ebpf would add 1.5 MB to a router binary whose
// budget is 6 MB; the bindings are for the tests, which load the same
// objects with cilium/ebpf as an independent check. `go generate
// ./agent/bpfplane/bpfgen` (Debian's clang, llvm-strip and llvm-objcopy) rebuilds them;
// a test says when they are stale.
package bpfgen

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -strip llvm-strip -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel,bpfeb -go-package bpfgen -output-stem tunnel Tunnel ../bpf/tunnel.c
//go:generate llvm-objcopy --discard-all --remove-section=.BTF --remove-section=.BTF.ext --remove-section=.rel.BTF --remove-section=.rel.BTF.ext --remove-section=.llvm_addrsig tunnel_bpfel.o tunnel_bpfel.min.o
//go:generate llvm-objcopy --discard-all --remove-section=.BTF --remove-section=.BTF.ext --remove-section=.rel.BTF --remove-section=.rel.BTF.ext --remove-section=.llvm_addrsig tunnel_bpfeb.o tunnel_bpfeb.min.o
