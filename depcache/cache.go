package depcache

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxEntries bounds a cache configured with neither MaxEntries nor
// MaxBytes.
const DefaultMaxEntries = 10_000

// maxNoted bounds how many invalidated dependencies (or predicates) one
// in-flight load remembers; past it the load is treated as invalidated
// entirely, which is always safe.
const maxNoted = 1024

// Loader loads the value of a key and returns what it depends on: the
// dependency names that, when invalidated, must drop the entry. Names are
// the application's own; using the same strings as the Cache-Tag header
// (item:room-deluxe, type:room, listing:rooms) lets purgehook's tag purges
// reach the cache unchanged.
type Loader[V any] func(ctx context.Context) (value V, deps []string, err error)

// Options configure a Cache. The zero value is a cache of DefaultMaxEntries
// entries without expiry or metrics.
type Options[K comparable, V any] struct {
	// Name labels the metrics (cache="<name>") and errors; default
	// "default". Caches sharing a Registerer need distinct names.
	Name string
	// TTL bounds how long an entry lives even if no invalidation arrives, so
	// that a lost webhook heals; 0 (the default) means entries live until
	// invalidated or evicted. Expiry is checked against a coarse clock: an
	// entry lives at most TTL + TTL/64 (the lag is clamped to 1ms..1s).
	TTL time.Duration
	// MaxEntries bounds the number of entries (default DefaultMaxEntries
	// when MaxBytes is 0 too; 0 with MaxBytes set means no count bound).
	MaxEntries int
	// MaxBytes bounds the sum of Size over all entries (0: no byte bound).
	// A value larger than MaxBytes on its own is returned but not cached.
	MaxBytes int64
	// Size returns an entry's size in bytes; required with MaxBytes.
	Size func(K, V) int64
	// Registerer, when set, receives the cache's metrics
	// (depcache_hits_total, …, labelled cache="<Name>").
	Registerer prometheus.Registerer
	// Now replaces the clock (tests). When set, every expiry check calls it;
	// without it hits read a coarse clock.
	Now func() time.Time
}

// Cache is a dependency-aware cache from K to V. It is safe for concurrent
// use.
type Cache[K comparable, V any] struct {
	// index holds the live entries, read without c.mu on the hit path; it
	// is written only with c.mu held.
	index sync.Map // K → *entry[K, V]
	stats counters

	name       string
	ttl        int64
	maxEntries int
	maxBytes   int64
	size       func(K, V) int64
	clock      clock

	mu    sync.Mutex
	byDep map[string]*depNode[K, V]
	// flights are the loads a caller may join, by key; running are all
	// loads not yet finished, including those an invalidation detached
	// from flights, which must still hear of later invalidations.
	flights map[K]*flight[V]
	running map[*flight[V]]struct{}
	// The SIEVE queue: head is the newest entry, tail the oldest; next
	// points toward the tail, prev toward the head. hand is where the next
	// eviction sweep resumes (nil: at the tail).
	head, tail, hand *entry[K, V]
	// count and bytes cover live entries only; dead entries wait in
	// pending until the sweeper unlinks them.
	count   int
	bytes   int64
	seq     uint64
	pending []*entry[K, V]
	// sweeping is true while a sweeper goroutine runs; sweepInline is how
	// many entries an invalidation unlinks itself before handing the rest
	// to one (tests lower it).
	sweeping    bool
	sweepInline int
}

type entry[K comparable, V any] struct {
	// The fields a hit reads come first, so that a hit touches one cache
	// line when V is small.
	expires int64 // on the cache's clock; 0: never
	// dead is set, with c.mu held, when an invalidation drops the entry;
	// hits check it, so the entry is gone before it is unlinked.
	dead atomicFlag
	// visited is set by hits (without c.mu) and cleared by the eviction
	// hand. It is read before it is written so that repeated hits on a hot
	// entry do not keep writing its cache line.
	visited atomicFlag
	value   V

	key  K
	deps []string
	// links[i] is where the entry sits in the node of deps[i].
	links      []link[K, V]
	size       int64
	unlinked   bool // guarded by c.mu
	prev, next *entry[K, V]
}

// depNode lists the entries that depend on one name. Entries are removed by
// swapping the last one into their place, which each entry's links make
// O(1): invalidating 100,000 dependents walks a slice instead of a map.
type depNode[K comparable, V any] struct {
	name    string
	entries []*entry[K, V]
	// detached: the node was dropped from byDep whole by an invalidation;
	// its dead entries need not be removed from it one by one.
	detached bool
}

type link[K comparable, V any] struct {
	node *depNode[K, V]
	pos  int
}

