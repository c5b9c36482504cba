package bpfplane

import (
	"errors"
	"fmt"
	"strings"
)

// Indexes into the "counters" map (the C_* enum of bpf/tunnel.h).
const (
	cEncapPackets = iota
	cEncapBytes
	cDecapPackets
	cDecapBytes
	cControl
	cPuntFirst
	cPuntRoute = cPuntFirst + 7
	cDropFirst = cPuntFirst + 13
	cNum       = cDropFirst + 10
)

// counterNames names every counter, in the order of the C enum; punts
// and drops carry a "punt_" or "drop_" prefix here and lose it in Stats.
// The drop names are agent/dataplane's.
var counterNames = [cNum]string{
	"encap_packets", "encap_bytes", "decap_packets", "decap_bytes", "control",
	"punt_no_tunnel", "punt_binding", "punt_options", "punt_fragment", "punt_tcp_syn",
	"punt_too_big", "punt_keepalive", "punt_route", "punt_length", "punt_gre_flags",
	"punt_unknown", "punt_adjust", "punt_routing_loop_check",
	"drop_malformed", "drop_no_binding", "drop_outer_source_mismatch", "drop_inner_source_mismatch",
	"drop_inner_destination_mismatch", "drop_wrong_next_header", "drop_wrong_encapsulation",
	"drop_gre_key_mismatch", "drop_ttl_expired", "drop_routing_loop",
}

// Stats are the kernel plane's counters, summed over CPUs.
type Stats struct {
	Role       string   `json:"role"`
	Interfaces []string `json:"interfaces"`
	// Tunnels is how many bindings the maps hold; Overflow how many had
	// no room and are served by the userspace plane.
	Tunnels  int `json:"tunnels"`
	Overflow int `json:"overflow,omitempty"`
	// Encap and Decap count datagrams (GSO segments each) and octets: the
	// encapsulated length out, the inner length in.
	EncapPackets uint64 `json:"encap_packets"`
	EncapBytes   uint64 `json:"encap_bytes"`
	DecapPackets uint64 `json:"decap_packets"`
	DecapBytes   uint64 `json:"decap_bytes"`
	// Control counts datagrams to our UDP port that are not tunnel data:
	// signalling, left to the daemon.
	Control uint64 `json:"control"`
	// Punted are packets left to the userspace plane, by reason; Dropped
	// those discarded in the kernel, by agent/dataplane's drop names.
	Punted  map[string]uint64 `json:"punted"`
	Dropped map[string]uint64 `json:"dropped"`
}

// counters reads and sums the per-CPU counters. Call with p.mu held.
func (p *Plane) counters() ([cNum]uint64, error) {
	var out [cNum]uint64
	m := p.maps["counters"]
	if m == nil {
		return out, errors.New("bpfplane: closed")
	}
	v := make([]byte, m.size())
	for i := range out {
		ok, err := m.Lookup(u32Key(uint32(i)), v)
		if err != nil {
			return out, err
		}
		if ok {
			out[i] = sumPerCPU(v, m.valueSize, 0)
		}
	}
	return out, nil
}

// sumPerCPU adds the 64-bit value at off in every CPU's stride-octet
// value.
func sumPerCPU(v []byte, stride, off int) uint64 {
	var s uint64
	for i := 0; i+off+8 <= len(v); i += stride {
		s += host.Uint64(v[i+off:])
	}
	return s
}

// Stats copies the counters.
func (p *Plane) Stats() (Stats, error) {
	p.mu.Lock()
	c, err := p.counters()
	s := Stats{Role: p.cfg.Role.String(), Tunnels: len(p.decaps), Overflow: p.overflow,
		Punted: map[string]uint64{}, Dropped: map[string]uint64{}}
	p.mu.Unlock()
	s.Interfaces = p.Interfaces()
	if err != nil {
		return s, err
	}
	s.EncapPackets, s.EncapBytes = c[cEncapPackets], c[cEncapBytes]
	s.DecapPackets, s.DecapBytes = c[cDecapPackets], c[cDecapBytes]
	s.Control = c[cControl]
	for i := cPuntFirst; i < cNum; i++ {
		if c[i] == 0 {
			continue
		}
		if name, ok := strings.CutPrefix(counterNames[i], "punt_"); ok {
			s.Punted[name] = c[i]
		} else {
			s.Dropped[strings.TrimPrefix(counterNames[i], "drop_")] = c[i]
		}
	}
	return s, nil
}

// BindingStats are one binding's counters in the kernel plane.
type BindingStats struct {
	EncapPackets uint64 `json:"encap_packets"`
	EncapBytes   uint64 `json:"encap_bytes"`
	DecapPackets uint64 `json:"decap_packets"`
	DecapBytes   uint64 `json:"decap_bytes"`
}

// Binding returns the counters of binding k; false when the maps do not
// hold it.
func (p *Plane) Binding(k Key) (BindingStats, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	x := p.bindings[k]
	m := p.maps["binding_stats"]
	if x == nil || !x.in || m == nil {
		return BindingStats{}, false, nil
	}
	v := make([]byte, m.size())
	ok, err := m.Lookup(u32Key(x.slot), v)
	if err != nil || !ok {
		return BindingStats{}, false, err
	}
	return BindingStats{
		EncapPackets: sumPerCPU(v, m.valueSize, 0), EncapBytes: sumPerCPU(v, m.valueSize, 8),
		DecapPackets: sumPerCPU(v, m.valueSize, 16), DecapBytes: sumPerCPU(v, m.valueSize, 24),
	}, true, nil
}

func (s BindingStats) String() string {
	return fmt.Sprintf("encap %d/%d B, decap %d/%d B", s.EncapPackets, s.EncapBytes, s.DecapPackets, s.DecapBytes)
}
