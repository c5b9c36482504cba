package uci

import (
	"fmt"
	"strconv"
)

// Error is a problem found in a UCI file: a syntax error from Parse, an
// invalid File from Validate, or a higher layer's complaint about a value
// (see File.Errorf). It prints as "file:line: message", the form compilers
// use, e.g. `mip4d.conf:12: option "lifetime": missing value`.
type Error struct {
	File string // name given to Parse (File.Filename); may be empty
	Line int    // 1-based line; 0 when unknown (e.g. a File built in code)
	Col  int    // 1-based byte column on Line; 0 when unknown
	Msg  string

	// stricter marks a rejection of input libuci may accept (see the
	// package documentation); the differential tests need to know.
	stricter bool
}

func (e *Error) Error() string {
	prefix := e.File
	switch {
	case prefix != "" && e.Line > 0:
		prefix += ":" + strconv.Itoa(e.Line)
	case e.Line > 0:
		prefix = "line " + strconv.Itoa(e.Line)
	case prefix == "":
		prefix = "uci"
	}
	return prefix + ": " + e.Msg
}

// Errorf returns an *Error at line of f, for a layer above that finds a bad
// value in an option it parsed: f.Errorf(o.Line, "option %q: bad value %q",
// o.Name, v) prints as "mip4d.conf:12: option "lifetime": bad value "x"".
func (f *File) Errorf(line int, format string, args ...any) error {
	return &Error{File: f.Filename, Line: line, Msg: fmt.Sprintf(format, args...)}
}
