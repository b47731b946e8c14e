package depcache

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are the cache's counters since it was created.
type Stats struct {
	// Hits are lookups answered from the cache.
	Hits uint64
	// Misses are lookups that had to wait for a load (their own or one
	// already in flight).
	Misses uint64
	// Loads are loader runs; LoadErrors those that failed or panicked.
	Loads      uint64
	LoadErrors uint64
	// Discarded are loads whose value was not stored because something it
	// depends on was invalidated while it ran.
	Discarded uint64
	// Evictions are entries dropped to stay within the size bounds;
	// Expirations entries dropped or replaced because their TTL passed.
	Evictions   uint64
	Expirations uint64
	// Invalidations are entries dropped by Invalidate, InvalidateMatching
	// and InvalidateAll.
	Invalidations uint64
	// Entries and Bytes are the current contents (Bytes is the sum of
	// Options.Size, or 0 without it).
	Entries int
	Bytes   int64
}

// stripes spreads the hit counter over cache lines, so that hits from
// different cores do not all write one line.
const stripes = 32

// Each stripe's counter is preceded by 120 bytes of padding, so that no two
// counters, and no counter and the fields before the array, share a cache
// line or an adjacent-line prefetch pair.
type stripedCounter [stripes]struct {
	_ [120]byte
	n atomic.Uint64
}

// inc adds one to the calling goroutine's stripe. The stripe comes from
// the address of the goroutine's stack: a goroutine keeps writing the same
// line, which so stays in the cache of the core running it, and goroutines
// running at the same time rarely share one. (Striping by entry would not
// do: every core would write every stripe in turn, and the lines would
// move between cores on nearly every hit.) Go offers no processor id; the
// stack address is the cheapest stand-in.
func (s *stripedCounter) inc() {
	var b byte
	a := uint64(uintptr(unsafe.Pointer(&b)) >> 10)
	s[(a*0x9E3779B97F4A7C15)>>59].n.Add(1) // Fibonacci hashing: the top 5 bits
}

func (s *stripedCounter) sum() uint64 {
	var t uint64
	for i := range s {
		t += s[i].n.Load()
	}
	return t
}

type counters struct {
	hits          stripedCounter
	misses        atomic.Uint64
	loads         atomic.Uint64
	loadErrors    atomic.Uint64
	discarded     atomic.Uint64
	evictions     atomic.Uint64
	expirations   atomic.Uint64
	invalidations atomic.Uint64
}

// register exposes the counters through reg. The metrics read the same
// atomics Stats reads (CounterFunc), so a hit costs one atomic add whether
// or not anyone scrapes.
func (c *Cache[K, V]) register(reg prometheus.Registerer, name string) error {
	labels := prometheus.Labels{"cache": name}
	counter := func(metric, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "depcache", Name: metric, Help: help, ConstLabels: labels,
		}, func() float64 { return float64(f()) })
	}
	gauge := func(metric, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "depcache", Name: metric, Help: help, ConstLabels: labels,
		}, f)
	}
	cs := []prometheus.Collector{
		counter("hits_total", "Lookups answered from the cache.", c.stats.hits.sum),
		counter("misses_total", "Lookups that waited for a load.", c.stats.misses.Load),
		counter("loads_total", "Loader runs.", c.stats.loads.Load),
		counter("load_errors_total", "Loader runs that failed or panicked.", c.stats.loadErrors.Load),
		counter("loads_discarded_total", "Loaded values not stored because a dependency was invalidated during the load.", c.stats.discarded.Load),
		counter("evictions_total", "Entries evicted to stay within the size bound.", c.stats.evictions.Load),
		counter("expirations_total", "Entries dropped because their TTL passed.", c.stats.expirations.Load),
		counter("invalidations_total", "Entries dropped by invalidation.", c.stats.invalidations.Load),
		gauge("entries", "Entries in the cache.", func() float64 { return float64(c.Stats().Entries) }),
		gauge("bytes", "Sum of the entries' sizes (0 without a Size function).", func() float64 { return float64(c.Stats().Bytes) }),
	}
	for i, m := range cs {
		if err := reg.Register(m); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("depcache[%s]: register metrics: %w", name, err)
		}
	}
	return nil
}
