package uci

import (
	"bytes"
	"errors"
)

// libuciModel is a second, independent reading of libuci's file parser,
// for differential tests of Parse. Where Parse walks the input as one
// stream, the model keeps file.c's shape: a line buffer that grows only
// when a quote or a backslash asks for the next line (uci_getln),
// arguments unquoted in place with an output index trailing the input
// index (addc), NUL terminators written into the buffer, the command word
// found with strtok(" \t"), and strict mode (any parse error fails the
// load). Its semantic side follows uci_set and uci_add_list as the parser
// calls them. Input with NUL bytes is out of its scope.
type libuciModel struct {
	in     []byte // input not yet read into buf
	buf    []byte // the line buffer; a 0 byte in it is a written terminator
	filled int    // pctx->buf_filled
	pos    int

	f     *File
	cur   *Section
	names []string // element names of f.Sections: generated for anonymous ones
	nsec  int      // package->n_section
}

var errModel = errors.New("libuci: parse error")

func modelParse(src []byte) (*File, error) {
	if bytes.IndexByte(src, 0) >= 0 {
		return nil, errModel
	}
	m := &libuciModel{in: src, f: &File{}}
	for len(m.in) > 0 { // while (!feof(pctx->file))
		m.pos = 0
		m.getln(0)
		if m.char(0) != 0 {
			if err := m.parseLine(); err != nil {
				return nil, err
			}
		}
	}
	return m.f, nil
}

// getln reads the next input line (with its '\n') into buf at offset.
func (m *libuciModel) getln(offset int) {
	m.buf = m.buf[:offset]
	if len(m.in) == 0 {
		return // buf_filled is left alone, as fgets read nothing
	}
	n := len(m.in)
	if i := bytes.IndexByte(m.in, '\n'); i >= 0 {
		n = i + 1
	}
	m.buf = append(m.buf, m.in[:n]...)
	m.in = m.in[n:]
	m.filled = len(m.buf)
}

func (m *libuciModel) char(i int) byte {
	if i < len(m.buf) {
		return m.buf[i]
	}
	return 0
}

func (m *libuciModel) set(i int, c byte) {
	if i < len(m.buf) {
		m.buf[i] = c
	}
	// i == len(buf): that is the terminator fgets left there
}

// cstr is the C string at i.
func (m *libuciModel) cstr(i int) string {
	if i >= len(m.buf) {
		return ""
	}
	s := m.buf[i:]
	if j := bytes.IndexByte(s, 0); j >= 0 {
		s = s[:j]
	}
	return string(s)
}

func cIsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func (m *libuciModel) skipWhitespace() {
	for m.char(m.pos) != 0 && cIsSpace(m.char(m.pos)) {
		m.pos++
	}
}

func (m *libuciModel) addc(target *int) {
	m.set(*target, m.char(m.pos))
	*target++
	m.pos++
}

// backslash: skip it; a line end (or the end of the buffer) after it
// fetches the next line in its place and the caller ignores it.
func (m *libuciModel) backslash() bool {
	m.pos++
	c := m.char(m.pos)
	if c == 0 || c == '\n' || c == '\r' && m.char(m.pos+1) == '\n' && m.char(m.pos+2) == 0 {
		m.getln(m.pos)
		return false
	}
	return true
}

func (m *libuciModel) doubleQuote(target *int) error {
	m.pos++
	for {
		switch m.char(m.pos) {
		case '"':
			m.pos++
			return nil
		case 0:
			m.getln(m.pos)
			if m.char(m.pos) == 0 {
				return errModel
			}
		case '\\':
			if m.backslash() {
				m.addc(target)
			}
		default:
			m.addc(target)
		}
	}
}

func (m *libuciModel) singleQuote(target *int) error {
	m.pos++
	for {
		switch m.char(m.pos) {
		case '\'':
			m.pos++
			return nil
		case 0:
			m.getln(m.pos)
			if m.char(m.pos) == 0 {
				return errModel
			}
		default:
			m.addc(target)
		}
	}
}

// str is parse_str: a do-while over the pieces of one word.
func (m *libuciModel) str(target *int) error {
	next := true
loop:
	for {
		switch m.char(m.pos) {
		case '\'':
			if err := m.singleQuote(target); err != nil {
				return err
			}
		case '"':
			if err := m.doubleQuote(target); err != nil {
				return err
			}
		case '#':
			m.set(m.pos, 0)
			break loop
		case 0:
			break loop
		case ';':
			next = false
			break loop
		case '\\':
			if m.backslash() {
				m.addc(target)
			}
		default:
			m.addc(target)
		}
		if c := m.char(m.pos); c == 0 || cIsSpace(c) {
			break
		}
	}
	if m.char(m.pos) != 0 && next {
		m.pos++
	}
	m.set(*target, 0)
	return nil
}

