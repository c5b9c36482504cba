package bpfplane

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// An Object is a compiled BPF object as clang writes it (ELF64, EM_BPF),
// read just far enough to load it: its programs (global functions in
// executable sections), its legacy map definitions (section "maps") and
// the relocations that point instructions at those maps. It is what
// cilium/ebpf's ELF reader does for such an object, without BTF, CO-RE,
// global data or BPF-to-BPF calls, none of which tunnel.c uses; an object
// that needs them is refused, not half loaded.
type Object struct {
	Order    binary.ByteOrder
	License  string
	Programs []Program
	Maps     []MapSpec
}

// Program is one program of an object: its instructions (in the object's
// byte order) and the map references to resolve before loading.
type Program struct {
	Name    string
	Section string
	Insns   []byte
	Relocs  []Reloc
}

// Reloc says that the ld_imm64 instruction at Insn (an index into the
// program's instructions) loads the map Map (an index into Object.Maps).
type Reloc struct {
	Insn int
	Map  int
}

// MapSpec is a legacy map definition (struct map_def in tunnel.c).
type MapSpec struct {
	Name       string
	Type       uint32
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
}

// ELF constants (System V gABI; EM_BPF and R_BPF_64_64 from the kernel's
// Documentation/bpf/llvm_reloc.rst).
const (
	elfClass64    = 2
	elfData2LSB   = 1
	elfData2MSB   = 2
	elfEMBPF      = 247
	elfHeaderLen  = 64
	elfShdrLen    = 64
	elfSymLen     = 24
	elfRelLen     = 16
	shtSymtab     = 2
	shtRel        = 9
	shfExecinstr  = 0x4
	sttObject     = 1
	sttFunc       = 2
	sttSection    = 3
	stbGlobal     = 1
	rBPF64_64     = 1
	bpfInsnLen    = 8
	opLdImm64     = 0x18 // BPF_LD | BPF_IMM | BPF_DW
	pseudoMapFD   = 1    // BPF_PSEUDO_MAP_FD
	mapDefMinLen  = 20   // five uint32
	maxObjectSize = 1 << 24
	maxNameLen    = 255 // the longest section or symbol name read
)

// ErrObject is wrapped by every error of ParseObject.
var ErrObject = errors.New("bpf object")

func objErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrObject}, args...)...)
}

type section struct {
	name       string
	typ        uint32
	flags      uint64
	off, size  uint64
	link, info uint32
	entsize    uint64
	nameOff    uint32
}

type symbol struct {
	name  string
	info  uint8
	shndx uint16
	value uint64
	size  uint64
}

