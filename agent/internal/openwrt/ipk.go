// Package openwrt builds mip4d's OpenWrt packages without the OpenWrt SDK
// and generates the files that must agree with the daemon's one schema
// (DESIGN.md §5): the documented default /etc/config/mip4d and the procd
// validation list of the init script.
//
// An .ipk is what OpenWrt's scripts/ipkg-build makes, reproduced exactly:
// a gzip'd tar (not an ar archive) of ./debian-binary, ./data.tar.gz and
// ./control.tar.gz, in that order; every tar in GNU format with numeric
// owner 0/0, entries sorted by name depth-first as `tar --sort=name .`
// walks them, one fixed mtime, and gzip without name or time (`gzip -n`).
// Installed-Size is the length of the uncompressed data tar, as ipkg-build
// computes it (`zcat data.tar.gz | wc -c`).
package openwrt

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// File is one entry of a package's data (or control) archive. Directories
// leading to a file are added automatically with mode 0755.
type File struct {
	Path string      // inside the root, e.g. "usr/sbin/mip4d" (no leading slash)
	Mode fs.FileMode // permission bits; fs.ModeDir for an explicit directory
	Data []byte
}

// Package is the metadata and content of one .ipk.
type Package struct {
	Name        string
	Version     string
	Depends     []string
	Source      string
	License     string
	Section     string
	URL         string
	Maintainer  string
	Arch        string // OpenWrt package architecture: mips_24kc, ..., all
	Description string // one paragraph; continuation lines are indented on output
	Conffiles   []string
	// PostinstPkg and PrermPkg, when set, are the package's own scripts,
	// run by default_postinst/default_prerm (as postinst-pkg/prerm-pkg).
	PostinstPkg string
	PrermPkg    string
	Files       []File
}

// FileName is the package's file name: NAME_VERSION_ARCH.ipk.
func (p *Package) FileName() string {
	return p.Name + "_" + p.Version + "_" + p.Arch + ".ipk"
}

// The maintainer scripts of every OpenWrt package (include/package-pack.mk):
// they hand over to default_postinst/default_prerm of the router's (or the
// image's, under IPKG_INSTROOT) /lib/functions.sh, which runs uci-defaults,
// enables and starts init scripts, and on removal stops and disables them.
const (
	postinstScript = "#!/bin/sh\n" +
		"[ \"${IPKG_NO_SCRIPT}\" = \"1\" ] && exit 0\n" +
		"[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n" +
		". ${IPKG_INSTROOT}/lib/functions.sh\n" +
		"default_postinst $0 $@\n"
	prermScript = "#!/bin/sh\n" +
		"[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n" +
		". ${IPKG_INSTROOT}/lib/functions.sh\n" +
		"default_prerm $0 $@\n"
)

// Control renders the control file; installedSize is filled in by Build.
func (p *Package) Control(installedSize int) string {
	var b strings.Builder
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	field("Package", p.Name)
	field("Version", p.Version)
	field("Depends", strings.Join(p.Depends, ", "))
	field("Source", p.Source)
	field("License", p.License)
	field("Section", p.Section)
	field("URL", p.URL)
	field("Maintainer", p.Maintainer)
	field("Architecture", p.Arch)
	field("Installed-Size", strconv.Itoa(installedSize))
	// package-pack.mk: printf "Description: "; echo "$DESCRIPTION" | sed 's,^[[:space:]]*, ,g'
	b.WriteString("Description: ")
	for _, l := range strings.Split(strings.TrimRight(p.Description, "\n"), "\n") {
		b.WriteString(" " + strings.TrimLeft(l, " \t") + "\n")
	}
	return b.String()
}

// Validate checks what ipkg-build checks, and that conffiles are files of
// the package.
func (p *Package) Validate() error {
	if p.Name == "" || strings.Trim(p.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-") != "" {
		return fmt.Errorf("ipk: package name %q: only [a-zA-Z0-9_.+-]", p.Name)
	}
	if p.Version == "" || p.Version[0] < '0' || p.Version[0] > '9' {
		return fmt.Errorf("ipk: version %q must start with a digit", p.Version)
	}
	if p.Arch == "" {
		return errors.New("ipk: no architecture")
	}
	for _, c := range p.Conffiles {
		if !slices.ContainsFunc(p.Files, func(f File) bool { return "/"+f.Path == c && !f.Mode.IsDir() }) {
			return fmt.Errorf("ipk: conffile %s is not a file of the package", c)
		}
	}
	return nil
}

