package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mip4d/mip4d/agent/config"
	"github.com/mip4d/mip4d/agent/control"
	"github.com/mip4d/mip4d/agent/daemon"
	"github.com/mip4d/mip4d/agent/hasync"
	"github.com/mip4d/mip4d/agent/proxy"
)

// command is one subcommand: what `mip4d help CMD`, `mip4d CMD --help`
// and the manual page say of it, the flags it takes and what it does.
// Adding a subcommand is adding one entry to commands.
type command struct {
	Name string
	// Operands is the synopsis after the flags ("" for none); MinArgs and
	// MaxArgs bound their count (MaxArgs -1: any number).
	Operands         string
	MinArgs, MaxArgs int
	Summary          string // one line, lower case, no full stop
	// Description is paragraphs separated by blank lines; text help wraps
	// them, the manual page fills them.
	Description string
	Flags       []flagDef
	Examples    []example
	Exits       []exitCode
	Run         func(e *env) int
}

type example struct{ Cmd, What string }

type exitCode struct {
	Code    int
	Meaning string
}

// exits is the usual exit status table: 0, 1 and 2 (usage).
func exits(ok, fail string) []exitCode {
	return []exitCode{{0, ok}, {1, fail}, {2, usageExit}}
}

const usageExit = "usage error: an unknown command or flag, a flag without its value, missing or extra operands"

// options holds every flag's value; a command binds the flags it takes.
type options struct {
	config, socket      string
	json, all, markdown bool
	nai, output         string
}

// flagDef is a flag a command takes, as help shows it and as it is parsed.
type flagDef struct {
	Name  string // long name (--name; Go's flag package takes -name too)
	Short string // one-letter alias, or ""
	Arg   string // the value's placeholder; "" for a boolean flag
	Usage string
	bind  func(fs *flag.FlagSet, name string, o *options)
}

var (
	flagConfig = flagDef{Name: "config", Short: "c", Arg: "PATH",
		Usage: "configuration file (default " + config.DefaultPath + ")",
		bind:  func(fs *flag.FlagSet, n string, o *options) { fs.StringVar(&o.config, n, o.config, "") }}
	flagSocket = flagDef{Name: "socket", Arg: "PATH",
		Usage: "the daemon's control socket (default: control_socket of the configuration, else " + control.DefaultSocket + ")",
		bind:  func(fs *flag.FlagSet, n string, o *options) { fs.StringVar(&o.socket, n, o.socket, "") }}
	flagJSON = flagDef{Name: "json", Usage: "machine-readable output: the daemon's answer as JSON",
		bind: func(fs *flag.FlagSet, n string, o *options) { fs.BoolVar(&o.json, n, o.json, "") }}
	flagAll = flagDef{Name: "all", Usage: "show the counters that are zero too",
		bind: func(fs *flag.FlagSet, n string, o *options) { fs.BoolVar(&o.all, n, o.all, "") }}
	flagOutput = flagDef{Name: "output", Short: "o", Arg: "FILE", Usage: "write to FILE instead of standard output",
		bind: func(fs *flag.FlagSet, n string, o *options) { fs.StringVar(&o.output, n, o.output, "") }}
)

// globalFlags may come before the command: mip4d -c CONF status.
var globalFlags = []flagDef{flagConfig, flagSocket}

// signals are what the daemon does on each signal (the manual page).
var signals = []struct{ Name, What string }{
	{"SIGHUP", "re-read the configuration and apply what can change without dropping bindings (a home agent's mobile nodes and peers); other changes are logged and wait for a restart"},
	{"SIGINT, SIGTERM", "stop: a mobile node deregisters first; a home agent saves its bindings, a proxy its clients"},
	{"SIGUSR1", "a home agent of a redundant pair becomes master (the same as mip4d ha-role master)"},
	{"SIGUSR2", "a home agent of a redundant pair becomes backup (the same as mip4d ha-role backup)"},
}

