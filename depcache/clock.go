package depcache

import (
	"sync"
	"sync/atomic"
	"time"
)

// clock is a cache's time source, in nanoseconds since the cache began. It
// is not generic, so the hit path inlines it.
type clock struct {
	coarse *coarseClock
	// fn and base replace it in tests (Options.Now).
	fn   func() time.Time
	base time.Time
}

// now is cheap and never ahead of the real time; 0 without a TTL or Now.
func (c *clock) now() int64 {
	if c.coarse != nil {
		return c.coarse.nanos.Load()
	}
	return c.injected()
}

// injected reads Options.Now; kept apart so that now stays inlinable.
func (c *clock) injected() int64 {
	if c.fn != nil {
		return int64(c.fn().Sub(c.base))
	}
	return 0
}

// exact reads the real time (stores use it, so new entries start exactly).
func (c *clock) exact() int64 {
	if c.coarse != nil {
		return c.coarse.refresh()
	}
	return c.now()
}

// coarseClock is a monotonic clock that is read with one atomic load. On
// some virtual machines time.Now costs more than a whole cache hit (over
// 100ns where the clock source is not the TSC), so hits compare expiry
// against this instead. A self-rearming time.AfterFunc refreshes it: unlike
// a ticking goroutine it holds no goroutine between ticks, so it neither
// keeps a testing/synctest bubble alive nor leaks when a cache is dropped
// (a cleanup on the Cache stops it).
type coarseClock struct {
	base   time.Time
	nanos  atomic.Int64
	period time.Duration

	mu    sync.Mutex // the timer may fire before AfterFunc returns
	timer *time.Timer
	done  atomic.Bool
}

// Clock resolution bounds: an entry lives at most TTL plus the resolution,
// which is TTL/64 clamped to [minResolution, maxResolution].
const (
	minResolution = time.Millisecond
	maxResolution = time.Second
)

func resolutionFor(ttl time.Duration) time.Duration {
	return min(max(ttl/64, minResolution), maxResolution)
}

func newCoarseClock(period time.Duration) *coarseClock {
	c := &coarseClock{base: time.Now(), period: period}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timer = time.AfterFunc(period, c.tick)
	return c
}

func (c *coarseClock) tick() {
	if c.done.Load() {
		return
	}
	c.refresh()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timer.Reset(c.period)
}

// refresh reads the real time; the slow paths (stores) call it so that new
// entries get an exact start.
func (c *coarseClock) refresh() int64 {
	n := int64(time.Since(c.base))
	for {
		old := c.nanos.Load()
		if n <= old || c.nanos.CompareAndSwap(old, n) {
			return max(n, old)
		}
	}
}

// stop makes the next tick the last. It does not call Timer.Stop: the
// cleanup that calls it runs on the runtime's cleanup goroutine, and a
// timer created inside a testing/synctest bubble must not be stopped from
// outside it.
func (c *coarseClock) stop() { c.done.Store(true) }
