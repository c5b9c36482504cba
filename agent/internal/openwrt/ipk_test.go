package openwrt

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the module's root directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(b)))
}

var (
	binOnce  sync.Mutex
	binCache = map[string][]byte{}
	hostBin  string
)

// routerBinary builds mip4d for a target as cross/build.sh does.
func routerBinary(t testing.TB, tg Target) []byte {
	t.Helper()
	binOnce.Lock()
	defer binOnce.Unlock()
	if b, ok := binCache[tg.GOARCH]; ok {
		return b
	}
	out := filepath.Join(t.TempDir(), "mip4d-"+tg.GOARCH)
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "nodbus", "-ldflags", "-s -w -X main.version=test", "-o", out, "./agent/cmd/mip4d")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + tg.GOARCH}, tg.Env...)...)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", tg.GOARCH, err, o)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	binCache[tg.GOARCH] = b
	return b
}

// hostMIP4D builds the host binary once (for schema and check-config).
func hostMIP4D(t testing.TB) string {
	t.Helper()
	binOnce.Lock()
	defer binOnce.Unlock()
	if hostBin != "" {
		return hostBin
	}
	dir, err := os.MkdirTemp("", "mip4d-openwrt-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "mip4d")
	cmd := exec.Command("go", "build", "-o", out, "./agent/cmd/mip4d")
	cmd.Dir = repoRoot(t)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build mip4d: %v\n%s", err, o)
	}
	hostBin = out
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	if hostBin != "" {
		os.RemoveAll(filepath.Dir(hostBin))
	}
	os.Exit(code)
}

func run(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

var mtime = time.Unix(1764000000, 0)

// buildAll builds every package into dir, as `make package` does.
func buildAll(t *testing.T, dir string) []string {
	t.Helper()
	root := repoRoot(t)
	var files []string
	for _, tg := range Targets {
		p, err := MIP4D(root, "1.2.3+4.gabcdef", tg, routerBinary(t, tg))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, writePkg(t, dir, p))
	}
	p, err := LuCI(root, "1.2.3+4.gabcdef")
	if err != nil {
		t.Fatal(err)
	}
	return append(files, writePkg(t, dir, p))
}

func writePkg(t *testing.T, dir string, p *Package) string {
	t.Helper()
	var b bytes.Buffer
	if err := p.Build(&b, mtime); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, p.FileName())
	if err := os.WriteFile(f, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestPkgVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":               "1.2.3",
		"1.2.3":                "1.2.3",
		"v1.2.3-4-gabc1234":    "1.2.3+4.gabc1234",
		"5a15124":              "0.0.0+g5a15124",
		"5a15124-dirty":        "0.0.0+g5a15124.dirty",
		"v0.1.0-2-g5a15-dirty": "0.1.0+2.g5a15.dirty",
	} {
		if got := PkgVersion(in); got != want {
			t.Errorf("PkgVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPackages builds every package, then checks each with tar and gzip
// only: the ipkg-build layout, the control fields and Installed-Size, a
// reproducible build, an install into a staging root as opkg does it (data
// extracted, conffiles kept, maintainer scripts run with IPKG_INSTROOT),
// removal, and the packaged binary's ELF architecture and static linking.
func TestPackages(t *testing.T) {
	for _, tool := range []string{"tar", "gzip", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed", tool)
		}
	}
	dir := t.TempDir()
	files := buildAll(t, dir)

	// Reproducible: a second build gives the same bytes.
	again := t.TempDir()
	for i, f := range buildAll(t, again) {
		a, _ := os.ReadFile(files[i])
		b, _ := os.ReadFile(f)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: a second build differs", filepath.Base(f))
		}
	}

	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			st, _ := os.Stat(f)
			t.Logf("%s: %d bytes", name, st.Size())
			checkPackage(t, f)
		})
	}
}

