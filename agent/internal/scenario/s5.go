package scenario

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/proxy"
	"github.com/mip4d/mip4d/agent/uci"
)

// Scenario S5 (RFC 5563, DESIGN.md's local mobile node proxy): the
// hotspots of S2 run mip4d in proxy mode instead of as foreign agents;
// the laptop runs nothing of ours — busybox udhcpc on its radio and the
// unmodified strongSwan client. The x-HA gives the laptop its address
// from its pool (one address here, HoA, so the lab's checks apply as
// they are) for the laptop's NAI, whose key the proxies derive from a
// master secret. Every hotspot answers as the same gateway (address and
// MAC), so the laptop sees no change when it moves; the proxy it moved to
// registers it, and the home agent revokes the old one.
var (
	ProxyGateway    = netip.MustParseAddr("10.10.0.1")
	ProxyGatewayMAC = "02:00:5e:10:00:01"
	LaptopMAC       = "02:00:00:00:00:55"
	proxyMaster     = "lab master secret for the proxies"
)

// BuildS5 is the acceptance lab with proxies' hotspots (S2's topology).
func BuildS5(l *lab.Lab, bin string) (*Roaming, error) {
	r, err := BuildS2(l, bin)
	if err != nil {
		return nil, err
	}
	return r, l.IP("mn", "link", "set", MNUplink, "address", LaptopMAC)
}

// S5HAConfig writes the home agent's configuration for S5: the laptop
// known only by its NAI with the key the proxies derive, a pool, the
// proxies' FA-HA keys, revocation on.
func (r *Roaming) S5HAConfig() (string, error) {
	f := &uci.File{}
	section(f, "mip4d", "globals", "role", "ha", "log_level", "debug",
		"state_dir", filepath.Join(r.L.Dir(), "ha-state"), "control_socket", r.Socket("ha"))
	section(f, "homeagent", "homeagent", "address", HAAddr.String(), "home_network", HomeNet.String(),
		"max_lifetime", "600", "keepalive", fmt.Sprint(r.Keepalive), "pool_start", HoA.String(), "pool_end", HoA.String())
	key := fmt.Sprintf("0x%x", proxy.DeriveKey([]byte(proxyMaster), mnNAI))
	section(f, "mobile_node", "", "nai", mnNAI, "spi", "256", "key", key)
	for _, coa := range FACoAs[1:] {
		section(f, "agent_peer", "", "address", coa.String(), "spi", faSPI, "key", faKey)
	}
	return r.writeConfig("ha", f)
}

// ProxyConfig writes hotspot hs's proxy configuration.
func (r *Roaming) ProxyConfig(hs int) (string, error) {
	name := fmt.Sprintf("fa%d", hs)
	f := &uci.File{}
	section(f, "mip4d", "globals", "role", "proxy", "log_level", "debug", "control_socket", r.Socket(name),
		"run_dir", filepath.Join(r.L.Dir(), name+"-run"))
	section(f, "proxy", "proxy", "interface", "lan", "uplink", "wan", "home_agent", HAAddr.String(),
		"spi", faSPI, "key", faKey, "master_key", proxyMaster, "lifetime", fmt.Sprint(r.Lifetime),
		"gateway", ProxyGateway.String(), "gateway_mac", ProxyGatewayMAC, "client_network", HomeNet.String())
	for i := 0; i+1 < len(r.ProxyOptions); i += 2 {
		if err := f.Section("proxy").Set(r.ProxyOptions[i], r.ProxyOptions[i+1]); err != nil {
			return "", err
		}
	}
	section(f, "proxy_client", "", "mac", LaptopMAC, "nai", mnNAI)
	return r.writeConfig(name, f)
}

// StartS5 starts the home agent and both proxies, puts the laptop on hs1
// with its DHCP client, waits for its address, and brings the VPN up from
// it.
func (r *Roaming) StartS5() (*VPN, error) {
	if err := r.StartS5Access(); err != nil {
		return nil, err
	}
	return r.StartVPN(netip.Addr{}, false)
}

// StartS5Access is StartS5 without the VPN.
func (r *Roaming) StartS5Access() error {
	cfg, err := r.S5HAConfig()
	if err != nil {
		return err
	}
	if r.HA, err = r.L.Start("ha", "ha", r.Bin, "run", "--config", cfg); err != nil {
		return err
	}
	if err := r.waitSocket("ha", r.HA); err != nil {
		return err
	}
	if err := r.startHotspotDaemons(r.ProxyConfig); err != nil {
		return err
	}
	r.AfterMove = r.renewDHCP
	if err := r.MoveTo(1); err != nil {
		return err
	}
	if err := r.startDHCPClient(); err != nil {
		return err
	}
	return r.waitLaptopAddr(HoA, 15*time.Second)
}

