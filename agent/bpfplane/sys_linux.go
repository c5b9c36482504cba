package bpfplane

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The bpf(2) commands this package uses (include/uapi/linux/bpf.h).
const (
	cmdMapCreate     = 0
	cmdMapLookupElem = 1
	cmdMapUpdateElem = 2
	cmdMapDeleteElem = 3
	cmdProgLoad      = 5

	progTypeSchedCLS = 3
	mapTypeHash      = 1
	mapTypeArray     = 2
	mapTypePerCPUArr = 6
	updateAny        = 0
)

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (uintptr, error) {
	r, _, e := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if e != 0 {
		return r, e
	}
	return r, nil
}

// ptr is a pointer as bpf(2) attributes carry it: 64 bits on every
// architecture.
func ptr(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&b[0])))
}

// mapCreateAttr is the BPF_MAP_CREATE part of union bpf_attr.
type mapCreateAttr struct {
	mapType    uint32
	keySize    uint32
	valueSize  uint32
	maxEntries uint32
	mapFlags   uint32
	innerMapFD uint32
	numaNode   uint32
	mapName    [16]byte
}

// Map is a BPF map this package created.
type Map struct {
	fd        int
	spec      MapSpec
	perCPU    bool
	valueSize int // per CPU, rounded up to 8 for per-CPU maps
}

func newMap(s MapSpec) (*Map, error) {
	a := mapCreateAttr{mapType: s.Type, keySize: s.KeySize, valueSize: s.ValueSize, maxEntries: s.MaxEntries, mapFlags: s.Flags}
	copy(a.mapName[:15], sanitize(s.Name))
	fd, err := bpf(cmdMapCreate, unsafe.Pointer(&a), unsafe.Sizeof(a))
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", s.Name, err)
	}
	m := &Map{fd: int(fd), spec: s, valueSize: int(s.ValueSize)}
	if s.Type == mapTypePerCPUArr {
		m.perCPU = true
		m.valueSize = (int(s.ValueSize) + 7) &^ 7
	}
	return m, nil
}

// sanitize keeps the characters the kernel accepts in object names.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// mapElemAttr is the BPF_MAP_*_ELEM part of union bpf_attr.
type mapElemAttr struct {
	mapFD uint32
	_     uint32
	key   uint64
	value uint64
	flags uint64
}

func (m *Map) elem(cmd int, key, value []byte, flags uint64) error {
	if len(key) != int(m.spec.KeySize) {
		return fmt.Errorf("map %s: key of %d octets, want %d", m.spec.Name, len(key), m.spec.KeySize)
	}
	a := mapElemAttr{mapFD: uint32(m.fd), key: ptr(key), value: ptr(value), flags: flags}
	_, err := bpf(cmd, unsafe.Pointer(&a), unsafe.Sizeof(a))
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	return err
}

// Update writes value at key (BPF_ANY). For a per-CPU map, value holds
// one value per possible CPU (PerCPUSize).
func (m *Map) Update(key, value []byte) error {
	if len(value) != m.size() {
		return fmt.Errorf("map %s: value of %d octets, want %d", m.spec.Name, len(value), m.size())
	}
	if err := m.elem(cmdMapUpdateElem, key, value, updateAny); err != nil {
		return fmt.Errorf("map %s: update: %w", m.spec.Name, err)
	}
	return nil
}

// Lookup reads key into value; it reports false when there is no such
// key.
func (m *Map) Lookup(key, value []byte) (bool, error) {
	if len(value) != m.size() {
		return false, fmt.Errorf("map %s: value of %d octets, want %d", m.spec.Name, len(value), m.size())
	}
	err := m.elem(cmdMapLookupElem, key, value, 0)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("map %s: lookup: %w", m.spec.Name, err)
	}
	return true, nil
}

// Delete removes key; a missing key is not an error.
func (m *Map) Delete(key []byte) error {
	err := m.elem(cmdMapDeleteElem, key, nil, 0)
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("map %s: delete: %w", m.spec.Name, err)
	}
	return nil
}

// size is the octets one Lookup or Update moves.
func (m *Map) size() int {
	if m.perCPU {
		return m.valueSize * possibleCPUs()
	}
	return m.valueSize
}

// Close releases the map (the kernel frees it with its last user).
func (m *Map) Close() error { return unix.Close(m.fd) }

var possible struct {
	once sync.Once
	n    int
}

// possibleCPUs is how many CPUs per-CPU maps hold a value for
// (/sys/devices/system/cpu/possible, e.g. "0-3").
func possibleCPUs() int {
	possible.once.Do(func() {
		possible.n = runtime.NumCPU()
		b, err := os.ReadFile("/sys/devices/system/cpu/possible")
		if err != nil {
			return
		}
		if n, ok := parseCPURange(strings.TrimSpace(string(b))); ok {
			possible.n = n
		}
	})
	return possible.n
}

// parseCPURange returns the highest CPU number + 1 of a list like
// "0-3,8-11" (the kernel sizes per-CPU values by it).
func parseCPURange(s string) (int, bool) {
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return 0, false
		}
		n = max(n, b+1)
	}
	return n, n > 0
}

// progLoadAttr is the BPF_PROG_LOAD part of union bpf_attr (up to
// expected_attach_type).
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// VerifierError is a program the kernel's verifier refused, with the
// verifier's log.
type VerifierError struct {
	Program string
	Err     error
	Log     string
}

func (e *VerifierError) Error() string {
	log := strings.TrimSpace(e.Log)
	if i := strings.LastIndexByte(log, '\n'); i >= 0 && len(log) > 2000 {
		log = "…" + log[len(log)-2000:]
	}
	return fmt.Sprintf("program %s refused by the verifier: %v\n%s", e.Program, e.Err, log)
}

func (e *VerifierError) Unwrap() error { return e.Err }

// loadProgram loads a tc (SCHED_CLS) program and returns its descriptor.
func loadProgram(name string, insns []byte, license string) (int, error) {
	lic := append([]byte(license), 0)
	a := progLoadAttr{progType: progTypeSchedCLS, insnCnt: uint32(len(insns) / bpfInsnLen), insns: ptr(insns), license: ptr(lic)}
	copy(a.progName[:15], sanitize(name))
	fd, err := bpf(cmdProgLoad, unsafe.Pointer(&a), unsafe.Sizeof(a))
	if err == nil {
		runtime.KeepAlive(insns)
		runtime.KeepAlive(lic)
		return int(fd), nil
	}
	// Again with the verifier's log, for the error.
	log := make([]byte, 1<<20)
	a.logLevel, a.logSize, a.logBuf = 1, uint32(len(log)), ptr(log)
	fd, err2 := bpf(cmdProgLoad, unsafe.Pointer(&a), unsafe.Sizeof(a))
	runtime.KeepAlive(insns)
	runtime.KeepAlive(lic)
	if err2 == nil { // loaded after all
		return int(fd), nil
	}
	if i := strings.IndexByte(string(log), 0); i >= 0 {
		log = log[:i]
	}
	return -1, &VerifierError{Program: name, Err: err, Log: string(log)}
}