func checkPackage(t *testing.T, ipk string) {
	w := t.TempDir()
	// Outer: a gzip'd tar (gzip -t proves it is gzip), three members in order.
	run(t, w, nil, "gzip", "-t", ipk)
	members := strings.Fields(run(t, w, nil, "tar", "-tzf", ipk))
	if strings.Join(members, " ") != "./debian-binary ./data.tar.gz ./control.tar.gz" {
		t.Fatalf("outer members %v", members)
	}
	checkTarListing(t, run(t, w, nil, "tar", "--numeric-owner", "-tvzf", ipk), false)
	run(t, w, nil, "tar", "-xzf", ipk)
	if b, _ := os.ReadFile(filepath.Join(w, "debian-binary")); string(b) != "2.0\n" {
		t.Errorf("debian-binary %q", b)
	}
	// gzip -n: no name (FLG bit 3) and no time stamp in the headers.
	for _, m := range []string{ipk, filepath.Join(w, "data.tar.gz"), filepath.Join(w, "control.tar.gz")} {
		b, _ := os.ReadFile(m)
		if len(b) < 10 || b[3]&0x08 != 0 || !bytes.Equal(b[4:8], []byte{0, 0, 0, 0}) {
			t.Errorf("%s: gzip header carries a name or a time", filepath.Base(m))
		}
	}

	dataList := run(t, w, nil, "tar", "--numeric-owner", "-tvzf", "data.tar.gz")
	checkTarListing(t, dataList, true)
	checkTarListing(t, run(t, w, nil, "tar", "--numeric-owner", "-tvzf", "control.tar.gz"), true)

	ctl := filepath.Join(w, "CONTROL")
	os.Mkdir(ctl, 0o755)
	run(t, w, nil, "tar", "-xzf", "control.tar.gz", "-C", ctl)
	control, _ := os.ReadFile(filepath.Join(ctl, "control"))
	fields := parseControl(t, string(control))
	for _, k := range []string{"Package", "Version", "Depends", "Source", "License", "Section", "Architecture", "Installed-Size", "Description"} {
		if fields[k] == "" {
			t.Errorf("control: no %s:\n%s", k, control)
		}
	}
	if !strings.HasPrefix(filepath.Base(ipk), fields["Package"]+"_"+fields["Version"]+"_"+fields["Architecture"]+".ipk") {
		t.Errorf("file name %s does not match the control fields", filepath.Base(ipk))
	}
	tarLen := len(run(t, w, nil, "gzip", "-dc", "data.tar.gz"))
	if fields["Installed-Size"] != strconv.Itoa(tarLen) {
		t.Errorf("Installed-Size %s, the data tar is %d bytes", fields["Installed-Size"], tarLen)
	}
	if !strings.Contains(string(control), "\nDescription:  ") {
		t.Errorf("Description is not written as package-pack.mk writes it (two spaces)")
	}
	for _, s := range []string{"postinst", "prerm"} {
		b, err := os.ReadFile(filepath.Join(ctl, s))
		if err != nil || !strings.Contains(string(b), ". ${IPKG_INSTROOT}/lib/functions.sh") || !strings.Contains(string(b), "default_"+s+" $0 $@") {
			t.Errorf("%s does not hand over to default_%s: %q", s, s, b)
		}
		if st, err := os.Stat(filepath.Join(ctl, s)); err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("%s is not mode 0755", s)
		}
	}

	pkg := fields["Package"]
	root := filepath.Join(w, "root")
	installStaging(t, root, ctl, filepath.Join(w, "data.tar.gz"), pkg, "")

	switch pkg {
	case "mip4d":
		if cf, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); string(cf) != "/etc/config/mip4d\n" {
			t.Errorf("conffiles %q", cf)
		}
		if st, err := os.Stat(filepath.Join(root, "etc/config/mip4d")); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("/etc/config/mip4d not installed mode 0600: %v", err)
		}
		// Image build: the init script is enabled, uci-defaults wait for the first boot.
		for _, l := range []string{"etc/rc.d/S90mip4d", "etc/rc.d/K10mip4d"} {
			if dst, err := os.Readlink(filepath.Join(root, l)); err != nil || dst != "../init.d/mip4d" {
				t.Errorf("%s: %q %v (postinst did not enable the init script)", l, dst, err)
			}
		}
		if _, err := os.Stat(filepath.Join(root, "etc/uci-defaults/90_mip4d")); err != nil {
			t.Errorf("uci-defaults script missing: %v", err)
		}
		checkELF(t, filepath.Join(root, "usr/sbin/mip4d"), fields["Architecture"])
		// Removal: prerm disables.
		run(t, root, []string{"IPKG_INSTROOT=" + root}, "sh", filepath.Join(root, "usr/lib/opkg/info/mip4d.prerm"))
		if _, err := os.Lstat(filepath.Join(root, "etc/rc.d/S90mip4d")); err == nil {
			t.Errorf("prerm did not disable the init script")
		}
		// Upgrade over an edited configuration: opkg keeps it and puts the
		// package's next to it.
		root2 := filepath.Join(w, "root2")
		installStaging(t, root2, ctl, filepath.Join(w, "data.tar.gz"), pkg, "config mip4d 'globals'\n\toption role 'mn'\n")
		if b, _ := os.ReadFile(filepath.Join(root2, "etc/config/mip4d")); !strings.Contains(string(b), "option role 'mn'") {
			t.Errorf("the edited conffile was replaced")
		}
		if _, err := os.Stat(filepath.Join(root2, "etc/config/mip4d-opkg")); err != nil {
			t.Errorf("the package's conffile was not kept beside it: %v", err)
		}
	case "luci-app-mip4d":
		for _, f := range []string{"www/luci-static/resources/view/mip4d/config.js", "www/luci-static/resources/view/mip4d/status.js",
			"usr/share/luci/menu.d/luci-app-mip4d.json", "usr/share/rpcd/acl.d/luci-app-mip4d.json"} {
			if _, err := os.Stat(filepath.Join(root, f)); err != nil {
				t.Errorf("%s missing", f)
			}
		}
		if st, err := os.Stat(filepath.Join(root, "usr/libexec/rpcd/luci.mip4d")); err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("rpcd plugin not executable: %v", err)
		}
		if fields["Architecture"] != "all" {
			t.Errorf("luci app architecture %s", fields["Architecture"])
		}
	}
}

