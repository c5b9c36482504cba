package scenario

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// mip4d is the binary under test, built once by TestMain.
var mip4d string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mip4d-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mip4d = filepath.Join(dir, "mip4d")
	out, err := exec.Command("go", "build", "-o", mip4d, "github.com/mip4d/mip4d/agent/cmd/mip4d").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building mip4d: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