// Build writes the .ipk. mtime is every entry's modification time
// (SOURCE_DATE_EPOCH or the commit time, for reproducible packages).
func (p *Package) Build(w io.Writer, mtime time.Time) error {
	if err := p.Validate(); err != nil {
		return err
	}
	dataTar, err := tarTree(p.Files, mtime)
	if err != nil {
		return err
	}
	data, err := gzipBytes(dataTar)
	if err != nil {
		return err
	}
	ctl := []File{
		{Path: "control", Mode: 0o644, Data: []byte(p.Control(len(dataTar)))},
		{Path: "postinst", Mode: 0o755, Data: []byte(postinstScript)},
		{Path: "prerm", Mode: 0o755, Data: []byte(prermScript)},
	}
	if len(p.Conffiles) > 0 {
		cf := slices.Clone(p.Conffiles)
		slices.Sort(cf)
		ctl = append(ctl, File{Path: "conffiles", Mode: 0o644, Data: []byte(strings.Join(cf, "\n") + "\n")})
	}
	if p.PostinstPkg != "" {
		ctl = append(ctl, File{Path: "postinst-pkg", Mode: 0o755, Data: []byte(p.PostinstPkg)})
	}
	if p.PrermPkg != "" {
		ctl = append(ctl, File{Path: "prerm-pkg", Mode: 0o755, Data: []byte(p.PrermPkg)})
	}
	ctlTar, err := tarTree(ctl, mtime)
	if err != nil {
		return err
	}
	control, err := gzipBytes(ctlTar)
	if err != nil {
		return err
	}
	// The outer tar names its three members on the command line, so they
	// keep that order; the members are regular files, mode 0644.
	var outer bytes.Buffer
	tw := tar.NewWriter(&outer)
	for _, m := range []struct {
		name string
		data []byte
	}{{"./debian-binary", []byte("2.0\n")}, {"./data.tar.gz", data}, {"./control.tar.gz", control}} {
		if err := writeEntry(tw, m.name, 0o644, m.data, mtime); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	gz, err := gzipBytes(outer.Bytes())
	if err != nil {
		return err
	}
	_, err = w.Write(gz)
	return err
}

// tarTree writes files, with their parent directories, as `tar --format=gnu
// --numeric-owner --sort=name -c .` would from a directory holding them.
func tarTree(files []File, mtime time.Time) ([]byte, error) {
	type node struct {
		mode     fs.FileMode
		data     []byte
		isDir    bool
		children map[string]*node
	}
	root := &node{mode: 0o755, isDir: true, children: map[string]*node{}}
	for _, f := range files {
		p := path.Clean(strings.TrimPrefix(f.Path, "/"))
		if p == "." || strings.HasPrefix(p, "../") {
			return nil, fmt.Errorf("ipk: bad path %q", f.Path)
		}
		parts := strings.Split(p, "/")
		n := root
		for i, part := range parts {
			last := i == len(parts)-1
			c := n.children[part]
			if c == nil {
				c = &node{mode: 0o755, isDir: true, children: map[string]*node{}}
				n.children[part] = c
			}
			if last {
				if f.Mode.IsDir() {
					c.mode = f.Mode.Perm()
				} else {
					if len(c.children) > 0 || c.data != nil {
						return nil, fmt.Errorf("ipk: %s given twice or is a directory", p)
					}
					c.isDir, c.mode, c.data = false, f.Mode.Perm(), f.Data
					if c.data == nil {
						c.data = []byte{}
					}
				}
			} else if !c.isDir {
				return nil, fmt.Errorf("ipk: %s is a file and a directory", p)
			}
			n = c
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var walk func(name string, n *node) error
	walk = func(name string, n *node) error {
		if !n.isDir {
			return writeEntry(tw, name, n.mode, n.data, mtime)
		}
		if err := writeDir(tw, name+"/", n.mode, mtime); err != nil {
			return err
		}
		names := make([]string, 0, len(n.children))
		for k := range n.children {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			if err := walk(name+"/"+k, n.children[k]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(".", root); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func header(name string, mode fs.FileMode, mtime time.Time) *tar.Header {
	return &tar.Header{Name: name, Mode: int64(mode.Perm()), Uid: 0, Gid: 0,
		ModTime: mtime.Truncate(time.Second), Format: tar.FormatGNU}
}

func writeDir(tw *tar.Writer, name string, mode fs.FileMode, mtime time.Time) error {
	h := header(name, mode, mtime)
	h.Typeflag = tar.TypeDir
	return tw.WriteHeader(h)
}

func writeEntry(tw *tar.Writer, name string, mode fs.FileMode, data []byte, mtime time.Time) error {
	h := header(name, mode, mtime)
	h.Typeflag = tar.TypeReg
	h.Size = int64(len(data))
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// gzipBytes compresses like `gzip -n`: no file name, no time stamp, OS Unix.
func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	zw.OS = 3 // Unix, as gzip writes
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