func (m *libuciModel) nextArg(required, name, pkg bool) (int, error) {
	m.skipWhitespace()
	val := m.pos
	ptr := val
	if m.char(m.pos) == ';' {
		m.set(m.pos, 0)
		m.pos++
	} else if err := m.str(&ptr); err != nil {
		return 0, err
	}
	s := m.cstr(val)
	if s == "" {
		if required {
			return 0, errModel
		}
		return val, nil
	}
	if name && !(pkg && ValidPackage(s) || !pkg && ValidName(s)) {
		return 0, errModel
	}
	return val, nil
}

func (m *libuciModel) assertEOL() error {
	m.skipWhitespace()
	v, err := m.nextArg(false, false, false)
	if err != nil {
		return err
	}
	if m.cstr(v) != "" {
		return errModel // "too many arguments", strict mode
	}
	return nil
}

// strtok(cur_str, " \t"), which never moves pos.
func (m *libuciModel) strtok() (string, bool) {
	s := m.pos
	for m.char(s) == ' ' || m.char(s) == '\t' {
		s++
	}
	if m.char(s) == 0 {
		return "", false
	}
	start := s
	for c := m.char(s); c != 0 && c != ' ' && c != '\t'; c = m.char(s) {
		s++
	}
	m.set(s, 0)
	return m.cstr(start), true
}

// increasePos steps over the command word strtok terminated.
func (m *libuciModel) increasePos() error {
	add := len(m.cstr(m.pos)) + 1
	if m.pos+add > m.filled {
		return errModel
	}
	m.pos += add
	return nil
}

func (m *libuciModel) parseLine() error {
	m.skipWhitespace()
	for {
		word, ok := m.strtok()
		if !ok {
			return nil
		}
		var err error
		switch {
		case word[0] == '#':
			return nil
		case word == "p" || word == "package":
			err = m.parsePackage()
		case word == "c" || word == "config":
			err = m.parseConfig()
		case word == "o" || word == "option":
			err = m.parseOption(false)
		case word == "l" || word == "list":
			err = m.parseOption(true)
		default:
			err = errModel // invalid command
		}
		if err != nil {
			return err
		}
	}
}

func (m *libuciModel) parsePackage() error {
	if err := m.increasePos(); err != nil {
		return err
	}
	n, err := m.nextArg(true, true, true)
	if err != nil {
		return err
	}
	if err := m.assertEOL(); err != nil {
		return err
	}
	// uci load imports in single mode: the statement is checked, then
	// ignored. The model records the first one, as Parse does.
	if m.f.Package == "" {
		m.f.Package = m.cstr(n)
	}
	return nil
}

func (m *libuciModel) parseConfig() error {
	if err := m.increasePos(); err != nil {
		return err
	}
	t, err := m.nextArg(true, false, false)
	if err != nil {
		return err
	}
	if !ValidType(m.cstr(t)) {
		return errModel
	}
	n, err := m.nextArg(false, true, false)
	if err != nil {
		return err
	}
	if err := m.assertEOL(); err != nil {
		return err
	}
	typ, name := m.cstr(t), m.cstr(n)
	if name != "" {
		for i, id := range m.names { // uci_lookup_list: first match
			if id == name {
				s := m.f.Sections[i]
				if s.Type != typ {
					return errModel // strict: different type
				}
				m.cur = s
				return nil
			}
		}
	}
	// uci_alloc_section counts every section; an anonymous one is named
	// right away (uci_fixup_section), before it has options.
	m.nsec++
	s := &Section{Type: typ, Name: name, Anonymous: name == ""}
	if s.Anonymous {
		name = anonID(m.nsec, typ)
	}
	m.f.Sections = append(m.f.Sections, s)
	m.names = append(m.names, name)
	m.cur = s
	return nil
}

func (m *libuciModel) parseOption(list bool) error {
	if m.cur == nil {
		return errModel
	}
	if err := m.increasePos(); err != nil {
		return err
	}
	n, err := m.nextArg(true, true, false)
	if err != nil {
		return err
	}
	v, err := m.nextArg(false, false, false)
	if err != nil {
		return err
	}
	if err := m.assertEOL(); err != nil {
		return err
	}
	name, value := m.cstr(n), m.cstr(v)
	o := m.cur.Option(name)
	switch {
	case list && o == nil: // uci_add_list: new list
		m.cur.Options = append(m.cur.Options, Option{Name: name, Values: []string{value}, IsList: true})
	case list: // a string becomes a list in its place; a list grows
		o.IsList = true
		o.Values = append(o.Values, value)
	case value == "": // uci_set: nothing to delete on a parse
	case o == nil:
		m.cur.Options = append(m.cur.Options, Option{Name: name, Values: []string{value}})
	default: // replaced in place (current libuci inserts after the old one)
		*o = Option{Name: name, Values: []string{value}}
	}
	return nil
}
