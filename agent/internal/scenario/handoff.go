package scenario

import (
	"fmt"
	"net/netip"
	"time"
)

// MoveResult is one handoff of a run.
type MoveResult struct {
	N       int
	From    int
	To      int
	CareOf  netip.Addr
	NAT     netip.AddrPort // the endpoint the HA saw (the NAT mapping)
	Gap     time.Duration
	Lost    int
	Elapsed time.Duration // from the move until the HA held the new binding
	Err     error
}

// repeat runs one(1) … one(n), calling progress (if not nil) after each,
// and stops after the first whose errOf is not nil.
func repeat[T any](n int, one func(k int) T, errOf func(T) error, progress func(T)) []T {
	var out []T
	for k := 1; k <= n; k++ {
		m := one(k)
		out = append(out, m)
		if progress != nil {
			progress(m)
		}
		if errOf(m) != nil {
			break
		}
	}
	return out
}

// Run moves the mobile node n times between the two access networks while
// the probe and the stream run, and measures each handoff. progress, if
// not nil, is called after each move.
func (r *Roaming) Handoffs(p *Probe, n int, dwell time.Duration, progress func(MoveResult)) []MoveResult {
	var out []MoveResult
	for i := 1; i <= n; i++ {
		to := 3 - r.At
		res := MoveResult{N: i, From: r.At, To: to, CareOf: r.CareOfAt(to)}
		at := p.Now()
		start := time.Now()
		if err := r.MoveTo(to); err != nil {
			res.Err = err
			out = append(out, res)
			break
		}
		b, err := r.WaitBinding(r.CareOfAt(to), false, 10*time.Second)
		res.Elapsed = time.Since(start)
		if err != nil {
			res.Err = fmt.Errorf("move %d: %w", i, err)
		}
		res.NAT = b.Endpoint
		time.Sleep(dwell)
		h := p.Measure(at, p.Now()-5*p.Interval)
		res.Gap, res.Lost = h.Gap, h.Lost
		if !h.Recovered && res.Err == nil {
			res.Err = fmt.Errorf("move %d: traffic did not resume", i)
		}
		out = append(out, res)
		if progress != nil {
			progress(res)
		}
	}
	return out
}
