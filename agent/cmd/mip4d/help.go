package main

import (
	"fmt"
	"strings"

	"github.com/mip4d/mip4d/agent/config"
	"github.com/mip4d/mip4d/agent/control"
)

const (
	tagline = "Mobile IPv4 (RFC 5944) home agent, mobile node, foreign agent and proxy (RFC 5563) in one daemon, for OpenWrt"
	width   = 79 // of text help
)

var about = []string{
	"mip4d keeps a laptop's or router's address, and the sessions and VPN over it, while it moves between networks: " +
		"the home agent (role ha) tunnels the traffic for a mobile node's home address to wherever the node is; " +
		"a mobile node (role mn) registers every new care-of address with it; a foreign agent (role fa) on a hotspot router serves mobile nodes on its link; " +
		"a proxy (role proxy, RFC 5563) on a hotspot router registers for laptops that have nothing but a DHCP client.",
	"The role and everything else come from one UCI configuration file, /etc/config/mip4d, described in CONFIGURATION below and in docs/uci-reference.md. " +
		"Tunnels are IP in IP, GRE or RFC 3519 UDP through NATs; option dataplane chooses whether tc BPF programs in the kernel or the daemon carry their packets.",
}

// flagColumn is a flag's left column in text help: "-c, --config PATH".
func flagColumn(d flagDef) string {
	s := "    --" + d.Name
	if d.Short != "" {
		s = "-" + d.Short + ", --" + d.Name
	}
	if d.Arg != "" {
		s += " " + d.Arg
	}
	return s
}

// synopsis is a command's usage line.
func synopsis(c *command) string {
	parts := []string{"mip4d", c.Name}
	for _, d := range c.Flags {
		f := "--" + d.Name
		if d.Arg != "" {
			f += " " + d.Arg
		}
		parts = append(parts, "["+f+"]")
	}
	if c.Operands != "" {
		parts = append(parts, c.Operands)
	}
	return strings.Join(parts, " ")
}

// wrap fills text to width, the first line after first, the others
// indented by indent.
func wrap(text string, first, indent int) string {
	var b strings.Builder
	col := first
	for i, w := range strings.Fields(text) {
		if i > 0 && col+1+len(w) > width {
			b.WriteString("\n" + strings.Repeat(" ", indent))
			col = indent
		} else if i > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

// paragraphs splits a description into its paragraphs.
func paragraphs(s string) []string {
	var ps []string
	for _, p := range strings.Split(s, "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			ps = append(ps, p)
		}
	}
	return ps
}

// twoColumns renders rows as an indented left column and wrapped right.
func twoColumns(b *strings.Builder, rows [][2]string) {
	w := 0
	for _, r := range rows {
		w = max(w, len(r[0]))
	}
	w = min(w, 24)
	for _, r := range rows {
		if len(r[0]) > w {
			fmt.Fprintf(b, "  %s\n%s%s\n", r[0], strings.Repeat(" ", w+4), wrap(r[1], w+4, w+4))
			continue
		}
		fmt.Fprintf(b, "  %-*s  %s\n", w, r[0], wrap(r[1], w+4, w+4))
	}
}

// overview is `mip4d help`.
func overview() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mip4d: %s.\n\n", wrap(tagline, 7, 0))
	b.WriteString("usage: mip4d [--config PATH] [--socket PATH] COMMAND [flags] [operands]\n\ncommands:\n")
	var rows [][2]string
	for _, c := range commands {
		rows = append(rows, [2]string{c.Name, c.Summary})
	}
	twoColumns(&b, rows)
	b.WriteString("\nglobal flags (before the command):\n")
	rows = rows[:0]
	for _, d := range globalFlags {
		rows = append(rows, [2]string{flagColumn(d), d.Usage})
	}
	rows = append(rows, [2]string{"-h, --help", "this overview"}, [2]string{"-v, --version", "the version"},
		[2]string{"    --man", "the manual page (mip4d man)"})
	twoColumns(&b, rows)
	b.WriteString("\n" + wrap("Run 'mip4d help COMMAND' or 'mip4d COMMAND --help' for a command's flags, examples and exit status; "+
		"'mip4d man' for the manual page, with every configuration option.", 0, 0) + "\n")
	b.WriteString("Exit status: 0 success, 1 failure, 2 usage error.\n")
	return b.String()
}

