// Command mip4d is the Mobile IPv4 daemon: home agent, mobile node,
// foreign agent and proxy for laptops without Mobile IP, in one binary
// (DESIGN.md §2). The role comes from the configuration file.
//
// Its subcommands (run, status, bindings, check-config, schema,
// proxy-key, man, version, help) are one table, commands.go; `mip4d help
// CMD`, `mip4d CMD --help`, the manual page docs/mip4d.8 and the UCI
// reference docs/uci-reference.md are made from it and from the
// configuration schema:
//
//go:generate go run . man --output ../../../docs/mip4d.8
//go:generate go run . schema --markdown --output ../../../docs/uci-reference.md
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mip4d/mip4d/agent/config"
)

// version is set at link time: -ldflags '-X main.version=...'.
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run parses the global flags, the command and its flags, and runs it;
// the result is the exit status (2 for a usage error).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o := &options{config: config.DefaultPath}

	// Global flags before the command (mip4d -c CONF status), and the
	// spellings of help, version and man that come without a command.
	gfs := newFlagSet("mip4d", globalFlags, o)
	help := gfs.Bool("help", false, "")
	gfs.BoolVar(help, "h", false, "")
	ver := gfs.Bool("version", false, "")
	gfs.BoolVar(ver, "v", false, "")
	man := gfs.Bool("man", false, "")
	if err := gfs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "mip4d: %v\n\n%s", err, overview())
		return 2
	}
	args = gfs.Args()
	switch {
	case *help:
		args = append([]string{"help"}, args...)
	case *ver:
		args = []string{"version"}
	case *man:
		args = append([]string{"man"}, args...)
	case len(args) == 0:
		fmt.Fprint(stderr, overview())
		return 2
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "mip4d: unknown command %q\n\n%s", args[0], overview())
		return 2
	}
	fs := newFlagSet("mip4d "+c.Name, c.Flags, o)
	chelp := fs.Bool("help", false, "")
	fs.BoolVar(chelp, "h", false, "")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(stderr, c, err.Error())
	}
	if *chelp {
		fmt.Fprint(stdout, commandHelp(c))
		return 0
	}
	ops := fs.Args()
	switch {
	case len(ops) < c.MinArgs:
		return usageError(stderr, c, "missing operand")
	case c.MaxArgs >= 0 && len(ops) > c.MaxArgs:
		if strings.HasPrefix(ops[c.MaxArgs], "-") {
			return usageError(stderr, c, fmt.Sprintf("flag %s after the operands", ops[c.MaxArgs]))
		}
		return usageError(stderr, c, fmt.Sprintf("unexpected operand %q", ops[c.MaxArgs]))
	}
	return c.Run(&env{cmd: c, o: o, args: ops, stdin: stdin, stdout: stdout, stderr: stderr})
}

// newFlagSet is a flag set with defs bound to o (and their short forms),
// which reports errors to its caller instead of printing Go's usage.
func newFlagSet(name string, defs []flagDef, o *options) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, d := range defs {
		d.bind(fs, d.Name, o)
		if d.Short != "" {
			d.bind(fs, d.Short, o)
		}
	}
	return fs
}

// usageError reports a command line mistake: what is wrong, the command's
// synopsis, and where its help is; exit status 2.
func usageError(w io.Writer, c *command, msg string) int {
	fmt.Fprintf(w, "mip4d %s: %s\nusage: %s\nRun 'mip4d help %s' for its flags and examples.\n", c.Name, msg, synopsis(c), c.Name)
	return 2
}
