package uci

import (
	"slices"
	"testing"
)

// The generated names are the ones real routers show for default configs
// (`uci show -X`): the first section of dhcp is a dnsmasq, cfg01411c; the
// firewall's defaults, lan zone and wan zone are cfg01e63d, cfg02dc81 and
// cfg03dc81; after loopback and globals, network's first device is
// cfg030f15.
func TestSectionID(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want []string
	}{
		{"config dnsmasq\nconfig dhcp lan\nconfig dhcp wan\nconfig odhcpd odhcpd\nconfig host\n",
			[]string{"cfg01411c", "lan", "wan", "odhcpd", "cfg05fe63"}},
		{"config defaults\nconfig zone\nconfig zone\nconfig forwarding\nconfig rule\n",
			[]string{"cfg01e63d", "cfg02dc81", "cfg03dc81", "cfg04ad58", "cfg0592bd"}},
		{"config interface loopback\nconfig globals globals\nconfig device\n",
			[]string{"loopback", "globals", "cfg030f15"}},
		{"config system\nconfig timeserver ntp\n", []string{"cfg01e48a", "ntp"}},
	} {
		f := mustParse(t, tc.src)
		var got []string
		for _, s := range f.Sections {
			got = append(got, f.SectionID(s))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: ids %q, want %q", tc.src, got, tc.want)
		}
	}
	// Past 255 sections the counter takes more digits, as with %02x.
	if got := anonID(256, "rule"); got != "cfg10092bd" {
		t.Errorf("anonID(256) = %q", got)
	}
	if (&File{}).SectionID(&Section{}) != "" || (&File{}).SectionRef(&Section{}) != "" {
		t.Error("a section not in the file has an id")
	}
}

func TestSectionLookup(t *testing.T) {
	f := mustParse(t, `
config zone
	option name lan
config zone wan
	option name wan
config rule
	option name r0
config zone
	option name guest
config rule
	option name r1
`)
	name := func(s *Section) string {
		if s == nil {
			return "<nil>"
		}
		v, _ := s.Get("name")
		return v
	}
	for ref, want := range map[string]string{
		"wan":       "wan",
		"@zone[0]":  "lan",
		"@zone[1]":  "wan", // named sections count too
		"@zone[2]":  "guest",
		"@zone[-1]": "guest",
		"@zone[-3]": "lan",
		"@zone[+1]": "wan",
		"@rule[1]":  "r1",
		"@[2]":      "r0", // any type
		"@[-1]":     "r1",
		"cfg01dc81": "lan",
		"cfg04dc81": "guest",
		"cfg0392bd": "r0",
		// Misses and malformed references.
		"@zone[3]":      "<nil>",
		"@zone[-4]":     "<nil>",
		"@zone":         "<nil>",
		"@zone[]":       "lan", // strtol("") is 0
		"@zone[ 1]":     "wan",
		"@zone[ ]":      "<nil>",
		"@zone[-]":      "<nil>",
		"@zone[x]":      "<nil>",
		"@zone[0]x":     "<nil>",
		"@zone[0][1]":   "<nil>",
		"@zo ne[0]":     "<nil>",
		"@nosuch[0]":    "<nil>",
		"cfg02dc81":     "<nil>", // wan is named: it has no generated name
		"cfg01dc82":     "<nil>",
		"lan":           "<nil>", // an option value, not a name
		"":              "<nil>",
		"wan.name":      "<nil>",
		"@zone[0].name": "<nil>",
	} {
		if got := name(f.Section(ref)); got != want {
			t.Errorf("Section(%q) = %s, want %s", ref, got, want)
		}
	}
	refs := []string{}
	for _, s := range f.Sections {
		refs = append(refs, f.SectionRef(s))
	}
	if want := []string{"@zone[0]", "wan", "@rule[0]", "@zone[2]", "@rule[1]"}; !slices.Equal(refs, want) {
		t.Errorf("refs %q, want %q", refs, want)
	}
	for _, s := range f.Sections {
		if f.Section(f.SectionRef(s)) != s || f.Section(f.SectionID(s)) != s {
			t.Errorf("%s / %s does not find its section", f.SectionRef(s), f.SectionID(s))
		}
	}
	var got []string
	for _, s := range f.SectionsOfType("zone") {
		got = append(got, name(s))
	}
	if !slices.Equal(got, []string{"lan", "wan", "guest"}) {
		t.Errorf("SectionsOfType(zone) = %q", got)
	}
	if f.SectionsOfType("nosuch") != nil {
		t.Error("SectionsOfType(nosuch) is not empty")
	}
}

func TestOptionAccess(t *testing.T) {
	s := mustParse(t, "config t\noption a 'x y'\nlist l 1\nlist l '2 3'\n").Sections[0]
	if v, ok := s.Get("a"); !ok || v != "x y" {
		t.Errorf("Get(a) = %q, %v", v, ok)
	}
	if v, ok := s.Get("l"); !ok || v != "1 2 3" {
		t.Errorf("Get(l) = %q, %v (uci get joins list items with spaces)", v, ok)
	}
	if v, ok := s.Get("nosuch"); ok || v != "" {
		t.Errorf("Get(nosuch) = %q, %v", v, ok)
	}
	if got := s.List("l"); !slices.Equal(got, []string{"1", "2 3"}) {
		t.Errorf("List(l) = %q", got)
	}
	if got := s.List("a"); !slices.Equal(got, []string{"x y"}) {
		t.Errorf("List(a) = %q", got)
	}
	if s.List("nosuch") != nil {
		t.Error("List(nosuch) is not nil")
	}
	s.List("l")[0] = "changed"
	if s.Option("l").Values[0] != "1" {
		t.Error("List returned the section's own slice")
	}
	if o := s.Option("l"); o == nil || !o.IsList || o.Line != 3 {
		t.Errorf("Option(l) = %+v", o)
	}
}

