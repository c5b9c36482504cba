// Package lab builds the network-namespace labs in which mip4d proves its
// claims (DESIGN.md §3): namespaces, veth links, addresses, routes, NATs
// (nftables masquerade), and processes started inside namespaces. It is
// used by the privileged end-to-end tests and by `make demo`.
//
// Everything a Lab creates is torn down by Close — namespaces, processes,
// and with them every veth and rule — and Close runs on test cleanup, on
// failure, and (for the demo) on Ctrl-C. Namespace names carry a per-run
// prefix so parallel runs do not collide, and a run that was killed
// outright is swept by the next one: each run records its PID under
// /run/mip4d-lab/ and New removes the namespaces of runs whose PID is gone.
package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const stateDir = "/run/mip4d-lab"

// Lab is one set of namespaces and processes.
type Lab struct {
	Prefix string // namespace name prefix, unique per run
	// Log receives one line per command run (nil: discarded).
	Log func(format string, args ...any)

	mu     sync.Mutex
	ns     []string
	procs  []*Proc
	closed bool
	dir    string // scratch directory for logs and configs
}

// RequireRoot skips the calling test with a visible message unless the
// process is root.
func RequireRoot(t interface {
	Helper()
	Skip(...any)
}) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: this test builds network namespaces and needs root (CI runs it as root)")
	}
}

// New creates an empty lab. dir holds its logs and generated files.
func New(dir string) (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("lab: needs root")
	}
	sweep()
	l := &Lab{Prefix: fmt.Sprintf("m4%04x", rand.IntN(0x10000)), dir: dir}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(stateDir, l.Prefix), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	return l, nil
}

// Dir is the lab's scratch directory.
func (l *Lab) Dir() string { return l.dir }

// NS returns the full name of the lab namespace called name.
func (l *Lab) NS(name string) string { return l.Prefix + "-" + name }

func (l *Lab) logf(format string, args ...any) {
	if l.Log != nil {
		l.Log(format, args...)
	}
}

