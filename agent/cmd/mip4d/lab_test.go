package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/daemon"
	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/mip4d/mip4d/agent/internal/scenario"
)

// TestStatusLab runs a home agent and a mobile node registered with it
// through a NAT in the namespace lab and asks both with mip4d status: the
// text leads with the summary (the binding, the registration, the data
// plane, the last error: the home agent's unreadable state file), hides the zero counters that --all shows, and
// --json is the daemon's answer.
func TestStatusLab(t *testing.T) {
	l := lab.ForTest(t)
	bin := filepath.Join(t.TempDir(), "mip4d")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building mip4d: %v\n%s", err, out)
	}
	r, err := scenario.Build(l, bin)
	if err != nil {
		t.Fatal(err)
	}
	// A state file the home agent cannot read: an error of its own at
	// start (it goes on with no bindings), which the status must show.
	stateDir := filepath.Join(l.Dir(), "ha-state")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stateDir, daemon.StateFileName), []byte("not a state file"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() error{func() error { return r.MoveTo(1) }, func() error { return r.StartHA() }, func() error { return r.StartMN() }} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.WaitBinding(scenario.CoAs[1], false, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if !l.Ping("mn", scenario.CN, 3) { // traffic for the counters
		t.Fatal("mn cannot reach cn through the tunnel")
	}

	rc, out, errb := runCmd("status", "--socket", r.Socket("ha"))
	if rc != 0 {
		t.Fatalf("mip4d status: rc %d: %s", rc, errb)
	}
	t.Logf("mip4d status (home agent):\n%s", out)
	lines := strings.Split(out, "\n")
	for i, want := range []string{
		`^role +home agent$`, `^version `, `^uptime +\d+s \(since `,
		`^address +` + regexp.QuoteMeta(scenario.HAAddr.String()+", home network "+scenario.HomeNet.String()) + `$`,
		`^bindings +1 \(1 mobile node configured`, `^data plane +(bpf \(kernel\) on |userspace \(configured)`,
		`^last error +\d+s ago \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\): state file unreadable; starting with no bindings: role=ha file=`,
	} {
		if i >= len(lines) || !regexp.MustCompile(want).MatchString(lines[i]) {
			t.Errorf("summary line %d is not %s:\n%s", i+1, want, out)
		}
	}
	if strings.Count(out, "state file unreadable") != 1 {
		t.Errorf("the last error is not shown once:\n%s", out)
	}
	if !strings.Contains(out, "\ncounters and details (") || !regexp.MustCompile(`\n +accepted: [1-9]`).MatchString(out) {
		t.Errorf("no counter tree with the accepted registrations:\n%s", out)
	}
	if regexp.MustCompile(`: 0\n`).MatchString(out) {
		t.Errorf("a zero counter is shown without --all:\n%s", out)
	}
	_, all, _ := runCmd("status", "--all", "--socket", r.Socket("ha"))
	if !regexp.MustCompile(`: 0\n`).MatchString(all) || !strings.HasPrefix(all, "role ") {
		t.Errorf("--all: no zero counter, or the summary is not first:\n%s", all)
	}

	rc, js, _ := runCmd("status", "--json", "--socket", r.Socket("ha"))
	var st struct {
		Role string `json:"role"`
		HA   struct {
			Bindings int `json:"bindings"`
		} `json:"ha"`
		LastError daemon.LogEvent `json:"last_error"`
	}
	if err := json.Unmarshal([]byte(js), &st); rc != 0 || err != nil || st.Role != "ha" || st.HA.Bindings != 1 ||
		st.LastError.Level != "ERROR" || !strings.HasPrefix(st.LastError.Msg, "state file unreadable") || st.LastError.Time.IsZero() {
		t.Errorf("status --json: rc %d, %v: %s", rc, err, js)
	}

	rc, out, errb = runCmd("status", "--socket", r.Socket("mn"))
	if rc != 0 {
		t.Fatalf("mip4d status (mn): rc %d: %s", rc, errb)
	}
	t.Logf("mip4d status (mobile node):\n%s", out)
	for _, want := range []string{
		`(?m)\Arole +mobile node$`,
		`(?m)^last error +none$`,
		`(?m)^address +home ` + regexp.QuoteMeta(scenario.HoA.String()) + `, care-of ` + regexp.QuoteMeta(scenario.CoAs[1].String()) + `$`,
		`(?m)^registration +registered with ` + regexp.QuoteMeta(scenario.HAAddr.String()) + `, \d+s of \d+s left, UDP tunnel`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("mobile node: %s missing:\n%s", want, out)
		}
	}
}
