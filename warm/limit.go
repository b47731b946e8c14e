package warm

import (
	"context"
	"slices"
	"sync"
	"time"
)

// LimitOptions configure a Limiter.
type LimitOptions struct {
	// Total is the most warm-up requests in flight at once in the process,
	// whichever origin they go to (default 5).
	Total int
	// PerOrigin is the most in flight at once to one origin host (default
	// Total). Back-off lowers it while the origin struggles.
	PerOrigin int
	// Delay is the pause after each request before its slot is used again
	// (0: none). Back-off lengthens it while the origin struggles.
	Delay time.Duration
	// Backoff says when an origin struggles; the zero value takes the
	// defaults.
	Backoff Backoff
	// OnChange, when set, hears each change of an origin's bound (for the
	// log); it runs with the Limiter's lock held and must not call it.
	OnChange func(origin string, s OriginState)
	// Shared, when set, bounds each origin across processes too (replicas
	// on one PostgreSQL store): a request also takes one of its slots.
	Shared Shared
	// SharedRetry is how long to wait before asking Shared again when
	// every slot is taken (default 100ms).
	SharedRetry time.Duration
}

// Shared hands out a fixed number of slots per origin to every process
// that asks: app implements it with the store's leases.
type Shared interface {
	// Take takes a slot for a request to origin; ok is false when every
	// slot is held. give gives it back.
	Take(ctx context.Context, origin string) (give func(), ok bool, err error)
}

// Backoff holds the thresholds on an origin's recent latency and error
// rate (exponentially weighted moving averages of its warm-up outcomes)
// past which the Limiter halves the origin's concurrency and doubles its
// delay, and below which it restores them step by step.
type Backoff struct {
	// Latency: an average response time above it means the origin is slow
	// (default 2s).
	Latency time.Duration
	// ErrorRate: a share of failed requests (no answer, 5xx or 429) above
	// it means the origin is failing (default 0.2).
	ErrorRate float64
	// MaxDelay caps the lengthened delay (default 10s).
	MaxDelay time.Duration
}

// Backoff defaults.
const (
	DefaultBackoffLatency   = 2 * time.Second
	DefaultBackoffErrorRate = 0.2
	DefaultBackoffMaxDelay  = 10 * time.Second
	// ewmaWeight is the weight of the newest outcome in the averages: the
	// last five or so outcomes dominate, so one slow page does not halve
	// the bound but a run of them does.
	ewmaWeight = 0.3
	// minBackoffDelay is the delay back-off starts from when none is
	// configured.
	minBackoffDelay = 100 * time.Millisecond
)

// OriginState is what the Limiter knows of one origin.
type OriginState struct {
	// Limit is the origin's current bound (PerOrigin when healthy).
	Limit int
	// Delay is its current pause between requests on a slot.
	Delay time.Duration
	// Latency and ErrorRate are the moving averages.
	Latency   time.Duration
	ErrorRate float64
	// Struggling reports that the averages are past a threshold.
	Struggling bool
}

// A Limiter bounds the warm-up requests of a whole process: every warm job
// shares it, so the bound holds however many batches warm at once. It
// grants slots by importance first (a lower tier first: a site's warm list
// and home pages before list pages before the rest), then in the order
// asked, and backs off an origin whose latency or error rate rises.
type Limiter struct {
	o        LimitOptions
	mu       sync.Mutex
	inFlight int
	origins  map[string]*origin
	waiters  []*waiter
	seq      uint64
}

type origin struct {
	inFlight int
	OriginState
	seen    bool
	streak  int // outcomes since the bound last changed
	healthy int // healthy outcomes in a row
}

type waiter struct {
	origin  string
	tier    int
	seq     uint64
	ready   chan struct{}
	granted bool
}

// NewLimiter returns a Limiter with defaults for unset options.
func NewLimiter(o LimitOptions) *Limiter {
	if o.Total <= 0 {
		o.Total = 5
	}
	if o.PerOrigin <= 0 || o.PerOrigin > o.Total {
		o.PerOrigin = o.Total
	}
	if o.Backoff.Latency <= 0 {
		o.Backoff.Latency = DefaultBackoffLatency
	}
	if o.Backoff.ErrorRate <= 0 {
		o.Backoff.ErrorRate = DefaultBackoffErrorRate
	}
	if o.Backoff.MaxDelay <= 0 {
		o.Backoff.MaxDelay = DefaultBackoffMaxDelay
	}
	if o.SharedRetry <= 0 {
		o.SharedRetry = 100 * time.Millisecond
	}
	return &Limiter{o: o, origins: map[string]*origin{}}
}

// Total is the process-wide bound.
func (l *Limiter) Total() int { return l.o.Total }

// State returns what the Limiter knows of an origin (host:port).
func (l *Limiter) State(host string) OriginState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.origin(host).OriginState
}

func (l *Limiter) origin(host string) *origin {
	o, ok := l.origins[host]
	if !ok {
		o = &origin{OriginState: OriginState{Limit: l.o.PerOrigin, Delay: l.o.Delay}}
		l.origins[host] = o
	}
	return o
}