// dhcpScript is the laptop's udhcpc script: the stock one's address and
// route handling, without writing resolv.conf (which would be the
// host's: the namespace has none of its own).
const dhcpScript = `#!/bin/sh
case "$1" in
deconfig)
	ip link set "$interface" up
	ip -4 addr flush dev "$interface"
	;;
bound|renew)
	ip -4 addr replace "$ip/$mask" dev "$interface"
	[ -n "$router" ] && ip -4 route replace default via "${router%% *}" dev "$interface"
	echo "udhcpc $1: $ip/$mask router $router lease $lease serverid $serverid"
	;;
esac
exit 0
`

// startDHCPClient runs busybox udhcpc on the laptop's radio.
func (r *Roaming) startDHCPClient() error {
	script := filepath.Join(r.L.Dir(), "udhcpc.script")
	if err := os.WriteFile(script, []byte(dhcpScript), 0o755); err != nil {
		return err
	}
	p, err := r.L.Start("mn", "udhcpc", "udhcpc", "-f", "-i", MNUplink, "-s", script, "-t", "20", "-T", "1", "-A", "1")
	if err != nil {
		return err
	}
	r.DHCPClient = p
	return nil
}

// renewDHCP is what a laptop's OS does on re-association: it asks the
// DHCP server again (udhcpc renews on SIGUSR1: a unicast REQUEST to the
// server identifier, which every hotspot shares).
func (r *Roaming) renewDHCP(int) error {
	if r.DHCPClient == nil {
		return nil
	}
	return syscall.Kill(r.DHCPClient.Cmd.Process.Pid, syscall.SIGUSR1)
}

// waitLaptopAddr waits until the laptop's radio has addr.
func (r *Roaming) waitLaptopAddr(addr netip.Addr, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var out string
	for time.Now().Before(deadline) {
		var err error
		out, err = r.L.Exec("mn", "ip", "-4", "-o", "addr", "show", "dev", MNUplink)
		if err == nil && strings.Contains(out, " "+addr.String()+"/") {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the laptop never got %v by DHCP: %s\n%s", addr, out, r.DHCPClient.Output())
}

// ProxyClients is proxy hs's client table.
func (r *Roaming) ProxyClients(hs int) ([]S5Client, error) {
	var cs []S5Client
	err := r.Control(fmt.Sprintf("fa%d", hs), "bindings", &cs)
	return cs, err
}

// S5Client is the part of a proxy's client entry the lab reads.
type S5Client struct {
	MAC      string     `json:"mac"`
	NAI      string     `json:"nai"`
	HomeAddr netip.Addr `json:"home_addr"`
	State    string     `json:"state"`
}

func macEqual(a, b string) bool {
	x, err1 := net.ParseMAC(a)
	y, err2 := net.ParseMAC(b)
	return err1 == nil && err2 == nil && x.String() == y.String()
}

// FloodDHCP sends, from the laptop's namespace on its radio, n DHCP
// DISCOVERs and n REQUESTs with random client MACs and m malformed
// datagrams to the DHCP server port: a flood of strangers (bounded in
// count; the caller bounds time).
func (r *Roaming) FloodDHCP(n, m int, seed uint64) error {
	return r.L.In("mn", func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: 0})
		if err != nil {
			return err
		}
		defer c.Close()
		raw, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := raw.Control(func(fd uintptr) {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1); serr == nil {
				serr = syscall.BindToDevice(int(fd), MNUplink)
			}
		}); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		to := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
		rng := rand.New(rand.NewPCG(seed, 0x6d697034))
		for i := 0; i < n; i++ {
			mac := net.HardwareAddr{0x02, byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}
			for _, t := range []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest} {
				d, err := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(t),
					dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 10, byte(rng.Uint32()), byte(rng.Uint32())))))
				if err != nil {
					return err
				}
				if _, err := c.WriteTo(d.ToBytes(), to); err != nil {
					return err
				}
			}
			if i%16 == 15 {
				time.Sleep(time.Millisecond) // a fast client, not a kernel queue overflow test
			}
		}
		for i := 0; i < m; i++ {
			b := make([]byte, 1+rng.IntN(600))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			if i%2 == 0 && len(b) > 240 {
				b[0], b[236], b[237], b[238], b[239] = 1, 99, 130, 83, 99 // BOOTREQUEST with the magic cookie: past the first checks
			}
			if _, err := c.WriteTo(b, to); err != nil {
				return err
			}
			if i%32 == 31 {
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	})
}