func TestSetters(t *testing.T) {
	f := &File{}
	s, err := f.AddSection("t", "n")
	if err != nil {
		t.Fatal(err)
	}
	step := func(what string, err error, want *File) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !f.Equal(want) {
			t.Fatalf("after %s:\n%swant\n%s", what, dump(f), dump(want))
		}
		if err := f.Validate(); err != nil {
			t.Fatalf("after %s: %v", what, err)
		}
	}
	step("Set a", s.Set("a", "1"), file("", named("t", "n", opt("a", "1"))))
	step("Set b", s.Set("b", "2"), file("", named("t", "n", opt("a", "1"), opt("b", "2"))))
	step("Set a again", s.Set("a", "3"), file("", named("t", "n", opt("a", "3"), opt("b", "2"))))
	step("AddList a", s.AddList("a", "4"), file("", named("t", "n", lst("a", "3", "4"), opt("b", "2"))))
	step("AddList c", s.AddList("c", ""), file("", named("t", "n", lst("a", "3", "4"), opt("b", "2"), lst("c", ""))))
	step("Set a over a list", s.Set("a", "5"), file("", named("t", "n", opt("a", "5"), opt("b", "2"), lst("c", ""))))
	step("SetList b", s.SetList("b", []string{"x", "x", "y"}), file("", named("t", "n", opt("a", "5"), lst("b", "x", "x", "y"), lst("c", ""))))
	if !s.DelList("b", "x") || s.DelList("b", "nosuch") || s.DelList("a", "5") {
		t.Fatal("DelList results")
	}
	step("DelList b x", nil, file("", named("t", "n", opt("a", "5"), lst("b", "y"), lst("c", ""))))
	if !s.DelList("b", "y") {
		t.Fatal("DelList b y")
	}
	step("DelList b y", nil, file("", named("t", "n", opt("a", "5"), lst("c", ""))))
	step("Set empty deletes", s.Set("a", ""), file("", named("t", "n", lst("c", ""))))
	step("SetList empty deletes", s.SetList("c", nil), file("", named("t", "n")))
	if s.Delete("a") {
		t.Fatal("Delete of a missing option reported true")
	}
	s.Set("z", "1")
	if !s.Delete("z") {
		t.Fatal("Delete(z)")
	}

	values := []string{"p"}
	s.SetList("v", values)
	values[0] = "changed"
	if s.Option("v").Values[0] != "p" {
		t.Error("SetList kept the caller's slice")
	}

	for what, err := range map[string]error{
		"Set bad name":      s.Set("a-b", "1"),
		"Set NUL":           s.Set("a", "x\x00"),
		"AddList bad name":  s.AddList("", "1"),
		"AddList NUL":       s.AddList("a", "\x00"),
		"SetList bad name":  s.SetList("a.b", []string{"1"}),
		"SetList NUL":       s.SetList("a", []string{"ok", "\x00"}),
		"AddSection type":   second(f.AddSection("a b", "")),
		"AddSection name":   second(f.AddSection("t", "a-b")),
		"AddSection exists": second(f.AddSection("u", "n")),
	} {
		if err == nil {
			t.Errorf("%s: no error", what)
		}
	}

	a, _ := f.AddSection("device", "")
	if err := a.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	// A name that some section already answers to, generated or not.
	if _, err := f.AddSection("device", f.SectionID(a)); err == nil {
		t.Errorf("AddSection(%s) succeeded", f.SectionID(a))
	}
	b, _ := f.AddSection("device", "b")
	if !f.DeleteSection("@device[0]") || f.DeleteSection("@device[5]") || f.DeleteSection("nosuch") {
		t.Fatal("DeleteSection results")
	}
	if len(f.Sections) != 2 || f.Sections[1] != b {
		t.Fatalf("after DeleteSection: %s", dump(f))
	}
	if !f.DeleteSection("b") || len(f.Sections) != 1 {
		t.Fatalf("DeleteSection(b): %s", dump(f))
	}
}

func second[T any](_ T, err error) error { return err }

func TestEqual(t *testing.T) {
	base := func() *File {
		return file("p", named("t", "n", opt("a", "1"), lst("l", "x", "y")), anon("u"))
	}
	if !base().Equal(base()) {
		t.Fatal("a File differs from its copy")
	}
	g := base()
	g.Filename, g.Sections[0].Line, g.Sections[0].Options[0].Line = "other", 4, 5
	if !base().Equal(g) {
		t.Fatal("Filename and lines count in Equal")
	}
	for name, mutate := range map[string]func(*File){
		"package":      func(f *File) { f.Package = "q" },
		"section gone": func(f *File) { f.Sections = f.Sections[:1] },
		"type":         func(f *File) { f.Sections[1].Type = "v" },
		"name":         func(f *File) { f.Sections[0].Name = "m" },
		"anonymous":    func(f *File) { f.Sections[1].Anonymous = false },
		"option gone":  func(f *File) { f.Sections[0].Options = f.Sections[0].Options[:1] },
		"option name":  func(f *File) { f.Sections[0].Options[0].Name = "b" },
		"value":        func(f *File) { f.Sections[0].Options[0].Values[0] = "2" },
		"list items":   func(f *File) { f.Sections[0].Options[1].Values = []string{"y", "x"} },
		"list kind":    func(f *File) { f.Sections[0].Options[0].IsList = true },
		"order": func(f *File) {
			f.Sections[0].Options[0], f.Sections[0].Options[1] = f.Sections[0].Options[1], f.Sections[0].Options[0]
		},
	} {
		g := base()
		mutate(g)
		if base().Equal(g) || g.Equal(base()) {
			t.Errorf("%s: still Equal", name)
		}
	}
}