// commandHelp is `mip4d help CMD` and `mip4d CMD --help`.
func commandHelp(c *command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s\n\n", wrap(synopsis(c), 7, 7))
	fmt.Fprintf(&b, "%s.\n", wrap(capitalize(c.Summary), 0, 0))
	for _, p := range paragraphs(c.Description) {
		fmt.Fprintf(&b, "\n%s\n", wrap(p, 0, 0))
	}
	b.WriteString("\nflags:\n")
	var rows [][2]string
	for _, d := range c.Flags {
		rows = append(rows, [2]string{flagColumn(d), d.Usage})
	}
	rows = append(rows, [2]string{"-h, --help", "this help"})
	twoColumns(&b, rows)
	if len(c.Examples) > 0 {
		b.WriteString("\nexamples:\n")
		for _, ex := range c.Examples {
			fmt.Fprintf(&b, "  %s\n      %s\n", ex.Cmd, wrap(ex.What, 6, 6))
		}
	}
	b.WriteString("\nexit status:\n")
	rows = rows[:0]
	for _, x := range c.Exits {
		rows = append(rows, [2]string{fmt.Sprint(x.Code), x.Meaning})
	}
	twoColumns(&b, rows)
	return b.String()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// The manual page (roff, man macros): made from the same table, so it says
// what help says.

// roffText escapes prose for roff: backslashes, a leading dot or quote
// that would make a line a request, and characters beyond ASCII (§, —),
// which roff takes as \[uXXXX].
func roffText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r > 127:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	s = b.String()
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// roffCode escapes a command, a flag or a file name: hyphens are minus
// signs there, so they can be copied and searched for.
func roffCode(s string) string {
	return strings.ReplaceAll(roffText(s), "-", `\-`)
}

// roffSynopsis sets a synopsis with the command and flags in bold and the
// placeholders in italics.
func roffSynopsis(c *command) string {
	var b strings.Builder
	b.WriteString(`\fBmip4d ` + roffCode(c.Name) + `\fR`)
	for _, d := range c.Flags {
		b.WriteString(` [\fB\-\-` + roffCode(d.Name) + `\fR`)
		if d.Arg != "" {
			b.WriteString(` \fI` + roffCode(d.Arg) + `\fR`)
		}
		b.WriteString("]")
	}
	if c.Operands != "" {
		b.WriteString(` \fI` + roffCode(c.Operands) + `\fR`)
	}
	return b.String()
}

func roffFlag(d flagDef) string {
	s := `\fB\-\-` + roffCode(d.Name) + `\fR`
	if d.Short != "" {
		s = `\fB\-` + roffCode(d.Short) + `\fR, ` + s
	}
	if d.Arg != "" {
		s += ` \fI` + roffCode(d.Arg) + `\fR`
	}
	return s
}

// manPage is docs/mip4d.8: `mip4d man`.
func manPage() []byte {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line(`.\" Generated by mip4d man from agent/cmd/mip4d/commands.go and agent/config/schema.go;`)
	line(`.\" do not edit: run go generate ./agent/cmd/mip4d`)
	line(`.TH MIP4D 8 "" "mip4d" "System Administration"`)
	line(".SH NAME")
	line(`mip4d \- %s`, roffText(tagline))
	line(".SH SYNOPSIS")
	line(`\fBmip4d\fR [\fB\-\-config\fR \fIPATH\fR] [\fB\-\-socket\fR \fIPATH\fR] \fICOMMAND\fR [\fIflags\fR] [\fIoperands\fR]`)
	for _, c := range commands {
		line(".br")
		line("%s", roffSynopsis(c))
	}
	line(".SH DESCRIPTION")
	for i, p := range about {
		if i > 0 {
			line(".PP")
		}
		line("%s", roffText(p))
	}
	line(".PP")
	line("Global flags may come before the command; a command that takes them takes them after its name too:")
	for _, d := range globalFlags {
		line(".TP")
		line("%s", roffFlag(d))
		line("%s", roffText(d.Usage))
	}
	line(".SH COMMANDS")
	for _, c := range commands {
		line(`.SS "%s"`, roffCode(c.Name))
		line("%s", roffSynopsis(c))
		line(".PP")
		line("%s.", roffText(capitalize(c.Summary)))
		for _, p := range paragraphs(c.Description) {
			line(".PP")
			line("%s", roffText(p))
		}
		for _, d := range append(c.Flags, flagDef{Name: "help", Short: "h", Usage: "this command's usage, flags, examples and exit status"}) {
			line(".TP")
			line("%s", roffFlag(d))
			line("%s", roffText(d.Usage))
		}
		if len(c.Examples) > 0 {
			line(".PP")
			line("Examples:")
			for _, ex := range c.Examples {
				line(".RS 4")
				line(".nf")
				line(`\fB%s\fR`, roffCode(ex.Cmd))
				line(".fi")
				line(".RE")
				line(".RS 8")
				line("%s", roffText(ex.What))
				line(".RE")
			}
		}
		line(".PP")
		line("Exit status:")
		for _, x := range c.Exits {
			line(".TP 4")
			line(`\fB%d\fR`, x.Code)
			line("%s", roffText(x.Meaning))
		}
	}
	line(".SH EXIT STATUS")
	line(".TP 4")
	line(`\fB0\fR`)
	line("success")
	line(".TP 4")
	line(`\fB1\fR`)
	line("failure; the message on standard error says what failed")
	line(".TP 4")
	line(`\fB2\fR`)
	line("%s", roffText(usageExit))
	line(".SH SIGNALS")
	line("The running daemon (\\fBmip4d run\\fR):")
	for _, s := range signals {
		line(".TP")
		line(`\fB%s\fR`, roffCode(s.Name))
		line("%s", roffText(s.What))
	}
	line(".SH FILES")
	for _, f := range files() {
		line(".TP")
		line(`\fI%s\fR`, roffCode(f[0]))
		line("%s", roffText(f[1]))
	}
	line(".SH CONFIGURATION")
	manUCI(&b)
	line(".SH SEE ALSO")
	line(`\fBuci\fR(1), \fBlogread\fR(8); docs/uci-reference.md (the options as a table), README.md and DESIGN.md in the source;`)
	line("RFC 5944 (Mobile IPv4), RFC 3519 (NAT traversal), RFC 3024 (reverse tunnelling), RFC 3543 (revocation), RFC 5265 (with a VPN), RFC 5563 (proxy Mobile IP).")
	return []byte(b.String())
}

// files are the paths the manual page's FILES section names, with the
// defaults the schema gives them.
func files() [][2]string {
	def := func(sec, opt string) string {
		for _, s := range config.Schema {
			if s.Type == sec {
				for _, o := range s.Options {
					if o.Name == opt {
						return o.Default
					}
				}
			}
		}
		return ""
	}
	return [][2]string{
		{config.DefaultPath, "the configuration (UCI); mode 0600 when it holds keys"},
		{control.DefaultSocket, "the control socket (option control_socket), root only: mip4d status, mip4d bindings and LuCI's rpcd plugin ask the daemon here"},
		{def("mip4d", "state_dir"), "state that survives a reboot (option state_dir): a home agent's bindings, written when they change"},
		{def("mip4d", "run_dir"), "state that survives a restart of the daemon but not a reboot (option run_dir, tmpfs): a proxy's clients"},
	}
}
