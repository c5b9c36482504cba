// Command ipk builds mip4d's OpenWrt packages without the OpenWrt SDK, in
// the layout of OpenWrt's scripts/ipkg-build (see package openwrt), and
// keeps the files generated from the daemon's schema up to date.
//
//	go run ./agent/internal/tools/ipk -mip4d bin/mip4d -dist dist -version "$(git describe --always --dirty)"
//	go run ./agent/internal/tools/ipk -mip4d bin/mip4d -update
//
// Building reads the router binaries dist/mip4d-linux-GOARCH (make cross)
// and writes dist/mip4d_VERSION_ARCH.ipk for every target and
// dist/luci-app-mip4d_VERSION_all.ipk. Every entry's mtime is
// SOURCE_DATE_EPOCH, else the time of the last commit, so the same tree
// gives the same bytes. It refuses to package a default configuration or
// init-script validation that no longer matches `mip4d schema --json` of
// the host binary given with -mip4d; -update regenerates them.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mip4d/mip4d/agent/internal/openwrt"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ipk:", err)
		os.Exit(1)
	}
}

func run() error {
	mip4d := flag.String("mip4d", "bin/mip4d", "host mip4d binary whose `schema --json` is the truth")
	dist := flag.String("dist", "dist", "directory with mip4d-linux-GOARCH binaries; packages are written here")
	version := flag.String("version", "", "version (git describe output; default: git describe --always --dirty)")
	update := flag.Bool("update", false, "regenerate the default config and the init script's validation from the schema, then exit")
	flag.Parse()

	root, err := repoRoot()
	if err != nil {
		return err
	}
	out, err := exec.Command(*mip4d, "schema", "--json").Output()
	if err != nil {
		return fmt.Errorf("%s schema --json: %w", *mip4d, err)
	}
	schema, err := openwrt.ParseSchema(out)
	if err != nil {
		return err
	}
	if *update {
		return openwrt.UpdateGenerated(root, schema)
	}
	if stale := openwrt.CheckGenerated(root, schema); stale != nil {
		return fmt.Errorf("%w\n(run: go run ./agent/internal/tools/ipk -mip4d %s -update)", stale, *mip4d)
	}

	v := *version
	if v == "" {
		b, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty").Output()
		if err != nil {
			return fmt.Errorf("git describe: %w (give -version)", err)
		}
		v = string(b)
	}
	pv := openwrt.PkgVersion(v)
	mtime, err := buildTime(root)
	if err != nil {
		return err
	}

	fmt.Printf("%-48s %12s %12s\n", "package", "binary", "ipk")
	for _, t := range openwrt.Targets {
		bin, err := os.ReadFile(filepath.Join(*dist, "mip4d-linux-"+t.GOARCH))
		if err != nil {
			return fmt.Errorf("%w (make cross builds it)", err)
		}
		p, err := openwrt.MIP4D(root, pv, t, bin)
		if err != nil {
			return err
		}
		n, err := write(*dist, p, mtime)
		if err != nil {
			return err
		}
		fmt.Printf("%-48s %12d %12d\n", filepath.Join(*dist, p.FileName()), len(bin), n)
	}
	p, err := openwrt.LuCI(root, pv)
	if err != nil {
		return err
	}
	n, err := write(*dist, p, mtime)
	if err != nil {
		return err
	}
	fmt.Printf("%-48s %12s %12d\n", filepath.Join(*dist, p.FileName()), "-", n)
	fmt.Printf("mtime %s (SOURCE_DATE_EPOCH or last commit)\n", mtime.UTC().Format(time.RFC3339))
	return nil
}

func write(dir string, p *openwrt.Package, mtime time.Time) (int, error) {
	var buf bytes.Buffer
	if err := p.Build(&buf, mtime); err != nil {
		return 0, err
	}
	return buf.Len(), os.WriteFile(filepath.Join(dir, p.FileName()), buf.Bytes(), 0o644)
}

// buildTime is SOURCE_DATE_EPOCH, else the last commit's time.
func buildTime(root string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		b, err := exec.Command("git", "-C", root, "log", "-1", "--format=%ct").Output()
		if err != nil {
			return time.Time{}, fmt.Errorf("no SOURCE_DATE_EPOCH and no git commit time: %w", err)
		}
		s = strings.TrimSpace(string(b))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
	}
	return time.Unix(n, 0), nil
}

func repoRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(b)) == "" {
		return "", fmt.Errorf("not inside the mip4d module")
	}
	return filepath.Dir(strings.TrimSpace(string(b))), nil
}
