// Package daemon wires mip4d together: it opens the sockets and the TUN
// device, configures addresses and routes through netconf, runs the role's
// protocol engine on one goroutine, feeds it what the data plane's sockets
// receive and the clock, applies its decisions to the data plane and the
// kernel, persists what must survive a restart, and serves the control
// socket.
//
// Each role has one engine goroutine that owns the engine; everything else
// (the control socket, the data plane's readers) talks to it over channels,
// so the engines stay single-threaded and pure.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/mip4d/mip4d/agent/config"
	"github.com/mip4d/mip4d/agent/control"
	"github.com/mip4d/mip4d/agent/hasync"
)

// Options are the daemon's run-time settings that do not come from the
// configuration file.
type Options struct {
	Log *slog.Logger
	// Reload delivers SIGHUP: re-read the configuration and apply what can
	// change without dropping bindings.
	Reload     <-chan os.Signal
	ConfigPath string
	// HARole delivers the roles SIGUSR1 (master) and SIGUSR2 (backup)
	// tell a home agent of a redundant pair.
	HARole  <-chan hasync.Role
	Version string
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time

	// events keeps the warnings and errors logged through Log, for the
	// status (set by Run).
	events *eventLog
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Run runs the role the configuration names until ctx ends.
func Run(ctx context.Context, c *config.Config, o Options) error {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	o.events = newEventLog(o.Log.Handler())
	o.Log = slog.New(o.events)
	if !c.Enabled {
		return errors.New("disabled in the configuration (option enabled '0')")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := control.NewServer()
	if err := srv.Listen(c.ControlSocket); err != nil {
		return err
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(ctx) }()
	var err error
	switch c.Role {
	case config.RoleHA:
		err = runHA(ctx, c, o, srv)
	case config.RoleMN:
		err = runMN(ctx, c, o, srv)
	case config.RoleFA:
		err = runFA(ctx, c, o, srv)
	case config.RoleProxy:
		err = runProxy(ctx, c, o, srv)
	default:
		err = fmt.Errorf("role %q is not implemented by this mip4d", c.Role)
	}
	cancel()
	<-srvDone
	return err
}

// loop is the engine goroutine's plumbing shared by the roles: calls from
// other goroutines (control handlers) run on it, in order.
type loop struct {
	calls chan func()
}

func newLoop() *loop { return &loop{calls: make(chan func(), 16)} }

// do runs f on the engine goroutine and waits for it.
func (l *loop) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case l.calls <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// post queues f to run on the engine goroutine without waiting for it;
// false when ctx ended first (the loop may be gone).
func (l *loop) post(ctx context.Context, f func()) bool {
	select {
	case l.calls <- f:
		return true
	case <-ctx.Done():
		return false
	}
}

// timerAt resets t to fire at when (zero: never; in the past: at once).
func timerAt(t *time.Timer, when, now time.Time) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	if when.IsZero() {
		return
	}
	t.Reset(max(when.Sub(now), 0))
}
