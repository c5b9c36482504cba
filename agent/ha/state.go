package ha

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/mip4d/mip4d/agent/auth"
	"github.com/mip4d/mip4d/agent/internal/atomicfile"
)

// The home agent's state file: bindings, replay state and pool
// assignments, so a restart loses nothing (DESIGN.md §4). It is JSON,
// written atomically.

// StateVersion is the format version of the state file.
const StateVersion = 1

// State is the persistent part of an Engine.
type State struct {
	Version  int                  `json:"version"`
	Saved    time.Time            `json:"saved"`
	Bindings []Binding            `json:"bindings"`
	Replay   map[string]ReplayRec `json:"replay"` // by mobile node (NAI or home address)
	Pool     []PoolLease          `json:"pool,omitempty"`
}

// ReplayRec is one mobile node's replay state.
type ReplayRec struct {
	Last  uint64 `json:"last_id,omitempty"`
	Nonce uint32 `json:"nonce,omitempty"`
	// Accepted and Updated are the Identification and time of the last
	// accepted request (the replication merge rule, sync.go).
	Accepted uint64    `json:"accepted_id,omitempty"`
	Updated  time.Time `json:"updated,omitzero"`
}

// PoolLease is one pool assignment.
type PoolLease struct {
	NAI      string     `json:"nai"`
	Addr     netip.Addr `json:"addr"`
	Released time.Time  `json:"released,omitzero"`
}

// State captures the engine's persistent state.
func (e *Engine) State(now time.Time) State {
	st := State{Version: StateVersion, Saved: now, Bindings: e.Bindings(), Replay: map[string]ReplayRec{}}
	for _, mn := range e.mobileNodes() {
		if mn.replay != (auth.ReplayState{}) || mn.lastID != 0 || !mn.updated.IsZero() {
			st.Replay[mn.cfg.peer().String()] = ReplayRec{Last: mn.replay.Last, Nonce: mn.replay.Nonce,
				Accepted: mn.lastID, Updated: mn.updated}
		}
	}
	for nai, l := range e.pool.byNAI {
		st.Pool = append(st.Pool, PoolLease{NAI: nai, Addr: addrU32(l.addr), Released: l.released})
	}
	return st
}

func (e *Engine) mobileNodes() []*mobileNode {
	seen := map[*mobileNode]bool{}
	var out []*mobileNode
	for _, m := range e.byNAI {
		seen[m] = true
		out = append(out, m)
	}
	for _, m := range e.byAddr {
		if !seen[m] {
			out = append(out, m)
		}
	}
	return out
}

// Restore loads st into an engine that has its mobile nodes configured
// and no bindings yet. Bindings that expired while the daemon was down,
// or whose mobile node is no longer configured (or no longer owns that
// home address), are dropped. It returns BindingAdded events for the data
// plane and the number of bindings dropped.
func (e *Engine) Restore(st State, now time.Time) ([]Event, int, error) {
	if st.Version != StateVersion {
		return nil, 0, fmt.Errorf("ha: state file version %d, this mip4d reads %d", st.Version, StateVersion)
	}
	for id, r := range st.Replay {
		var mn *mobileNode
		if a, err := netip.ParseAddr(id); err == nil {
			mn = e.byAddr[a]
		} else {
			mn = e.byNAI[id]
		}
		if mn != nil {
			mn.replay = auth.ReplayState{Last: r.Last, Nonce: r.Nonce}
			mn.lastID, mn.updated = r.Accepted, r.Updated
		}
	}
	for _, l := range st.Pool {
		if _, ok := e.byNAI[l.NAI]; ok {
			e.pool.restore(l.NAI, l.Addr, l.Released)
		}
	}
	var events []Event
	dropped := 0
	for i := range st.Bindings {
		b := st.Bindings[i]
		if !b.Infinite() && !now.Before(b.Expires) || !e.owns(b) {
			dropped++
			continue
		}
		e.setBindings(b.HomeAddr, append(e.bindings[b.HomeAddr], &b), now)
		e.schedule(&b)
		events = append(events, Event{Kind: BindingAdded, Binding: b})
	}
	// Pool addresses whose binding did not come back start their hold.
	for nai, l := range e.pool.byNAI {
		if _, bound := e.bindings[addrU32(l.addr)]; !bound && l.released.IsZero() {
			e.pool.release(nai, now)
		}
	}
	return events, dropped, nil
}

// owns reports whether b belongs to a configured node with that address.
func (e *Engine) owns(b Binding) bool {
	if mn := e.byAddr[b.HomeAddr]; mn != nil {
		return b.NAI == mn.cfg.NAI
	}
	nai, ok := e.pool.owner(b.HomeAddr)
	return ok && nai == b.NAI && e.byNAI[nai] != nil
}

// SaveState writes the state file atomically (mode 0600: it reveals where
// users are).
func (e *Engine) SaveState(path string, now time.Time) error {
	b, err := json.MarshalIndent(e.State(now), "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}

// LoadState reads a state file; a missing file is an empty state.
func LoadState(path string) (State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return State{Version: StateVersion}, nil
	}
	if err != nil {
		return State{}, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("ha: state file %s: %v", path, err)
	}
	return st, nil
}