// flight is one load in progress. Waiters read val, deps, err and panicked
// after done is closed; the other fields are guarded by Cache.mu.
type flight[V any] struct {
	done     chan struct{}
	cancel   context.CancelFunc
	val      V
	deps     []string
	err      error
	panicked *PanicError

	waiters int
	// What was invalidated while the load ran.
	invalid []string
	preds   []func(string) bool
	all     bool
}

// PanicError is what callers waiting on a load see (as a panic) when the
// loader panicked: the load runs on its own goroutine, so the panic is
// carried over to every caller rather than crashing the process from a
// goroutine nobody can recover.
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string {
	return fmt.Sprintf("depcache: loader panicked: %v\n\n%s", p.Value, p.Stack)
}

// New returns a cache.
func New[K comparable, V any](opts Options[K, V]) (*Cache[K, V], error) {
	name := opts.Name
	if name == "" {
		name = "default"
	}
	switch {
	case opts.TTL < 0:
		return nil, fmt.Errorf("depcache[%s]: TTL must not be negative", name)
	case opts.MaxEntries < 0:
		return nil, fmt.Errorf("depcache[%s]: MaxEntries must not be negative", name)
	case opts.MaxBytes < 0:
		return nil, fmt.Errorf("depcache[%s]: MaxBytes must not be negative", name)
	case opts.MaxBytes > 0 && opts.Size == nil:
		return nil, fmt.Errorf("depcache[%s]: MaxBytes needs a Size function", name)
	}
	c := &Cache[K, V]{
		name:        name,
		ttl:         int64(opts.TTL),
		maxEntries:  opts.MaxEntries,
		maxBytes:    opts.MaxBytes,
		size:        opts.Size,
		byDep:       map[string]*depNode[K, V]{},
		flights:     map[K]*flight[V]{},
		running:     map[*flight[V]]struct{}{},
		sweepInline: sweepInline,
	}
	if c.maxEntries == 0 && c.maxBytes == 0 {
		c.maxEntries = DefaultMaxEntries
	}
	if opts.Now != nil {
		c.clock.fn, c.clock.base = opts.Now, opts.Now()
	} else if c.ttl > 0 {
		c.clock.coarse = newCoarseClock(resolutionFor(opts.TTL))
		runtime.AddCleanup(c, func(cl *coarseClock) { cl.stop() }, c.clock.coarse)
	}
	if opts.Registerer != nil {
		if err := c.register(opts.Registerer, name); err != nil {
			if c.clock.coarse != nil {
				c.clock.coarse.stop()
			}
			return nil, err
		}
	}
	return c, nil
}

// exactNow is the time new entries start from.
func (c *Cache[K, V]) exactNow() int64 { return c.clock.exact() }

func (c *Cache[K, V]) expired(e *entry[K, V], now int64) bool {
	return e.expires != 0 && e.expires <= now
}

// lookup is the hit path: one sync.Map load, two flag reads, an expiry
// check against the coarse clock, one striped atomic add.
func (c *Cache[K, V]) lookup(key K) *entry[K, V] {
	p, ok := c.index.Load(key)
	if !ok {
		return nil
	}
	e := p.(*entry[K, V])
	if e.dead.get() || (e.expires != 0 && e.expires <= c.clock.now()) {
		return nil
	}
	e.visited.set()
	c.stats.hits.inc()
	return e
}

// Get returns the cached value of key without loading it.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	if e := c.lookup(key); e != nil {
		return e.value, true
	}
	var zero V
	return zero, false
}

// GetOrLoad returns the cached value of key, or loads it with load: one
// load per key at a time, shared by every caller that misses meanwhile.
// Each caller waits within its own ctx; the load's context carries the first
// caller's values and is cancelled only when every waiting caller has gone.
// A failed load is not cached. If the loader panics, every waiting caller
// panics with a *PanicError. A loader must not wait for its own key (it
// would wait for itself); loading other keys, of this cache or another, is
// what GetOrLoadDeps is for.
func (c *Cache[K, V]) GetOrLoad(ctx context.Context, key K, load Loader[V]) (V, error) {
	if e := c.lookup(key); e != nil {
		return e.value, nil
	}
	v, _, err := c.load(ctx, key, load)
	return v, err
}

// GetOrLoadDeps is GetOrLoad that also returns the entry's dependencies,
// for loaders that build one entry from others: returning them among the
// outer entry's own makes invalidation transitive (invalidating a linked
// item drops the item and every listing built from it). The slice is the
// caller's to keep.
func (c *Cache[K, V]) GetOrLoadDeps(ctx context.Context, key K, load Loader[V]) (V, []string, error) {
	if e := c.lookup(key); e != nil {
		return e.value, slices.Clone(e.deps), nil
	}
	v, deps, err := c.load(ctx, key, load)
	return v, slices.Clone(deps), err
}