// ParseObject reads a BPF ELF object. Every offset and size is checked
// against the file; nothing in it is trusted.
func ParseObject(b []byte) (*Object, error) {
	if len(b) > maxObjectSize {
		return nil, objErr("%d octets is too large", len(b))
	}
	if len(b) < elfHeaderLen || string(b[:4]) != "\x7fELF" {
		return nil, objErr("not an ELF file")
	}
	if b[4] != elfClass64 {
		return nil, objErr("not ELF64")
	}
	var bo binary.ByteOrder
	switch b[5] {
	case elfData2LSB:
		bo = binary.LittleEndian
	case elfData2MSB:
		bo = binary.BigEndian
	default:
		return nil, objErr("unknown byte order %d", b[5])
	}
	if m := bo.Uint16(b[18:]); m != elfEMBPF {
		return nil, objErr("machine %d is not BPF", m)
	}
	shoff := bo.Uint64(b[40:])
	shentsize := bo.Uint16(b[58:])
	shnum := bo.Uint16(b[60:])
	shstrndx := bo.Uint16(b[62:])
	if shentsize != elfShdrLen {
		return nil, objErr("section header size %d", shentsize)
	}
	if !within(b, shoff, uint64(shnum)*elfShdrLen) {
		return nil, objErr("section headers outside the file")
	}
	secs := make([]section, shnum)
	for i := range secs {
		h := b[shoff+uint64(i)*elfShdrLen:]
		s := &secs[i]
		s.nameOff = bo.Uint32(h)
		s.typ = bo.Uint32(h[4:])
		s.flags = bo.Uint64(h[8:])
		s.off = bo.Uint64(h[24:])
		s.size = bo.Uint64(h[32:])
		s.link = bo.Uint32(h[40:])
		s.info = bo.Uint32(h[44:])
		s.entsize = bo.Uint64(h[56:])
		if s.typ != 8 /* SHT_NOBITS */ && !within(b, s.off, s.size) {
			return nil, objErr("section %d outside the file", i)
		}
	}
	if int(shstrndx) >= len(secs) {
		return nil, objErr("no section name table")
	}
	names := secs[shstrndx]
	for i := range secs {
		n, err := cstring(b, names, secs[i].nameOff)
		if err != nil {
			return nil, err
		}
		secs[i].name = n
	}
	data := func(s *section) []byte { return b[s.off : s.off+s.size] }

	// The symbol table.
	var syms []symbol
	for i := range secs {
		s := &secs[i]
		if s.typ != shtSymtab {
			continue
		}
		if syms != nil || s.entsize != elfSymLen || s.size%elfSymLen != 0 || int(s.link) >= len(secs) {
			return nil, objErr("bad symbol table")
		}
		strs := &secs[s.link]
		d := data(s)
		syms = make([]symbol, len(d)/elfSymLen)
		for j := range syms {
			e := d[j*elfSymLen:]
			n, err := cstring(b, *strs, bo.Uint32(e))
			if err != nil {
				return nil, err
			}
			syms[j] = symbol{name: n, info: e[4], shndx: bo.Uint16(e[6:]), value: bo.Uint64(e[8:]), size: bo.Uint64(e[16:])}
		}
	}
	if syms == nil {
		return nil, objErr("no symbol table")
	}

	o := &Object{Order: bo}
	// Maps: the objects of section "maps", in symbol order.
	mapAt := map[uint64]int{} // offset in "maps" → index
	mapsSec := -1
	for i := range secs {
		switch secs[i].name {
		case "maps":
			mapsSec = i
		case "license":
			l := data(&secs[i])
			for j, c := range l {
				if c == 0 {
					l = l[:j]
					break
				}
			}
			o.License = string(l)
		}
	}
	if mapsSec >= 0 {
		d := data(&secs[mapsSec])
		for _, sym := range syms {
			if int(sym.shndx) != mapsSec || sym.info&0xf != sttObject {
				continue
			}
			if sym.size < mapDefMinLen || !within(d, sym.value, sym.size) {
				return nil, objErr("map %s: bad definition", sym.name)
			}
			if _, dup := mapAt[sym.value]; dup {
				return nil, objErr("map %s: overlaps another", sym.name)
			}
			e := d[sym.value:]
			mapAt[sym.value] = len(o.Maps)
			o.Maps = append(o.Maps, MapSpec{Name: sym.name, Type: bo.Uint32(e), KeySize: bo.Uint32(e[4:]),
				ValueSize: bo.Uint32(e[8:]), MaxEntries: bo.Uint32(e[12:]), Flags: bo.Uint32(e[16:])})
		}
	}

	// Programs: the global functions of executable sections.
	progAt := map[int][]int{} // section → program indexes
	for _, sym := range syms {
		if sym.info&0xf != sttFunc || sym.info>>4 != stbGlobal || int(sym.shndx) >= len(secs) {
			continue
		}
		s := &secs[sym.shndx]
		if s.flags&shfExecinstr == 0 {
			continue
		}
		if sym.value%bpfInsnLen != 0 || sym.size%bpfInsnLen != 0 || sym.size == 0 || !within(data(s), sym.value, sym.size) {
			return nil, objErr("program %s: bad extent", sym.name)
		}
		progAt[int(sym.shndx)] = append(progAt[int(sym.shndx)], len(o.Programs))
		o.Programs = append(o.Programs, Program{Name: sym.name, Section: s.name,
			Insns: data(s)[sym.value : sym.value+sym.size]})
	}
	for i := range secs {
		if s := &secs[i]; s.flags&shfExecinstr != 0 && s.size > 0 && len(progAt[i]) == 0 {
			return nil, objErr("section %s: code outside any program (BPF-to-BPF calls are not supported)", s.name)
		}
	}

	// Relocations of program sections.
	for i := range secs {
		r := &secs[i]
		if r.typ != shtRel || int(r.info) >= len(secs) {
			continue
		}
		target := &secs[r.info]
		if target.flags&shfExecinstr == 0 {
			continue // debug and BTF relocations
		}
		if r.entsize != elfRelLen || r.size%elfRelLen != 0 {
			return nil, objErr("section %s: bad relocations", r.name)
		}
		d := data(r)
		for j := 0; j < len(d); j += elfRelLen {
			off := bo.Uint64(d[j:])
			info := bo.Uint64(d[j+8:])
			symIdx, typ := info>>32, uint32(info)
			if symIdx >= uint64(len(syms)) {
				return nil, objErr("relocation to symbol %d of %d", symIdx, len(syms))
			}
			sym := syms[symIdx]
			if typ != rBPF64_64 {
				return nil, objErr("%s: relocation type %d against %q is not supported", target.name, typ, sym.name)
			}
			if int(sym.shndx) != mapsSec {
				return nil, objErr("%s: relocation against %q, which is not a map (global data is not supported)", target.name, sym.name)
			}
			m, ok := mapAt[sym.value]
			if !ok {
				return nil, objErr("%s: relocation against %q, which is not a map definition", target.name, sym.name)
			}
			if off%bpfInsnLen != 0 {
				return nil, objErr("%s: misaligned relocation", target.name)
			}
			placed := false
			for _, pi := range progAt[int(r.info)] {
				p := &o.Programs[pi]
				start := uint64(cap(data(target)) - cap(p.Insns))
				if off >= start && off+2*bpfInsnLen <= start+uint64(len(p.Insns)) {
					k := int(off-start) / bpfInsnLen
					if p.Insns[k*bpfInsnLen] != opLdImm64 {
						return nil, objErr("%s: map relocation on an instruction that is not ld_imm64", p.Name)
					}
					p.Relocs = append(p.Relocs, Reloc{Insn: k, Map: m})
					placed = true
					break
				}
			}
			if !placed {
				return nil, objErr("%s: relocation at %d is in no program", target.name, off)
			}
		}
	}
	if len(o.Programs) == 0 {
		return nil, objErr("no programs")
	}
	return o, nil
}

