// Package bpfplane is mip4d's kernel data plane: the tc programs of
// bpf/tunnel.c, which encapsulate and take apart the tunnels of every role
// without a packet crossing into userspace, and the daemon's side of them
// (loading, attaching, the binding maps, the counters).
//
// The programs sit in front of agent/dataplane, which stays the slow path:
// the TUN device's egress program tunnels what it can and leaves the rest
// to the device (and so to the userspace plane); the ingress programs on
// the other interfaces take apart what they can and leave the rest to the
// sockets. Control traffic (registrations on UDP 434, RFC 3519
// keepalives) always reaches the daemon untouched. The maps are written
// only here, from the daemon's delivery code, so the engines stay pure.
//
// The daemon embeds the objects and loads them with this package's own
// ELF reader and bpf(2) calls rather than with cilium/ebpf, which the
// tests use as the independent check: see package bpfgen.
package bpfplane

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"

	"github.com/mip4d/mip4d/agent/dataplane"
	"github.com/mip4d/mip4d/agent/ha"
)

// DefaultCapacity is how many bindings the maps hold unless told.
const DefaultCapacity = 4096

// Config says what a plane serves.
type Config struct {
	Role Role
	// Local is our tunnel address: the home agent address, a foreign
	// agent's or proxy's care-of address, a mobile node's co-located
	// care-of address (SetLocal changes it). Tunnel packets are taken
	// apart only when addressed to it.
	Local netip.Addr
	// Port is our UDP port: 434, or a mobile node's registration port.
	// RFC 3519 tunnel data arrives on it; so does signalling, which the
	// programs leave alone.
	Port uint16
	// TUN is the daemon's TUN device: tun_egress runs on its egress, and
	// what is taken apart goes into its ingress.
	TUN string
	// Exclude are interfaces the ingress program must not run on (other
	// TUN devices of the daemon). Loopback and TUN are always excluded.
	Exclude []string
	// PathMTU is the path MTU of the tunnels (dataplane.Options.PathMTU;
	// 0 for the default).
	PathMTU int
	// PuntUnknown leaves tunnel packets that match no binding to
	// userspace instead of dropping them: another consumer may own them
	// (a mobile node's internal i-MIP leg, whose IP-in-IP arrives at the
	// same address).
	PuntUnknown bool
	// Capacity is how many bindings fit (DefaultCapacity when 0); those
	// beyond it are served by the userspace plane.
	Capacity int
}

// Key identifies a binding: its home address and the peer it is with (the
// care-of address on a home agent, the home agent elsewhere), as
// ha.Binding's (HomeAddr, CareOf) does.
type Key struct{ Home, Peer netip.Addr }

// Binding is one tunnel as the maps hold it.
type Binding struct {
	Home netip.Addr
	// Local is the outer source; Remote the outer destination and the
	// only outer source accepted back (its port with UDP).
	Local  netip.Addr
	Remote netip.AddrPort
	// LocalPort is the outer UDP source port with UDP.
	LocalPort uint16
	UDP       bool
	Encap     ha.Encap
	HasKey    bool
	Key       uint32
}

// Change is one binding change for Apply: Binding nil removes Key.
type Change struct {
	Key     Key
	Binding *Binding
}

type binding struct {
	key  Key
	b    Binding
	slot uint32
	in   bool // in the maps (false: no room, the userspace plane serves it)
	dk   decapKey
	ek   endpointKey
}

// Plane is a loaded, attached kernel data plane.
type Plane struct {
	cfg  Config
	obj  *Object
	maps map[string]*Map
	prog map[string]int

	mu       sync.Mutex
	tunIndex int
	ingress  map[int]string // interface index → name, with decap attached
	bindings map[Key]*binding
	byHome   map[netip.Addr][]*binding
	decaps   map[decapKey]*binding
	eps      map[endpointKey]int
	free     []uint32
	nextSlot uint32
	overflow int
	oifs     map[netip.Addr]uint32 // remote → interface, from the routing table
	puntSeen uint64                // C_PUNT_ROUTE when the routes were last resolved
	closed   bool
}

// ErrUnsupported wraps every reason this kernel (or this process) cannot
// run the plane: no bpf(2), no permission, no clsact or cls_bpf, a
// program the verifier refuses.
var ErrUnsupported = errors.New("kernel data plane unavailable")

