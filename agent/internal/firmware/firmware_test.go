package firmware

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/openwrt"
)

type guest struct {
	arch    string // Debian architecture
	goarch  string
	goenv   []string
	ipkArch string
	qemu    []string // qemu-system command without kernel, initrd, append
	console string
}

var guests = []guest{
	{arch: "mipsel", goarch: "mipsle", goenv: []string{"GOMIPS=softfloat"}, ipkArch: "mipsel_24kc",
		qemu:    []string{"qemu-system-mipsel", "-M", "malta", "-m", "256"},
		console: "ttyS0"},
	{arch: "arm64", goarch: "arm64", ipkArch: "aarch64_cortex-a53",
		qemu:    []string{"qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "512"},
		console: "ttyAMA0"},
}

func repoRoot(t *testing.T) string {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(b)))
}

func cacheDir() string {
	if d := os.Getenv("FIRMWARE_CACHE"); d != "" {
		return d
	}
	c := os.Getenv("XDG_CACHE_HOME")
	if c == "" {
		h, _ := os.UserHomeDir()
		c = filepath.Join(h, ".cache")
	}
	return filepath.Join(c, "mip4d", "firmware")
}

func TestBoot(t *testing.T) {
	want := os.Getenv("MIP4D_FIRMWARE")
	if want == "" {
		t.Skip("SKIP: the QEMU firmware boot runs with MIP4D_FIRMWARE=all (make firmware-test)")
	}
	for _, g := range guests {
		if want != "all" && !slices.Contains(strings.Split(want, ","), g.arch) {
			continue
		}
		t.Run(g.arch, func(t *testing.T) { boot(t, g) })
	}
}

func goBuild(t *testing.T, g guest, out string, ldflags string, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "nodbus", "-ldflags", ldflags, "-o", out, pkg) // as cross/build.sh
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + g.goarch}, g.goenv...)...)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s for %s: %v\n%s", pkg, g.goarch, err, o)
	}
}

// ipkFor returns the .ipk of g's architecture: from MIP4D_IPK_DIR, or built.
func ipkFor(t *testing.T, g guest) string {
	if dir := os.Getenv("MIP4D_IPK_DIR"); dir != "" {
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(repoRoot(t), dir)
		}
		m, _ := filepath.Glob(filepath.Join(dir, "mip4d_*_"+g.ipkArch+".ipk"))
		if len(m) > 0 {
			slices.SortFunc(m, func(a, b string) int {
				sa, _ := os.Stat(a)
				sb, _ := os.Stat(b)
				return sb.ModTime().Compare(sa.ModTime())
			})
			return m[0]
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mip4d")
	goBuild(t, g, bin, "-s -w -X main.version=firmware-test", "./agent/cmd/mip4d")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := openwrt.TargetFor(g.ipkArch)
	p, err := openwrt.MIP4D(repoRoot(t), "0.0.0+firmware", tg, b)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.Build(&buf, time.Unix(1764000000, 0)); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, p.FileName())
	os.WriteFile(f, buf.Bytes(), 0o644)
	return f
}

// fromIPK returns a file of the package's data archive.
func fromIPK(t *testing.T, ipk, path string) []byte {
	t.Helper()
	member := func(r io.Reader, name string) []byte {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err != nil {
				t.Fatalf("%s not in %s: %v", name, ipk, err)
			}
			if h.Name == name {
				b, _ := io.ReadAll(tr)
				return b
			}
		}
	}
	f, err := os.Open(ipk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := member(f, "./data.tar.gz")
	return member(bytes.NewReader(data), "./"+path)
}