// Program returns the program called name (nil if none).
func (o *Object) Program(name string) *Program {
	for i := range o.Programs {
		if o.Programs[i].Name == name {
			return &o.Programs[i]
		}
	}
	return nil
}

// within says b[off:off+n] exists.
func within(b []byte, off, n uint64) bool {
	return off <= uint64(len(b)) && n <= uint64(len(b))-off
}

// cstring reads the NUL-terminated string at off in string table s.
func cstring(b []byte, s section, off uint32) (string, error) {
	if uint64(off) >= s.size {
		if off == 0 && s.size == 0 {
			return "", nil
		}
		return "", objErr("string %d outside its table", off)
	}
	t := b[s.off+uint64(off) : s.off+s.size]
	if len(t) > maxNameLen+1 {
		t = t[:maxNameLen+1] // names are short: a long scan is an attack, and quadratic
	}
	for i, c := range t {
		if c == 0 {
			return string(t[:i]), nil
		}
	}
	return "", objErr("unterminated string")
}

// patched returns a copy of p's instructions with each map reference
// pointed at the file descriptor fds[map index] (BPF_PSEUDO_MAP_FD in
// src_reg, the descriptor in imm), in the object's byte order.
func (p *Program) patched(order binary.ByteOrder, fds []int) ([]byte, error) {
	insns := append([]byte(nil), p.Insns...)
	for _, r := range p.Relocs {
		if r.Map >= len(fds) {
			return nil, fmt.Errorf("program %s: map %d not created", p.Name, r.Map)
		}
		i := insns[r.Insn*bpfInsnLen:]
		// The register octet: dst_reg in the low nibble on little-endian
		// objects, in the high nibble on big-endian ones (the bit-field
		// order of struct bpf_insn).
		if order == binary.BigEndian {
			i[1] = i[1]&0xf0 | pseudoMapFD
		} else {
			i[1] = i[1]&0x0f | pseudoMapFD<<4
		}
		order.PutUint32(i[4:], uint32(fds[r.Map]))
	}
	return insns, nil
}