// Open loads the programs, creates the maps and attaches the programs:
// tun_egress on the TUN device's egress, decap_eth or decap_l3 on the
// ingress of every other interface. On any failure it undoes what it did
// and returns an error wrapping ErrUnsupported; the caller falls back to
// the userspace plane alone.
func Open(cfg Config) (*Plane, error) {
	if cfg.Capacity <= 0 {
		cfg.Capacity = DefaultCapacity
	}
	switch {
	case cfg.Role < RoleHA || cfg.Role > RoleMN:
		return nil, fmt.Errorf("bpfplane: unknown role %d", cfg.Role)
	case cfg.TUN == "":
		return nil, errors.New("bpfplane: no TUN device")
	}
	p := &Plane{cfg: cfg, maps: map[string]*Map{}, prog: map[string]int{}, ingress: map[int]string{},
		bindings: map[Key]*binding{}, byHome: map[netip.Addr][]*binding{}, decaps: map[decapKey]*binding{},
		eps: map[endpointKey]int{}, oifs: map[netip.Addr]uint32{}}
	if err := p.open(); err != nil {
		p.release()
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return p, nil
}

func (p *Plane) open() error {
	obj, err := ParseObject(object)
	if err != nil {
		return err
	}
	p.obj = obj
	raiseMemlock()
	fds := make([]int, len(obj.Maps))
	for i, s := range obj.Maps {
		switch s.Name {
		case "tunnels", "decap", "endpoints", "binding_stats":
			s.MaxEntries = uint32(p.cfg.Capacity)
		}
		m, err := newMap(s)
		if err != nil {
			return err
		}
		p.maps[s.Name] = m
		fds[i] = m.fd
	}
	for _, name := range []string{"config", "tunnels", "decap", "endpoints", "binding_stats", "counters"} {
		if p.maps[name] == nil {
			return fmt.Errorf("object has no map %s", name)
		}
	}
	for i := range obj.Programs {
		pr := &obj.Programs[i]
		insns, err := pr.patched(obj.Order, fds)
		if err != nil {
			return err
		}
		fd, err := loadProgram(pr.Name, insns, obj.License)
		if err != nil {
			return err
		}
		p.prog[pr.Name] = fd
	}
	for _, name := range []string{"tun_egress", "decap_eth", "decap_l3"} {
		if _, ok := p.prog[name]; !ok {
			return fmt.Errorf("object has no program %s", name)
		}
	}
	for slot := p.cfg.Capacity - 1; slot >= 0; slot-- {
		p.free = append(p.free, uint32(slot))
	}
	tun, err := linkByName(p.cfg.TUN)
	if err != nil {
		return err
	}
	p.tunIndex = tun.index
	if err := p.writeConfig(); err != nil {
		return err
	}
	if err := attach(p.tunIndex, Egress, p.prog["tun_egress"], "mip4d_tun_egress"); err != nil {
		return err
	}
	return p.rescan()
}

func (p *Plane) writeConfig() error {
	c := config{local: p.cfg.Local, tunIndex: uint32(p.tunIndex), port: p.cfg.Port, role: p.cfg.Role}
	if p.overflow > 0 || p.cfg.PuntUnknown {
		c.flags |= cfgPuntUnknown
	}
	return p.maps["config"].Update(u32Key(0), c.marshal())
}

// rescan attaches the ingress program to interfaces that appeared and
// forgets those that went. Call with p.mu held (or from open).
func (p *Plane) rescan() error {
	links, err := listLinks()
	if err != nil {
		return err
	}
	seen := map[int]bool{}
	var errs []error
	for _, l := range links {
		if l.index == p.tunIndex || l.loopback || p.excluded(l.name) {
			continue
		}
		seen[l.index] = true
		if _, ok := p.ingress[l.index]; ok {
			continue
		}
		prog := "decap_l3"
		if l.ethernet {
			prog = "decap_eth"
		}
		if err := attach(l.index, Ingress, p.prog[prog], "mip4d_"+prog); err != nil {
			errs = append(errs, err)
			continue
		}
		p.ingress[l.index] = l.name
	}
	for idx := range p.ingress {
		if !seen[idx] {
			delete(p.ingress, idx)
		}
	}
	if len(p.ingress) == 0 && len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

func (p *Plane) excluded(name string) bool {
	for _, x := range p.cfg.Exclude {
		if x == name {
			return true
		}
	}
	return false
}

// Close detaches the programs and releases the maps. The userspace plane
// then sees every packet again.
func (p *Plane) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for idx := range p.ingress {
		errs = append(errs, detach(idx, Ingress))
	}
	if p.tunIndex != 0 {
		errs = append(errs, detach(p.tunIndex, Egress))
	}
	p.release()
	return errors.Join(errs...)
}

func (p *Plane) release() {
	for _, fd := range p.prog {
		closeFD(fd)
	}
	for _, m := range p.maps {
		m.Close()
	}
	p.prog, p.maps = map[string]int{}, map[string]*Map{}
}

// RemoveStale detaches the programs a previous run left on every
// interface (a crash leaves them running with that run's bindings). The
// daemon calls it when it runs without the kernel plane.
func RemoveStale() error {
	links, err := listLinks()
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range links {
		errs = append(errs, detach(l.index, Ingress), detach(l.index, Egress))
	}
	return errors.Join(errs...)
}

// Interfaces are the interfaces the ingress program runs on, sorted.
func (p *Plane) Interfaces() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, n := range p.ingress {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// SetLocal changes our tunnel address (a mobile node's new care-of
// address) and port.
func (p *Plane) SetLocal(local netip.Addr, port uint16) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.Local == local && p.cfg.Port == port {
		return nil
	}
	p.cfg.Local, p.cfg.Port = local, port
	// A new care-of address: a new uplink, most likely, so the routes
	// toward the far ends are looked up again when the tunnels are
	// written.
	clear(p.oifs)
	return p.writeConfig()
}

// Apply makes the changes, in order, then rewrites the tunnel of every
// home address they touched: each is one map update, so a packet goes
// either the old way or the new, never half of each, and once Apply
// returns no packet takes the old way. Call it before the registration
// reply is sent. A binding there is no room for is left to the userspace
// plane (counted in Stats.Overflow).
func (p *Plane) Apply(changes ...Change) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("bpfplane: closed")
	}
	touched := map[netip.Addr]bool{}
	var errs []error
	for _, c := range changes {
		touched[c.Key.Home] = true
		if c.Binding == nil {
			errs = append(errs, p.remove(c.Key))
			continue
		}
		if c.Binding.Home != c.Key.Home {
			errs = append(errs, fmt.Errorf("bpfplane: binding of %v under key %v", c.Binding.Home, c.Key.Home))
			continue
		}
		errs = append(errs, p.set(c.Key, *c.Binding))
	}
	for h := range touched {
		errs = append(errs, p.writeHome(h))
	}
	errs = append(errs, p.writeConfig())
	return errors.Join(errs...)
}