// load is the miss path: join the key's flight or start one, then wait.
func (c *Cache[K, V]) load(ctx context.Context, key K, load Loader[V]) (V, []string, error) {
	var zero V
	if err := ctx.Err(); err != nil {
		return zero, nil, err
	}
	c.mu.Lock()
	// A flight may have stored the key since the lock-free lookup missed.
	if e := c.lookup(key); e != nil {
		c.mu.Unlock()
		return e.value, e.deps, nil
	}
	c.stats.misses.Add(1)
	f := c.flights[key]
	if f == nil {
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight[V]{done: make(chan struct{}), cancel: cancel}
		c.flights[key] = f
		c.running[f] = struct{}{}
		c.stats.loads.Add(1)
		go c.run(lctx, key, f, load)
	}
	f.waiters++
	c.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		c.mu.Lock()
		f.waiters--
		last := f.waiters == 0
		if last && c.flights[key] == f {
			delete(c.flights, key)
		}
		c.mu.Unlock()
		if last {
			f.cancel()
		}
		return zero, nil, ctx.Err()
	}
	if f.panicked != nil {
		panic(f.panicked)
	}
	return f.val, f.deps, f.err
}

// run runs one load on its own goroutine and stores the result unless an
// invalidation made it stale.
func (c *Cache[K, V]) run(ctx context.Context, key K, f *flight[V], load Loader[V]) {
	defer close(f.done)
	defer f.cancel()
	func() {
		defer func() {
			if r := recover(); r != nil {
				f.panicked = &PanicError{Value: r, Stack: debug.Stack()}
			}
		}()
		var deps []string
		f.val, deps, f.err = load(ctx)
		f.deps = normalize(deps)
	}()

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flights[key] == f {
		delete(c.flights, key)
	}
	delete(c.running, f)
	switch {
	case f.panicked != nil || f.err != nil:
		c.stats.loadErrors.Add(1)
	case f.invalidated(f.deps):
		c.stats.discarded.Add(1)
	default:
		c.store(key, f.val, f.deps)
	}
}

// normalize sorts and deduplicates a loader's dependencies into a slice the
// cache owns.
func normalize(deps []string) []string {
	if len(deps) == 0 {
		return nil
	}
	d := slices.Clone(deps)
	slices.Sort(d)
	return slices.Clip(slices.Compact(d))
}

// invalidated reports whether anything the load depends on was invalidated
// while it ran. Called with Cache.mu held.
func (f *flight[V]) invalidated(deps []string) bool {
	if f.all {
		return true
	}
	for _, d := range deps {
		if slices.Contains(f.invalid, d) {
			return true
		}
		for _, p := range f.preds {
			if p(d) {
				return true
			}
		}
	}
	return false
}

// noteFlights tells every load in flight about an invalidation and detaches
// it from its key, so that callers arriving from now on start a fresh load
// instead of joining one that may have read stale content. Which loads the
// invalidation concerns is only known when they return their dependencies.
// Called with c.mu held.
func (c *Cache[K, V]) noteFlights(deps []string, pred func(string) bool, all bool) {
	clear(c.flights)
	for f := range c.running {
		switch {
		case all || f.all:
			f.all = true
		case len(f.invalid)+len(f.preds)+len(deps) > maxNoted:
			f.all, f.invalid, f.preds = true, nil, nil
		case pred != nil:
			f.preds = append(f.preds, pred)
		default:
			f.invalid = append(f.invalid, deps...)
		}
	}
}

// Len is the number of entries, expired ones not yet dropped included.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// Stats returns the counters.
func (c *Cache[K, V]) Stats() Stats {
	c.mu.Lock()
	n, b := c.count, c.bytes
	c.mu.Unlock()
	return Stats{
		Hits:          c.stats.hits.sum(),
		Misses:        c.stats.misses.Load(),
		Loads:         c.stats.loads.Load(),
		LoadErrors:    c.stats.loadErrors.Load(),
		Discarded:     c.stats.discarded.Load(),
		Evictions:     c.stats.evictions.Load(),
		Expirations:   c.stats.expirations.Load(),
		Invalidations: c.stats.invalidations.Load(),
		Entries:       n,
		Bytes:         b,
	}
}

// atomicFlag is a bool that hits set without a lock.
type atomicFlag struct{ v atomic.Uint32 }

func (f *atomicFlag) get() bool { return f.v.Load() != 0 }

// set reads before it writes: a store to an already set flag would still
// take the cache line exclusive and slow every other core reading it.
func (f *atomicFlag) set() {
	if f.v.Load() == 0 {
		f.v.Store(1)
	}
}

func (f *atomicFlag) clear() { f.v.Store(0) }
