package daemon

import (
	"context"
	"log/slog"
	"time"
)

// rateLog keeps hostile or broken peers from flooding the log (and a
// router's flash): per kind of message, at most burst lines per interval;
// the rest are counted and summarised once the interval is over.
type rateLog struct {
	log      *slog.Logger
	burst    int
	interval time.Duration
	now      func() time.Time
	kinds    map[string]*rateKind
}

type rateKind struct {
	start      time.Time
	n          int
	suppressed int
}

func newRateLog(log *slog.Logger, burst int, interval time.Duration, now func() time.Time) *rateLog {
	return &rateLog{log: log, burst: burst, interval: interval, now: now, kinds: map[string]*rateKind{}}
}

// Log writes msg at level unless this kind has used its burst.
func (r *rateLog) Log(level slog.Level, kind, msg string, args ...any) {
	if !r.log.Enabled(context.Background(), level) {
		return
	}
	now := r.now()
	k := r.kinds[kind]
	if k == nil {
		k = &rateKind{start: now}
		r.kinds[kind] = k
	}
	if now.Sub(k.start) >= r.interval {
		if k.suppressed > 0 {
			r.log.Log(context.Background(), level, "similar messages suppressed", "kind", kind, "count", k.suppressed,
				"over", now.Sub(k.start).Round(time.Second))
		}
		k.start, k.n, k.suppressed = now, 0, 0
	}
	if k.n >= r.burst {
		k.suppressed++
		return
	}
	k.n++
	r.log.Log(context.Background(), level, msg, args...)
}
