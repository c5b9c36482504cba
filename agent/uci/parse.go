package uci

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// ReadFile reads and parses the UCI file at path; errors name the file by
// path.
func ReadFile(path string) (*File, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src)
}

// Parse parses src, a UCI file, with the grammar libuci's file.c accepts
// (see the package documentation for the rules and for where Parse is
// stricter). filename only labels errors and File.Filename. Errors are
// *Error values with the line and column of the fault.
func Parse(filename string, src []byte) (*File, error) {
	p := &parser{src: src, line: 1, f: &File{Filename: filename}}
	if i := bytes.IndexByte(src, 0); i >= 0 {
		p.advance(i)
		return nil, p.errAt(p.here(), "NUL byte in input")
	}
	for !p.eof() {
		if err := p.logicalLine(); err != nil {
			return nil, err
		}
	}
	return p.f, nil
}

// parser walks the input the way libuci does, but over the whole file at
// once: libuci reads a line, and reads more into the same buffer when a
// quoted string or a backslash continues it. The statement structure is
// the same; positions are kept for errors.
type parser struct {
	src       []byte
	pos       int
	line      int // line of src[pos], 1-based
	lineStart int // offset of the first byte of that line

	f   *File
	cur *Section            // section options go to; nil before the first config
	ids map[string]*Section // what named config lines can reopen: names and generated names

	buf       []byte // the token being unquoted
	afterSemi bool   // the statement being started follows a ';'
	pkgLine   int
}

type posn struct{ line, col int }

func (p *parser) here() posn { return posn{p.line, p.pos - p.lineStart + 1} }

func (p *parser) errAt(at posn, format string, args ...any) error {
	return &Error{File: p.f.Filename, Line: at.line, Col: at.col, Msg: fmt.Sprintf(format, args...)}
}

// stricterAt is errAt for input libuci would accept (and read in a way the
// file does not show).
func (p *parser) stricterAt(at posn, format string, args ...any) error {
	err := p.errAt(at, format, args...).(*Error)
	err.stricter = true
	return err
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

// peek returns the byte at pos, 0 at the end (NUL bytes are rejected up
// front, so 0 means the end).
func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

// newline steps over the '\n' at pos.
func (p *parser) newline() {
	p.pos++
	p.line++
	p.lineStart = p.pos
}

// advance moves pos to i, counting the newlines stepped over.
func (p *parser) advance(i int) {
	seg := p.src[p.pos:i]
	if n := bytes.Count(seg, []byte{'\n'}); n > 0 {
		p.line += n
		p.lineStart = p.pos + bytes.LastIndexByte(seg, '\n') + 1
	}
	p.pos = i
}

// endOfLine is the offset of the '\n' ending the current line, or len(src).
func (p *parser) endOfLine() int {
	if i := bytes.IndexByte(p.src[p.pos:], '\n'); i >= 0 {
		return p.pos + i
	}
	return len(p.src)
}

// isBlank is C's isspace without '\n', which ends a line.
func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

func (p *parser) skipBlanks() {
	for p.pos < len(p.src) && isBlank(p.src[p.pos]) {
		p.pos++
	}
}

// logicalLine parses one line and whatever quoted strings and
// continuations join to it: statements separated by ';'.
func (p *parser) logicalLine() error {
	p.skipBlanks()
	switch {
	case p.eof():
		return nil
	case p.peek() == '\n':
		p.newline()
		return nil
	}
	p.afterSemi = false
	for {
		more, err := p.statement()
		if err != nil || !more {
			return err
		}
		// libuci finds the next command word with strtok(" \t"), so
		// only spaces and tabs are skipped here.
		for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
			p.pos++
		}
	}
}

type keyword int

const (
	kwNone keyword = iota
	kwPackage
	kwConfig
	kwOption
	kwList
)

func lookupKeyword(w []byte) keyword {
	switch string(w) {
	case "package", "p":
		return kwPackage
	case "config", "c":
		return kwConfig
	case "option", "o":
		return kwOption
	case "list", "l":
		return kwList
	}
	return kwNone
}

