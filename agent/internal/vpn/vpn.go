// Package vpn runs the unmodified VPN of the roaming lab (DESIGN.md §3,
// RFC 5265 §1–4): a strongSwan gateway and a strongSwan road-warrior
// client, each a plain charon daemon in a lab namespace, configured only
// through strongswan.conf and swanctl.conf the way an administrator would.
// mip4d never talks to them; the lab only observes them, through charon's
// vici socket (swanctl) and its log, to prove that the IKE SA survives
// the mobile node's moves.
//
// The kernel of the lab machines has no ESP, so charon runs strongSwan's
// userspace IPsec (the kernel-libipsec plugin, loaded before
// kernel-netlink): each daemon gets a TUN device ipsec0 (MTU 1400), its
// routes in table 220, and ESP always travels UDP-encapsulated on port
// 4500 (LAB-NOTES.md, "strongSwan as the unmodified VPN").
//
// charon's pid file and vici socket live under /run, which is fixed, so
// each daemon starts as
//
//	ip netns exec NS sh -c 'mount --bind DIR/run /run && exec charon'
//
// (ip netns exec already gives it a private mount namespace): one charon
// per namespace, all of its state in DIR inside the lab directory, and the
// process started with lab.Start, so Lab.Close stops it.
package vpn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/lab"
)

// Paths of the Debian strongSwan 5.9 binaries.
const (
	Charon  = "/usr/lib/ipsec/charon"
	Swanctl = "/usr/sbin/swanctl"
	Plugins = "/usr/lib/ipsec/plugins"
)

// Packages are the Debian packages that provide charon, swanctl and the
// plugins the lab loads (kernel-libipsec and kdf are in
// libcharon-extra-plugins and libstrongswan-standard-plugins):
//
//	apt-get install -y --no-install-recommends strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins
var Packages = []string{"strongswan-charon", "strongswan-swanctl", "libcharon-extra-plugins", "libstrongswan-standard-plugins"}

// load is charon's plugin list: userspace ESP (kernel-libipsec) before
// kernel-netlink, kdf for the PRF, vici for swanctl, attr for virtual IPs,
// counters for the IKE event counters.
var load = []string{"random", "nonce", "openssl", "kdf", "pem", "pkcs1", "x509", "revocation",
	"constraints", "pubkey", "kernel-libipsec", "kernel-netlink", "socket-default", "vici",
	"updown", "attr", "counters"}

// Defaults of the lab's VPN.
const (
	DefaultGatewayID = "vpngw.lab"
	DefaultClientID  = "laptop.lab"
	// DefaultPSK is the lab's pre-shared key (not a secret anyone uses).
	DefaultPSK = "mip4d-lab-vpn-psk"
	// TunMTU is the MTU libipsec gives ipsec0.
	TunMTU = 1400
	// NATTPort is the port of IKE after NAT detection and of every ESP
	// packet under libipsec (RFC 3948).
	NATTPort = 4500
)

// DefaultPool is the gateway's default virtual-IP pool.
var DefaultPool = netip.MustParsePrefix("10.99.0.0/24")

// Available reports what is missing to run the lab's VPN, or nil.
func Available() error {
	var missing []string
	for _, p := range []string{Charon, Swanctl} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	for _, p := range load {
		f := filepath.Join(Plugins, "libstrongswan-"+p+".so")
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("strongSwan missing (%s); install it with `apt-get install -y --no-install-recommends %s`",
			strings.Join(missing, ", "), strings.Join(Packages, " "))
	}
	return nil
}

// ToolsRequired reports whether missing test tools must fail tests rather
// than skip them: CI=true or MIP4D_REQUIRE_TOOLS=1.
func ToolsRequired() bool {
	return os.Getenv("CI") == "true" || os.Getenv("MIP4D_REQUIRE_TOOLS") == "1"
}

// Require skips t (or fails it, when ToolsRequired) unless strongSwan is
// installed.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		if ToolsRequired() {
			t.Fatal(err.Error() + " (tools are required: CI=true or MIP4D_REQUIRE_TOOLS=1)")
		}
		t.Skip(err.Error() + "; set MIP4D_REQUIRE_TOOLS=1 to make this a failure")
	}
}

// Daemon is one charon in a lab namespace.
type Daemon struct {
	Name string // the lab process name; its log is <lab dir>/<Name>.log
	NS   string // the lab namespace (short name)
	Dir  string // its private directory: configs, and run/ mounted on /run
	Proc *lab.Proc

	l *lab.Lab
}

// settings are the strongswan.conf options that differ between daemons.
type settings struct {
	interfaces []string // charon.interfaces_use
	noRoam     bool     // kernel-netlink roam_events = no
	keepAlive  time.Duration
}

