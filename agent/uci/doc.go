// Package uci reads and writes OpenWrt UCI configuration files such as
// /etc/config/mip4d, in pure Go with no dependency on libuci.
//
// The grammar is the one libuci's file parser accepts (uci_parse_line,
// next_arg and parse_str in file.c; name checks in util.c; section naming
// in list.c), as used by uci(1) — `uci show`, `uci export`, `uci commit` —
// and by everything built on it (LuCI, procd init scripts, ucode). It was
// written from reading that code and its tests, not by translating it.
// In short:
//
//	package 'name'               optional; recorded, ignored by uci load
//	config <type> ['<name>']     starts a section; no name: anonymous
//	option <name> <value>        sets an option (a later one replaces it)
//	list <name> <value>          appends to a list option
//
// The keywords may be abbreviated to their first letter (p, c, o, l), as
// libuci allows. Words are separated by blanks. One argument may be made of
// several adjacent pieces: bare text, single-quoted text (no escapes) and
// double-quoted text, in which a backslash takes the next character
// literally (there are no C escapes: \n is the letter n). These are all
// the value it's:
//
//	option v it\'s
//	option v 'it'\''s'
//	option v "it's"
//	option v i't'"'"s
//
// Outside single quotes, a backslash at the end of a line joins the next
// line to this one and both characters disappear; inside single quotes a
// backslash is an ordinary character. A backslash-newline standing alone
// after a blank must be followed by a line that does not start with a blank,
// or libuci reads an empty argument there. A quoted string may span lines
// and then holds the newlines. An unquoted '#' ends the line as a comment,
// even in the middle of a word; an unquoted ';' separates statements.
//
// Names follow libuci's checks: option and section names are
// [A-Za-z0-9_]+, section types any printable ASCII without blanks
// ("wifi-iface"), package names [A-Za-z0-9_-]+. Values are any bytes but
// NUL.
//
// Where libuci would read a file differently from what it looks like, this
// package returns an error rather than guess, so mip4d and uci(1) never
// disagree silently about a file both accept:
//
//   - An option or list line with no value at all ("option lifetime") is an
//     error; libuci silently ignores it (or adds an empty list item).
//   - An unquoted word directly followed by ';' ("option a b;option c d")
//     makes libuci drop the rest of the line; that is an error here unless
//     only blanks or a comment follow. A ';' with only blanks after it
//     ("option a 'b';") is rejected by libuci and here.
//   - Extra arguments, invalid names, options before the first section,
//     unterminated quotes and NUL bytes are errors, as in libuci's strict
//     mode (the default), except that libuci lets one extra argument pass
//     if it is an empty quoted string; Parse does not.
//   - Two package lines naming different packages are an error; libuci's
//     load ignores package lines and uci import would split the file.
//
// Where libuci merges, so does Parse: a second "config t 'n'" with the same
// name continues section n (an error if the type differs), a repeated
// option replaces the value in place, a list after an option turns it into
// a list with the old value first, and an option whose value is an empty
// quoted string is ignored, because uci cannot hold an empty option.
//
// Anonymous sections have no Name. File.SectionID gives the name libuci
// generates for them ("cfg" + two hex digits of the 1-based position in the
// file + four hex digits of a hash of the type, e.g. cfg01411c for the
// first section of dhcp, a dnsmasq), which is what `uci show -X` prints;
// File.SectionRef gives the @type[N] form `uci show` prints. File.Section
// accepts either, and @type[-1] for the last.
//
// Write produces the canonical text uci commit writes: an optional package
// line, a blank line before each "config type 'name'" line, tab-indented
// "option name 'value'" and one "list name 'value'" line per item, every
// value single-quoted (a quote inside is written as the four characters
// quote, backslash, quote, quote), and a final blank line.
// Comments and layout are not kept, as with uci commit. For any valid File
// f, Parse(Write(f)) equals f. WriteFile replaces a file atomically with a
// given permission (0600 for files holding keys).
package uci
