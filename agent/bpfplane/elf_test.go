package bpfplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// objects are the committed objects: the daemon's (BTF stripped) and the
// full ones bpf2go wrote, per byte order.
var objects = []struct {
	order     binary.ByteOrder
	min, full string
}{
	{binary.LittleEndian, "bpfgen/tunnel_bpfel.min.o", "bpfgen/tunnel_bpfel.o"},
	{binary.BigEndian, "bpfgen/tunnel_bpfeb.min.o", "bpfgen/tunnel_bpfeb.o"},
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantMaps are the maps tunnel.c declares, with the sizes of layout.go.
var wantMaps = map[string]MapSpec{
	"config":        {Type: mapTypeArray, KeySize: 4, ValueSize: configLen, MaxEntries: 1},
	"tunnels":       {Type: mapTypeHash, KeySize: 4, ValueSize: tunnelLen, MaxEntries: 1024, Flags: 1},
	"decap":         {Type: mapTypeHash, KeySize: decapKeyLen, ValueSize: decapLen, MaxEntries: 1024, Flags: 1},
	"endpoints":     {Type: mapTypeHash, KeySize: endpointKeyLen, ValueSize: 4, MaxEntries: 1024, Flags: 1},
	"binding_stats": {Type: mapTypePerCPUArr, KeySize: 4, ValueSize: bindingStatLen, MaxEntries: 1024},
	"counters":      {Type: mapTypePerCPUArr, KeySize: 4, ValueSize: 8, MaxEntries: cNum},
}

// TestParseObject reads both committed objects: their byte order, the
// three programs, the six maps with the layout the daemon writes, and a
// map reference at every relocation.
func TestParseObject(t *testing.T) {
	for _, o := range objects {
		obj, err := ParseObject(readFile(t, o.min))
		if err != nil {
			t.Fatalf("%s: %v", o.min, err)
		}
		if obj.Order != o.order || obj.License != "Dual BSD/GPL" {
			t.Errorf("%s: order %v license %q", o.min, obj.Order, obj.License)
		}
		if len(obj.Maps) != len(wantMaps) {
			t.Errorf("%s: %d maps, want %d", o.min, len(obj.Maps), len(wantMaps))
		}
		for _, m := range obj.Maps {
			w, ok := wantMaps[m.Name]
			w.Name = m.Name
			if !ok || m != w {
				t.Errorf("%s: map %+v, want %+v", o.min, m, w)
			}
		}
		for _, name := range []string{"tun_egress", "decap_eth", "decap_l3"} {
			p := obj.Program(name)
			if p == nil {
				t.Errorf("%s: no program %s", o.min, name)
				continue
			}
			if len(p.Relocs) == 0 || len(p.Insns)%bpfInsnLen != 0 {
				t.Errorf("%s: %s has %d relocations, %d octets of instructions", o.min, name, len(p.Relocs), len(p.Insns))
			}
			for _, r := range p.Relocs {
				if p.Insns[r.Insn*bpfInsnLen] != opLdImm64 {
					t.Errorf("%s: %s: relocation at %d is not an ld_imm64", o.min, name, r.Insn)
				}
			}
		}
	}
}

// TestObjectMatchesCilium reads the full objects with cilium/ebpf, an
// independent ELF reader: the same maps and, program by program, the
// same instructions and map references as ours reads from the stripped
// ones.
func TestObjectMatchesCilium(t *testing.T) {
	for _, o := range objects {
		ours, err := ParseObject(readFile(t, o.min))
		if err != nil {
			t.Fatal(err)
		}
		spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(readFile(t, o.full)))
		if err != nil {
			t.Fatal(err)
		}
		if spec.ByteOrder != o.order {
			t.Errorf("%s: cilium reads byte order %v", o.full, spec.ByteOrder)
		}
		for _, m := range ours.Maps {
			cm := spec.Maps[m.Name]
			if cm == nil {
				t.Errorf("%s: cilium finds no map %s", o.full, m.Name)
				continue
			}
			if uint32(cm.Type) != m.Type || cm.KeySize != m.KeySize || cm.ValueSize != m.ValueSize || cm.MaxEntries != m.MaxEntries || cm.Flags != m.Flags {
				t.Errorf("%s: map %s: cilium %+v, ours %+v", o.full, m.Name, cm, m)
			}
		}
		for _, p := range ours.Programs {
			cp := spec.Programs[p.Name]
			if cp == nil {
				t.Errorf("%s: cilium finds no program %s", o.full, p.Name)
				continue
			}
			var buf bytes.Buffer
			if err := cp.Instructions.Marshal(&buf, o.order); err != nil {
				t.Fatal(err)
			}
			theirs := buf.Bytes()
			if len(theirs) != len(p.Insns) {
				t.Errorf("%s: %s: cilium %d octets, ours %d", o.full, p.Name, len(theirs), len(p.Insns))
				continue
			}
			// Map loads differ only where the loader patches them.
			refs := map[int]string{}
			off := 0
			for _, ins := range cp.Instructions {
				if ref := ins.Reference(); ref != "" && ins.IsLoadFromMap() {
					refs[off/bpfInsnLen] = ref
				}
				off += int(ins.Size())
			}
			if len(refs) != len(p.Relocs) {
				t.Errorf("%s: %s: cilium %d map references, ours %d", o.full, p.Name, len(refs), len(p.Relocs))
			}
			for _, r := range p.Relocs {
				if refs[r.Insn] != ours.Maps[r.Map].Name {
					t.Errorf("%s: %s: instruction %d loads map %q for cilium, %q for us", o.full, p.Name, r.Insn, refs[r.Insn], ours.Maps[r.Map].Name)
				}
				for _, i := range []int{r.Insn, r.Insn + 1} {
					a, b := theirs[i*bpfInsnLen:(i+1)*bpfInsnLen], p.Insns[i*bpfInsnLen:(i+1)*bpfInsnLen]
					copy(a[4:8], b[4:8]) // imm: the map's descriptor, once loaded
					a[1], b[1] = 0, 0    // src_reg: BPF_PSEUDO_MAP_FD, once loaded
				}
			}
			if !bytes.Equal(theirs, p.Insns) {
				t.Errorf("%s: %s: instructions differ between cilium's reading and ours", o.full, p.Name)
			}
		}
	}
}

