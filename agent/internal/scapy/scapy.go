// Package scapy runs short Python scripts that use scapy (Debian's
// python3-scapy) from Go tests, as a second independent decoder and
// encoder beside tshark.
//
// The interpreter is /usr/bin/python3, not whatever python3 is first on
// PATH: on the lab machines that is a separate installation without
// Debian's modules. When the interpreter or scapy is missing, tests that
// need it are skipped with a message, unless the environment says tools
// are required (CI=true or MIP4D_REQUIRE_TOOLS=1), in which case they
// fail.
package scapy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// Python is the interpreter used.
const Python = "/usr/bin/python3"

// ToolsRequired reports whether missing test tools must fail tests rather
// than skip them: CI=true or MIP4D_REQUIRE_TOOLS=1.
func ToolsRequired() bool {
	return os.Getenv("CI") == "true" || os.Getenv("MIP4D_REQUIRE_TOOLS") == "1"
}

var probe struct {
	once sync.Once
	err  error
}

// Require skips t (or fails it, when ToolsRequired) unless Python can
// import scapy.
func Require(t testing.TB) {
	t.Helper()
	probe.once.Do(func() {
		out, err := exec.Command(Python, "-c", "import scapy.all").CombinedOutput()
		if err != nil {
			probe.err = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		}
	})
	if probe.err != nil {
		msg := fmt.Sprintf("scapy unavailable via %s (%v); install it with "+
			"`apt-get install -y --no-install-recommends python3-scapy`", Python, probe.err)
		if ToolsRequired() {
			t.Fatal(msg + " (tools are required: CI=true or MIP4D_REQUIRE_TOOLS=1)")
		}
		t.Skip(msg + "; set MIP4D_REQUIRE_TOOLS=1 to make this a failure")
	}
}

// Run runs script with Python (`python3 -c script args...`, so the script
// sees args as sys.argv[1:]) and returns its standard output. The test
// fails if the script exits non-zero; its standard error (where scapy
// prints warnings) is shown then and otherwise dropped. Pass packets as
// hex arguments and decode them with bytes.fromhex.
func Run(t testing.TB, script string, args ...string) string {
	t.Helper()
	Require(t)
	cmd := exec.Command(Python, append([]string{"-c", script}, args...)...)
	// Keep scapy from writing its config and caches into $HOME.
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python script failed: %v\n%s\nscript:\n%s", err, stderr.Bytes(), script)
	}
	return stdout.String()
}
