package dataplane

import (
	"runtime"
	"testing"

	"github.com/mip4d/mip4d/agent/internal/lab"
	"github.com/vishvananda/netns"
)

// inNS runs f on a thread switched into namespace h: sockets and TUN
// devices created by f belong to h and stay there after the thread
// switches back. The thread is not reused if switching back fails.
func inNS(t testing.TB, h netns.NsHandle, f func()) {
	t.Helper()
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(h); err != nil {
			done <- err
			return
		}
		defer func() {
			if netns.Set(orig) == nil {
				runtime.UnlockOSThread()
			}
		}()
		f()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// newLab builds namespaces for a privileged test (skipping it with a
// SKIP message unless root) and tears them down at cleanup, on failure
// too. Names carry a per-run prefix.
func newLab(t *testing.T, names ...string) *lab.Lab {
	t.Helper()
	l := lab.ForTest(t)
	for _, n := range names {
		if err := l.AddNS(n); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