// checkTarListing checks `tar --numeric-owner -tv` output: owner 0/0,
// names starting with "./", and, for trees, the order of `tar --sort=name`.
func checkTarListing(t *testing.T, listing string, tree bool) {
	t.Helper()
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(listing), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("tar listing line %q", l)
		}
		if f[1] != "0/0" {
			t.Errorf("%s: owner %s, want 0/0", f[len(f)-1], f[1])
		}
		if f[3] != "2025-11-24" {
			t.Errorf("%s: mtime %s %s, want the fixed one", f[len(f)-1], f[3], f[4])
		}
		names = append(names, f[len(f)-1])
	}
	if !tree {
		return
	}
	if names[0] != "./" {
		t.Errorf("first entry %q, want ./", names[0])
	}
	for i := 1; i < len(names); i++ {
		if !tarLess(names[i-1], names[i]) {
			t.Errorf("entries out of order: %q before %q", names[i-1], names[i])
		}
	}
}

// tarLess is the depth-first, name-sorted order of `tar --sort=name`.
func tarLess(a, b string) bool {
	pa := strings.Split(strings.TrimSuffix(a, "/"), "/")
	pb := strings.Split(strings.TrimSuffix(b, "/"), "/")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return len(pa) < len(pb)
}

func parseControl(t *testing.T, s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, " ") {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// installStaging installs a package into root as opkg does for an image
// (IPKG_INSTROOT): OpenWrt's functions stand in from testdata/instroot,
// the data is extracted, the file list and the control files go to
// /usr/lib/opkg/info, an existing conffile that differs is kept (the new one
// beside it as NAME-opkg), then postinst runs with IPKG_INSTROOT set.
func installStaging(t *testing.T, root, ctl, data, pkg, existingConf string) {
	t.Helper()
	info := filepath.Join(root, "usr/lib/opkg/info")
	os.MkdirAll(info, 0o755)
	os.MkdirAll(filepath.Join(root, "lib"), 0o755)
	os.MkdirAll(filepath.Join(root, "etc/config"), 0o755)
	for _, f := range []string{"lib/functions.sh", "etc/rc.common"} {
		b, err := os.ReadFile(filepath.Join("testdata/instroot", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, f), b, 0o644)
	}
	conffiles := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(ctl, "conffiles")); err == nil {
		for _, c := range strings.Fields(string(b)) {
			conffiles[c] = true
		}
	}
	if existingConf != "" {
		for c := range conffiles {
			os.WriteFile(filepath.Join(root, c), []byte(existingConf), 0o600)
		}
	}
	stage := t.TempDir()
	run(t, stage, nil, "tar", "-xzpf", data)
	var list []string
	for _, name := range strings.Fields(run(t, stage, nil, "tar", "-tzf", data)) {
		if strings.HasSuffix(name, "/") {
			continue
		}
		p := strings.TrimPrefix(name, ".")
		list = append(list, p)
		src, dst := filepath.Join(stage, p), filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if conffiles[p] {
			if old, err := os.ReadFile(dst); err == nil {
				if nw, _ := os.ReadFile(src); !bytes.Equal(old, nw) {
					dst += "-opkg"
				}
			}
		}
		run(t, stage, nil, "cp", "-p", src, dst)
	}
	os.WriteFile(filepath.Join(info, pkg+".list"), []byte(strings.Join(list, "\n")+"\n"), 0o644)
	entries, _ := os.ReadDir(ctl)
	for _, e := range entries {
		run(t, ctl, nil, "cp", "-p", e.Name(), filepath.Join(info, pkg+"."+e.Name()))
	}
	run(t, root, []string{"IPKG_INSTROOT=" + root}, "sh", filepath.Join(info, pkg+".postinst"))
}

// checkELF checks the packaged binary's machine and that it is static.
func checkELF(t *testing.T, path, arch string) {
	t.Helper()
	tg, ok := TargetFor(arch)
	if !ok {
		t.Fatalf("no target %s", arch)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	if byte(f.Class) != tg.ELFClass || byte(f.Data) != tg.ELFData || uint16(f.Machine) != tg.ELFMachine {
		t.Errorf("%s: ELF %v %v %v, want class %d data %d machine %d", arch, f.Class, f.Data, f.Machine, tg.ELFClass, tg.ELFData, tg.ELFMachine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: not static (%v)", arch, p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s: links %v", arch, libs)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s: not stripped", arch)
	}
}
