// Command mip4d is the Mobile IPv4 daemon: home agent, mobile node,
// foreign agent and proxy for laptops without Mobile IP, in one binary
// (DESIGN.md §2). The role comes from the configuration file.
//
//	mip4d run [--config PATH]          the daemon
//	mip4d status [--json]              what the running daemon is doing
//	mip4d bindings [--json]            bindings, visitors or proxied clients
//	mip4d proxy-key --nai NAI          a proxied client's MN-HA key from the master key on stdin
//	mip4d check-config [--config PATH] validate the configuration and exit
//	mip4d schema --json                every option mip4d accepts
//	mip4d version
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

	"github.com/mip4d/mip4d/agent/config"
	"github.com/mip4d/mip4d/agent/control"
	"github.com/mip4d/mip4d/agent/daemon"
	"github.com/mip4d/mip4d/agent/proxy"
)

// version is set at link time: -ldflags '-X main.version=...'.
var version = "dev"

const usage = `usage: mip4d <command> [options]

commands:
  run            run the daemon (role from the configuration)
  status         show the running daemon's state and counters
  bindings       show the home agent's bindings, the foreign agent's visitors or the proxy's clients
  proxy-key      print the MN-HA key a proxy derives for --nai from the master key read on
                 standard input (for the home agent's mobile_node section)
  check-config   validate the configuration file and exit
  schema         print the configuration schema (--json)
  version        print the version

common options:
  --config PATH  configuration file (default /etc/config/mip4d)
  --socket PATH  control socket (default from the configuration, else /var/run/mip4d.sock)
  --json         machine-readable output (status, bindings, schema)
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("mip4d "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration file")
	sock := fs.String("socket", "", "control socket")
	asJSON := fs.Bool("json", false, "JSON output")
	nai := fs.String("nai", "", "the client's NAI (proxy-key)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "mip4d %s\n", version)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	case "schema":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(config.Schema); err != nil {
			fmt.Fprintln(stderr, "mip4d:", err)
			return 1
		}
		return 0
	case "proxy-key":
		// The master key comes on standard input, not the command line,
		// where other users could read it in the process list.
		if *nai == "" {
			fmt.Fprintln(stderr, "mip4d proxy-key: --nai is required; the master key is read from standard input")
			return 2
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			fmt.Fprintln(stderr, "mip4d proxy-key:", err)
			return 1
		}
		master, err := config.ParseKey(strings.TrimRight(line, "\r\n"))
		if err != nil {
			fmt.Fprintln(stderr, "mip4d proxy-key: master key:", err)
			return 1
		}
		fmt.Fprintf(stdout, "0x%x\n", proxy.DeriveKey(master, *nai))
		return 0
	case "check-config":
		c, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if err := c.CheckPermissions(); err != nil {
			fmt.Fprintln(stderr, "mip4d: warning:", err)
		}
		fmt.Fprintf(stdout, "%s: OK (role %s)\n", *cfgPath, c.Role)
		return 0
	case "status", "bindings":
		path := *sock
		if path == "" {
			path = control.DefaultSocket
			if c, err := config.Load(*cfgPath); err == nil {
				path = c.ControlSocket
			}
		}
		res, err := control.Call(path, cmd)
		if err != nil {
			fmt.Fprintln(stderr, "mip4d:", err)
			return 1
		}
		if *asJSON {
			stdout.Write(append(res, '\n'))
			return 0
		}
		if err := daemon.PrintText(stdout, cmd, res); err != nil {
			fmt.Fprintln(stderr, "mip4d:", err)
			return 1
		}
		return 0
	case "run":
		c, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if err := c.CheckPermissions(); err != nil {
			fmt.Fprintln(stderr, "mip4d:", err)
			return 1
		}
		if *sock != "" {
			c.ControlSocket = *sock
		}
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.LogLevel}))
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		log.Info("mip4d starting", "version", version, "role", c.Role, "config", c.Path)
		err = daemon.Run(ctx, c, daemon.Options{Log: log, Reload: hup, ConfigPath: *cfgPath, Version: version})
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Error("mip4d stopped", "err", err)
			return 1
		}
		log.Info("mip4d stopped")
		return 0
	}
	fmt.Fprintf(stderr, "mip4d: unknown command %q\n\n%s", cmd, usage)
	return 2
}
