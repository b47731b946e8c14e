package depcache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// refCache is the reference implementation the model-based test compares
// the Cache against: the same contract written as plainly as possible, with
// a slice for the SIEVE queue and linear scans everywhere.
type refCache struct {
	q          []*refEntry // q[0] is the newest entry
	hand       *refEntry   // nil: the sweep starts at the oldest
	ttl        int64
	maxEntries int
	maxBytes   int64
	size       func(string) int64
	stats      Stats
}

type refEntry struct {
	key     string
	val     string
	deps    []string
	expires int64
	size    int64
	visited bool
}

func (r *refCache) index(e *refEntry) int { return slices.Index(r.q, e) }

func (r *refCache) find(key string) *refEntry {
	for _, e := range r.q {
		if e.key == key {
			return e
		}
	}
	return nil
}

func (r *refCache) expired(e *refEntry, now int64) bool { return e.expires != 0 && e.expires <= now }

// prev is the next newer entry (toward q[0]); nil at the head.
func (r *refCache) prev(e *refEntry) *refEntry {
	if i := r.index(e); i > 0 {
		return r.q[i-1]
	}
	return nil
}

func (r *refCache) remove(e *refEntry) {
	if r.hand == e {
		r.hand = r.prev(e)
	}
	r.q = slices.Delete(r.q, r.index(e), r.index(e)+1)
	r.stats.Entries--
	r.stats.Bytes -= e.size
}

func (r *refCache) get(key string, now int64) (*refEntry, bool) {
	e := r.find(key)
	if e == nil || r.expired(e, now) {
		return nil, false
	}
	e.visited = true
	r.stats.Hits++
	return e, true
}

func (r *refCache) evict(now int64) {
	o := r.hand
	if o == nil {
		o = r.q[len(r.q)-1]
	}
	for !r.expired(o, now) && o.visited {
		o.visited = false
		if o = r.prev(o); o == nil {
			o = r.q[len(r.q)-1]
		}
	}
	r.hand = r.prev(o)
	if r.expired(o, now) {
		r.stats.Expirations++
	} else {
		r.stats.Evictions++
	}
	r.remove(o)
}

func (r *refCache) store(key, val string, deps []string, now int64) {
	var size int64
	if r.size != nil {
		size = r.size(val)
	}
	if r.maxBytes > 0 && size > r.maxBytes {
		return
	}
	if old := r.find(key); old != nil {
		if r.expired(old, now) {
			r.stats.Expirations++
		}
		r.remove(old)
	}
	for len(r.q) > 0 && ((r.maxEntries > 0 && len(r.q) >= r.maxEntries) || (r.maxBytes > 0 && r.stats.Bytes+size > r.maxBytes)) {
		r.evict(now)
	}
	e := &refEntry{key: key, val: val, deps: normalize(deps), size: size}
	if r.ttl > 0 {
		e.expires = now + r.ttl
	}
	r.q = slices.Insert(r.q, 0, e)
	r.stats.Entries++
	r.stats.Bytes += size
}

func (r *refCache) invalidate(match func(string) bool) int {
	n := 0
	for _, e := range slices.Clone(r.q) {
		if slices.ContainsFunc(e.deps, match) {
			r.remove(e)
			n++
		}
	}
	r.stats.Invalidations += uint64(n)
	return n
}

func (r *refCache) invalidateAll() int {
	n := len(r.q)
	r.q, r.hand = nil, nil
	r.stats.Entries, r.stats.Bytes = 0, 0
	r.stats.Invalidations += uint64(n)
	return n
}

// world is the content the loaders read: each key depends on a fixed set of
// dependency names, and listing keys ("list*") are built from item entries
// through GetOrLoadDeps.
type world struct {
	deps     map[string][]string
	children map[string][]string
	loads    int
}

