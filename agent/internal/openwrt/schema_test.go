package openwrt

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// schemaOf is `mip4d schema --json` of the freshly built daemon.
func schemaOf(t *testing.T) Schema {
	t.Helper()
	out, err := exec.Command(hostMIP4D(t), "schema", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSchema(out)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGeneratedUpToDate: the committed default configuration and the init
// script's validation are what the daemon's schema gives today.
func TestGeneratedUpToDate(t *testing.T) {
	if err := CheckGenerated(repoRoot(t), schemaOf(t)); err != nil {
		t.Fatalf("%v\nregenerate: go build -o bin/mip4d ./agent/cmd/mip4d && go run ./agent/internal/tools/ipk -mip4d bin/mip4d -update", err)
	}
}

// configBlocks splits the default configuration into its sections: the
// lines from a "config" or "#config" line to the next blank line.
func configBlocks(text string) (blocks [][]string, typeOf []string) {
	var cur []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "config ") || strings.HasPrefix(l, "#config ") {
			cur = []string{l}
			continue
		}
		if cur != nil {
			if l == "" {
				blocks = append(blocks, cur)
				typeOf = append(typeOf, strings.Fields(strings.TrimPrefix(cur[0], "#"))[1])
				cur = nil
				continue
			}
			cur = append(cur, l)
		}
	}
	if cur != nil {
		blocks = append(blocks, cur)
		typeOf = append(typeOf, strings.Fields(strings.TrimPrefix(cur[0], "#"))[1])
	}
	return blocks, typeOf
}

var optionLine = regexp.MustCompile(`^#?\t#?(option|list) (\w+) `)

// uncomment enables the sections of role in the default configuration
// (one '#' off each line of their blocks), sets the role, and with all
// also enables every optional option.
func uncomment(s Schema, text, role string, all bool) string {
	blocks, types := configBlocks(text)
	var out []string
	for i, b := range blocks {
		sec := s.Section(types[i])
		if sec == nil || !slices.Contains(sec.Roles, role) {
			continue
		}
		for _, l := range b {
			l = strings.TrimPrefix(l, "#")
			if m := optionLine.FindStringSubmatch(l); m != nil {
				if m[2] == "role" && sec.shared(s.Roles()) {
					l = "\toption role '" + role + "'"
				} else if all {
					l = strings.Replace(l, "\t#", "\t", 1)
				}
			}
			out = append(out, l)
		}
		out = append(out, "")
	}
	return strings.Join(out, "\n")
}

// TestDefaultConfig: the shipped /etc/config/mip4d shows every option of
// the schema, in its section, and `mip4d check-config` accepts it once
// uncommented for each role, with only the required options and with all.
func TestDefaultConfig(t *testing.T) {
	s := schemaOf(t)
	b, err := os.ReadFile(filepath.Join(repoRoot(t), ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	blocks, types := configBlocks(text)
	for i := range s {
		sec := &s[i]
		j := slices.Index(types, sec.Type)
		if j < 0 {
			t.Errorf("section %s is not in the default configuration", sec.Type)
			continue
		}
		seen := map[string]bool{}
		for _, l := range blocks[j] {
			if m := optionLine.FindStringSubmatch(l); m != nil {
				seen[m[2]] = true
				if o := sec.Option(m[2]); o != nil && (m[1] == "list") != o.List {
					t.Errorf("%s.%s: written as %s", sec.Type, m[2], m[1])
				}
			}
		}
		for _, o := range sec.Options {
			if !seen[o.Name] {
				t.Errorf("option %s.%s is not in the default configuration", sec.Type, o.Name)
			}
		}
	}
	if !strings.Contains(text, "\toption enabled '0'") {
		t.Errorf("the default configuration does not start disabled")
	}
	if !strings.Contains(text, "/var/run/mip4d") || !strings.Contains(text, "/etc/mip4d") {
		t.Errorf("the state directory choice is not documented")
	}
	dir := t.TempDir()
	for _, role := range s.Roles() {
		for _, all := range []bool{false, true} {
			name := role + "-required"
			if all {
				name = role + "-all"
			}
			t.Run(name, func(t *testing.T) {
				f := filepath.Join(dir, name+".conf")
				conf := uncomment(s, text, role, all)
				if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(hostMIP4D(t), "check-config", "--config", f).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "OK (role "+role+")") {
					t.Errorf("check-config: %v\n%s\n--- config:\n%s", err, out, conf)
				}
			})
		}
	}
}

// validateDatatypes are the datatypes procd's validate_data knows that
// the init script may use.
var validateDatatypes = regexp.MustCompile(`^(list\()?(bool|uinteger|port|ip4addr|cidr4|string|macaddr|maxlength\(\d+\)|range\(\d+,\d+\)|or\(("[^"]*",?)+\))\)?$`)

// TestInitScript: the init script parses, uses procd as the issue says,
// and validates every option of the schema with a validate_data datatype.
func TestInitScript(t *testing.T) {
	p := filepath.Join(repoRoot(t), InitScript)
	if out, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
		t.Fatalf("sh -n: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(p)
	script := string(b)
	for _, want := range []string{"USE_PROCD=1", "procd_add_reload_trigger mip4d", "procd_set_param respawn",
		"procd_set_param netdev", "check-config --config", "procd_send_signal mip4d mip4d HUP", "uci_load_validate", "procd_open_validate"} {
		if !strings.Contains(script, want) {
			t.Errorf("init script lacks %q", want)
		}
	}
	// Run the generated functions with a uci_load_validate that prints its
	// specifications.
	i, j := strings.Index(script, ValidateBegin), strings.Index(script, ValidateEnd)
	block := script[i:j]
	s := schemaOf(t)
	for _, sec := range s {
		sh := `uci_load_validate() { shift 4; for a in "$@"; do echo "$a"; done; }` + "\n" + block + "\nmip4d_validate_" + sec.Type + "\n"
		out, err := exec.Command("sh", "-c", sh).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", sec.Type, err, out)
		}
		specs := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			name, rest, _ := strings.Cut(l, ":")
			dt := rest
			if k := strings.LastIndex(rest, ":"); k > strings.LastIndex(rest, ")") {
				dt = rest[:k]
			}
			specs[name] = dt
			if !validateDatatypes.MatchString(dt) {
				t.Errorf("%s.%s: %q is not a validate_data datatype the script may use", sec.Type, name, dt)
			}
		}
		for _, o := range sec.Options {
			if specs[o.Name] == "" {
				t.Errorf("%s.%s is not validated by the init script", sec.Type, o.Name)
			}
		}
	}
}