func (p *Plane) set(k Key, b Binding) error {
	if !b.Home.Is4() || !b.Local.Is4() || !b.Remote.Addr().Is4() {
		return fmt.Errorf("bpfplane: binding of %v is not IPv4", b.Home)
	}
	if old := p.bindings[k]; old != nil {
		if old.b == b {
			return nil
		}
		if err := p.remove(k); err != nil {
			return err
		}
	}
	x := &binding{key: k, b: b}
	port := uint16(0)
	if b.UDP {
		port = b.Remote.Port()
	}
	x.dk = decapKey{remote: b.Remote.Addr(), home: b.Home, port: port}
	x.ek = endpointKey{remote: b.Remote.Addr(), port: port}
	p.bindings[k] = x
	p.byHome[b.Home] = append(p.byHome[b.Home], x)
	if len(p.free) == 0 {
		p.overflow++
		return nil
	}
	x.slot = p.free[len(p.free)-1]
	st := p.maps["binding_stats"]
	if err := st.Update(u32Key(x.slot), make([]byte, st.size())); err != nil {
		p.overflow++
		return err
	}
	d := decap{slot: x.slot, proto: 17, next: b.Encap.Proto(), key: b.Key}
	if !b.UDP {
		d.proto = b.Encap.Proto()
	}
	if b.HasKey {
		d.flags |= tunKey
	}
	if b.Encap == ha.EncapMinimal {
		d.flags |= tunPunt
	}
	if err := p.maps["decap"].Update(x.dk.marshal(), d.marshal()); err != nil {
		p.overflow++
		return nil // full: the userspace plane serves it
	}
	if err := p.maps["endpoints"].Update(x.ek.marshal(), u32Key(uint32(p.eps[x.ek]+1))); err != nil {
		_ = p.maps["decap"].Delete(x.dk.marshal())
		p.overflow++
		return nil
	}
	p.free = p.free[:len(p.free)-1]
	p.eps[x.ek]++
	p.decaps[x.dk] = x
	x.in = true
	return nil
}

