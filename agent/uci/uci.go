package uci

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// File is one UCI configuration file: an optional package name and the
// sections in file order.
type File struct {
	// Filename is the name the file was parsed under (Parse's first
	// argument). It only labels errors; it is not written and Equal
	// ignores it.
	Filename string
	// Package is the name from a "package" line, or "". uci itself names
	// a package after its file and ignores this line when loading
	// /etc/config; `uci export` writes it.
	Package  string
	Sections []*Section
}

// Section is one "config" block. Anonymous sections have an empty Name; see
// File.SectionID for the name uci gives them.
type Section struct {
	Type      string
	Name      string
	Anonymous bool
	Options   []Option // in file order; names are unique
	Line      int      // line of the config statement; 0 if built in code
}

// Option is an option or list. A plain option has exactly one non-empty
// value; a list has one or more values, possibly empty ones.
type Option struct {
	Name   string
	Values []string
	IsList bool
	// Line is where the option got its current form: the option line
	// that last set it, or the first list line. 0 if set in code.
	Line int
}

// ValidName reports whether s may name a section or an option: one or more
// of A-Z, a-z, 0-9 and _ (libuci's uci_validate_name).
func ValidName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

// ValidType reports whether s may be a section type: one or more printable
// ASCII characters other than space (libuci's uci_validate_type), so
// "wifi-iface" is a type though not a name.
func ValidType(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

// ValidPackage reports whether s may be a package name: a name that may
// also hold '-' (libuci's uci_validate_package).
func ValidPackage(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// typeHash is the 16-bit part of libuci's generated section names: the
// djb2 hash (h = h*33 + c from 5381) of the type, low 16 bits. libuci masks
// the 32-bit sum to 31 bits before taking it modulo 65536, which does not
// change the low 16 bits. Types are ASCII, so the signedness of C's char
// does not matter.
func typeHash(typ string) uint32 {
	h := uint32(5381)
	for i := 0; i < len(typ); i++ {
		h = h*33 + uint32(typ[i])
	}
	return h & 0xffff
}

// anonID is libuci's name for an anonymous section created as the n-th
// (1-based) section of its package: "cfg%02x%04x".
func anonID(n int, typ string) string {
	b := make([]byte, 0, 12)
	b = append(b, "cfg"...)
	if n < 16 {
		b = append(b, '0')
	}
	b = strconv.AppendUint(b, uint64(n), 16)
	h := typeHash(typ)
	for shift := 12; shift >= 0; shift -= 4 {
		b = append(b, "0123456789abcdef"[(h>>shift)&0xf])
	}
	return string(b)
}

func (f *File) index(s *Section) int {
	return slices.Index(f.Sections, s)
}

// SectionID returns the name uci uses for s in this file, as `uci show -X`
// prints it: s.Name, or for an anonymous section the name libuci generates
// when it loads the file, e.g. "cfg02dc81" for a "zone" that is the second
// section. The generated name depends on the position, so it changes when
// sections before s are added or removed. "" if s is not in f.
func (f *File) SectionID(s *Section) string {
	i := f.index(s)
	if i < 0 {
		return ""
	}
	return f.idAt(i)
}

func (f *File) idAt(i int) string {
	s := f.Sections[i]
	if !s.Anonymous {
		return s.Name
	}
	return anonID(i+1, s.Type)
}

// SectionRef returns the name `uci show` prints for s: s.Name, or
// "@type[N]" with N the index of s among the sections of its type. "" if s
// is not in f.
func (f *File) SectionRef(s *Section) string {
	n := 0
	for _, t := range f.Sections {
		if t == s {
			if !s.Anonymous {
				return s.Name
			}
			return "@" + s.Type + "[" + strconv.Itoa(n) + "]"
		}
		if t.Type == s.Type {
			n++
		}
	}
	return ""
}

// Section finds a section the way uci addresses one: by name, by the
// generated name of an anonymous section (see SectionID), or as @type[N]:
// the N-th section of that type counting from 0, or from the end when N is
// negative (@type[-1] is the last; @type[] is @type[0], as in libuci); @[N]
// counts sections of any type. The first match wins. nil if there is none
// or ref is malformed.
func (f *File) Section(ref string) *Section {
	if strings.HasPrefix(ref, "@") {
		return f.extended(ref[1:])
	}
	if !ValidName(ref) {
		return nil
	}
	gen := strings.HasPrefix(ref, "cfg") // could be a generated name
	for i, s := range f.Sections {
		if !s.Anonymous && s.Name == ref || s.Anonymous && gen && f.idAt(i) == ref {
			return s
		}
	}
	return nil
}

// extended resolves "type[N]" (the part after '@'), as libuci's
// uci_lookup_ext_section does.
func (f *File) extended(ref string) *Section {
	open := strings.IndexByte(ref, '[')
	if open < 0 || !strings.HasSuffix(ref, "]") {
		return nil
	}
	typ, num := ref[:open], ref[open+1:len(ref)-1]
	if strings.ContainsAny(num, "[]") || typ != "" && !ValidType(typ) {
		return nil
	}
	// strtol: leading blanks and a sign are allowed, "" reads as 0.
	n := 0
	if num != "" {
		var err error
		if n, err = strconv.Atoi(strings.TrimLeft(num, " \t\n\v\f\r")); err != nil {
			return nil
		}
	}
	var of []*Section
	for _, s := range f.Sections {
		if typ == "" || s.Type == typ {
			of = append(of, s)
		}
	}
	if n < 0 {
		n += len(of)
	}
	if n < 0 || n >= len(of) {
		return nil
	}
	return of[n]
}

// SectionsOfType returns the sections of type typ in file order.
func (f *File) SectionsOfType(typ string) []*Section {
	var out []*Section
	for _, s := range f.Sections {
		if s.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

// AddSection appends a section of type typ. An empty name makes it
// anonymous. It fails if typ or name is invalid or a section already
// answers to name.
func (f *File) AddSection(typ, name string) (*Section, error) {
	if !ValidType(typ) {
		return nil, fmt.Errorf("uci: invalid section type %q", typ)
	}
	if name != "" {
		if !ValidName(name) {
			return nil, fmt.Errorf("uci: invalid section name %q: only A-Z, a-z, 0-9 and _ are allowed", name)
		}
		if f.Section(name) != nil {
			return nil, fmt.Errorf("uci: section %q already exists", name)
		}
	}
	s := &Section{Type: typ, Name: name, Anonymous: name == ""}
	f.Sections = append(f.Sections, s)
	return s, nil
}

// DeleteSection removes the section ref names (as for Section) and reports
// whether there was one.
func (f *File) DeleteSection(ref string) bool {
	s := f.Section(ref)
	if s == nil {
		return false
	}
	f.Sections = slices.Delete(f.Sections, f.index(s), f.index(s)+1)
	return true
}

// Option returns the option or list called name, or nil. The pointer is
// valid until the section's options change.
func (s *Section) Option(name string) *Option {
	for i := range s.Options {
		if s.Options[i].Name == name {
			return &s.Options[i]
		}
	}
	return nil
}

// Get returns the value of option name. For a list it returns the items
// joined by single spaces, as `uci get` prints them; check Option(name)
// .IsList where that matters.
func (s *Section) Get(name string) (string, bool) {
	o := s.Option(name)
	if o == nil {
		return "", false
	}
	if len(o.Values) == 1 {
		return o.Values[0], true
	}
	return strings.Join(o.Values, " "), true
}

// List returns a copy of the items of list name. A plain option reads as a
// list of its one value, as most OpenWrt daemons treat it; nil if absent.
func (s *Section) List(name string) []string {
	o := s.Option(name)
	if o == nil {
		return nil
	}
	return slices.Clone(o.Values)
}

var errNUL = errors.New("uci: values cannot hold NUL bytes")

func checkValues(name string, values ...string) error {
	if !ValidName(name) {
		return fmt.Errorf("uci: invalid option name %q: only A-Z, a-z, 0-9 and _ are allowed", name)
	}
	for _, v := range values {
		if strings.IndexByte(v, 0) >= 0 {
			return errNUL
		}
	}
	return nil
}

// Set sets option name to value, replacing an option or list of that name
// where it stands, or appending a new option. As with `uci set`, an empty
// value deletes the option, since uci cannot hold an empty one.
func (s *Section) Set(name, value string) error {
	if err := checkValues(name, value); err != nil {
		return err
	}
	if value == "" {
		s.Delete(name)
		return nil
	}
	return s.put(Option{Name: name, Values: []string{value}})
}

// SetList makes name a list of values (copied), replacing an option or
// list of that name where it stands. An empty values deletes the option.
func (s *Section) SetList(name string, values []string) error {
	if err := checkValues(name, values...); err != nil {
		return err
	}
	if len(values) == 0 {
		s.Delete(name)
		return nil
	}
	return s.put(Option{Name: name, Values: slices.Clone(values), IsList: true})
}

func (s *Section) put(o Option) error {
	if old := s.Option(o.Name); old != nil {
		*old = o
		return nil
	}
	s.Options = append(s.Options, o)
	return nil
}

// AddList appends value to list name, as `uci add_list` does: a missing
// list is created, and a plain option becomes a list holding its value
// and then the new one. Empty items are allowed in lists.
func (s *Section) AddList(name, value string) error {
	if err := checkValues(name, value); err != nil {
		return err
	}
	if o := s.Option(name); o != nil {
		o.IsList = true
		o.Values = append(o.Values, value)
		return nil
	}
	s.Options = append(s.Options, Option{Name: name, Values: []string{value}, IsList: true})
	return nil
}

// DelList removes every item equal to value from list name, as `uci
// del_list` does, and the list itself once it is empty. It reports whether
// anything was removed; plain options are left alone.
func (s *Section) DelList(name, value string) bool {
	o := s.Option(name)
	if o == nil || !o.IsList {
		return false
	}
	n := len(o.Values)
	o.Values = slices.DeleteFunc(o.Values, func(v string) bool { return v == value })
	removed := len(o.Values) != n
	if len(o.Values) == 0 {
		s.Delete(name)
	}
	return removed
}

// Delete removes option or list name and reports whether it was there.
func (s *Section) Delete(name string) bool {
	n := len(s.Options)
	s.Options = slices.DeleteFunc(s.Options, func(o Option) bool { return o.Name == name })
	return len(s.Options) != n
}

// Validate reports whether Write can write f so that uci(1) and Parse read
// back the same File: valid names and types, no empty plain option, no
// empty list, no NUL byte, unique option names in a section, and no named
// section that a loader would merge into an earlier one (same name as an
// earlier section's name or generated name).
func (f *File) Validate() error {
	if f.Package != "" && !ValidPackage(f.Package) {
		return f.invalid(0, "invalid package name %q: only A-Z, a-z, 0-9, _ and - are allowed", f.Package)
	}
	ids := make(map[string]bool, len(f.Sections))
	for i, s := range f.Sections {
		if s == nil {
			return f.invalid(0, "section %d is nil", i)
		}
		if !ValidType(s.Type) {
			return f.invalid(s.Line, "section %d: invalid type %q: want printable ASCII without spaces", i, s.Type)
		}
		if s.Anonymous && s.Name != "" {
			return f.invalid(s.Line, "section %d: anonymous but named %q", i, s.Name)
		}
		if !s.Anonymous {
			if !ValidName(s.Name) {
				return f.invalid(s.Line, "section %d: invalid name %q: only A-Z, a-z, 0-9 and _ are allowed", i, s.Name)
			}
			if ids[s.Name] {
				return f.invalid(s.Line, "section %q: an earlier section already answers to this name", s.Name)
			}
		}
		ids[f.idAt(i)] = true
		ref := f.SectionRef(s)
		for j, o := range s.Options {
			if !ValidName(o.Name) {
				return f.invalid(o.Line, "section %s: invalid option name %q: only A-Z, a-z, 0-9 and _ are allowed", ref, o.Name)
			}
			if s.Option(o.Name) != &s.Options[j] {
				return f.invalid(o.Line, "section %s: option %q appears twice", ref, o.Name)
			}
			switch {
			case o.IsList && len(o.Values) == 0:
				return f.invalid(o.Line, "section %s: list %q is empty", ref, o.Name)
			case !o.IsList && len(o.Values) != 1:
				return f.invalid(o.Line, "section %s: option %q has %d values, want 1", ref, o.Name, len(o.Values))
			case !o.IsList && o.Values[0] == "":
				return f.invalid(o.Line, "section %s: option %q is empty", ref, o.Name)
			}
			for _, v := range o.Values {
				if strings.IndexByte(v, 0) >= 0 {
					return f.invalid(o.Line, "section %s: option %q: value holds a NUL byte", ref, o.Name)
				}
			}
		}
	}
	return nil
}

func (f *File) invalid(line int, format string, args ...any) error {
	return &Error{File: f.Filename, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Equal reports whether f and g hold the same configuration: package,
// sections and options with their order, names, types and values. Line
// numbers and Filename are ignored.
func (f *File) Equal(g *File) bool {
	if f.Package != g.Package || len(f.Sections) != len(g.Sections) {
		return false
	}
	for i, s := range f.Sections {
		t := g.Sections[i]
		if s.Type != t.Type || s.Name != t.Name || s.Anonymous != t.Anonymous || len(s.Options) != len(t.Options) {
			return false
		}
		for j, o := range s.Options {
			p := t.Options[j]
			if o.Name != p.Name || o.IsList != p.IsList || !slices.Equal(o.Values, p.Values) {
				return false
			}
		}
	}
	return true
}