// statement parses one command starting at pos. more reports that another
// statement follows on the same logical line; otherwise the line, with its
// '\n', has been consumed.
func (p *parser) statement() (more bool, err error) {
	at := p.here()
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == ' ' || c == '\t' || c == '\n' {
			break
		}
		p.pos++
	}
	word := p.src[start:p.pos]
	if len(word) == 0 {
		if p.eof() {
			return false, nil
		}
		// Only reachable after a ';' or a stray continuation: libuci
		// reads the '\n' as a command word and fails.
		if p.afterSemi {
			return false, p.errAt(at, "nothing after ';' at the end of the line: uci rejects an empty statement; drop the ';'")
		}
		return false, p.errAt(at, "blank line after a line continuation between arguments: uci rejects it")
	}
	if word[0] == '#' {
		p.pos = p.endOfLine()
		return p.finishLine(), nil
	}
	kw := lookupKeyword(word)
	if kw == kwNone {
		return false, p.errAt(at, "invalid command %q: want package, config, option or list", word)
	}
	if c := p.peek(); c == ' ' || c == '\t' {
		p.pos++ // libuci steps over exactly the delimiter strtok replaced
	}
	switch kw {
	case kwPackage:
		return p.packageStmt(at)
	case kwConfig:
		return p.configStmt(at)
	default:
		return p.optionStmt(at, kw == kwList)
	}
}

// finishLine consumes the '\n' at pos, if any, and reports no more
// statements on this line.
func (p *parser) finishLine() bool {
	if !p.eof() {
		p.newline()
	}
	return false
}

// tokEnd says what stopped a token.
type tokEnd uint8

const (
	endBlank   tokEnd = iota // a blank at pos, not consumed
	endNewline               // '\n' at pos
	endEOF
	endSemi    // a ';' at pos that libuci keeps as a separator
	endComment // the rest of the line is a comment; pos is at its '\n' or the end
	endAbsent  // no token: end of line, or a ';' standing for an empty argument
)

type token struct {
	val     string
	present bool // any character or quote was seen: '' is present, nothing is not
	semi    bool // absent because a ';' stood where it would start
	at      posn
	end     tokEnd
}

// arg reads the next argument of a statement (libuci's next_arg).
func (p *parser) arg() (token, error) {
	p.skipBlanks()
	t := token{at: p.here(), end: endAbsent}
	switch p.peek() {
	case 0, '\n':
		return t, nil
	case ';':
		// libuci takes a ';' where an argument starts as an empty
		// argument and goes on reading the same statement.
		p.pos++
		t.semi = true
		return t, nil
	}
	return p.token()
}

// token reads one word made of bare, 'single' and "double" quoted pieces
// (libuci's parse_str). pos is at a byte that is not blank, '\n' or ';'.
func (p *parser) token() (token, error) {
	t := token{at: p.here()}
	p.buf = p.buf[:0]
	// compacted: a quote or backslash was consumed, so libuci's output
	// pointer lags its input pointer; see the ';' case.
	compacted := false
	for {
		switch c := p.src[p.pos]; c {
		case '\'':
			compacted, t.present = true, true
			if err := p.singleQuoted(); err != nil {
				return t, err
			}
		case '"':
			compacted, t.present = true, true
			if err := p.doubleQuoted(); err != nil {
				return t, err
			}
		case '#':
			p.pos = p.endOfLine()
			t.end = endComment
			t.val = string(p.buf)
			return t, nil
		case ';':
			if compacted {
				t.end = endSemi
				t.val = string(p.buf)
				return t, nil
			}
			// libuci terminates the word by writing NUL where its
			// output pointer is, which here is the ';' itself: the
			// separator is lost and with it the rest of the line.
			semi := p.here()
			p.pos++
			eol := p.endOfLine()
			if rest := bytes.TrimLeft(p.src[p.pos:eol], " \t\r\v\f"); len(rest) > 0 && rest[0] != '#' {
				return t, p.stricterAt(semi, "unquoted %q directly before ';': uci ignores the rest of the line (%q); put a space before the ';'", p.buf, rest)
			}
			p.pos = eol
			t.end = endComment
			t.val = string(p.buf)
			return t, nil
		case '\\':
			compacted = true
			p.pos++
			if !p.continuation() {
				p.buf = append(p.buf, p.src[p.pos])
				p.pos++
				t.present = true
			}
		default:
			p.buf = append(p.buf, c)
			p.pos++
			t.present = true
		}
		if p.eof() {
			t.end = endEOF
			break
		}
		if c := p.src[p.pos]; c == '\n' {
			t.end = endNewline
			break
		} else if isBlank(c) {
			t.end = endBlank
			break
		}
	}
	t.val = string(p.buf)
	return t, nil
}

