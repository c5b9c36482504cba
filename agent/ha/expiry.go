package ha

import (
	"container/heap"
	"net/netip"
	"time"
)

// expiries is a min-heap of binding expiry times with lazy deletion: an
// entry whose binding was renewed, moved or removed is skipped when it
// surfaces. Expire and NextTimer therefore cost O(log n) per binding
// change, not O(n) per call, which matters at a million bindings.
type expiries []expiry

type expiry struct {
	at       time.Time
	hoa, coa netip.Addr
}

func (h expiries) Len() int           { return len(h) }
func (h expiries) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiries) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiries) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiries) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// schedule records b's expiry. Renewals leave stale entries behind; when
// they outnumber live bindings three to one the heap is rebuilt, so its
// size stays proportional to the bindings whatever the renewal rate.
func (e *Engine) schedule(b *Binding) {
	if b.Infinite() {
		return
	}
	heap.Push(&e.expiries, expiry{at: b.Expires, hoa: b.HomeAddr, coa: b.CareOf})
	if n := len(e.expiries); n > 1024 && n > 4*e.numBindings() {
		e.rebuildExpiries()
	}
}

func (e *Engine) numBindings() int { return e.count }

func (e *Engine) rebuildExpiries() {
	h := e.expiries[:0]
	for _, bs := range e.bindings {
		for _, b := range bs {
			if !b.Infinite() {
				h = append(h, expiry{at: b.Expires, hoa: b.HomeAddr, coa: b.CareOf})
			}
		}
	}
	e.expiries = h
	heap.Init(&e.expiries)
}

// Expire removes the bindings whose lifetime has run out at now (RFC 5944
// §4.2.3: silently, without a reply; other simultaneous bindings of the
// node stay) and returns their removal events.
func (e *Engine) Expire(now time.Time) []Event {
	var events []Event
	for len(e.expiries) > 0 && !now.Before(e.expiries[0].at) {
		x := heap.Pop(&e.expiries).(expiry)
		bs := e.bindings[x.hoa]
		for i, b := range bs {
			if b.CareOf != x.coa || !b.Expires.Equal(x.at) {
				continue
			}
			events = append(events, Event{Kind: BindingRemoved, Binding: *b, Reason: "expired"})
			e.Counters.Expired.Add(1)
			e.touchAddr(x.hoa)
			e.setBindings(x.hoa, append(bs[:i:i], bs[i+1:]...), now)
			break
		}
	}
	return events
}

// NextTimer is when Expire or RevocationsDue next has work, or the zero
// time if never. It may be early (a stale heap entry); never late.
func (e *Engine) NextTimer() time.Time {
	next := e.nextRevocation()
	if len(e.expiries) > 0 && (next.IsZero() || e.expiries[0].at.Before(next)) {
		next = e.expiries[0].at
	}
	return next
}