// ProcRSS is a lab process's resident set size, bytes (the daemon under
// ip netns exec: the deepest child of the process group).
func ProcRSS(p *lab.Proc) (int64, error) {
	pid := p.Cmd.Process.Pid
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil || strings.TrimSpace(string(b)) == "" {
			break
		}
		fmt.Sscan(string(b), &pid)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var kb int64
			fmt.Sscan(strings.TrimPrefix(l, "VmRSS:"), &kb)
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// UDPDrops is what the kernel dropped for want of buffer space at the UDP
// sockets bound to port in namespace ns (/proc/net/udp's last column).
func (r *Roaming) UDPDrops(ns string, port uint16) (int64, error) {
	out, err := r.L.Exec(ns, "cat", "/proc/net/udp")
	if err != nil {
		return 0, err
	}
	var total int64
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 13 || !strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) {
			continue
		}
		var n int64
		fmt.Sscan(f[len(f)-1], &n)
		total += n
	}
	return total, nil
}

// Spoofer is a second machine on hotspot hs's link that takes the
// laptop's MAC: the port hs of the laptop's bridge moves into a namespace
// of its own ("spoof"), gets LaptopMAC, and runs busybox udhcpc. With
// configure, it takes the address it is given (and so answers the proxy's
// ARP probes for it); without, it keeps quiet after the lease, as a
// spoofer ignoring probes would.
type Spoofer struct {
	r         *Roaming
	dev       string
	configure bool
	Proc      *lab.Proc
}

// AddSpoofer puts the spoofer on hotspot hs's link; the laptop must be on
// the other one.
func (r *Roaming) AddSpoofer(hs int, configure bool) (*Spoofer, error) {
	if r.At == hs {
		return nil, fmt.Errorf("the laptop is on hotspot %d", hs)
	}
	dev := fmt.Sprintf("hs%d", hs)
	if err := r.L.AddNS("spoof"); err != nil {
		return nil, err
	}
	if err := r.L.IPBatch("mn", "link set "+dev+" nomaster", "link set "+dev+" netns "+r.L.NS("spoof")); err != nil {
		return nil, err
	}
	if err := r.L.IPBatch("spoof", "link set "+dev+" address "+LaptopMAC, "link set "+dev+" up"); err != nil {
		return nil, err
	}
	if err := r.waitLinkUp(fmt.Sprintf("fa%d", hs), "lan"); err != nil {
		return nil, err
	}
	return &Spoofer{r: r, dev: dev, configure: configure}, nil
}

// Start runs the spoofer's DHCP client (again, if it ran: a fresh
// DISCOVER, a new attempt).
func (s *Spoofer) Start() error {
	s.Stop()
	script := filepath.Join(s.r.L.Dir(), "spoof.script")
	body := dhcpScript
	if !s.configure {
		body = "#!/bin/sh\necho \"udhcpc $1: $ip (not configured)\"\nexit 0\n"
	}
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		return err
	}
	if err := s.r.L.IP("spoof", "-4", "addr", "flush", "dev", s.dev); err != nil {
		return err
	}
	p, err := s.r.L.Start("spoof", "spoof-udhcpc", "udhcpc", "-f", "-i", s.dev, "-s", script, "-t", "20", "-T", "1", "-A", "1")
	s.Proc = p
	return err
}

// Stop ends the spoofer's DHCP client.
func (s *Spoofer) Stop() {
	if s.Proc != nil {
		s.Proc.Kill() // no DHCP RELEASE: the spoofer just goes quiet
		s.Proc = nil
	}
}

// RestartProxy stops proxy hs — gracefully (SIGTERM), or as a crash
// (SIGKILL) — and starts it again with the same configuration.
func (r *Roaming) RestartProxy(hs int, crash bool) error {
	p := r.FAProcs[hs-1]
	if crash {
		p.Kill()
	} else if err := p.Stop(5 * time.Second); err != nil {
		return fmt.Errorf("fa%d: %w\n%s", hs, err, p.Output())
	}
	cfg, err := r.ProxyConfig(hs)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("fa%d", hs)
	if p, err = r.L.Start(name, name+"-restarted", r.Bin, "run", "--config", cfg); err != nil {
		return err
	}
	r.FAProcs[hs-1] = p
	return r.waitSocket(name, p)
}
