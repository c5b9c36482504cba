package keepalived

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func exampleFile(t *testing.T) string {
	_, me, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(me), "../../../packaging/openwrt/mip4d/files/keepalived-mip4d.conf.example")
}

// TestExampleCurrent: the shipped example is what Render writes (set
// MIP4D_UPDATE=1 to rewrite it).
func TestExampleCurrent(t *testing.T) {
	got, err := Shipped().Render()
	if err != nil {
		t.Fatal(err)
	}
	p := exampleFile(t)
	if os.Getenv("MIP4D_UPDATE") == "1" {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Fatalf("%s is stale; run MIP4D_UPDATE=1 go test ./agent/internal/keepalived\n--- shipped\n%s\n--- rendered\n%s", p, want, got)
	}
	for _, w := range []string{"advert_int 0.1\n", "nopreempt\n", "unicast_peer {\n\t\t198.51.100.12\n", "198.51.100.10/24 dev br-lan",
		"notify \"/usr/sbin/mip4d -c /etc/config/mip4d ha-role\"", "state BACKUP"} {
		if !strings.Contains(got, w) {
			t.Errorf("example lacks %q", w)
		}
	}
}

// TestKeepalivedAccepts runs keepalived's own config check (keepalived -t)
// on the shipped example and on a lab configuration.
// keepalived -t exits non-zero on an error or warning in the file.
func TestKeepalivedAccepts(t *testing.T) {
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("keepalived not installed (.ci/deps.sh installs it)")
		}
		t.Skip("SKIP: keepalived not installed (.ci/deps.sh installs it)")
	}
	if os.Geteuid() != 0 {
		t.Skip("SKIP: keepalived -t checks interfaces; the test makes them in a private network namespace and needs root")
	}
	dir := t.TempDir()
	// Script security wants the notify command to exist and to be
	// writable by root only.
	cmd := filepath.Join(dir, "mip4d")
	if err := os.WriteFile(cmd, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	lab := Shipped()
	lab.Interface, lab.Notify, lab.AdvertInt = "eth0", []string{cmd, "-c", filepath.Join(dir, "c"), "ha-role"}, 0.2
	labText, err := lab.Render()
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile(exampleFile(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"shipped": string(shipped), "lab": labText} {
		f := filepath.Join(dir, name+".conf")
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		// keepalived -t wants the interfaces to exist: a veth pair in a
		// private network namespace, gone when the command exits.
		out, err := exec.Command("unshare", "--net", "sh", "-ec",
			"ip link add br-lan type veth peer name eth0; ip link set br-lan up; ip link set eth0 up; exec \"$0\" -t -f \"$1\" -l",
			bin, f).CombinedOutput()
		if err != nil {
			t.Errorf("keepalived -t %s: %v\n%s", name, err, out)
		}
	}
}

func TestRenderRejects(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"vrid":      func(c *Config) { c.VRID = 0 },
		"priority":  func(c *Config) { c.Priority = 255 },
		"advert":    func(c *Config) { c.AdvertInt = 0 },
		"vip":       func(c *Config) { c.VIP = netip.Prefix{} },
		"vip6":      func(c *Config) { c.VIP = netip.MustParsePrefix("2001:db8::1/64") },
		"relative":  func(c *Config) { c.Notify = []string{"mip4d", "ha-role"} },
		"space":     func(c *Config) { c.Notify = []string{"/usr/sbin/mip4d", "-c", "/a b", "ha-role"} },
		"interface": func(c *Config) { c.Interface = "" },
		"pass":      func(c *Config) { c.AuthPass = "123456789" },
	} {
		c := Shipped()
		mut(&c)
		if _, err := c.Render(); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
}
