package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/mip4d/mip4d/agent/bpfplane"
	"github.com/mip4d/mip4d/agent/config"
	"github.com/mip4d/mip4d/agent/dataplane"
)

// accel is the kernel data plane in front of a role's userspace plane
// (option dataplane): the tc programs of agent/bpfplane when they load,
// else nothing, and the userspace plane does all the work as before. The
// role's delivery code calls apply with every binding change, after the
// userspace plane has it and before the registration reply leaves.
type accel struct {
	configured string
	plane      *bpfplane.Plane // nil: userspace only
	reason     string          // why userspace, when it is
	log        *slog.Logger
	refresh    chan struct{}
	done       chan struct{}
}

// refreshEvery is how often the kernel plane looks for new interfaces
// and, when it met packets it had no route for, re-resolves its routes.
const refreshEvery = 2 * time.Second

// openAccel starts the kernel plane as configured. It never fails: a plane
// that cannot load is logged once (an error when bpf was asked for, info
// with auto) and the daemon goes on with its userspace plane.
func openAccel(ctx context.Context, mode string, log *slog.Logger, cfg bpfplane.Config) *accel {
	if mode == "" {
		mode = config.DataPlaneAuto
	}
	a := &accel{configured: mode, log: log, refresh: make(chan struct{}, 1), done: make(chan struct{})}
	if mode == config.DataPlaneUserspace {
		a.reason = "configured"
		// A crashed run may have left its programs attached, with its
		// bindings; take them off so the userspace plane sees everything.
		if err := bpfplane.RemoveStale(); err != nil {
			log.Debug("removing kernel data plane programs left by an earlier run", "err", err)
		}
		log.Info("data plane: userspace", "reason", a.reason)
		close(a.done)
		return a
	}
	p, err := bpfplane.Open(cfg)
	if err != nil {
		a.reason = err.Error()
		_ = bpfplane.RemoveStale()
		lvl := slog.LevelInfo
		if mode == config.DataPlaneBPF {
			lvl = slog.LevelError
		}
		log.Log(ctx, lvl, "data plane: userspace; the kernel data plane did not load", "configured", mode, "reason", a.reason)
		close(a.done)
		return a
	}
	a.plane = p
	log.Info("data plane: bpf", "configured", mode, "interfaces", p.Interfaces())
	go a.run(ctx)
	return a
}

func (a *accel) run(ctx context.Context) {
	defer close(a.done)
	t := time.NewTicker(refreshEvery)
	defer t.Stop()
	for {
		force := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.refresh:
			force = true
		}
		if err := a.plane.Refresh(force); err != nil {
			a.log.Debug("kernel data plane refresh", "err", err)
		}
	}
}

// routesChanged asks the kernel plane to re-resolve its routes (a link or
// address changed).
func (a *accel) routesChanged() {
	if a.plane == nil {
		return
	}
	select {
	case a.refresh <- struct{}{}:
	default:
	}
}

// apply gives the kernel plane binding changes.
func (a *accel) apply(changes []bpfplane.Change) {
	if a.plane == nil || len(changes) == 0 {
		return
	}
	if err := a.plane.Apply(changes...); err != nil {
		a.log.Warn("kernel data plane: binding not installed; the userspace plane serves it", "err", err)
	}
}

// binding returns a binding's kernel counters, if the kernel plane has it.
func (a *accel) binding(k bpfplane.Key) *bpfplane.BindingStats {
	if a.plane == nil {
		return nil
	}
	s, ok, err := a.plane.Binding(k)
	if err != nil || !ok {
		return nil
	}
	return &s
}

// close detaches the kernel plane.
func (a *accel) close() {
	if a.plane != nil {
		if err := a.plane.Close(); err != nil {
			a.log.Warn("kernel data plane: detaching", "err", err)
		}
	}
	<-a.done
}

// DataPlaneStatus is the "dataplane" part of Status: the userspace
// plane's counters (at the top level, as before) and which plane is in
// front, with the kernel plane's counters.
type DataPlaneStatus struct {
	// Mode is "bpf" (the kernel plane handles the tunnels, the userspace
	// plane what it leaves) or "userspace".
	Mode       string `json:"mode"`
	Configured string `json:"configured"`
	// ModeReason says why the userspace plane is alone.
	ModeReason string `json:"mode_reason,omitempty"`
	dataplane.Stats
	BPF *bpfplane.Stats `json:"bpf,omitempty"`
}

// status is the data plane part of the daemon's status.
func (a *accel) status(user dataplane.Stats) json.RawMessage {
	s := DataPlaneStatus{Mode: "userspace", Configured: a.configured, ModeReason: a.reason, Stats: user}
	if a.plane != nil {
		st, err := a.plane.Stats()
		if err != nil && !errors.Is(err, bpfplane.ErrUnsupported) {
			a.log.Debug("kernel data plane counters", "err", err)
		}
		s.Mode, s.BPF = "bpf", &st
	}
	return mustJSON(s)
}
