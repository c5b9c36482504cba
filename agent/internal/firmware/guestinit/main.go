// Command guestinit is /init of the firmware boot test's initramfs (see
// package firmware): on a real kernel under qemu-system it builds a
// three-namespace network with veth pairs, runs a home agent and a mobile
// node from the mip4d binary taken out of the .ipk, waits for the
// registration, pings a correspondent through the tunnel, prints the
// result on the console and powers off.
//
//	[root: cn] 10.0.0.2 ── lan 10.0.0.1 [ha] wan 198.51.100.1 ── wan0 198.51.100.10 [mn]
//	                          home network 10.10.0.0/16 on the HA's TUN; mn's home address 10.10.0.5
//
// The result line starts with "MIP4D-FIRMWARE: PASS" or "MIP4D-FIRMWARE: FAIL".
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const (
	mip4d   = "/usr/sbin/mip4d"
	busybox = "/bin/busybox"
	key     = "0x6d69703464206669726d77617265" // the test's MN-HA key, not a secret anyone uses
)

var start = time.Now()

func logf(format string, args ...any) {
	fmt.Printf("guest %6.2fs: %s\n", uptime(), fmt.Sprintf(format, args...))
}

func uptime() float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Since(start).Seconds()
	}
	var up float64
	fmt.Sscanf(string(b), "%f", &up)
	return up
}

func main() {
	err := run()
	if err != nil {
		fmt.Printf("MIP4D-FIRMWARE: FAIL %s: %v\n", runtime.GOARCH, err)
		for _, l := range []string{"/tmp/ha.log", "/tmp/mn.log"} {
			if b, e := os.ReadFile(l); e == nil {
				fmt.Printf("--- %s\n%s", l, b)
			}
		}
	}
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func run() error {
	for _, m := range []struct{ src, dst, fs string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/run", "tmpfs"}, {"tmpfs", "/tmp", "tmpfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	logf("kernel %s %s", unix.ByteSliceToString(uts.Release[:]), unix.ByteSliceToString(uts.Machine[:]))
	mods, _ := filepath.Glob("/lib/modules/*.ko")
	for _, m := range mods {
		f, err := os.Open(m)
		if err != nil {
			return err
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("load %s: %w", m, err)
		}
	}
	logf("modules loaded: %d", len(mods))
	if err := network(); err != nil {
		return err
	}
	logf("network: namespaces ha, mn; veth pairs up")
	if err := writeConfigs(); err != nil {
		return err
	}
	out, err := exec.Command(mip4d, "version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("mip4d version: %v: %s", err, out)
	}
	logf("%s", strings.TrimSpace(string(out)))

	haPID, err := daemon("ha", "/run/ha.sock")
	if err != nil {
		return err
	}
	t0 := time.Now()
	mnPID, err := daemon("mn", "/run/mn.sock")
	if err != nil {
		return err
	}
	var reg struct {
		MN struct {
			Registration struct {
				State  string `json:"state"`
				CareOf string `json:"care_of"`
			} `json:"registration"`
		} `json:"mn"`
	}
	if err := waitFor(60*time.Second, func() bool {
		b, err := exec.Command(mip4d, "status", "--json", "--socket", "/run/mn.sock").Output()
		return err == nil && json.Unmarshal(b, &reg) == nil && reg.MN.Registration.State == "registered"
	}); err != nil {
		return fmt.Errorf("mobile node not registered (state %q)", reg.MN.Registration.State)
	}
	regTime := time.Since(t0)
	var rows []struct {
		HomeAddr string `json:"home_addr"`
		CareOf   string `json:"care_of"`
		Tunnel   string `json:"tunnel"`
	}
	if err := waitFor(10*time.Second, func() bool {
		b, err := exec.Command(mip4d, "bindings", "--json", "--socket", "/run/ha.sock").Output()
		return err == nil && json.Unmarshal(b, &rows) == nil && len(rows) == 1
	}); err != nil {
		return fmt.Errorf("home agent has %d bindings", len(rows))
	}
	logf("registered in %v: binding %s via %s (%s)", regTime.Round(time.Millisecond), rows[0].HomeAddr, rows[0].CareOf, rows[0].Tunnel)
	// Traffic both ways through the tunnel: mn's home address to cn and back.
	ping, err := exec.Command(busybox, "nsenter", "--net=/run/netns/mn", busybox, "ping", "-c", "3", "-W", "3", "10.0.0.2").CombinedOutput()
	fmt.Print(string(ping))
	received := 0
	for _, l := range strings.Split(string(ping), "\n") {
		if strings.Contains(l, "packets transmitted") {
			fmt.Sscanf(strings.TrimSpace(strings.Split(l, ",")[1]), "%d", &received)
		}
	}
	if err != nil || received < 2 {
		return fmt.Errorf("ping through the tunnel: %d/3 replies (%v)", received, err)
	}
	b, _ := exec.Command(mip4d, "bindings", "--socket", "/run/ha.sock").CombinedOutput()
	fmt.Print(string(b))
	// Which data plane carried the ping: the kernel (BPF) one, with the
	// packets it tunnelled, or the userspace one and why.
	planes := make([]string, 0, 2)
	for _, d := range []string{"ha", "mn"} {
		p, err := dataPlane("/run/" + d + ".sock")
		if err != nil {
			return fmt.Errorf("%s status: %w", d, err)
		}
		planes = append(planes, d+":"+p)
	}
	// The footprint on the router (DESIGN.md §4: RSS ≤ 12 MB idle): each
	// daemon settled with its one binding.
	time.Sleep(time.Second)
	fmt.Printf("MIP4D-FIRMWARE: PASS %s uptime=%.2fs registration=%dms ping=%d/3 tunnel=%s rss_ha=%dkB rss_mn=%dkB dataplane=%s\n",
		runtime.GOARCH, uptime(), regTime.Milliseconds(), received, rows[0].Tunnel, rssKB(haPID), rssKB(mnPID), strings.Join(planes, ","))
	return nil
}

// dataPlane says which data plane a daemon runs: "bpf(encap/decap)" with
// the kernel plane's packet counts, or "userspace(reason)" (spaces in the
// reason become underscores, to keep the result one line of fields).
func dataPlane(sock string) (string, error) {
	var st struct {
		DataPlane struct {
			Mode   string `json:"mode"`
			Reason string `json:"mode_reason"`
			BPF    *struct {
				Encap uint64 `json:"encap_packets"`
				Decap uint64 `json:"decap_packets"`
			} `json:"bpf"`
		} `json:"dataplane"`
	}
	b, err := exec.Command(mip4d, "status", "--json", "--socket", sock).Output()
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return "", err
	}
	dp := st.DataPlane
	if dp.Mode == "bpf" && dp.BPF != nil {
		return fmt.Sprintf("bpf(%d/%d)", dp.BPF.Encap, dp.BPF.Decap), nil
	}
	return dp.Mode + "(" + strings.ReplaceAll(dp.Reason, " ", "_") + ")", nil
}

// network builds the namespaces, veth pairs, addresses and routes.
func network() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	root, err := netns.Get()
	if err != nil {
		return err
	}
	defer netns.Set(root)
	os.MkdirAll("/run/netns", 0o755)
	ns := map[string]netns.NsHandle{"": root}
	for _, name := range []string{"ha", "mn"} {
		h, err := netns.NewNamed(name) // also switches into it
		if err != nil {
			return fmt.Errorf("netns %s: %w", name, err)
		}
		ns[name] = h
		if err := netns.Set(root); err != nil {
			return err
		}
	}
	// name in root ns, peer name, ns of the link, ns of the peer
	for _, v := range [][4]string{{"cn0", "lan", "", "ha"}, {"wan", "wan0", "ha", "mn"}} {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: v[0]}, PeerName: v[1]}); err != nil {
			return fmt.Errorf("veth %s: %w", v[0], err)
		}
		for i, n := range []string{v[2], v[3]} {
			if n == "" {
				continue
			}
			l, err := netlink.LinkByName(v[i])
			if err != nil {
				return err
			}
			if err := netlink.LinkSetNsFd(l, int(ns[n])); err != nil {
				return err
			}
		}
	}
	type addr struct{ ns, dev, cidr, gw string }
	for _, a := range []addr{
		{"", "cn0", "10.0.0.2/24", "10.0.0.1"},
		{"ha", "lan", "10.0.0.1/24", ""},
		{"ha", "wan", "198.51.100.1/24", ""},
		{"mn", "wan0", "198.51.100.10/24", "198.51.100.1"},
	} {
		h, err := netlink.NewHandleAt(ns[a.ns], unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		lo, err := h.LinkByName("lo")
		if err == nil {
			h.LinkSetUp(lo)
		}
		l, err := h.LinkByName(a.dev)
		if err != nil {
			return fmt.Errorf("%s in %q: %w", a.dev, a.ns, err)
		}
		ad, _ := netlink.ParseAddr(a.cidr)
		if err := h.AddrAdd(l, ad); err != nil {
			return err
		}
		if err := h.LinkSetUp(l); err != nil {
			return err
		}
		if a.gw != "" {
			if err := h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.ParseIP(a.gw)}); err != nil {
				return fmt.Errorf("default route in %q: %w", a.ns, err)
			}
		}
		h.Close()
	}
	return nil
}

