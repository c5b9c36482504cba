// Package tshark runs Wireshark's tshark on capture files from Go tests, so
// that our encodings are checked by an independent decoder: the fields it
// decodes, and whether it finds anything malformed.
//
// tshark is looked for at /usr/bin/tshark (Debian's tshark package). When it
// is missing, tests that need it are skipped with a message, unless the
// environment says tools are required (CI=true or MIP4D_REQUIRE_TOOLS=1),
// in which case they fail.
//
// tshark runs with an empty private configuration directory, without name
// resolution, so that a person's Wireshark profile cannot change results.
package tshark

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Path is where tshark is expected.
const Path = "/usr/bin/tshark"

// VerifyChecksums are the preferences that make tshark verify IPv4, UDP and
// TCP checksums (off by default): ip.checksum.status and friends become 1
// (good) or 0 (bad), and a bad one is an expert error.
var VerifyChecksums = []string{
	"-o", "ip.check_checksum:TRUE",
	"-o", "udp.check_checksum:TRUE",
	"-o", "tcp.check_checksum:TRUE",
}

// DecodeAs returns the arguments that make tshark decode traffic matching
// selector as proto, e.g. DecodeAs("udp.port==434", "mip") gives
// "-d udp.port==434,mip".
func DecodeAs(selector, proto string) []string {
	return []string{"-d", selector + "," + proto}
}

// ToolsRequired reports whether missing test tools must fail tests rather
// than skip them: CI=true or MIP4D_REQUIRE_TOOLS=1.
func ToolsRequired() bool {
	return os.Getenv("CI") == "true" || os.Getenv("MIP4D_REQUIRE_TOOLS") == "1"
}

// Require skips t (or fails it, when ToolsRequired) if tshark is missing.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		msg := fmt.Sprintf("tshark not found at %s (%v); install it with "+
			"`apt-get install -y --no-install-recommends tshark`", Path, err)
		if ToolsRequired() {
			t.Fatal(msg + " (tools are required: CI=true or MIP4D_REQUIRE_TOOLS=1)")
		}
		t.Skip(msg + "; set MIP4D_REQUIRE_TOOLS=1 to make this a failure")
	}
}