// continuation handles what follows a backslash (pos is just past it)
// outside single quotes: a line end ("\n" or "\r\n"), which joins the next
// line, or the end of input. It reports whether it consumed one.
func (p *parser) continuation() bool {
	switch {
	case p.eof():
		return true
	case p.src[p.pos] == '\n':
		p.newline()
		return true
	case p.src[p.pos] == '\r' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '\n':
		p.pos++
		p.newline()
		return true
	}
	return false
}

// singleQuoted reads '...' at pos: no escapes; newlines are kept.
func (p *parser) singleQuoted() error {
	open := p.here()
	p.pos++
	i := bytes.IndexByte(p.src[p.pos:], '\'')
	if i < 0 {
		return p.errAt(open, "unterminated single-quoted string")
	}
	p.buf = append(p.buf, p.src[p.pos:p.pos+i]...)
	p.advance(p.pos + i + 1)
	return nil
}

// doubleQuoted reads "..." at pos: a backslash takes the next byte as it is,
// or joins the next line; raw newlines are kept.
func (p *parser) doubleQuoted() error {
	open := p.here()
	p.pos++
	for {
		if p.eof() {
			return p.errAt(open, "unterminated double-quoted string")
		}
		switch c := p.src[p.pos]; c {
		case '"':
			p.pos++
			return nil
		case '\\':
			p.pos++
			if !p.continuation() {
				p.buf = append(p.buf, p.src[p.pos])
				p.pos++
			}
		case '\n':
			p.buf = append(p.buf, c)
			p.newline()
		default:
			p.buf = append(p.buf, c)
			p.pos++
		}
	}
}

// stmt names a statement in error messages: `option "lifetime"`,
// `config interface "lan"`. It is formatted only when there is an error.
type stmt struct {
	kw, typ, name string
}

func (s stmt) String() string {
	out := s.kw
	if s.typ != "" {
		out += " " + s.typ
	}
	if s.name != "" {
		out += " " + strconv.Quote(s.name)
	}
	return out
}

// eol ends a statement (libuci's assert_eol): what is left must be nothing,
// a comment, or a ';' and the next statement. hint is added to the error
// for an extra argument.
func (p *parser) eol(what stmt, hint string) (more bool, err error) {
	p.skipBlanks()
	switch p.peek() {
	case 0:
		return false, nil
	case '\n':
		p.newline()
		return false, nil
	case ';':
		p.pos++
		p.afterSemi = true
		return true, nil
	}
	t, err := p.token()
	if err != nil {
		return false, err
	}
	if t.present {
		if t.val == "" { // libuci ignores an empty extra argument
			return false, p.stricterAt(t.at, "%s: unexpected extra argument %q%s", what, t.val, hint)
		}
		return false, p.errAt(t.at, "%s: unexpected extra argument %q%s", what, t.val, hint)
	}
	// Only a continuation was read: libuci sees an empty argument and
	// goes on with what follows as the next statement.
	p.afterSemi = false
	switch t.end {
	case endBlank:
		p.pos++
		return true, nil
	case endSemi:
		return true, nil // the ';' then reads as a command and fails
	default:
		return p.finishLine(), nil
	}
}