func boot(t *testing.T, g guest) {
	gdir := filepath.Join(cacheDir(), g.arch)
	if _, err := os.Stat(filepath.Join(gdir, "ready")); err != nil {
		t.Fatalf("no %s guest in %s: run packaging/qemu/fetch-guests.sh", g.arch, cacheDir())
	}
	if _, err := exec.LookPath(g.qemu[0]); err != nil {
		t.Fatalf("%s is needed (apt-get install qemu-system-mips qemu-system-arm)", g.qemu[0])
	}
	ipk := ipkFor(t, g)
	mip4d := fromIPK(t, ipk, "usr/sbin/mip4d")
	dir := t.TempDir()
	initBin := filepath.Join(dir, "init")
	goBuild(t, g, initBin, "-s -w", "./agent/internal/firmware/guestinit")

	kv, _ := os.ReadFile(filepath.Join(gdir, "kv"))
	var c cpio
	c.dir("bin")
	c.dir("dev")
	c.node("dev/console", 0o600, 5, 1)
	c.dir("etc")
	c.dir("lib")
	c.dir("lib/modules")
	c.dir("proc")
	c.dir("run")
	c.dir("sys")
	c.dir("tmp")
	c.dir("usr")
	c.dir("usr/sbin")
	c.file("init", 0o755, mustRead(t, initBin))
	c.file("bin/busybox", 0o755, mustRead(t, filepath.Join(gdir, "busybox")))
	c.symlink("bin/sh", "busybox")
	c.file("usr/sbin/mip4d", 0o755, mip4d)
	// Loaded in this order by guestinit. xfrm and nfnetlink only because
	// netconf opens a netlink handle of every family (netlink.NewHandle()
	// without families), which fails with "protocol not supported" on a
	// kernel without them loaded; see the package doc.
	mods := map[string]string{}
	filepath.WalkDir(filepath.Join(gdir, "lib/modules", strings.TrimSpace(string(kv))), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			mods[strings.TrimSuffix(d.Name(), ".ko")] = p
		}
		return nil
	})
	// sch_ingress (clsact) and cls_bpf for the kernel data plane: where a
	// kernel builds them in, or lacks them, the daemons say so in their
	// status and the result line shows it.
	for i, m := range []string{"tun", "veth", "xfrm_algo", "xfrm_user", "nfnetlink", "sch_ingress", "cls_bpf"} {
		if mods[m] == "" {
			if m == "sch_ingress" || m == "cls_bpf" {
				t.Logf("%s: no module %s (built in, or missing: the guest reports which)", g.arch, m)
				continue
			}
			t.Fatalf("module %s not found for %s", m, g.arch)
		}
		c.file(fmt.Sprintf("lib/modules/%02d-%s.ko", i, m), 0o644, mustRead(t, mods[m]))
	}
	initrd := filepath.Join(dir, "initrd.cpio.gz")
	if err := os.WriteFile(initrd, c.gzip(t), 0o644); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(ipk)
	t.Logf("%s: ipk %s (%d bytes), binary %d bytes, initramfs %d bytes, kernel %s",
		g.arch, filepath.Base(ipk), st.Size(), len(mip4d), fileSize(initrd), strings.TrimSpace(string(kv)))

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	args := append(slices.Clone(g.qemu[1:]), "-nographic", "-no-reboot", "-vga", "none", "-nic", "none",
		"-kernel", filepath.Join(gdir, "vmlinuz"), "-initrd", initrd,
		"-append", "console="+g.console+" panic=-1 quiet")
	cmd := exec.CommandContext(ctx, g.qemu[0], args...)
	var console bytes.Buffer
	cmd.Stdout, cmd.Stderr = &console, &console
	began := time.Now()
	err := cmd.Run()
	elapsed := time.Since(began)
	out := console.String()
	os.WriteFile(filepath.Join(t.ArtifactDir(), "console-"+g.arch+".log"), console.Bytes(), 0o644)
	var result string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "MIP4D-FIRMWARE:") {
			result = strings.TrimSpace(l)
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("%s: no power-off within the timeout; console:\n%s", g.arch, out)
	}
	if err != nil {
		t.Logf("qemu: %v", err)
	}
	if !strings.HasPrefix(result, "MIP4D-FIRMWARE: PASS") {
		t.Fatalf("%s: no PASS on the console (%q); console:\n%s", g.arch, result, out)
	}
	// DESIGN.md §4: RSS ≤ 12 MB idle, measured in the guest.
	for _, role := range []string{"ha", "mn"} {
		m := regexp.MustCompile(`rss_` + role + `=(\d+)kB`).FindStringSubmatch(result)
		if m == nil {
			t.Fatalf("%s: no RSS of the %s in %q", g.arch, role, result)
		}
		if kb, _ := strconv.Atoi(m[1]); kb <= 0 || kb > 12*1024 {
			t.Errorf("%s: the %s's RSS is %d kB (budget 12 MB)", g.arch, role, kb)
		}
	}
	// The kernel data plane (issue 9): both daemons run it in the guest
	// and it carried the ping, or the line says what the kernel lacks.
	dp := regexp.MustCompile(`dataplane=(\S+)`).FindStringSubmatch(result)
	if dp == nil {
		t.Fatalf("%s: no data plane in %q", g.arch, result)
	}
	for _, p := range strings.Split(dp[1], ",") {
		m := regexp.MustCompile(`^(ha|mn):bpf\((\d+)/(\d+)\)$`).FindStringSubmatch(p)
		if m == nil {
			t.Errorf("%s: %s does not run the kernel data plane in the guest: %s", g.arch, strings.SplitN(p, ":", 2)[0], p)
			continue
		}
		if m[2] == "0" || m[3] == "0" {
			t.Errorf("%s: the %s's kernel data plane carried nothing both ways: %s", g.arch, m[1], p)
		}
	}
	t.Logf("console:\n%s", out)
	t.Logf("%s: %s; boot to result and power-off: %.1fs", g.arch, result, elapsed.Seconds())
	fmt.Printf("firmware: %s boot-to-result %.1fs (QEMU start to power-off): %s\n", g.arch, elapsed.Seconds(), result)
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cpio writes a "newc" archive, the initramfs format, entry by entry, so
// that device nodes need no privileges.
type cpio struct {
	buf bytes.Buffer
	ino int
}

func (c *cpio) entry(name string, mode uint32, data []byte, rmaj, rmin int) {
	c.ino++
	fmt.Fprintf(&c.buf, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rmaj, rmin, len(name)+1, 0)
	c.buf.WriteString(name + "\x00")
	c.pad()
	c.buf.Write(data)
	c.pad()
}

func (c *cpio) pad() {
	for c.buf.Len()%4 != 0 {
		c.buf.WriteByte(0)
	}
}

func (c *cpio) dir(name string)                         { c.entry(name, 0o040755, nil, 0, 0) }
func (c *cpio) file(name string, perm uint32, b []byte) { c.entry(name, 0o100000|perm, b, 0, 0) }
func (c *cpio) symlink(name, target string)             { c.entry(name, 0o120777, []byte(target), 0, 0) }
func (c *cpio) node(name string, perm uint32, maj, min int) {
	c.entry(name, 0o020000|perm, nil, maj, min)
}

func (c *cpio) gzip(t *testing.T) []byte {
	c.entry("TRAILER!!!", 0, nil, 0, 0)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(c.buf.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