// start writes strongswan.conf and swanctl.conf into <lab dir>/<name>/,
// starts charon in ns and loads the configuration.
func start(l *lab.Lab, ns, name string, s settings, swanctlConf string) (*Daemon, error) {
	d := &Daemon{Name: name, NS: ns, Dir: filepath.Join(l.Dir(), name), l: l}
	if err := os.MkdirAll(filepath.Join(d.Dir, "run"), 0o700); err != nil {
		return nil, err
	}
	if n := len(d.socket()); n >= 108 {
		return nil, fmt.Errorf("vpn: vici socket path %s is %d bytes, longer than a Unix socket path may be", d.socket(), n)
	}
	if err := os.WriteFile(d.conf(), []byte(strongswanConf(s)), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(d.Dir, "swanctl.conf"), []byte(swanctlConf), 0o600); err != nil {
		return nil, err
	}
	var err error
	d.Proc, err = l.StartEnv(ns, name, []string{"STRONGSWAN_CONF=" + d.conf()},
		"sh", "-c", `mount --bind "$1" /run && exec "$2"`, "sh", filepath.Join(d.Dir, "run"), Charon)
	if err != nil {
		return nil, err
	}
	if err := d.waitReady(10 * time.Second); err != nil {
		return nil, err
	}
	if _, err := d.Swanctl(10*time.Second, "--load-all", "--file", filepath.Join(d.Dir, "swanctl.conf")); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Daemon) conf() string   { return filepath.Join(d.Dir, "strongswan.conf") }
func (d *Daemon) socket() string { return filepath.Join(d.Dir, "run", "charon.vici") }

// URI is the vici URI of the daemon, usable from the host (outside the
// namespace): `swanctl --uri URI ...`.
func (d *Daemon) URI() string { return "unix://" + d.socket() }

// waitReady waits until charon accepts connections on its vici socket.
func (d *Daemon) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if !d.Proc.Running() {
			return fmt.Errorf("vpn: charon %s exited at start:\n%s", d.Name, d.Proc.Output())
		}
		c, err := net.DialTimeout("unix", d.socket(), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vpn: charon %s did not open %s: %v\n%s", d.Name, d.socket(), err, d.Proc.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Swanctl runs swanctl against this daemon with args (the command first:
// "--list-sas", ...) and returns its standard output. It runs on the host:
// vici is a Unix socket in the lab directory.
func (d *Daemon) Swanctl(timeout time.Duration, args ...string) (string, error) {
	args = append(args, "--uri", d.URI())
	if d.l.Log != nil {
		d.l.Log("+ [%s] swanctl %s", d.NS, strings.Join(args, " "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Swanctl, args...)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+d.conf())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (timeout %v)", ctx.Err(), timeout)
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("vpn: swanctl %s: %v: %s%s", strings.Join(args, " "), err,
			lastLines(stdout.String(), 5), bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// SAs lists the daemon's IKE SAs (swanctl --list-sas --pretty).
func (d *Daemon) SAs() ([]SA, error) {
	out, err := d.Swanctl(10*time.Second, "--list-sas", "--pretty")
	if err != nil {
		return nil, err
	}
	return ParseSAs(out)
}

// Counters returns charon's global IKE event counters (swanctl --counters,
// the counters plugin), e.g. "ike-rekey-init", "child-rekey",
// "ike-init-out-req": each IKE_SA_INIT request sent is one IKE SA set up.
func (d *Daemon) Counters() (map[string]uint64, error) {
	out, err := d.Swanctl(10*time.Second, "--counters", "--raw")
	if err != nil {
		return nil, err
	}
	return parseCounters(out)
}

// Log returns charon's log so far.
func (d *Daemon) Log() string { return d.Proc.Output() }

// Stop stops charon (it deletes its SAs and ipsec0 on the way out).
func (d *Daemon) Stop() error { return d.Proc.Stop(3 * time.Second) }

// strongswanConf is charon's whole configuration: nothing from /etc.
func strongswanConf(s settings) string {
	var b strings.Builder
	b.WriteString("charon {\n")
	fmt.Fprintf(&b, "\tload = %s\n", strings.Join(load, " "))
	if len(s.interfaces) > 0 {
		fmt.Fprintf(&b, "\tinterfaces_use = %s\n", strings.Join(s.interfaces, ","))
	}
	if s.keepAlive > 0 {
		fmt.Fprintf(&b, "\tkeep_alive = %ds\n", max(1, int(s.keepAlive.Seconds())))
	}
	// The log goes to charon's standard error, which lab.Start writes to
	// <name>.log: epoch seconds with milliseconds, the IKE SA on every line.
	b.WriteString(`	filelog {
		stderr {
			default = 1
			ike = 2
			time_format = %s
			time_add_ms = yes
			ike_name = yes
			flush_line = yes
		}
	}
	plugins {
		vici {
			socket = unix:///run/charon.vici
		}
`)
	if s.noRoam {
		b.WriteString("\t\tkernel-netlink {\n\t\t\troam_events = no\n\t\t}\n")
	}
	b.WriteString("\t}\n}\n")
	// swanctl reads this file too (STRONGSWAN_CONF): only plugins that
	// are installed, so it does not complain about the others.
	b.WriteString("swanctl {\n\tload = random nonce openssl pem pkcs1 x509 pubkey\n}\n")
	return b.String()
}

// secrets is the swanctl.conf secrets section for one PSK.
func secrets(psk string, ids ...string) string {
	var b strings.Builder
	b.WriteString("secrets {\n\tike-lab {\n")
	n := 0
	for _, id := range ids {
		if id != "" && id != "%any" {
			n++
			fmt.Fprintf(&b, "\t\tid-%d = %s\n", n, id)
		}
	}
	fmt.Fprintf(&b, "\t\tsecret = %q\n\t}\n}\n", psk)
	return b.String()
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

func prefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// ErrNoSA is returned when the daemon holds no established IKE SA of the
// connection asked for.
var ErrNoSA = errors.New("vpn: no established IKE SA")
