package uci

import (
	"errors"
	"strings"
	"testing"
)

// errorCases: input, and the exact position and message Parse reports.
// stricter is the mark on errors for input libuci may accept; uciOK says
// whether the libuci model does accept it (and then misreads or half-reads
// it, or silently drops something).
var errorCases = []struct {
	name            string
	src             string
	line, col       int
	msg             string
	stricter, uciOK bool
}{
	{"option before config", "# c\noption a b\n", 2, 1, "option before the first config line", false, false},
	{"list before config", "package p\n  list a b\n", 2, 3, "list before the first config line", false, false},
	{"config without type", "config\n", 1, 7, "config: missing section type", false, false},
	{"config with empty type", "config ''\n", 1, 8, "config: missing section type", false, false},
	{"config at end of input", "config t\nconfig", 2, 7, "config: missing section type", false, false},
	{"type with a space", "config 'a b'\n", 1, 8, `config "a b": invalid section type: want printable ASCII without spaces`, false, false},
	{"type with a control byte", "config 'a\x01b'\n", 1, 8, `config "a\x01b": invalid section type`, false, false},
	{"section name with a dash", "config interface my-lan\n", 1, 18, `config interface "my-lan": invalid section name: only A-Z, a-z, 0-9 and _ are allowed`, false, false},
	{"section name with a dot", "config interface 'a.b'\n", 1, 18, `config interface "a.b": invalid section name`, false, false},
	{"option without name", "config t\noption\n", 2, 7, "option: missing name", false, false},
	{"option with empty name", "config t\n\toption '' x\n", 2, 9, "option: missing name", false, false},
	{"option name with a dash", "config t\noption max-lifetime 5\n", 2, 8, `option "max-lifetime": invalid name: only A-Z, a-z, 0-9 and _ are allowed`, false, false},
	{"option name non-ASCII", "config t\noption größe 5\n", 2, 8, `option "größe": invalid name`, false, false},
	{"missing value", "config t\n\n\n\n\n\n\n\n\n\nconfig ha 'ha'\n\toption lifetime\n", 12, 17, `option "lifetime": missing value`, true, true},
	{"missing list value", "config t\nlist server # no value\n", 2, 13, `list "server": missing value`, true, true},
	{"missing value before ';'", "config t\noption a ; option b c\n", 2, 10, `option "a": missing value`, true, false},
	{"value only a continuation", "config t\noption a \\\n  'b'\n", 2, 10, `option "a": missing value`, true, false},
	{"extra argument", "config t\noption a b c\n", 2, 12, `option "a": unexpected extra argument "c"`, false, false},
	{"extra empty argument", "config t\noption a b ''\n", 2, 12, `option "a": unexpected extra argument ""`, true, true},
	{"extra argument to config", "config t n x\n", 1, 12, `config t "n": unexpected extra argument "x"`, false, false},
	{"extra argument to package", "package a b\n", 1, 11, `package "a": unexpected extra argument "b"`, false, false},
	{"invalid command", "config t\nfoo bar\n", 2, 1, `invalid command "foo": want package, config, option or list`, false, false},
	{"keyword is case sensitive", "Config t\n", 1, 1, `invalid command "Config"`, false, false},
	{"plural keyword", "config t\n\toptions a b\n", 2, 2, `invalid command "options"`, false, false},
	{"quoted keyword", "'config' t\n", 1, 1, `invalid command "'config'"`, false, false},
	{"byte order mark", "\ufeffconfig t\n", 1, 1, `invalid command "\ufeffconfig"`, false, false},
	{"unterminated single quote", "config t\noption a 'one\ntwo\nthree\n", 2, 10, "unterminated single-quoted string", false, false},
	{"unterminated double quote", "config t\noption a \"x\\\"\n", 2, 10, "unterminated double-quoted string", false, false},
	{"unterminated quote in type", "config 'interface\n", 1, 8, "unterminated single-quoted string", false, false},
	{"invalid package name", "package a.b\n", 1, 9, `package "a.b": invalid name: only A-Z, a-z, 0-9, _ and - are allowed`, false, false},
	{"package without name", "package\n", 1, 8, "package: missing name", false, false},
	{"second package", "package a\nconfig t\npackage b\n", 3, 1, `package "b": the file already declared package "a" at line 1`, true, true},
	{"section redefined with another type", "config zone 'lan'\nconfig interface 'lan'\n", 2, 1, `config interface "lan": section already defined at line 1 with type "zone"`, false, false},
	{"anonymous section renamed with another type", "config device\nconfig iface cfg010f15\n", 2, 1, `config iface "cfg010f15": section already defined at line 1 with type "device"`, false, false},
	{"NUL byte", "config t\noption a 'b\x00c'\n", 2, 12, "NUL byte in input", false, false},
	{"bare word then ';' and more", "config t\noption a b;option c d\n", 2, 11, `unquoted "b" directly before ';': uci ignores the rest of the line ("option c d")`, true, true},
	{"bare type then ';'", "config t; option a 'b'\n", 1, 9, `unquoted "t" directly before ';'`, true, true},
	{"';' after an unnamed config", "config 't'; option a 'b'\n", 1, 13, `config t: unexpected extra argument "option" (uci takes a ';' right after the type`, false, false},
	{"';' at end of line", "config t\noption a 'b';\noption c d\n", 2, 14, "nothing after ';' at the end of the line", false, false},
	{"';' then blanks at end of line", "config t\noption a b ; \t\n", 2, 15, "nothing after ';' at the end of the line", false, false},
	{"two ';'", "config t\noption a 'b';;option c d\n", 2, 14, `invalid command ";option"`, false, false},
	{"continuation then an indented blank line", "config t\noption a b \\\n  \noption c d\n", 3, 3, "blank line after a line continuation", false, false},
	{"continuation then ';'", "config t\noption a b \\\n;option c d\n", 3, 1, `invalid command ";option"`, false, false},
	{"keyword glued to a quote", "config t\noption'a' b\n", 2, 1, `invalid command "option'a'"`, false, false},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			checkModel(t, []byte(tc.src))
			f, err := Parse("mip4d.conf", []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse(%q) accepted:\n%s", tc.src, dump(f))
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is %T, want *Error", err, err)
			}
			if e.File != "mip4d.conf" || e.Line != tc.line || e.Col != tc.col || !strings.HasPrefix(e.Msg, tc.msg) {
				t.Errorf("got  %s:%d:%d: %s\nwant %s:%d:%d: %s...", e.File, e.Line, e.Col, e.Msg, "mip4d.conf", tc.line, tc.col, tc.msg)
			}
			if e.stricter != tc.stricter {
				t.Errorf("stricter = %v, want %v", e.stricter, tc.stricter)
			}
			if _, merr := modelParse([]byte(tc.src)); (merr == nil) != tc.uciOK {
				t.Errorf("libuci model accepts: %v, want %v", merr == nil, tc.uciOK)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	f, err := Parse("mip4d.conf", []byte("config ha 'ha'\n"+strings.Repeat("\n", 10)+"\toption lifetime\n"))
	if err == nil {
		t.Fatalf("accepted: %s", dump(f))
	}
	if got, want := err.Error(), `mip4d.conf:12: option "lifetime": missing value`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f", Line: 3, Msg: "m"}, "f:3: m"},
		{Error{Line: 3, Msg: "m"}, "line 3: m"},
		{Error{File: "f", Msg: "m"}, "f: m"},
		{Error{Msg: "m"}, "uci: m"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.e, got, tc.want)
		}
	}
	g := &File{Filename: "/etc/config/mip4d"}
	if got := g.Errorf(7, "option %q: bad value %q", "spi", "x").Error(); got != `/etc/config/mip4d:7: option "spi": bad value "x"` {
		t.Errorf("Errorf: %q", got)
	}
}
