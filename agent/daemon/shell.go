package daemon

import (
	"context"
	"os/exec"
)

// shell runs a configured command line with /bin/sh and returns its
// combined output.
func shell(ctx context.Context, cmd string) (string, error) {
	out, err := exec.CommandContext(ctx, "/bin/sh", "-c", cmd).CombinedOutput()
	return string(out), err
}