// run runs tshark on pcapPath with args and returns its standard output.
func run(t testing.TB, pcapPath string, args []string) []byte {
	t.Helper()
	Require(t)
	all := append([]string{"-r", pcapPath, "-n"}, args...)
	cmd := exec.Command(Path, all...)
	cmd.Env = append(os.Environ(), "WIRESHARK_CONFIG_DIR="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(all, " "), err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// aggregator joins the occurrences of a field within one packet in the
// output of Fields; Occurrences splits them.
const aggregator = ","

// rawAggregator joins occurrences where values may contain commas (expert
// messages). It is the ASCII unit separator.
const rawAggregator = "\x1f"

// fieldRows runs tshark -T fields and splits its output into one row per
// packet of len(fields) values.
func fieldRows(t testing.TB, pcapPath string, fields []string, agg string, extraArgs []string) [][]string {
	t.Helper()
	args := []string{"-T", "fields", "-E", "header=n", "-E", "separator=/t",
		"-E", "occurrence=a", "-E", "aggregator=" + agg, "-E", "quote=n"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	args = append(args, extraArgs...)
	out := run(t, pcapPath, args)
	var rows [][]string
	if len(out) == 0 {
		return nil
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		row := strings.Split(line, "\t")
		if len(row) != len(fields) {
			t.Fatalf("tshark: %d values for %d fields in %q", len(row), len(fields), line)
		}
		rows = append(rows, row)
	}
	return rows
}

// Fields decodes pcapPath with tshark and returns, for each packet, the
// value of each field in fields (tshark field names such as "ip.src" or
// "mip.type"), in display form: "" when the field is absent, and all
// occurrences joined with "," when it occurs more than once (the outer
// and inner ip.src of a tunnelled packet, say); see Occurrences. It runs
//
//	tshark -r pcapPath -n -T fields -E separator=/t -E occurrence=a -E aggregator=, -e F... extraArgs...
//
// so extraArgs may add DecodeAs or VerifyChecksums arguments, or a
// display filter with -Y. The test fails if tshark fails.
func Fields(t testing.TB, pcapPath string, fields []string, extraArgs ...string) [][]string {
	t.Helper()
	return fieldRows(t, pcapPath, fields, aggregator, extraArgs)
}

// Occurrences splits a value returned by Fields into its occurrences,
// outermost first. An absent field has none.
func Occurrences(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, aggregator)
}

// Severity is an expert-info severity as tshark reports it in
// _ws.expert.severity.
type Severity uint32

// Severities (epan/proto.h PI_*).
const (
	SeverityComment Severity = 0x00100000
	SeverityChat    Severity = 0x00200000
	SeverityNote    Severity = 0x00400000
	SeverityWarn    Severity = 0x00600000
	SeverityError   Severity = 0x00800000
)

func (s Severity) String() string {
	switch s {
	case SeverityComment:
		return "comment"
	case SeverityChat:
		return "chat"
	case SeverityNote:
		return "note"
	case SeverityWarn:
		return "warning"
	case SeverityError:
		return "error"
	}
	return fmt.Sprintf("severity(%#x)", uint32(s))
}

// Problem is one thing tshark had to say about a packet: an expert-info
// item (_ws.expert) or a malformed-packet exception (_ws.malformed, which
// tshark also reports as an expert error).
type Problem struct {
	Frame     int // 1-based packet number
	Malformed bool
	Severity  Severity
	Message   string
}

func (p Problem) String() string {
	m := ""
	if p.Malformed {
		m = " (malformed)"
	}
	return fmt.Sprintf("frame %d: %v%s: %s", p.Frame, p.Severity, m, p.Message)
}

// Problems decodes pcapPath and returns every expert-info item of every
// packet, in order, marking those of packets tshark found malformed.
// extraArgs are as for Fields (pass VerifyChecksums to have bad checksums
// reported).
func Problems(t testing.TB, pcapPath string, extraArgs ...string) []Problem {
	t.Helper()
	rows := fieldRows(t, pcapPath,
		[]string{"frame.number", "_ws.malformed", "_ws.expert.severity", "_ws.expert.message"},
		rawAggregator, extraArgs)
	var ps []Problem
	for _, r := range rows {
		frame, err := strconv.Atoi(r[0])
		if err != nil {
			t.Fatalf("tshark: frame number %q", r[0])
		}
		malformed := r[1] != ""
		var sevs, msgs []string
		if r[2] != "" {
			sevs = strings.Split(r[2], rawAggregator)
		}
		if r[3] != "" {
			msgs = strings.Split(r[3], rawAggregator)
		}
		for i, s := range sevs {
			sev, err := strconv.ParseUint(s, 0, 32)
			if err != nil {
				t.Fatalf("tshark: expert severity %q", s)
			}
			p := Problem{Frame: frame, Malformed: malformed, Severity: Severity(sev)}
			if i < len(msgs) {
				p.Message = msgs[i]
			}
			ps = append(ps, p)
		}
		if malformed && len(sevs) == 0 {
			ps = append(ps, Problem{Frame: frame, Malformed: true, Severity: SeverityError, Message: "malformed packet"})
		}
	}
	return ps
}

// ExpectClean fails t for every packet in pcapPath that tshark finds
// malformed and for every expert item of severity error; warnings and
// lesser items are logged. extraArgs are as for Fields; VerifyChecksums is
// always added, so a bad IPv4, UDP or TCP checksum fails too.
func ExpectClean(t testing.TB, pcapPath string, extraArgs ...string) {
	t.Helper()
	for _, p := range Problems(t, pcapPath, append(append([]string{}, VerifyChecksums...), extraArgs...)...) {
		if p.Malformed || p.Severity >= SeverityError {
			t.Errorf("tshark: %v", p)
		} else {
			t.Logf("tshark: %v", p)
		}
	}
}
