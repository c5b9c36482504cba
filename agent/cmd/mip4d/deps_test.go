package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoPlotting: the demo's pictures (agent/internal/demoplot, gonum)
// stay out of the router binary, whose mips build has a 6 MB budget
// (DESIGN.md §4, cross/build.sh).
func TestNoPlotting(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "gonum.org/") || strings.HasSuffix(pkg, "/demoplot") {
			t.Errorf("mip4d depends on %s", pkg)
		}
	}
}
