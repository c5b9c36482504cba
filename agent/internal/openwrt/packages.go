package openwrt

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Target is one router architecture: Go's build settings and OpenWrt's
// package architecture (DESIGN.md §5).
type Target struct {
	GOARCH string
	Env    []string // GOMIPS, GOARM
	Arch   string   // OpenWrt package architecture
	// ELF identification the packaged binary must carry.
	ELFClass   byte   // 1: 32-bit, 2: 64-bit
	ELFData    byte   // 1: little-endian, 2: big-endian
	ELFMachine uint16 // e_machine
	// QEMU is the qemu-user binary that runs it.
	QEMU string
}

// Targets are the architectures mip4d is packaged for.
var Targets = []Target{
	{GOARCH: "mips", Env: []string{"GOMIPS=softfloat"}, Arch: "mips_24kc", ELFClass: 1, ELFData: 2, ELFMachine: 8, QEMU: "qemu-mips-static"},
	{GOARCH: "mipsle", Env: []string{"GOMIPS=softfloat"}, Arch: "mipsel_24kc", ELFClass: 1, ELFData: 1, ELFMachine: 8, QEMU: "qemu-mipsel-static"},
	{GOARCH: "arm", Env: []string{"GOARM=7"}, Arch: "arm_cortex-a7_neon-vfpv4", ELFClass: 1, ELFData: 1, ELFMachine: 40, QEMU: "qemu-arm-static"},
	{GOARCH: "arm64", Arch: "aarch64_cortex-a53", ELFClass: 2, ELFData: 1, ELFMachine: 183, QEMU: "qemu-aarch64-static"},
	{GOARCH: "amd64", Arch: "x86_64", ELFClass: 2, ELFData: 1, ELFMachine: 62, QEMU: ""},
}

// TargetFor returns the target of an OpenWrt architecture or a GOARCH.
func TargetFor(arch string) (Target, bool) {
	for _, t := range Targets {
		if t.Arch == arch || t.GOARCH == arch {
			return t, true
		}
	}
	return Target{}, false
}

// Package metadata shared by both packages.
const (
	License    = "Apache-2.0"
	URL        = "https://github.com/mip4d/mip4d"
	Maintainer = "mip4d developers"
	Source     = "feeds/mip4d/mip4d"
	ConfigPath = "/etc/config/mip4d"
)

// Paths of the package sources inside the repository.
const (
	InitScript  = "packaging/openwrt/mip4d/files/mip4d.init"
	ConfigFile  = "packaging/openwrt/mip4d/files/mip4d.config"
	UCIDefaults = "packaging/openwrt/mip4d/files/mip4d.uci-defaults"
	LuCIApp     = "luci/luci-app-mip4d"
)

// PkgVersion turns `git describe --always --dirty` into an opkg version,
// which must start with a digit: v1.2.3 → 1.2.3, v1.2.3-4-gabc → 1.2.3+4.gabc,
// abc1234 (no tag) → 0.0.0+gabc1234, with ".dirty" for a dirty tree.
func PkgVersion(describe string) string {
	v := strings.TrimSpace(describe)
	dirty := strings.HasSuffix(v, "-dirty")
	v = strings.TrimSuffix(v, "-dirty")
	if regexp.MustCompile(`^[0-9a-f]{7,40}$`).MatchString(v) {
		v = "0.0.0+g" + v
	} else if m := regexp.MustCompile(`^v?([0-9][0-9A-Za-z.]*)(?:-([0-9]+)-(g[0-9a-f]+))?$`).FindStringSubmatch(v); m != nil {
		v = m[1]
		if m[2] != "" {
			v += "+" + m[2] + "." + m[3]
		}
	} else {
		v = "0.0.0+" + regexp.MustCompile(`[^0-9A-Za-z.+~]`).ReplaceAllString(v, ".")
	}
	if dirty {
		v += ".dirty"
	}
	return v
}

// MIP4D is the daemon package for one target, around its binary.
func MIP4D(root, version string, t Target, binary []byte) (*Package, error) {
	read := func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(root, p)) }
	initScript, err := read(InitScript)
	if err != nil {
		return nil, err
	}
	conf, err := read(ConfigFile)
	if err != nil {
		return nil, err
	}
	defaults, err := read(UCIDefaults)
	if err != nil {
		return nil, err
	}
	return &Package{
		Name: "mip4d", Version: version, Arch: t.Arch,
		Depends: []string{"libc", "kmod-tun"},
		Source:  Source, License: License, Section: "net", URL: URL, Maintainer: Maintainer,
		Description: "Mobile IPv4 (RFC 5944) daemon: home agent and mobile node, with NAT\n" +
			"traversal (RFC 3519), keeping a roaming laptop's VPN to a stable home address.",
		Conffiles: []string{ConfigPath},
		Files: []File{
			{Path: "usr/sbin/mip4d", Mode: 0o755, Data: binary},
			{Path: "etc/init.d/mip4d", Mode: 0o755, Data: initScript},
			{Path: "etc/config/mip4d", Mode: 0o600, Data: conf},
			{Path: "etc/uci-defaults/90_mip4d", Mode: 0o755, Data: defaults},
			// The home agent's state (bindings, pool leases) survives sysupgrade.
			{Path: "lib/upgrade/keep.d/mip4d", Mode: 0o644, Data: []byte("/etc/mip4d/\n")},
		},
	}, nil
}

// luciPostinst clears LuCI's caches and makes rpcd read the new plugin and
// ACL, on a live router only (luci.mk does the same).
const luciPostinst = `#!/bin/sh
[ -n "${IPKG_INSTROOT}" ] || {
	rm -f /tmp/luci-indexcache.*
	rm -rf /tmp/luci-modulecache/
	/etc/init.d/rpcd reload 2>/dev/null
	exit 0
}
`

// LuCI is the luci-app-mip4d package (architecture all): the app's htdocs/
// go under /www, root/ under /.
func LuCI(root, version string) (*Package, error) {
	p := &Package{
		Name: "luci-app-mip4d", Version: version, Arch: "all",
		Depends: []string{"libc", "mip4d", "luci-base", "rpcd"},
		Source:  "feeds/mip4d/luci-app-mip4d", License: License, Section: "luci", URL: URL, Maintainer: Maintainer,
		Description: "LuCI support for mip4d: configuration (Services > Mobile IP) and\n" +
			"status (Status > Mobile IP: bindings and counters).",
		PostinstPkg: luciPostinst,
	}
	app := filepath.Join(root, LuCIApp)
	for _, sub := range []struct{ dir, prefix string }{{"htdocs", "www"}, {"root", ""}} {
		base := filepath.Join(app, sub.dir)
		err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(base, path)
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			st, err := d.Info()
			if err != nil {
				return err
			}
			mode := fs.FileMode(0o644)
			if st.Mode()&0o111 != 0 || strings.HasPrefix(filepath.ToSlash(rel), "usr/libexec/rpcd/") {
				mode = 0o755
			}
			p.Files = append(p.Files, File{Path: filepath.ToSlash(filepath.Join(sub.prefix, rel)), Mode: mode, Data: data})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("luci app: %w", err)
		}
	}
	return p, nil
}