func (p *parser) packageStmt(at posn) (bool, error) {
	t, err := p.arg()
	if err != nil {
		return false, err
	}
	if t.val == "" {
		return false, p.errAt(t.at, "package: missing name")
	}
	if !ValidPackage(t.val) {
		return false, p.errAt(t.at, "package %q: invalid name: only A-Z, a-z, 0-9, _ and - are allowed", t.val)
	}
	what := stmt{kw: "package", name: t.val}
	more, err := p.eol(what, "")
	if err != nil {
		return false, err
	}
	switch p.f.Package {
	case "":
		p.f.Package, p.pkgLine = t.val, at.line
	case t.val:
	default:
		return false, p.stricterAt(at, "%s: the file already declared package %q at line %d", what, p.f.Package, p.pkgLine)
	}
	return more, nil
}

func (p *parser) configStmt(at posn) (bool, error) {
	typ, err := p.arg()
	if err != nil {
		return false, err
	}
	if typ.val == "" {
		return false, p.errAt(typ.at, "config: missing section type")
	}
	if !ValidType(typ.val) {
		return false, p.errAt(typ.at, "config %q: invalid section type: want printable ASCII without spaces", typ.val)
	}
	name, err := p.arg()
	if err != nil {
		return false, err
	}
	what := stmt{kw: "config", typ: typ.val, name: name.val}
	if name.val != "" {
		if !ValidName(name.val) {
			return false, p.errAt(name.at, "%s: invalid section name: only A-Z, a-z, 0-9 and _ are allowed", what)
		}
	}
	var hint string
	if name.semi {
		hint = " (uci takes a ';' right after the type as an empty section name, not as a separator: end the line instead)"
	}
	more, err := p.eol(what, hint)
	if err != nil {
		return false, err
	}
	if name.val != "" {
		if s := p.ids[name.val]; s != nil {
			// libuci reopens a section of the same name (which may be
			// an anonymous one's generated name) and adds to it.
			if s.Type != typ.val {
				return false, p.errAt(at, "%s: section already defined at line %d with type %q", what, s.Line, s.Type)
			}
			p.cur = s
			return more, nil
		}
	}
	s := &Section{Type: typ.val, Name: name.val, Anonymous: name.val == "", Line: at.line}
	p.f.Sections = append(p.f.Sections, s)
	if p.ids == nil {
		p.ids = make(map[string]*Section)
	}
	id := p.f.idAt(len(p.f.Sections) - 1)
	if p.ids[id] == nil {
		p.ids[id] = s
	}
	p.cur = s
	return more, nil
}

func (p *parser) optionStmt(at posn, list bool) (bool, error) {
	kw := "option"
	if list {
		kw = "list"
	}
	if p.cur == nil {
		return false, p.errAt(at, "%s before the first config line", kw)
	}
	name, err := p.arg()
	if err != nil {
		return false, err
	}
	if name.val == "" {
		return false, p.errAt(name.at, "%s: missing name", kw)
	}
	what := stmt{kw: kw, name: name.val}
	if !ValidName(name.val) {
		return false, p.errAt(name.at, "%s: invalid name: only A-Z, a-z, 0-9 and _ are allowed", what)
	}
	val, err := p.arg()
	if err != nil {
		return false, err
	}
	if !val.present {
		return false, p.stricterAt(val.at, "%s: missing value", what)
	}
	more, err := p.eol(what, "")
	if err != nil {
		return false, err
	}
	s, o := p.cur, p.cur.Option(name.val)
	switch {
	case list && o == nil:
		s.Options = append(s.Options, Option{Name: name.val, Values: []string{val.val}, IsList: true, Line: at.line})
	case list:
		o.IsList = true
		o.Values = append(o.Values, val.val)
	case val.val == "":
		// uci_set with an empty value on a parse is a no-op: the
		// option is neither created nor cleared.
	case o == nil:
		s.Options = append(s.Options, Option{Name: name.val, Values: []string{val.val}, Line: at.line})
	default:
		*o = Option{Name: name.val, Values: []string{val.val}, Line: at.line}
	}
	return more, nil
}