func newWorld(rng *rand.Rand, nItems, nLists, nDeps int) *world {
	w := &world{deps: map[string][]string{}, children: map[string][]string{}}
	for i := range nItems {
		k := fmt.Sprintf("item%d", i)
		for range 1 + rng.IntN(3) {
			w.deps[k] = append(w.deps[k], fmt.Sprintf("dep%d", rng.IntN(nDeps)))
		}
	}
	for i := range nLists {
		k := fmt.Sprintf("list%d", i)
		w.deps[k] = []string{fmt.Sprintf("listing:%d", i)}
		for range 1 + rng.IntN(3) {
			w.children[k] = append(w.children[k], fmt.Sprintf("item%d", rng.IntN(nItems)))
		}
	}
	return w
}

func (w *world) keys() []string {
	ks := make([]string, 0, len(w.deps))
	for k := range w.deps {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (w *world) allDeps() []string {
	var ds []string
	for _, d := range w.deps {
		ds = append(ds, d...)
	}
	slices.Sort(ds)
	return slices.Compact(ds)
}

// model drives a Cache and a refCache with the same operations.
type model struct {
	t     *testing.T
	c     *Cache[string, string]
	r     *refCache
	w     *world
	now   time.Time
	start time.Time
}

func (m *model) clock() int64 { return int64(m.now.Sub(m.start)) }

// refGet mirrors GetOrLoadDeps: a hit, or a load that first gets the
// children (in order, each a hit or a load of its own), then stores.
func (m *model) refGet(key string) (string, []string) {
	if e, ok := m.r.get(key, m.clock()); ok {
		return e.val, e.deps
	}
	m.r.stats.Misses++
	m.r.stats.Loads++
	deps := slices.Clone(m.w.deps[key])
	var parts []string
	for _, ch := range m.w.children[key] {
		v, d := m.refGet(ch)
		parts = append(parts, v)
		deps = append(deps, d...)
	}
	m.w.loads++
	val := fmt.Sprintf("%s#%d", key, m.w.loads)
	if len(parts) > 0 {
		val += "[" + strings.Join(parts, ",") + "]"
	}
	m.r.store(key, val, deps, m.clock())
	return val, normalize(deps)
}

// loader is the Cache's loader for key, producing the same values as
// refGet when both run the same sequence.
func (m *model) loader(key string) Loader[string] {
	return func(ctx context.Context) (string, []string, error) {
		deps := slices.Clone(m.w.deps[key])
		var parts []string
		for _, ch := range m.w.children[key] {
			v, d, err := m.c.GetOrLoadDeps(ctx, ch, m.loader(ch))
			if err != nil {
				return "", nil, err
			}
			parts = append(parts, v)
			deps = append(deps, d...)
		}
		m.w.loads++
		val := fmt.Sprintf("%s#%d", key, m.w.loads)
		if len(parts) > 0 {
			val += "[" + strings.Join(parts, ",") + "]"
		}
		return val, deps, nil
	}
}

func (m *model) check(step int, op string) {
	m.t.Helper()
	var got []string
	m.c.mu.Lock()
	for e := m.c.head; e != nil; e = e.next {
		if e.dead.get() {
			continue // killed, waiting for the sweeper
		}
		got = append(got, fmt.Sprintf("%s=%s v%t", e.key, e.value, e.visited.get()))
	}
	hand := "tail"
	if m.c.hand != nil {
		hand = fmt.Sprint(m.c.hand.key)
	}
	m.c.mu.Unlock()
	var want []string
	for _, e := range m.r.q {
		want = append(want, fmt.Sprintf("%s=%s v%t", e.key, e.val, e.visited))
	}
	wantHand := "tail"
	if m.r.hand != nil {
		wantHand = m.r.hand.key
	}
	if !slices.Equal(got, want) || hand != wantHand {
		m.t.Fatalf("step %d (%s): queue\n got  %v hand %s\n want %v hand %s", step, op, got, hand, want, wantHand)
	}
	if s := m.c.Stats(); s != m.r.stats {
		m.t.Fatalf("step %d (%s): stats\n got  %+v\n want %+v", step, op, s, m.r.stats)
	}
}

// TestModel runs random operation sequences against the Cache and the
// reference implementation and compares, after every operation, the
// values returned, whether a load ran, the SIEVE queue (order, visited
// flags, hand), and every counter.
func TestModel(t *testing.T) {
	t.Parallel()
	configs := []struct {
		name       string
		ttl        time.Duration
		maxEntries int
		maxBytes   int64
		// sweepInline 0 leaves every invalidation's unlinking to the
		// sweeper goroutine.
		sweepInline int
	}{
		{"unbounded", 0, 1 << 20, 0, sweepInline},
		{"entries", 0, 8, 0, sweepInline},
		{"entries_ttl", time.Minute, 6, 0, sweepInline},
		{"bytes", 0, 0, 120, sweepInline},
		{"bytes_entries_ttl", 30 * time.Second, 10, 200, sweepInline},
		{"entries_swept", 0, 8, 0, 0},
		{"bytes_entries_ttl_swept", 30 * time.Second, 10, 200, 0},
	}
	for _, cfg := range configs {
		for seed := range uint64(25) {
			t.Run(fmt.Sprintf("%s/seed%d", cfg.name, seed), func(t *testing.T) {
				t.Parallel()
				runModel(t, seed, cfg.ttl, cfg.maxEntries, cfg.maxBytes, cfg.sweepInline)
			})
		}
	}
}

func runModel(t *testing.T, seed uint64, ttl time.Duration, maxEntries int, maxBytes int64, inline int) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	w := newWorld(rng, 20, 5, 12)
	m := &model{t: t, w: w, start: time.Date(2026, 3, 5, 14, 30, 0, 0, time.UTC)}
	m.now = m.start
	size := func(v string) int64 { return int64(len(v)) }
	opts := Options[string, string]{TTL: ttl, MaxEntries: maxEntries, MaxBytes: maxBytes, Now: func() time.Time { return m.now }}
	if maxBytes > 0 {
		opts.Size = func(_, v string) int64 { return size(v) }
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c.sweepInline = inline
	m.c = c
	m.r = &refCache{ttl: int64(ttl), maxEntries: maxEntries, maxBytes: maxBytes}
	if maxBytes > 0 {
		m.r.size = size
	}
	keys, deps := w.keys(), w.allDeps()
	ctx := context.Background()
	for step := range 600 {
		var op string
		switch p := rng.IntN(100); {
		case p < 65:
			key := keys[rng.IntN(len(keys))]
			op = "get " + key
			wloads := w.loads
			v, d, err := c.GetOrLoadDeps(ctx, key, m.loader(key))
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			// Replay the same loads on the reference: reset the value
			// counter so both number their loads alike.
			gotLoads := w.loads
			w.loads = wloads
			rv, rd := m.refGet(key)
			if v != rv || !slices.Equal(d, rd) {
				t.Fatalf("step %d (%s): got %q %v, want %q %v", step, op, v, d, rv, rd)
			}
			if w.loads != gotLoads {
				t.Fatalf("step %d (%s): the cache ran %d loads, the reference %d", step, op, gotLoads-wloads, w.loads-wloads)
			}
		case p < 80:
			n := 1 + rng.IntN(3)
			ds := make([]string, n)
			for i := range ds {
				ds[i] = deps[rng.IntN(len(deps))]
			}
			op = fmt.Sprintf("invalidate %v", ds)
			got := c.Invalidate(ds...)
			if want := m.r.invalidate(func(d string) bool { return slices.Contains(ds, d) }); got != want {
				t.Fatalf("step %d (%s): dropped %d, want %d", step, op, got, want)
			}
		case p < 87:
			prefix := fmt.Sprintf("dep%d", rng.IntN(2))
			op = "invalidate prefix " + prefix
			match := func(d string) bool { return strings.HasPrefix(d, prefix) }
			if got, want := c.InvalidateMatching(match), m.r.invalidate(match); got != want {
				t.Fatalf("step %d (%s): dropped %d, want %d", step, op, got, want)
			}
		case p < 89:
			op = "invalidate all"
			if got, want := c.InvalidateAll(), m.r.invalidateAll(); got != want {
				t.Fatalf("step %d (%s): dropped %d, want %d", step, op, got, want)
			}
		default:
			d := time.Duration(rng.IntN(20)) * time.Second
			op = "advance " + d.String()
			m.now = m.now.Add(d)
		}
		m.check(step, op)
	}
}
