package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mip4d/mip4d/agent/config"
)

func runCmd(args ...string) (rc int, stdout, stderr string) {
	var out, errb bytes.Buffer
	rc = run(args, strings.NewReader(""), &out, &errb)
	return rc, out.String(), errb.String()
}

// TestHelp: every command has help, the same from mip4d help CMD,
// mip4d CMD --help and -h, with its usage line, every flag it takes,
// examples and exit status; mip4d help lists every command.
func TestHelp(t *testing.T) {
	rc, over, _ := runCmd("help")
	if rc != 0 {
		t.Fatalf("mip4d help: rc %d", rc)
	}
	for _, alias := range [][]string{{"--help"}, {"-h"}} {
		if rc, out, _ := runCmd(alias...); rc != 0 || out != over {
			t.Errorf("mip4d %v (rc %d) differs from mip4d help", alias, rc)
		}
	}
	if rc, _, errb := runCmd(); rc != 2 || errb != over {
		t.Errorf("mip4d without a command: rc %d, want 2 and the overview on stderr", rc)
	}
	for _, c := range commands {
		if !strings.Contains(over, "\n  "+c.Name+" ") {
			t.Errorf("mip4d help does not list %s", c.Name)
		}
		if c.Summary == "" || len(c.Exits) == 0 || c.Run == nil {
			t.Errorf("%s: summary %q, %d exit codes, run %v", c.Name, c.Summary, len(c.Exits), c.Run != nil)
		}
		rc, h, _ := runCmd("help", c.Name)
		if rc != 0 {
			t.Errorf("mip4d help %s: rc %d", c.Name, rc)
			continue
		}
		for _, alias := range [][]string{{c.Name, "--help"}, {c.Name, "-h"}} {
			if rc, out, _ := runCmd(alias...); rc != 0 || out != h {
				t.Errorf("mip4d %v (rc %d) differs from mip4d help %s", alias, rc, c.Name)
			}
		}
		want := []string{"usage: mip4d " + c.Name, "flags:", "-h, --help", "exit status:\n  0  ", "\n  2  usage error"}
		for _, f := range c.Flags {
			want = append(want, "--"+f.Name, f.Usage[:min(len(f.Usage), 20)])
		}
		for _, ex := range c.Examples {
			want = append(want, "examples:", "  "+ex.Cmd+"\n")
		}
		for _, w := range want {
			if !strings.Contains(h, w) {
				t.Errorf("mip4d help %s: %q missing from\n%s", c.Name, w, h)
			}
		}
		examples := map[string]bool{}
		for _, ex := range c.Examples {
			examples["  "+ex.Cmd] = true
		}
		for i, l := range strings.Split(h, "\n") {
			if len([]rune(l)) > width && !examples[l] {
				t.Errorf("mip4d help %s: line %d is %d columns: %q", c.Name, i+1, len(l), l)
			}
		}
	}
	if rc, _, errb := runCmd("help", "nonsense"); rc != 2 || !strings.Contains(errb, `unknown command "nonsense"`) {
		t.Errorf("mip4d help nonsense: rc %d, %q", rc, errb)
	}
}

// TestUsageErrors: an unknown flag, a flag without its value, an operand
// too many, an unknown command: exit 2, a message that says which, the
// command's usage on standard error and nothing on standard output.
func TestUsageErrors(t *testing.T) {
	type tc struct {
		args []string
		msg  string
	}
	var cases []tc
	for _, c := range commands {
		cases = append(cases, tc{[]string{c.Name, "--no-such-flag"}, "mip4d " + c.Name + ": flag provided but not defined: -no-such-flag\nusage: mip4d " + c.Name})
		for _, f := range c.Flags {
			if f.Arg != "" {
				cases = append(cases, tc{[]string{c.Name, "--" + f.Name}, "mip4d " + c.Name + ": flag needs an argument: -" + f.Name})
			}
		}
		if c.MaxArgs == 0 {
			cases = append(cases, tc{[]string{c.Name, "extra"}, "mip4d " + c.Name + `: unexpected operand "extra"`})
		}
	}
	cases = append(cases,
		tc{[]string{"frobnicate"}, `mip4d: unknown command "frobnicate"`},
		tc{[]string{"--json", "status"}, "mip4d: flag provided but not defined: -json"},
		tc{[]string{"help", "status", "bindings"}, `mip4d help: unexpected operand "bindings"`},
		tc{[]string{"status", "extra", "--json"}, `mip4d status: unexpected operand "extra"`},
		tc{[]string{"schema", "--json", "--markdown"}, "--json and --markdown exclude each other"},
		tc{[]string{"proxy-key"}, "--nai is required"},
	)
	for _, c := range cases {
		rc, out, errb := runCmd(c.args...)
		if rc != 2 || out != "" || !strings.Contains(errb, c.msg) {
			t.Errorf("mip4d %v: rc %d, stdout %q, stderr %q; want 2 and %q", c.args, rc, out, errb, c.msg)
		}
	}
}

