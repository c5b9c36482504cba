package uci

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mip4d/mip4d/agent/internal/golden"
)

var update = flag.Bool("update", false, "rewrite testdata/uci/*.golden from Marshal's output")

// TestWriteGolden: each fixture, parsed and written, gives its .golden file
// byte for byte, and the .golden file is a fixed point.
func TestWriteGolden(t *testing.T) {
	for _, name := range []string{"network", "mip4d", "multiline", "tricky"} {
		t.Run(name, func(t *testing.T) {
			f, err := Parse(name, fixture(t, name+".conf"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(golden.Dir(), "uci", name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := fixture(t, name+".golden")
			if !bytes.Equal(got, want) {
				t.Fatalf("Marshal:\n%s\nwant (%s):\n%s", got, path, want)
			}
			g, err := Parse(name+".golden", want)
			if err != nil {
				t.Fatal(err)
			}
			if !g.Equal(f) {
				t.Fatalf("golden reads back as\n%swant\n%s", dump(g), dump(f))
			}
			again, _ := Marshal(g)
			if !bytes.Equal(again, want) {
				t.Fatalf("golden is not a fixed point:\n%s", again)
			}
		})
	}
}

// TestWriteExact pins the canonical layout on a File built in code: the
// layout of uci export (package line) and uci commit (leading blank line),
// quoting, lists, and the quoting of section types uci itself would write
// unreadably.
func TestWriteExact(t *testing.T) {
	f := &File{}
	lan, _ := f.AddSection("interface", "lan")
	lan.Set("proto", "static")
	lan.AddList("dns", "9.9.9.9")
	lan.AddList("dns", "")
	lan.Set("desc", `it's "quoted" \ # ; `+"\ttab")
	dev, _ := f.AddSection("device", "")
	dev.Set("name", "br-lan")
	odd, _ := f.AddSection(`a'b#c;d"e\f`, "")
	odd.Set("multi", "one\ntwo\n")
	if err := odd.Set("q", "'"); err != nil {
		t.Fatal(err)
	}

	want := "\n" +
		"config interface 'lan'\n" +
		"\toption proto 'static'\n" +
		"\tlist dns '9.9.9.9'\n" +
		"\tlist dns ''\n" +
		"\toption desc 'it'\\''s \"quoted\" \\ # ; \ttab'\n" +
		"\n" +
		"config device\n" +
		"\toption name 'br-lan'\n" +
		"\n" +
		"config 'a'\\''b#c;d\"e\\f'\n" +
		"\toption multi 'one\ntwo\n'\n" +
		"\toption q ''\\'''\n" +
		"\n"
	var buf bytes.Buffer
	if err := Write(&buf, f); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want {
		t.Fatalf("Write:\n%q\nwant\n%q", buf.String(), want)
	}
	checkModel(t, buf.Bytes())
	if g := mustParse(t, buf.String()); !g.Equal(f) {
		t.Fatalf("reads back as\n%swant\n%s", dump(g), dump(f))
	}

	f.Package = "network"
	b, err := Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "package network\n\nconfig interface 'lan'\n") {
		t.Fatalf("with package: %q", b)
	}
	if b, _ := Marshal(&File{}); string(b) != "\n" {
		t.Fatalf("empty file: %q", b)
	}
}

func TestValidate(t *testing.T) {
	ok := func() *File {
		return file("p", named("t", "n", opt("a", "1"), lst("l", "x")), anon("device"))
	}
	if err := ok().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(f *File)
		msg    string
	}{
		{"package", func(f *File) { f.Package = "a.b" }, "invalid package name"},
		{"type", func(f *File) { f.Sections[0].Type = "a b" }, "invalid type"},
		{"empty type", func(f *File) { f.Sections[0].Type = "" }, "invalid type"},
		{"section name", func(f *File) { f.Sections[0].Name = "a-b" }, "invalid name"},
		{"named without name", func(f *File) { f.Sections[0].Name = "" }, "invalid name"},
		{"anonymous with name", func(f *File) { f.Sections[1].Name = "x" }, "anonymous but named"},
		{"duplicate section", func(f *File) { f.Sections = append(f.Sections, named("t", "n")) }, "already answers"},
		{"name of an earlier generated name", func(f *File) { f.Sections = append(f.Sections, named("device", "cfg020f15")) }, "already answers"},
		{"nil section", func(f *File) { f.Sections = append(f.Sections, nil) }, "nil"},
		{"option name", func(f *File) { f.Sections[0].Options[0].Name = "a.b" }, "invalid option name"},
		{"duplicate option", func(f *File) { f.Sections[0].Options = append(f.Sections[0].Options, opt("a", "2")) }, "appears twice"},
		{"empty option", func(f *File) { f.Sections[0].Options[0].Values = []string{""} }, "is empty"},
		{"option with two values", func(f *File) { f.Sections[0].Options[0].Values = []string{"1", "2"} }, "has 2 values"},
		{"option with no value", func(f *File) { f.Sections[0].Options[0].Values = nil }, "has 0 values"},
		{"empty list", func(f *File) { f.Sections[0].Options[1].Values = nil }, "list \"l\" is empty"},
		{"NUL", func(f *File) { f.Sections[0].Options[1].Values = []string{"a\x00"} }, "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ok()
			tc.mutate(f)
			err := f.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Validate: %v, want %q", err, tc.msg)
			}
			if _, err := Marshal(f); err == nil {
				t.Fatal("Marshal accepted an invalid File")
			}
		})
	}
	// A name that only later becomes a generated name is fine: a loader
	// creates the named section first.
	f := file("", named("device", "cfg020f15"), anon("device"))
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mip4d")
	f := mustParse(t, string(fixture(t, "mip4d.conf")))
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)

	if err := WriteFile(path, f, 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode())
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(f) || got.Filename != path {
		t.Fatalf("read back %q:\n%s", got.Filename, dump(got))
	}

	// The mode is the one asked for, not the umask's, on replacing too.
	if err := WriteFile(path, f, 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644", fi.Mode())
	}

	// An invalid File leaves the old file alone and no temporary behind.
	before, _ := os.ReadFile(path)
	bad := file("", named("t", "a-b"))
	if err := WriteFile(path, bad, 0o600); err == nil {
		t.Fatal("WriteFile accepted an invalid File")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("failed WriteFile changed the file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %v", entries)
	}

	// A symbolic link is followed, and kept.
	real := filepath.Join(dir, "real")
	link := filepath.Join(dir, "link")
	if err := os.WriteFile(real, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, f, 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatal("the link was replaced by a file")
	}
	if g, err := ReadFile(real); err != nil || !g.Equal(f) {
		t.Fatalf("target: %v\n%s", err, dump(g))
	}

	// A directory that does not exist is an error, not a panic.
	if err := WriteFile(filepath.Join(dir, "no", "such"), f, 0o600); err == nil {
		t.Fatal("WriteFile into a missing directory succeeded")
	}
}