func (p *Plane) remove(k Key) error {
	x := p.bindings[k]
	if x == nil {
		return nil
	}
	delete(p.bindings, k)
	hs := p.byHome[x.b.Home]
	for i, y := range hs {
		if y == x {
			hs = append(hs[:i:i], hs[i+1:]...)
			break
		}
	}
	if len(hs) == 0 {
		delete(p.byHome, x.b.Home)
	} else {
		p.byHome[x.b.Home] = hs
	}
	if !x.in {
		p.overflow--
		return nil
	}
	var errs []error
	if p.decaps[x.dk] == x {
		delete(p.decaps, x.dk)
		errs = append(errs, p.maps["decap"].Delete(x.dk.marshal()))
	}
	if n := p.eps[x.ek] - 1; n > 0 {
		p.eps[x.ek] = n
		errs = append(errs, p.maps["endpoints"].Update(x.ek.marshal(), u32Key(uint32(n))))
	} else {
		delete(p.eps, x.ek)
		errs = append(errs, p.maps["endpoints"].Delete(x.ek.marshal()))
	}
	p.free = append(p.free, x.slot)
	return errors.Join(errs...)
}

// writeHome writes the tunnel entry of home address h from its bindings:
// none (the entry goes), one (its tunnel), several (simultaneous bindings:
// the userspace plane copies each datagram to each, RFC 5944 §4.2.3).
func (p *Plane) writeHome(h netip.Addr) error {
	bs := p.byHome[h]
	if len(bs) == 0 {
		return p.maps["tunnels"].Delete(homeKey(h))
	}
	x := bs[0]
	if !x.in {
		return p.maps["tunnels"].Delete(homeKey(h))
	}
	t := p.tunnelOf(x)
	if len(bs) > 1 {
		t.flags |= tunPunt
	}
	return p.maps["tunnels"].Update(homeKey(h), t.marshal())
}

func (p *Plane) tunnelOf(x *binding) tunnel {
	b := &x.b
	t := tunnel{local: b.Local, remote: b.Remote.Addr(), key: b.Key, slot: x.slot,
		mtu: uint16(dataplane.Mode{UDP: b.UDP, Encap: b.Encap, GREKey: b.HasKey}.InnerMTU(p.pathMTU()))}
	t.oif = p.oif(b.Remote.Addr(), b.Local)
	if b.HasKey {
		t.flags |= tunKey
	}
	switch {
	case b.Encap == ha.EncapMinimal:
		t.flags |= tunPunt
	case b.UDP:
		t.mode, t.next = modeUDP, b.Encap.Proto()
		t.sport, t.dport = b.LocalPort, b.Remote.Port()
	case b.Encap == ha.EncapGRE:
		t.mode = modeGRE
	default:
		t.mode = modeIPIP
	}
	return t
}

func (p *Plane) pathMTU() int {
	if p.cfg.PathMTU > 0 {
		return p.cfg.PathMTU
	}
	return dataplane.DefaultPathMTU
}

// oif is the interface the kernel routes remote on (0 if none: the
// program then finds no route and leaves the packets to userspace).
func (p *Plane) oif(remote, local netip.Addr) uint32 {
	if i, ok := p.oifs[remote]; ok {
		return i
	}
	i := routeOIF(remote, local)
	if i != 0 {
		p.oifs[remote] = i
	}
	return i
}

// Refresh re-resolves the routes toward every tunnel's far end when the
// programs have met a packet they found no route for since the last
// time, and attaches the ingress program to interfaces that appeared.
// The daemon calls it every few seconds and on route and link changes.
func (p *Plane) Refresh(force bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	err := p.rescan()
	c, cerr := p.counters()
	if cerr != nil {
		return errors.Join(err, cerr)
	}
	if !force && c[cPuntRoute] == p.puntSeen {
		return err
	}
	p.puntSeen = c[cPuntRoute]
	old := p.oifs
	p.oifs = map[netip.Addr]uint32{}
	errs := []error{err}
	for h, bs := range p.byHome {
		if len(bs) == 0 || !bs[0].in {
			continue
		}
		b := &bs[0].b
		if p.oif(b.Remote.Addr(), b.Local) != old[b.Remote.Addr()] {
			errs = append(errs, p.writeHome(h))
		}
	}
	return errors.Join(errs...)
}