// TestLayout checks layout.go's encoders against tunnel.h, whose
// _Static_asserts clang checked when it built the objects: every struct's
// size, and where each member the daemon writes lands.
func TestLayout(t *testing.T) {
	a4 := netip.MustParseAddr("1.2.3.4")
	enc := map[string]func(member string) []byte{
		"config": func(m string) []byte {
			c := config{}
			switch m {
			case "local":
				c.local = a4
			case "tun_ifindex":
				c.tunIndex = 7
			case "port":
				c.port = 0x0102
			case "role":
				c.role = 3
			case "flags":
				c.flags = 1
			}
			return c.marshal()
		},
		"tunnel": func(m string) []byte {
			x := tunnel{}
			switch m {
			case "local":
				x.local = a4
			case "remote":
				x.remote = a4
			case "sport":
				x.sport = 0x0102
			case "dport":
				x.dport = 0x0102
			case "oif":
				x.oif = 7
			case "key":
				x.key = 0x01020304
			case "slot":
				x.slot = 7
			case "mtu":
				x.mtu = 7
			case "mode":
				x.mode = 1
			case "next":
				x.next = 4
			case "flags":
				x.flags = 1
			}
			return x.marshal()
		},
		"decap_key": func(m string) []byte {
			k := decapKey{}
			switch m {
			case "remote":
				k.remote = a4
			case "home":
				k.home = a4
			case "port":
				k.port = 0x0102
			}
			return k.marshal()
		},
		"decap": func(m string) []byte {
			d := decap{}
			switch m {
			case "slot":
				d.slot = 7
			case "key":
				d.key = 0x01020304
			case "proto":
				d.proto = 17
			case "next":
				d.next = 4
			case "flags":
				d.flags = 1
			}
			return d.marshal()
		},
		"endpoint_key": func(m string) []byte {
			k := endpointKey{}
			switch m {
			case "remote":
				k.remote = a4
			case "port":
				k.port = 0x0102
			}
			return k.marshal()
		},
		"binding_stats": func(string) []byte { return make([]byte, bindingStatLen) },
	}
	h := string(readFile(t, "bpf/tunnel.h"))
	sizes := regexp.MustCompile(`(?m)^SIZE\((\w+), (\d+)\);`).FindAllStringSubmatch(h, -1)
	if len(sizes) != len(enc) {
		t.Errorf("tunnel.h sizes %d structs, layout.go encodes %d", len(sizes), len(enc))
	}
	for _, m := range sizes {
		f := enc[m[1]]
		if f == nil {
			t.Errorf("struct %s: no encoder", m[1])
			continue
		}
		if n, _ := strconv.Atoi(m[2]); len(f("")) != n {
			t.Errorf("struct %s: %d octets in C, %d encoded", m[1], n, len(f("")))
		}
	}
	members := regexp.MustCompile(`(?m)^LAYOUT\((\w+), (\w+), (\d+)\);`).FindAllStringSubmatch(h, -1)
	if len(members) < 20 {
		t.Fatalf("only %d LAYOUT lines in tunnel.h", len(members))
	}
	for _, m := range members {
		f := enc[m[1]]
		if f == nil {
			t.Errorf("struct %s: no encoder", m[1])
			continue
		}
		b := f(m[2])
		at := slices.IndexFunc(b, func(c byte) bool { return c != 0 })
		if want, _ := strconv.Atoi(m[3]); at != want {
			t.Errorf("%s.%s: at %d in C, encoded at %d (% x)", m[1], m[2], want, at, b)
		}
	}
}

