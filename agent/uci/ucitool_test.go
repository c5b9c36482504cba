package uci

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The tests in this file compare Parse with OpenWrt's own uci(1) where one
// is installed (on a router, or a host with the uci package built); Debian
// does not package it, so they skip cleanly elsewhere.

// uciTool returns the path of an OpenWrt uci(1), or skips.
func uciTool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("uci")
	if err != nil {
		t.Skip("uci(1) not installed (Debian does not package OpenWrt's uci)")
	}
	// OpenWrt's uci prints its usage, naming the export command, when
	// called without arguments; anything else called uci is not it.
	out, _ := exec.Command(path).CombinedOutput()
	if !bytes.Contains(out, []byte("export")) || !bytes.Contains(out, []byte("add_list")) {
		t.Skipf("%s is not OpenWrt's uci", path)
	}
	return path
}

// uciRun puts src in a config directory as package pkg and runs uci with
// args on it.
func uciRun(t *testing.T, tool, pkg string, src []byte, args ...string) ([]byte, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, pkg), src, 0o600); err != nil {
		t.Fatal(err)
	}
	save := t.TempDir() // keep away from the real /tmp/.uci deltas
	cmd := exec.Command(tool, append([]string{"-c", dir, "-t", save}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("uci %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// TestAgainstUCITool: for every fixture and grammar case, `uci export`
// reads the input as Parse does (Parse may refuse input uci accepts, but
// only with an error marked stricter), and `uci -X show` names the
// sections as SectionID does.
func TestAgainstUCITool(t *testing.T) {
	tool := uciTool(t)
	inputs := map[string][]byte{}
	for _, name := range []string{"network.conf", "mip4d.conf", "multiline.conf", "tricky.conf"} {
		inputs[name] = fixture(t, name)
	}
	for _, tc := range parseCases {
		inputs["grammar/"+tc.name] = []byte(tc.src)
	}
	for _, tc := range errorCases {
		inputs["error/"+tc.name] = []byte(tc.src)
	}
	const pkg = "ucitest"
	for name, src := range inputs {
		t.Run(name, func(t *testing.T) {
			out, uerr := uciRun(t, tool, pkg, src, "export", pkg)
			f, err := Parse(name, src)
			switch {
			case err == nil && uerr != nil:
				t.Fatalf("uci rejects what Parse accepts: %v", uerr)
			case err != nil && uerr == nil:
				if e, ok := err.(*Error); !ok || !e.stricter {
					t.Fatalf("Parse rejects (%v) what uci accepts:\n%s", err, out)
				}
				return
			case err != nil:
				return
			}
			u, err := Parse("uci export", out)
			if err != nil {
				t.Fatalf("Parse of uci's export: %v\n%s", err, out)
			}
			f.Package = pkg // uci export names the package after its file
			if !u.Equal(f) {
				t.Fatalf("uci export:\n%sParse:\n%s", dump(u), dump(f))
			}

			show, uerr := uciRun(t, tool, pkg, src, "-X", "show", pkg)
			if uerr != nil {
				t.Fatalf("uci show: %v", uerr)
			}
			var ids []string
			for _, line := range strings.Split(string(show), "\n") {
				// "pkg.id=type" lines name sections; options have a
				// second dot before the '='.
				key, _, ok := strings.Cut(line, "=")
				if ok && strings.Count(key, ".") == 1 {
					ids = append(ids, strings.TrimPrefix(key, pkg+"."))
				}
			}
			var want []string
			for _, s := range f.Sections {
				want = append(want, f.SectionID(s))
			}
			if strings.Join(ids, " ") != strings.Join(want, " ") {
				t.Fatalf("uci -X show names %q, SectionID %q", ids, want)
			}
		})
	}
}
