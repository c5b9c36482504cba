package uci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mip4d/mip4d/agent/internal/golden"
)

func file(pkg string, secs ...*Section) *File { return &File{Package: pkg, Sections: secs} }

func named(typ, name string, opts ...Option) *Section {
	return &Section{Type: typ, Name: name, Options: opts}
}

func anon(typ string, opts ...Option) *Section {
	return &Section{Type: typ, Anonymous: true, Options: opts}
}

func opt(name, v string) Option { return Option{Name: name, Values: []string{v}} }

func lst(name string, vs ...string) Option { return Option{Name: name, Values: vs, IsList: true} }

// dump shows a File one item a line, values quoted with %q, for diffs.
func dump(f *File) string {
	if f == nil {
		return "<nil>"
	}
	var b strings.Builder
	if f.Package != "" {
		fmt.Fprintf(&b, "package %q\n", f.Package)
	}
	for _, s := range f.Sections {
		if s.Anonymous {
			fmt.Fprintf(&b, "config %q (anonymous)\n", s.Type)
		} else {
			fmt.Fprintf(&b, "config %q %q\n", s.Type, s.Name)
		}
		for _, o := range s.Options {
			kw := "option"
			if o.IsList {
				kw = "list"
			}
			fmt.Fprintf(&b, "  %s %q %q\n", kw, o.Name, o.Values)
		}
	}
	return b.String()
}

// fixture reads testdata/uci/name from the repository root.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(golden.Dir(), "uci", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, src string) *File {
	t.Helper()
	f, err := Parse("test", []byte(src))
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return f
}

// checkModel compares Parse with the libuci model on src: whatever Parse
// accepts the model accepts with the same result, and whatever the model
// rejects Parse rejects; Parse may reject more, but only with an error
// marked as stricter than libuci.
func checkModel(t testing.TB, src []byte) {
	t.Helper()
	got, err := Parse("in", src)
	want, merr := modelParse(src)
	switch {
	case err == nil && merr != nil:
		t.Fatalf("Parse accepts what libuci rejects:\n%q\nParse:\n%s", src, dump(got))
	case err == nil && !got.Equal(want):
		t.Fatalf("Parse and libuci disagree on\n%q\nParse:\n%slibuci:\n%s", src, dump(got), dump(want))
	case err != nil && merr == nil:
		var e *Error
		if !errors.As(err, &e) || !e.stricter {
			t.Fatalf("Parse rejects what libuci accepts, with an error not marked stricter:\n%q\nerror: %v\nlibuci:\n%s", src, err, dump(want))
		}
	}
}