// env is what a command runs with.
type env struct {
	cmd    *command
	o      *options
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// fail reports a failure of the command (exit 1).
func (e *env) fail(err error) int {
	fmt.Fprintf(e.stderr, "mip4d %s: %v\n", e.cmd.Name, err)
	return 1
}

// write is the command's output: standard output, or the --output file.
func (e *env) write(b []byte) int {
	if e.o.output == "" {
		if _, err := e.stdout.Write(b); err != nil {
			return e.fail(err)
		}
		return 0
	}
	if err := os.WriteFile(e.o.output, b, 0o644); err != nil {
		return e.fail(err)
	}
	return 0
}

// socketPath is where the daemon's control socket is: --socket, else the
// configuration's, else the default.
func (e *env) socketPath() string {
	if e.o.socket != "" {
		return e.o.socket
	}
	if c, err := config.Load(e.o.config); err == nil {
		return c.ControlSocket
	}
	return control.DefaultSocket
}

// commands is every subcommand, in the order help lists them.
var commands []*command

func init() {
	commands = []*command{
		{Name: "run", Summary: "run the daemon (the role comes from the configuration)",
			Description: "Runs the daemon in the foreground until SIGINT or SIGTERM: home agent, mobile node, foreign agent or proxy, as option role of the globals section says. " +
				"It logs to standard error (procd passes that to the system log) at option log_level. " +
				"It refuses to start when the configuration is invalid, when option enabled is 0, or when a file that holds keys is readable by others than root (it must be mode 0600).\n\n" +
				"The control socket (option control_socket) answers mip4d status and mip4d bindings while it runs.",
			Flags: []flagDef{flagConfig, {Name: "socket", Arg: "PATH", Usage: "listen on this control socket instead of the configuration's", bind: flagSocket.bind}},
			Examples: []example{
				{"mip4d run", "the daemon with /etc/config/mip4d (what the init script runs)"},
				{"mip4d run --config ./ha.conf --socket /tmp/ha.sock", "a test instance"},
			},
			Exits: exits("stopped by SIGINT or SIGTERM", "the configuration is invalid or unsafe, or the daemon failed (the last log line says why)"),
			Run:   runDaemon},
		{Name: "status", Summary: "what the running daemon is doing: a summary, then its counters",
			Description: "Asks the running daemon over its control socket. Without --json it prints a summary a person reads at a glance " +
				"(role, address, uptime, how many bindings, visitors or clients, the data plane in use, the last error), " +
				"then the recent warnings and errors, then every counter and detail as an indented tree with the counters that are zero left out (--all shows them).\n\n" +
				"With --json it prints the daemon's answer as it is, for scripts and the LuCI page; keys never appear in it. " +
				"last_error (the last error the daemon logged, with its time: socket, netlink, data plane or state file failures, not denied registrations) " +
				"and log_events (the last few warnings and errors) are there when there were any.",
			Flags: []flagDef{flagConfig, flagSocket, flagJSON, flagAll},
			Examples: []example{
				{"mip4d status", "summary and the non-zero counters"},
				{"mip4d status --all", "every counter, zeros included"},
				{"mip4d status --json | jsonfilter -e '@.ha.bindings'", "one value for a script (OpenWrt's jsonfilter)"},
			},
			Exits: exits("the daemon answered", "no daemon answers on the control socket, or its answer is not understood"),
			Run:   runStatus},
		{Name: "bindings", Summary: "the home agent's bindings, the foreign agent's visitors or the proxy's clients",
			Description: "Asks the running daemon for its table: a home agent's mobility bindings (home address, care-of address, endpoint, tunnel, lifetime left, NAI, and with the kernel data plane its packets), " +
				"a foreign agent's visitors, a proxy's clients (MAC, NAI, home address, state). A mobile node has none.",
			Flags: []flagDef{flagConfig, flagSocket, flagJSON},
			Examples: []example{
				{"mip4d bindings", "the table"},
				{"mip4d bindings --json", "the same as JSON (mip4d bindings --json on a standby compares with the active's)"},
			},
			Exits: exits("the daemon answered", "no daemon answers on the control socket, or its answer is not understood"),
			Run:   runBindings},
		{Name: "ha-role", Operands: "master|backup|fault|stop | INSTANCE|GROUP NAME STATE [PRIORITY]", MinArgs: 1, MaxArgs: 4,
			Summary: "tell a home agent of a redundant pair its role (keepalived's notify)",
			Description: "mip4d elects nothing: keepalived (VRRP) decides which of the two home agents holds the virtual address (option address of the homeagent section) and tells the running daemon over its control socket. " +
				"The operand is the role, or the arguments keepalived's notify gives its script (type, instance name, state, priority), so notify can name mip4d ha-role directly.\n\n" +
				"master: the daemon installs the data plane for every replicated binding (RFC 3519 UDP tunnels included), sends gratuitous ARP for the home addresses it proxies on the home link (RFC 5944 §4.6), answers registrations and replicates every change to its peer. " +
				"backup, fault, stop: it keeps the replicated bindings and lets them expire on its own clock, installs no data plane, answers no registration and proxies no ARP.\n\n" +
				"The role is kept in run_dir, so a restarted daemon resumes it until told otherwise; before the first word it takes option redundancy_role. It prints the redundancy status after the change. " +
				"SIGUSR1 and SIGUSR2 do the same as master and backup.",
			Flags: []flagDef{flagConfig, flagSocket},
			Examples: []example{
				{"mip4d ha-role master", "become active"},
				{"mip4d ha-role INSTANCE VI_1 MASTER 150", "as keepalived's notify calls it (notify \"/usr/sbin/mip4d ha-role\")"},
			},
			Exits: exits("the daemon took the role", "no daemon answers, or it is not a home agent with an ha_peer section"),
			Run:   runHARole},
		{Name: "check-config", Summary: "validate the configuration file and exit",
			Description: "Reads the configuration as the daemon would and reports the first problem as FILE:LINE: option NAME: reason. " +
				"A file holding keys that others than root can read is reported as a warning here; the daemon refuses to start with it.",
			Flags: []flagDef{flagConfig},
			Examples: []example{
				{"mip4d check-config", "/etc/config/mip4d"},
				{"mip4d check-config --config testdata/config/ha.conf", "another file"},
			},
			Exits: exits("the configuration is valid", "it is not (the message names the file, the line and the option)"),
			Run:   runCheckConfig},
		{Name: "schema", Summary: "every section and option mip4d reads, as JSON or as the Markdown reference",
			Description: "Prints the configuration schema the daemon validates against: every section type and option with its datatype, default, allowed values, whether it is required or secret, and its help. " +
				"JSON (the default) is what LuCI's configuration page and the init script's validation are checked against; --markdown is the reference in docs/uci-reference.md.",
			Flags: []flagDef{
				{Name: "json", Usage: "JSON (the default)", bind: flagJSON.bind},
				{Name: "markdown", Usage: "the Markdown reference (docs/uci-reference.md)", bind: func(fs *flag.FlagSet, n string, o *options) { fs.BoolVar(&o.markdown, n, false, "") }},
				flagOutput,
			},
			Examples: []example{
				{"mip4d schema --json", "for programs"},
				{"mip4d schema --markdown --output docs/uci-reference.md", "what go generate ./agent/cmd/mip4d does"},
			},
			Exits: exits("printed", "the output file cannot be written"),
			Run:   runSchema},
		{Name: "proxy-key", Summary: "the MN-HA key a proxy derives for a client, from the master key on standard input",
			Description: "Prints, as 0x and hex digits, the MN-HA key a proxy derives with HKDF-SHA256 from its master_key for the client with NAI --nai: " +
				"what the home agent's mobile_node section for that client needs as its key. " +
				"The master key is read from the first line of standard input (text, or hex after 0x), never from the command line, where other users could read it in the process list.",
			Flags: []flagDef{{Name: "nai", Arg: "NAI", Usage: "the client's NAI, as the proxy registers it (required)",
				bind: func(fs *flag.FlagSet, n string, o *options) { fs.StringVar(&o.nai, n, "", "") }}},
			Examples: []example{
				{"uci get mip4d.proxy.master_key | mip4d proxy-key --nai 020000000055@guests.example.net", "on the proxy"},
			},
			Exits: exits("printed", "the master key cannot be read or is not a valid key"),
			Run:   runProxyKey},
		{Name: "man", Summary: "print this manual as a roff man page (mip4d.8)",
			Description: "Prints the manual page made from the same table as mip4d help and from the configuration schema: every command, its flags, examples and exit status, the signals, the files, and every UCI option. " +
				"docs/mip4d.8 is this output (go generate ./agent/cmd/mip4d).",
			Flags:    []flagDef{flagOutput},
			Examples: []example{{"mip4d man | man -l -", "read it"}},
			Exits:    exits("printed", "the output file cannot be written"),
			Run:      func(e *env) int { return e.write(manPage()) }},
		{Name: "version", Summary: "print the version",
			Exits: exits("printed", "never"),
			Run: func(e *env) int {
				fmt.Fprintf(e.stdout, "mip4d %s\n", version)
				return 0
			}},
		{Name: "help", Operands: "[COMMAND]", MaxArgs: 1, Summary: "the commands, or one command's usage, flags, examples and exit status",
			Examples: []example{{"mip4d help status", "the same as mip4d status --help"}},
			Exits:    exits("printed", "never"),
			Run: func(e *env) int {
				if len(e.args) == 0 {
					fmt.Fprint(e.stdout, overview())
					return 0
				}
				c := lookup(e.args[0])
				if c == nil {
					fmt.Fprintf(e.stderr, "mip4d help: unknown command %q\n\n%s", e.args[0], overview())
					return 2
				}
				fmt.Fprint(e.stdout, commandHelp(c))
				return 0
			}},
	}
}

// lookup returns the command called name, or nil.
func lookup(name string) *command {
	for _, c := range commands {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func runDaemon(e *env) int {
	c, err := config.Load(e.o.config)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return 1
	}
	if err := c.CheckPermissions(); err != nil {
		return e.fail(err)
	}
	if e.o.socket != "" {
		c.ControlSocket = e.o.socket
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: c.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	usr := make(chan os.Signal, 4)
	signal.Notify(usr, syscall.SIGUSR1, syscall.SIGUSR2)
	roles := make(chan hasync.Role, 4)
	go func() {
		for s := range usr {
			r := hasync.RoleBackup
			if s == syscall.SIGUSR1 {
				r = hasync.RoleMaster
			}
			select {
			case roles <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	log.Info("mip4d starting", "version", version, "role", c.Role, "config", c.Path)
	err = daemon.Run(ctx, c, daemon.Options{Log: log, Reload: hup, HARole: roles, ConfigPath: e.o.config, Version: version})
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("mip4d stopped", "err", err)
		return 1
	}
	log.Info("mip4d stopped")
	return 0
}

func runStatus(e *env) int {
	res, err := control.Call(e.socketPath(), "status")
	if err != nil {
		return e.fail(err)
	}
	if e.o.json {
		e.stdout.Write(append(res, '\n'))
		return 0
	}
	if err := printStatus(e.stdout, res, e.o.all, time.Now()); err != nil {
		return e.fail(err)
	}
	return 0
}

func runBindings(e *env) int {
	res, err := control.Call(e.socketPath(), "bindings")
	if err != nil {
		return e.fail(err)
	}
	if e.o.json {
		e.stdout.Write(append(res, '\n'))
		return 0
	}
	if err := daemon.PrintBindings(e.stdout, res); err != nil {
		return e.fail(err)
	}
	return 0
}

func runHARole(e *env) int {
	if _, err := daemon.ParseHARole(e.args); err != nil {
		fmt.Fprintf(e.stderr, "mip4d ha-role: %v\n", err)
		return 2
	}
	res, err := control.Call(e.socketPath(), "ha-role", e.args...)
	if err != nil {
		return e.fail(err)
	}
	e.stdout.Write(append(res, '\n'))
	return 0
}

func runCheckConfig(e *env) int {
	c, err := config.Load(e.o.config)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return 1
	}
	if err := c.CheckPermissions(); err != nil {
		fmt.Fprintln(e.stderr, "mip4d: warning:", err)
	}
	fmt.Fprintf(e.stdout, "%s: OK (role %s)\n", e.o.config, c.Role)
	return 0
}

func runSchema(e *env) int {
	if e.o.markdown && e.o.json {
		fmt.Fprintf(e.stderr, "mip4d schema: --json and --markdown exclude each other\n")
		return 2
	}
	if e.o.markdown {
		return e.write(uciReference())
	}
	b, err := json.MarshalIndent(config.Schema, "", "  ")
	if err != nil {
		return e.fail(err)
	}
	return e.write(append(b, '\n'))
}

func runProxyKey(e *env) int {
	if e.o.nai == "" {
		fmt.Fprintln(e.stderr, "mip4d proxy-key: --nai is required; the master key is read from standard input")
		return 2
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return e.fail(err)
	}
	master, err := config.ParseKey(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return e.fail(fmt.Errorf("master key: %w", err))
	}
	fmt.Fprintf(e.stdout, "0x%x\n", proxy.DeriveKey(master, e.o.nai))
	return 0
}