// TestGlobalFlags: --config and --socket may come before the command
// (mip4d -c CONF status), and a command's own flag overrides them.
func TestGlobalFlags(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "mip4d")
	if err := os.WriteFile(conf, []byte("config mip4d 'globals'\n\toption role 'ha'\n"+
		"config homeagent 'homeagent'\n\toption address '198.51.100.1'\n\toption home_network '10.10.0.0/16'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-c", conf, "check-config"}, {"--config", conf, "check-config"}, {"check-config", "-c", conf},
		{"-c", "/nonexistent", "check-config", "--config", conf}} {
		if rc, out, errb := runCmd(args...); rc != 0 || out != conf+": OK (role ha)\n" {
			t.Errorf("mip4d %v: rc %d %q %q", args, rc, out, errb)
		}
	}
	if rc, _, errb := runCmd("-c", "/nonexistent/mip4d", "check-config"); rc != 1 || errb == "" {
		t.Errorf("a missing configuration: rc %d, %q", rc, errb)
	}
	sock := filepath.Join(t.TempDir(), "none.sock")
	if rc, _, errb := runCmd("--socket", sock, "status"); rc != 1 || !strings.Contains(errb, "none.sock") {
		t.Errorf("status with no daemon: rc %d, %q", rc, errb)
	}
	if rc, out, _ := runCmd("--version"); rc != 0 || out != "mip4d "+version+"\n" {
		t.Errorf("--version: rc %d %q", rc, out)
	}
}

const regenerate = "run go generate ./agent/cmd/mip4d"

// TestDocsCurrent: docs/mip4d.8 and docs/uci-reference.md are what the
// command table and the schema make now; the reference and the manual
// name every section and option, the manual every command; groff reads
// the page without a warning.
func TestDocsCurrent(t *testing.T) {
	for _, d := range []struct {
		file string
		want []byte
	}{{"docs/mip4d.8", manPage()}, {"docs/uci-reference.md", uciReference()}} {
		have, err := os.ReadFile(filepath.Join("..", "..", "..", d.file))
		if err != nil {
			t.Errorf("%s: %v (%s)", d.file, err, regenerate)
			continue
		}
		if !bytes.Equal(have, d.want) {
			t.Errorf("%s is stale: it differs from what the command table and agent/config/schema.go make (%s)", d.file, regenerate)
		}
	}
	man, md := string(manPage()), string(uciReference())
	for _, s := range config.Schema {
		if !strings.Contains(md, "\n## "+s.Type+"\n") || !strings.Contains(man, `.SS "`+roffCode(header(s))+`"`) {
			t.Errorf("section %s is missing from the reference or the manual", s.Type)
		}
		for _, o := range s.Options {
			if !strings.Contains(md, "| `"+o.Name+"` |") || !strings.Contains(man, `\fB`+roffCode(o.Name)+`\fR (`) {
				t.Errorf("%s.%s is missing from the reference or the manual", s.Type, o.Name)
			}
		}
	}
	for _, c := range commands {
		if !strings.Contains(man, `.SS "`+roffCode(c.Name)+`"`) {
			t.Errorf("command %s is missing from the manual", c.Name)
		}
	}
	if rc, out, _ := runCmd("--man"); rc != 0 || out != man {
		t.Errorf("mip4d --man: rc %d, differs from mip4d man", rc)
	}
	if rc, out, _ := runCmd("schema", "--markdown"); rc != 0 || out != md {
		t.Errorf("mip4d schema --markdown: rc %d, differs from the reference", rc)
	}

	if _, err := exec.LookPath("groff"); err != nil {
		t.Skip("groff not installed (Debian: groff-base); the manual page's syntax is not checked")
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(man)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("groff: %v\n%s", err, out)
	}
}
