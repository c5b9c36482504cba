package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// ForTest returns a lab for a privileged test: it skips the test with a
// visible message unless root, and closes the lab when the test ends,
// printing every process log if the test failed.
func ForTest(t *testing.T) *Lab {
	t.Helper()
	RequireRoot(t)
	dir, err := os.MkdirTemp("", "mip4d-lab-")
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		l.Log = t.Logf
	}
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			procs := l.procs
			l.mu.Unlock()
			for _, p := range procs {
				t.Logf("--- log of %s (%s):\n%s", p.Name, p.Log, tail(p.Output(), 60))
			}
		}
		if err := l.Close(); err != nil {
			t.Errorf("lab teardown: %v", err)
		}
		os.RemoveAll(dir)
	})
	return l
}

// Handle opens a handle on namespace name, closed at test end.
func (l *Lab) Handle(t *testing.T, name string) netns.NsHandle {
	t.Helper()
	h, err := netns.GetFromPath(filepath.Join("/run/netns", l.NS(name)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