// TestCounterNames: counterNames follows tunnel.h's C_* enum, name by
// name.
func TestCounterNames(t *testing.T) {
	h := string(readFile(t, "bpf/tunnel.h"))
	var got []string
	for _, m := range regexp.MustCompile(`(?m)^\s*C_([A-Z_]+),`).FindAllStringSubmatch(h, -1) {
		if m[1] != "NUM" {
			got = append(got, strings.ToLower(m[1]))
		}
	}
	if len(got) != cNum {
		t.Fatalf("tunnel.h has %d counters, counterNames %d", len(got), cNum)
	}
	for i, n := range got {
		if n != counterNames[i] {
			t.Errorf("counter %d: %s in tunnel.h, %s in counterNames", i, n, counterNames[i])
		}
	}
	if counterNames[cPuntRoute] != "punt_route" || !strings.HasPrefix(counterNames[cDropFirst], "drop_") || strings.HasPrefix(counterNames[cDropFirst-1], "drop_") {
		t.Errorf("the counter index constants do not match the names")
	}
}

// TestObjectsFresh compiles tunnel.c again, when clang is here, and
// compares programs and maps with the committed objects: a change to the
// C that was not followed by `go generate ./agent/bpfplane/bpfgen` fails.
func TestObjectsFresh(t *testing.T) {
	if _, err := exec.LookPath("clang"); err != nil {
		t.Skip("SKIP: no clang here to rebuild bpf/tunnel.c with (apt-get install clang llvm libbpf-dev)")
	}
	dir := t.TempDir()
	for _, o := range objects {
		target := "bpfel"
		if o.order == binary.BigEndian {
			target = "bpfeb"
		}
		out := filepath.Join(dir, target+".o")
		cmd := exec.Command("clang", "-O2", "-g", "-Wall", "-Werror", "-target", target, "-I/usr/include/x86_64-linux-gnu",
			"-c", "bpf/tunnel.c", "-o", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("SKIP: clang cannot build tunnel.c here (%v): %s", err, b)
		}
		fresh, err := ParseObject(readFile(t, out))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := ParseObject(readFile(t, o.min))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range committed.Programs {
			q := fresh.Program(p.Name)
			if q == nil || !bytes.Equal(p.Insns, q.Insns) {
				t.Errorf("%s: program %s is stale: run go generate ./agent/bpfplane/bpfgen", o.min, p.Name)
			}
		}
		if len(fresh.Programs) != len(committed.Programs) || len(fresh.Maps) != len(committed.Maps) {
			t.Errorf("%s: stale: %d programs and %d maps in the C, %d and %d committed", o.min,
				len(fresh.Programs), len(fresh.Maps), len(committed.Programs), len(committed.Maps))
		}
	}
}

// FuzzParseObject: whatever the bytes, ParseObject returns an error or an
// object whose every reference is inside it; it never panics.
func FuzzParseObject(f *testing.F) {
	for _, o := range objects {
		f.Add(readFile(f, o.min))
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		obj, err := ParseObject(b)
		if err != nil {
			return
		}
		for _, p := range obj.Programs {
			if len(p.Insns)%bpfInsnLen != 0 {
				t.Fatalf("program %s: %d octets", p.Name, len(p.Insns))
			}
			for _, r := range p.Relocs {
				if r.Map < 0 || r.Map >= len(obj.Maps) || (r.Insn+2)*bpfInsnLen > len(p.Insns) {
					t.Fatalf("program %s: relocation %+v outside the object", p.Name, r)
				}
			}
			fds := make([]int, len(obj.Maps))
			if _, err := p.patched(obj.Order, fds); err != nil {
				t.Fatal(err)
			}
		}
	})
}