// run runs a command and returns its combined output, with the command
// line in the error.
func (l *Lab) run(name string, args ...string) (string, error) {
	l.logf("+ %s %s", name, strings.Join(args, " "))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("lab: %s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// AddNS creates namespace name with loopback up.
func (l *Lab) AddNS(name string) error {
	full := l.NS(name)
	if _, err := l.run("ip", "netns", "add", full); err != nil {
		return err
	}
	l.mu.Lock()
	l.ns = append(l.ns, full)
	l.mu.Unlock()
	_, err := l.run("ip", "-n", full, "link", "set", "lo", "up")
	return err
}

// Veth links namespace a (interface ifa) with namespace b (interface ifb)
// and sets both ends up.
func (l *Lab) Veth(a, ifa, b, ifb string) error {
	tmp := fmt.Sprintf("v%s%d", l.Prefix[2:], rand.IntN(1e6))
	if _, err := l.run("ip", "link", "add", tmp, "netns", l.NS(a), "type", "veth", "peer", "name", tmp+"p", "netns", l.NS(b)); err != nil {
		return err
	}
	for _, x := range [][3]string{{a, tmp, ifa}, {b, tmp + "p", ifb}} {
		if _, err := l.run("ip", "-n", l.NS(x[0]), "link", "set", x[1], "name", x[2]); err != nil {
			return err
		}
		if _, err := l.run("ip", "-n", l.NS(x[0]), "link", "set", x[2], "up"); err != nil {
			return err
		}
	}
	return nil
}

// IP runs `ip -n NS args...`.
func (l *Lab) IP(ns string, args ...string) error {
	_, err := l.run("ip", append([]string{"-n", l.NS(ns)}, args...)...)
	return err
}

// IPBatch runs several ip commands in ns with one process (ip -batch),
// so a multi-step change (a roam) happens in milliseconds, not one fork
// per step.
func (l *Lab) IPBatch(ns string, cmds ...string) error {
	l.logf("+ ip -n %s -batch: %s", l.NS(ns), strings.Join(cmds, "; "))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "-n", l.NS(ns), "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("lab: ip -n %s -batch (%s): %v: %s", l.NS(ns), strings.Join(cmds, "; "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Addr adds address p (e.g. "10.0.0.1/24") to dev in ns.
func (l *Lab) Addr(ns, dev, p string) error { return l.IP(ns, "addr", "add", p, "dev", dev) }

// Route adds a route in ns: Route("mn", "default", "via", "10.0.0.1").
func (l *Lab) Route(ns string, args ...string) error {
	return l.IP(ns, append([]string{"route", "replace"}, args...)...)
}

// Exec runs a command inside ns and returns its output.
func (l *Lab) Exec(ns string, args ...string) (string, error) {
	return l.run("ip", append([]string{"netns", "exec", l.NS(ns)}, args...)...)
}

// Sysctl sets a sysctl inside ns.
func (l *Lab) Sysctl(ns, key, value string) error {
	_, err := l.Exec(ns, "sysctl", "-qw", key+"="+value)
	return err
}

// Router enables IPv4 forwarding in ns.
func (l *Lab) Router(ns string) error { return l.Sysctl(ns, "net.ipv4.ip_forward", "1") }

// NAT makes ns a NAPT router masquerading out of wan (LAB-NOTES.md, NAT):
// forwarding on, and an nftables masquerade rule. random asks for random
// source ports, which proves RFC 3519 copes with port changes.
func (l *Lab) NAT(ns, wan string, random bool) error {
	if err := l.Router(ns); err != nil {
		return err
	}
	mode := "masquerade"
	if random {
		mode = "masquerade random,persistent"
	}
	rules := fmt.Sprintf(`table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "%s" %s
	}
}
`, wan, mode)
	f := filepath.Join(l.dir, l.NS(ns)+".nft")
	if err := os.WriteFile(f, []byte(rules), 0o644); err != nil {
		return err
	}
	_, err := l.Exec(ns, "nft", "-f", f)
	return err
}

// FlushConntrack empties ns's connection tracking table: to a NAT, the
// same as a reboot that lost every mapping.
func (l *Lab) FlushConntrack(ns string) error {
	_, err := l.Exec(ns, "conntrack", "-F")
	if err != nil && strings.Contains(err.Error(), "0 flow entries") {
		return nil
	}
	return err
}

// Ping sends count pings from ns to dst and reports whether any came back.
func (l *Lab) Ping(ns string, dst netip.Addr, count int) bool {
	_, err := l.Exec(ns, "ping", "-c", strconv.Itoa(count), "-W", "1", "-i", "0.2", dst.String())
	return err == nil
}

// Proc is a process running in a namespace.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string // path of its combined output
	done chan struct{}
	err  error
}

// Start runs a long-lived command in ns; its output goes to
// <dir>/<name>.log. It is killed by Close if still running.
func (l *Lab) Start(ns, name string, args ...string) (*Proc, error) {
	return l.StartEnv(ns, name, nil, args...)
}

// StartEnv is Start with extra environment variables ("K=V").
func (l *Lab) StartEnv(ns, name string, env []string, args ...string) (*Proc, error) {
	logPath := filepath.Join(l.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.NS(ns)}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	l.logf("+ [%s] %s", ns, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &Proc{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p, nil
}

// Stop signals the process (SIGTERM, then SIGKILL after grace) and waits.
func (p *Proc) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	return p.err
}

// Kill stops the process at once (a crash, for restart tests).
func (p *Proc) Kill() {
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Running reports whether the process is still running.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Output returns what the process has logged so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// Close stops every process and deletes every namespace. It is safe to
// call more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs, nss := l.procs, l.ns
	l.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		_ = procs[i].Stop(2 * time.Second)
	}
	var errs []error
	for _, ns := range nss {
		killNS(ns)
		if _, err := l.run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	os.Remove(filepath.Join(stateDir, l.Prefix))
	return errors.Join(errs...)
}

// killNS kills any process left inside a namespace (a helper started with
// `ip netns exec` outside Start, say).
func killNS(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// sweep deletes the namespaces of earlier runs whose process is gone.
func sweep() {
	ents, _ := os.ReadDir(stateDir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(stateDir, e.Name()))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if pid > 0 && syscall.Kill(pid, 0) == nil {
			continue
		}
		out, _ := exec.Command("ip", "netns", "list").Output()
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && strings.HasPrefix(f[0], e.Name()+"-") {
				killNS(f[0])
				_ = exec.Command("ip", "netns", "del", f[0]).Run()
			}
		}
		os.Remove(filepath.Join(stateDir, e.Name()))
	}
}