// Acquire waits for a slot to host (host:port) at the given tier and
// returns the pause to make after the request before Release, or ctx's
// error when ctx ends first.
func (l *Limiter) Acquire(ctx context.Context, host string, tier int) (time.Duration, error) {
	l.mu.Lock()
	l.seq++
	w := &waiter{origin: host, tier: tier, seq: l.seq, ready: make(chan struct{})}
	i, _ := slices.BinarySearchFunc(l.waiters, w, func(a, b *waiter) int {
		if a.tier != b.tier {
			return a.tier - b.tier
		}
		if a.seq < b.seq {
			return -1
		}
		return 1
	})
	l.waiters = slices.Insert(l.waiters, i, w)
	l.grant()
	l.mu.Unlock()
	select {
	case <-w.ready:
		if ctx.Err() == nil {
			return l.delay(host), nil
		}
		// Both at once: ctx ending wins, so that nothing starts after.
		l.mu.Lock()
		defer l.mu.Unlock()
		l.free(host)
		return 0, ctx.Err()
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		if w.granted {
			// Granted as ctx ended: hand the slot on.
			l.free(host)
		} else {
			l.waiters = slices.DeleteFunc(l.waiters, func(x *waiter) bool { return x == w })
		}
		return 0, ctx.Err()
	}
}

func (l *Limiter) delay(host string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.origin(host).Delay
}

// grant hands free slots to waiters, most important first; a waiter whose
// origin is at its bound does not hold up one for another origin.
func (l *Limiter) grant() {
	for i := 0; i < len(l.waiters) && l.inFlight < l.o.Total; {
		w := l.waiters[i]
		o := l.origin(w.origin)
		if o.inFlight >= o.Limit {
			i++
			continue
		}
		o.inFlight++
		l.inFlight++
		w.granted = true
		close(w.ready)
		l.waiters = slices.Delete(l.waiters, i, i+1)
	}
}

func (l *Limiter) free(host string) {
	l.origin(host).inFlight--
	l.inFlight--
	l.grant()
}

// Release gives back a slot taken by Acquire, after the pause it returned.
func (l *Limiter) Release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.free(host)
}

// Observe feeds one outcome of a request to host into the origin's
// averages and adjusts its bound: halved (at least 1) with the delay
// doubled when the origin struggles, at most once per bound's worth of
// outcomes; one step back up, the delay halved towards the configured one,
// after a bound's worth of healthy outcomes in a row.
func (l *Limiter) Observe(host string, took time.Duration, failed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.origin(host)
	e := 0.0
	if failed {
		e = 1
	}
	if !o.seen {
		o.seen = true
		o.Latency, o.ErrorRate = took, e
	} else {
		o.Latency = time.Duration(ewmaWeight*float64(took) + (1-ewmaWeight)*float64(o.Latency))
		o.ErrorRate = ewmaWeight*e + (1-ewmaWeight)*o.ErrorRate
	}
	o.Struggling = o.Latency > l.o.Backoff.Latency || o.ErrorRate > l.o.Backoff.ErrorRate
	o.streak++
	before := o.OriginState
	if o.Struggling {
		o.healthy = 0
		if o.streak >= o.Limit && (o.Limit > 1 || o.Delay < l.o.Backoff.MaxDelay) {
			o.Limit = max(1, o.Limit/2)
			o.Delay = min(max(2*o.Delay, minBackoffDelay), l.o.Backoff.MaxDelay)
			o.streak = 0
		}
	} else {
		o.healthy++
		if o.healthy >= o.Limit && (o.Limit < l.o.PerOrigin || o.Delay > l.o.Delay) {
			o.Limit = min(o.Limit+1, l.o.PerOrigin)
			o.Delay = max(o.Delay/2, l.o.Delay)
			if o.Delay < minBackoffDelay {
				o.Delay = l.o.Delay
			}
			o.streak, o.healthy = 0, 0
		}
	}
	if (o.Limit != before.Limit || o.Delay != before.Delay) && l.o.OnChange != nil {
		l.o.OnChange(host, o.OriginState)
	}
	// A raised bound may let a waiter in.
	l.grant()
}

// failedOutcome reports an outcome that says the origin is in trouble: no
// answer, a 5xx or a 429. A 404 is the page's business, not the origin's.
func failedOutcome(o Outcome) bool {
	return o.Err != nil || o.Status >= 500 || o.Status == 429
}

// waiting is how many requests wait for a slot (tests).
func (l *Limiter) waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiters)
}

// takeShared waits for a slot of Shared (when set) and returns the func
// that gives it back. A store that fails to answer does not stop warm-ups:
// the process's own bound still holds, and err says why.
func (l *Limiter) takeShared(ctx context.Context, host string, sleep func(context.Context, time.Duration) error) (give func(), err error) {
	if l.o.Shared == nil {
		return func() {}, nil
	}
	for {
		give, ok, err := l.o.Shared.Take(ctx, host)
		if err != nil {
			return func() {}, err
		}
		if ok {
			return give, nil
		}
		if err := sleep(ctx, l.o.SharedRetry); err != nil {
			return func() {}, err
		}
	}
}
