package lab

import (
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
)

// In runs f with the calling goroutine inside namespace ns. Sockets f
// opens belong to ns for their whole life, whichever thread later uses
// them: that is how tests and the demo put their own probes into the lab
// without helper processes.
func (l *Lab) In(ns string, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := netns.GetFromPath(filepath.Join("/run/netns", l.NS(ns)))
	if err != nil {
		return fmt.Errorf("lab: namespace %s: %w", ns, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return err
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// The thread is stuck in the wrong namespace and nothing sane can
		// continue on it.
		panic("lab: cannot return to the original namespace: " + err.Error())
	}
	return ferr
}