func writeConfigs() error {
	ha := `config mip4d 'globals'
	option role 'ha'
	option state_dir '/run/mip4d-ha'
	option control_socket '/run/ha.sock'

config homeagent 'homeagent'
	option address '198.51.100.1'
	option home_network '10.10.0.0/16'

config mobile_node
	option nai 'laptop@example.net'
	option home_address '10.10.0.5'
	option spi '1000'
	option key '` + key + `'
`
	mn := `config mip4d 'globals'
	option role 'mn'
	option control_socket '/run/mn.sock'

config mobilenode 'mobilenode'
	option nai 'laptop@example.net'
	option home_address '10.10.0.5'
	option home_network '10.10.0.0/16'
	option home_agent '198.51.100.1'
	option uplink 'wan0'
	option spi '1000'
	option key '` + key + `'
	list route '10.0.0.0/8'
`
	os.MkdirAll("/etc", 0o755)
	if err := os.WriteFile("/etc/ha.conf", []byte(ha), 0o600); err != nil {
		return err
	}
	return os.WriteFile("/etc/mn.conf", []byte(mn), 0o600)
}

// rssKB is the resident set of process pid in kB (VmRSS), -1 if unknown.
func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb := -1
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	return -1
}

// daemon starts mip4d with /etc/NAME.conf in namespace NAME (busybox
// nsenter execs it: the process is mip4d's), waits for its control socket
// and returns its pid.
func daemon(name, sock string) (int, error) {
	log, err := os.Create("/tmp/" + name + ".log")
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(busybox, "nsenter", "--net=/run/netns/"+name, mip4d, "run", "--config", "/etc/"+name+".conf")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			b, _ := os.ReadFile("/tmp/" + name + ".log")
			return 0, fmt.Errorf("%s exited: %v\n%s", name, err, bytes.TrimSpace(b))
		default:
		}
		if _, err := os.Stat(sock); err == nil {
			logf("%s running", name)
			return cmd.Process.Pid, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s: no control socket", name)
}

func waitFor(d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("timeout")
}
