package uci

import (
	"testing"
)

// parseCases cover every grammar rule. Each is also run through the libuci
// model, so the expectations are checked against a second reading of
// file.c as well as against the author's.
var parseCases = []struct {
	name string
	src  string
	want *File
}{
	// Empty input and layout.
	{"empty", "", file("")},
	{"blank lines and whitespace", "\n\n  \t \n\r\n\v\f\n", file("")},
	{"comments only", "# one\n   # two\n\t#three", file("")},
	{"no final newline", "config t 'n'\n\toption a 'b'", file("", named("t", "n", opt("a", "b")))},
	{"CRLF line ends", "config t 'n'\r\n\toption a b\r\n\tlist l 'x'\r\n", file("", named("t", "n", opt("a", "b"), lst("l", "x")))},
	{"tabs and odd blanks between words", "config\tt\t'n'\n option\t a \v\f b \r\n", file("", named("t", "n", opt("a", "b")))},

	// package
	{"package bare", "package mip4d\n", file("mip4d")},
	{"package quoted with dash", "package 'my-pkg'\n", file("my-pkg")},
	{"package abbreviated", "p net\n", file("net")},
	{"package repeated, same name", "package a\nconfig t\npackage 'a'\n", file("a", anon("t"))},
	{"package after sections", "config t\npackage x\n", file("x", anon("t"))},

	// config
	{"named section, bare name", "config interface lan\n", file("", named("interface", "lan"))},
	{"named section, single quotes", "config 'interface' 'lan'\n", file("", named("interface", "lan"))},
	{"named section, double quotes", "config \"interface\" \"lan\"\n", file("", named("interface", "lan"))},
	{"anonymous section", "config device\n", file("", anon("device"))},
	{"empty quoted name is anonymous", "config device ''\n", file("", anon("device"))},
	{"type with punctuation", "config wifi-iface\nconfig 'a.b:c/d@e'\n", file("", anon("wifi-iface"), anon("a.b:c/d@e"))},
	{"config abbreviated", "c t n\n", file("", named("t", "n"))},
	{"section with no options", "config a 'x'\nconfig b 'y'\n", file("", named("a", "x"), named("b", "y"))},

	// option and list
	{"option bare", "config t\noption a b\n", file("", anon("t", opt("a", "b")))},
	{"option and list abbreviated", "c t\no a b\nl c d\nl c e\n", file("", anon("t", opt("a", "b"), lst("c", "d", "e")))},
	{"option name quoted", "config t\noption 'a' \"b\"\n", file("", anon("t", opt("a", "b")))},
	{"list keeps order", "config t\nlist l 3\nlist l 1\nlist l 2\n", file("", anon("t", lst("l", "3", "1", "2")))},
	{"lists interleaved", "config t\nlist a 1\nlist b 2\nlist a 3\n", file("", anon("t", lst("a", "1", "3"), lst("b", "2")))},
	{"empty list item kept", "config t\nlist l ''\nlist l \"\"\nlist l x\n", file("", anon("t", lst("l", "", "", "x")))},
	{"UTF-8 and high bytes", "config t\noption city Zürich\noption raw '\xff\xfe'\n", file("", anon("t", opt("city", "Zürich"), opt("raw", "\xff\xfe")))},

	// Single quotes: no escapes at all.
	{"single quotes keep spaces and specials", `config t
option a '  two  words # not a comment ; not a separator "dq" '
`, file("", anon("t", opt("a", `  two  words # not a comment ; not a separator "dq" `)))},
	{"single quotes keep backslashes", `config t
option a 'C:\path\n\'
`, file("", anon("t", opt("a", `C:\path\n\`)))},
	{"quote idiom 'it'\\''s'", `config t
option a 'it'\''s'
`, file("", anon("t", opt("a", "it's")))},

	// Double quotes: a backslash takes the next byte as it is.
	{"double quotes escapes", `config t
option a "q\" b\\ n\n t\t h\# s\' x\;"
`, file("", anon("t", opt("a", `q" b\ nn tt h# s' x;`)))},
	{"double quotes keep single quotes and specials", `config t
option a "it's #1; ok"
`, file("", anon("t", opt("a", "it's #1; ok")))},

	// Bare words.
	{"bare backslash escapes", `config t
option a a\ b\#c\;d\'e\"f\\g
`, file("", anon("t", opt("a", `a b#c;d'e"f\g`)))},
	{"concatenation", `config t
option a foo'bar'"baz"qux
option b 'x'"y"'z'
option c "a"b'c'
`, file("", anon("t", opt("a", "foobarbazqux"), opt("b", "xyz"), opt("c", "abc")))},
	{"concatenated name", "config t\noption na'me' v\n", file("", anon("t", opt("name", "v")))},

	// Comments.
	{"trailing comment", "config t # the section\noption a b # the option\n", file("", anon("t", opt("a", "b")))},
	{"comment glued to a word", "config t\noption a b#c d e\n", file("", anon("t", opt("a", "b")))},
	{"comment glued to a quote", "config t\noption a 'b'#c\n", file("", anon("t", opt("a", "b")))},
	{"hash inside quotes", "config t\noption a 'b#c'\noption d \"e#f\"\n", file("", anon("t", opt("a", "b#c"), opt("d", "e#f")))},
	{"hash after the command word", "config t\noption a #no value here\nlist l x #c\n", nil}, // missing value: see errorCases

	// Semicolons.
	{"semicolons after named config", "config t 'n'; option a 'b'; list l c ;list l 'd'\n", file("", named("t", "n", opt("a", "b"), lst("l", "c", "d")))},
	{"semicolon with blanks", "config t n ; option a b ; option c d\n", file("", named("t", "n", opt("a", "b"), opt("c", "d")))},
	{"semicolon after double quotes", "config t\noption a \"b\";option c \"d\"\n", file("", anon("t", opt("a", "b"), opt("c", "d")))},
	{"semicolon then comment", "config t\noption a 'b'; # comment\n", file("", anon("t", opt("a", "b")))},
	{"bare word then semicolon at line end", "config t\noption a b;\noption c d;  # nothing lost\n", file("", anon("t", opt("a", "b"), opt("c", "d")))},
	{"semicolon inside quotes", "config t\noption a 'b;c'\n", file("", anon("t", opt("a", "b;c")))},
	{"semicolon at end of input", "config t\noption a 'b';", file("", anon("t", opt("a", "b")))},

	// Line continuation.
	{"continuation inside a word", "config t\noption a ab\\\ncd\n", file("", anon("t", opt("a", "abcd")))},
	{"continuation before an argument", "config t\noption a\\\n  'b'\n", file("", anon("t", opt("a", "b")))},
	{"continuation after the command word", "config t\noption \\\na b\n", file("", anon("t", opt("a", "b")))},
	{"continuation ends a word at a blank", "config t\nlist l a\\\n b\n", nil}, // "a" then extra "b": see errorCases
	{"continuation in double quotes", "config t\noption a \"one \\\ntwo\"\n", file("", anon("t", opt("a", "one two")))},
	{"continuation with CRLF", "config t\r\noption a b\\\r\nc\r\n", file("", anon("t", opt("a", "bc")))},
	{"continuation at end of input", "config t\noption a b\\", file("", anon("t", opt("a", "b")))},
	{"continuation then comment line", "config t\noption a b \\\n# comment\noption c d\n", file("", anon("t", opt("a", "b"), opt("c", "d")))},
	{"continuation then blank line", "config t\noption a b \\\n\noption c d\n", file("", anon("t", opt("a", "b"), opt("c", "d")))},
	{"continuation starts the next statement", "config t\noption a b \\\n option c d\n", file("", anon("t", opt("a", "b"), opt("c", "d")))},
	{"continuation then a vertical tab", "config t\noption a b \\\n\voption c d\n", file("", anon("t", opt("a", "b"), opt("c", "d")))},
	{"no continuation in single quotes", "config t\noption a 'x\\\ny'\n", file("", anon("t", opt("a", "x\\\ny")))},

	// Values over several lines.
	{"multi-line single quotes", "config t\noption a 'line 1\n\tline 2\n'\noption b c\n", file("", anon("t", opt("a", "line 1\n\tline 2\n"), opt("b", "c")))},
	{"multi-line double quotes", "config t\noption a \"x\ny\"\n", file("", anon("t", opt("a", "x\ny")))},
	{"multi-line with CRLF kept", "config t\r\noption a 'x\r\ny'\r\n", file("", anon("t", opt("a", "x\r\ny")))},
	{"statement goes on after a multi-line value", "config t\nlist l 'a\nb' ; list l c\n", file("", anon("t", lst("l", "a\nb", "c")))},

	// What libuci merges.
	{"option replaced in place", "config t\noption a 1\noption b 2\noption a 3\n", file("", anon("t", opt("a", "3"), opt("b", "2")))},
	{"option after list replaces it", "config t\nlist a 1\nlist a 2\noption b x\noption a 3\n", file("", anon("t", opt("a", "3"), opt("b", "x")))},
	{"list after option extends it", "config t\noption a 1\noption b x\nlist a 2\n", file("", anon("t", lst("a", "1", "2"), opt("b", "x")))},
	{"empty option ignored", "config t\noption a ''\noption b \"\"\n", file("", anon("t"))},
	{"empty option keeps the old value", "config t\noption a x\noption a ''\n", file("", anon("t", opt("a", "x")))},
	{"named section continued", "config t 'n'\noption a 1\nconfig u 'm'\nconfig t 'n'\noption b 2\noption a 3\n", file("", named("t", "n", opt("a", "3"), opt("b", "2")), named("u", "m"))},
	{"anonymous section reopened by generated name", "config device\noption a 1\nconfig device 'cfg010f15'\noption b 2\n", file("", anon("device", opt("a", "1"), opt("b", "2")))},
	{"generated name counts named sections", "config t 'x'\nconfig device\nconfig device cfg020f15\noption a 1\n", file("", named("t", "x"), anon("device", opt("a", "1")))},
	{"name that is not yet generated", "config device 'cfg020f15'\nconfig device\n", file("", named("device", "cfg020f15"), anon("device"))},
}

func TestParseGrammar(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			checkModel(t, []byte(tc.src))
			if tc.want == nil {
				if _, err := Parse("test", []byte(tc.src)); err == nil {
					t.Fatalf("Parse accepted %q; want an error", tc.src)
				}
				return
			}
			got := mustParse(t, tc.src)
			if !got.Equal(tc.want) {
				t.Fatalf("Parse(%q):\n%swant:\n%s", tc.src, dump(got), dump(tc.want))
			}
		})
	}
}

func TestParseLines(t *testing.T) {
	src := "# comment\n" + // 1
		"config t 'a'\n" + // 2
		"\toption x 'one\n" + // 3
		"two'\n" + // 4
		"\tlist l 1 ; list l 2\n" + // 5
		"\toption y \\\n" + // 6
		"z\n" + // 7
		"\n" + // 8
		"config u\n" + // 9
		"\toption x 1\n" + // 10
		"config t 'a'\n" + // 11
		"\toption x 3\n" + // 12
		"\toption w 4\n" // 13
	f := mustParse(t, src)
	a, u := f.Sections[0], f.Sections[1]
	if a.Line != 2 || u.Line != 9 {
		t.Errorf("section lines %d, %d; want 2, 9", a.Line, u.Line)
	}
	for name, want := range map[string]int{"x": 12, "l": 5, "y": 6, "w": 13} {
		if o := a.Option(name); o == nil || o.Line != want {
			t.Errorf("option %s: %+v, want line %d", name, o, want)
		}
	}
	if o := u.Option("x"); o.Line != 10 {
		t.Errorf("u.x line %d, want 10", o.Line)
	}
}

func TestParseFixtures(t *testing.T) {
	mip4d := file("mip4d",
		named("mip4d", "global", opt("enabled", "1"), lst("role", "ha", "proxy"), opt("log_level", "info"), opt("state_file", "/etc/mip4d/bindings.state")),
		named("ha", "ha", opt("address", "198.51.100.1"), opt("home_net", "10.10.0.0/16"), opt("max_lifetime", "1800"),
			opt("max_bindings", "1"), opt("nat_traversal", "1"), opt("allow_force", "0"), opt("keepalive", "110"),
			opt("encaps", "ipip gre"), opt("reverse_tunnel_required", "1"), opt("revocation", "1"),
			lst("trusted_network", "10.0.0.0/8", "172.16.0.0/12"), opt("pool_first", "10.10.200.1"),
			opt("pool_last", "10.10.200.254"), opt("pool_hold", "3600")),
		anon("sa", opt("peer", "laptop-1@corp.example"), opt("spi", "0x00000100"), opt("algorithm", "hmac-md5"),
			opt("key", "b1946ac92492d2347c6235b4d2611184"), opt("replay", "timestamp")),
		anon("sa", opt("peer", "laptop-2@corp.example"), opt("spi", "257"), opt("algorithm", "hmac-md5"),
			opt("key", "e59ff97941044f85df5297e1c302d260"), opt("replay", "nonce")),
		anon("sa", opt("peer", "203.0.113.7"), opt("spi", "0x1000"), opt("algorithm", "keyed-md5"),
			opt("key", "d8e8fca2dc0f896fd7cb4cb0031ba249")),
		named("proxy", "hs", opt("interface", "br-hs"), opt("home_agent", "198.51.100.1"), opt("gateway", "10.10.0.1"),
			lst("client", "02:11:22:33:44:01=laptop-1@corp.example", "02:11:22:33:44:02=laptop-2@corp.example"),
			opt("nai_template", "%mac%@hotspot.example")),
	)
	multiline := file("",
		named("daemon", "sockd", opt("enabled", "1"),
			opt("extra", "\n\t\tclient pass {\n\t\t\tfrom: 0.0.0.0/0 to: 0.0.0.0/0\n\t\t\tlog: error \\\n\t\t}\n\t"),
			opt("banner", "Welcome to the hotspot.\"\nEnjoy.\""),
			opt("joined", "abcdef"),
			lst("words", "onetwo")),
	)
	tricky := file("tricky",
		named("t1", "n1", opt("bare", "other"), opt("quoted", "it's"), opt("dq", `say "hi" \o/ # n`),
			opt("concat", "foobarbaz qux"), lst("hash", "a", "b"), opt("semi", "x;y"), lst("l", "", "two words")),
		named("t2", "n2", opt("a", "A"), opt("b", "B"), opt("c", "C")),
		anon("wifi-iface", opt("x", "1"), lst("y", "2", "3")),
		named("t2", "n3", opt("d", "D")),
	)
	for _, tc := range []struct {
		name string
		want *File
	}{
		{"mip4d.conf", mip4d},
		{"multiline.conf", multiline},
		{"tricky.conf", tricky},
		{"network.conf", nil}, // checked by shape below
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := fixture(t, tc.name)
			checkModel(t, src)
			f, err := Parse(tc.name, src)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !f.Equal(tc.want) {
				t.Fatalf("got:\n%swant:\n%s", dump(f), dump(tc.want))
			}
		})
	}

	f, err := Parse("network", fixture(t, "network.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.Sections); n != 12 {
		t.Fatalf("%d sections, want 12", n)
	}
	lan := f.Section("lan")
	if v, _ := lan.Get("ipaddr"); v != "192.168.1.1" {
		t.Errorf("lan.ipaddr = %q", v)
	}
	if got := lan.List("dns"); len(got) != 2 || got[1] != "9.9.9.9" {
		t.Errorf("lan.dns = %q", got)
	}
	if got := f.Section("@device[1]").List("ports"); len(got) != 1 || got[0] != "lan4" {
		t.Errorf("@device[1].ports = %q", got)
	}
	if v, _ := f.Section("@device[-1]").Get("macaddr"); v != "02:00:5e:10:00:01" {
		t.Errorf("@device[-1].macaddr = %q", v)
	}
	if id := f.SectionID(f.Section("@device[0]")); id != "cfg030f15" {
		t.Errorf("@device[0] is %s, want cfg030f15", id)
	}
	if v, _ := f.Section("@route[1]").Get("metric"); v != "20" {
		t.Errorf("@route[1].metric = %q", v)
	}
}
