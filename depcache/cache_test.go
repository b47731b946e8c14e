package depcache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func newCache[K comparable, V any](t *testing.T, opts Options[K, V]) *Cache[K, V] {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fixed returns a loader of a constant value that counts its calls.
func fixed[V any](v V, calls *atomic.Int64, deps ...string) Loader[V] {
	return func(context.Context) (V, []string, error) {
		calls.Add(1)
		return v, deps, nil
	}
}

// keys lists the queue from newest to oldest, without touching visited
// flags.
func (c *Cache[K, V]) keys() []K {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ks []K
	for e := c.head; e != nil; e = e.next {
		ks = append(ks, e.key)
	}
	return ks
}

func TestGetOrLoadHitAndMiss(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := newCache(t, Options[string, string]{})
	var calls atomic.Int64
	for i := range 3 {
		v, err := c.GetOrLoad(ctx, "k", fixed("v", &calls, "item:a"))
		if err != nil || v != "v" {
			t.Fatalf("get %d: %q, %v", i, v, err)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("loader ran %d times, want 1", calls.Load())
	}
	if v, ok := c.Get("k"); !ok || v != "v" {
		t.Errorf("Get = %q, %v", v, ok)
	}
	if _, ok := c.Get("missing"); ok {
		t.Error("Get of a missing key reported a hit")
	}
	s := c.Stats()
	if s.Hits != 3 || s.Misses != 1 || s.Loads != 1 || s.Entries != 1 {
		t.Errorf("stats = %+v, want 3 hits (2 GetOrLoad, 1 Get), 1 miss, 1 load, 1 entry", s)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]Options[string, string]{
		"negative ttl":         {TTL: -1},
		"negative max entries": {MaxEntries: -1},
		"negative max bytes":   {MaxBytes: -1},
		"bytes without size":   {MaxBytes: 10},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestLoadErrorIsNotCached(t *testing.T) {
	t.Parallel()
	c := newCache(t, Options[string, int]{})
	boom := errors.New("delivery api: 503")
	calls := 0
	load := func(context.Context) (int, []string, error) {
		calls++
		if calls == 1 {
			return 0, nil, boom
		}
		return 7, []string{"item:x"}, nil
	}
	if _, err := c.GetOrLoad(t.Context(), "k", load); !errors.Is(err, boom) {
		t.Fatalf("first load: %v, want %v", err, boom)
	}
	if v, err := c.GetOrLoad(t.Context(), "k", load); err != nil || v != 7 {
		t.Fatalf("second load: %v, %v", v, err)
	}
	if s := c.Stats(); s.LoadErrors != 1 || s.Loads != 2 {
		t.Errorf("stats = %+v, want 1 load error of 2 loads", s)
	}
}

func TestLoaderPanicReachesEveryCaller(t *testing.T) {
	t.Parallel()
	c := newCache(t, Options[string, int]{})
	defer func() {
		r := recover()
		pe, ok := r.(*PanicError)
		if !ok || pe.Value != "bad template" || !strings.Contains(pe.Error(), "bad template") {
			t.Fatalf("recovered %v (%T), want a *PanicError carrying the loader's value", r, r)
		}
		if _, ok := c.Get("k"); ok {
			t.Error("a panicking load was cached")
		}
	}()
	_, _ = c.GetOrLoad(t.Context(), "k", func(context.Context) (int, []string, error) { panic("bad template") })
	t.Fatal("GetOrLoad returned after the loader panicked")
}

func TestSingleFlight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t, Options[string, string]{})
		release := make(chan struct{})
		var calls atomic.Int64
		load := func(context.Context) (string, []string, error) {
			calls.Add(1)
			<-release
			return "v", []string{"item:a"}, nil
		}
		const n = 50
		var wg sync.WaitGroup
		results := make(chan string, n)
		for range n {
			wg.Go(func() {
				v, err := c.GetOrLoad(t.Context(), "k", load)
				if err != nil {
					t.Error(err)
				}
				results <- v
			})
		}
		synctest.Wait() // every caller is blocked: on the load, or waiting for it
		if got := calls.Load(); got != 1 {
			t.Fatalf("%d loads under a stampede of %d, want 1", got, n)
		}
		close(release)
		wg.Wait()
		close(results)
		for v := range results {
			if v != "v" {
				t.Errorf("a caller got %q", v)
			}
		}
		if s := c.Stats(); s.Misses != n || s.Loads != 1 {
			t.Errorf("stats = %+v, want %d misses and 1 load", s, n)
		}
	})
}

func TestWaiterCancellation(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t, Options[string, string]{})
		release := make(chan struct{})
		loadCtx := make(chan context.Context, 1)
		load := func(ctx context.Context) (string, []string, error) {
			loadCtx <- ctx
			select {
			case <-release:
				return "v", nil, nil
			case <-ctx.Done():
				return "", nil, ctx.Err()
			}
		}
		// The first caller gives up; the second still gets the value.
		ctx1, cancel1 := context.WithCancel(t.Context())
		errs := make(chan error, 1)
		go func() {
			_, err := c.GetOrLoad(ctx1, "k", load)
			errs <- err
		}()
		lctx := <-loadCtx
		got := make(chan string, 1)
		go func() {
			v, _ := c.GetOrLoad(t.Context(), "k", load)
			got <- v
		}()
		synctest.Wait()
		cancel1()
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled caller: %v", err)
		}
		if lctx.Err() != nil {
			t.Fatal("the load was cancelled while a caller still waited for it")
		}
		close(release)
		if v := <-got; v != "v" {
			t.Fatalf("remaining caller got %q", v)
		}

		// When every caller gives up, the load is cancelled.
		ctx2, cancel2 := context.WithCancel(t.Context())
		go func() {
			_, err := c.GetOrLoad(ctx2, "other", func(ctx context.Context) (string, []string, error) {
				loadCtx <- ctx
				<-ctx.Done()
				return "", nil, ctx.Err()
			})
			errs <- err
		}()
		lctx = <-loadCtx
		cancel2()
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Errorf("the abandoned caller got %v, want context.Canceled", err)
		}
		<-lctx.Done()
		synctest.Wait()
		if _, ok := c.Get("other"); ok {
			t.Error("an abandoned load was cached")
		}
	})
}

func TestInvalidate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := newCache(t, Options[string, string]{})
	var calls atomic.Int64
	_, _ = c.GetOrLoad(ctx, "page:deluxe", fixed("deluxe", &calls, "item:deluxe", "type:room"))
	_, _ = c.GetOrLoad(ctx, "page:suite", fixed("suite", &calls, "item:suite", "type:room"))
	_, _ = c.GetOrLoad(ctx, "page:home", fixed("home", &calls, "item:home"))

	if n := c.Invalidate("item:deluxe"); n != 1 {
		t.Errorf("Invalidate(item:deluxe) = %d, want 1", n)
	}
	if got := c.keys(); !slices.Equal(got, []string{"page:home", "page:suite"}) {
		t.Errorf("after invalidating item:deluxe: %v", got)
	}
	if n := c.Invalidate("type:room", "item:home", "item:nothing"); n != 2 {
		t.Errorf("Invalidate(type:room, item:home) = %d, want 2", n)
	}
	if c.Len() != 0 {
		t.Errorf("Len = %d after invalidating everything's dependencies", c.Len())
	}
	if s := c.Stats(); s.Invalidations != 3 {
		t.Errorf("Invalidations = %d, want 3", s.Invalidations)
	}
	c.mu.Lock()
	if len(c.byDep) != 0 {
		t.Errorf("dependency index not empty: %v", c.byDep)
	}
	c.mu.Unlock()
}

// TestInvalidateTransitive is the Kentico case: a listing is built from its
// items, an item from its linked items; invalidating a linked item drops the
// item and the listing, even after the item entry itself was evicted.
func TestInvalidateTransitive(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	items := newCache(t, Options[string, string]{Name: "items", MaxEntries: 2})
	listings := newCache(t, Options[string, []string]{Name: "listings"})
	linked := map[string][]string{"deluxe": {"spa", "breakfast"}, "suite": {"butler"}, "single": nil}
	loadItem := func(code string) Loader[string] {
		return func(context.Context) (string, []string, error) {
			deps := []string{"item:" + code}
			for _, l := range linked[code] {
				deps = append(deps, "item:"+l)
			}
			return code, deps, nil
		}
	}
	loadListing := func(ctx context.Context) ([]string, []string, error) {
		deps := []string{"listing:rooms"}
		var out []string
		for _, code := range []string{"deluxe", "suite", "single"} {
			v, d, err := items.GetOrLoadDeps(ctx, code, loadItem(code))
			if err != nil {
				return nil, nil, err
			}
			out = append(out, v)
			deps = append(deps, d...)
		}
		return out, deps, nil
	}
	if _, err := listings.GetOrLoad(ctx, "rooms", loadListing); err != nil {
		t.Fatal(err)
	}
	// MaxEntries 2: loading three items evicted one of them.
	if items.Len() != 2 || items.Stats().Evictions != 1 {
		t.Fatalf("items: %d entries, %d evictions; want 2 and 1", items.Len(), items.Stats().Evictions)
	}
	for _, dep := range []string{"item:spa", "item:butler", "item:single", "listing:rooms"} {
		if _, err := listings.GetOrLoad(ctx, "rooms", loadListing); err != nil {
			t.Fatal(err)
		}
		if n := listings.Invalidate(dep); n != 1 {
			t.Errorf("invalidating %s dropped %d listings, want 1", dep, n)
		}
	}
	if _, err := listings.GetOrLoad(ctx, "rooms", loadListing); err != nil {
		t.Fatal(err)
	}
	if n := listings.Invalidate("item:unrelated"); n != 0 {
		t.Errorf("an unrelated item dropped %d listings", n)
	}
	_, _ = items.GetOrLoad(ctx, "deluxe", loadItem("deluxe"))
	if n := items.Invalidate("item:breakfast"); n != 1 {
		t.Errorf("invalidating a linked item dropped %d items, want 1 (deluxe)", n)
	}
}

func TestInvalidateMatchingAndAll(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := newCache(t, Options[string, string]{})
	var calls atomic.Int64
	_, _ = c.GetOrLoad(ctx, "a", fixed("a", &calls, "https://www.example.com/news/a"))
	_, _ = c.GetOrLoad(ctx, "b", fixed("b", &calls, "https://www.example.com/news/b", "tag:x"))
	_, _ = c.GetOrLoad(ctx, "c", fixed("c", &calls, "https://www.example.com/rooms"))
	n := c.InvalidateMatching(func(d string) bool { return strings.HasPrefix(d, "https://www.example.com/news") })
	if n != 2 || !slices.Equal(c.keys(), []string{"c"}) {
		t.Errorf("InvalidateMatching = %d, left %v", n, c.keys())
	}
	if c.InvalidateMatching(nil) != 0 {
		t.Error("InvalidateMatching(nil) dropped entries")
	}
	_, _ = c.GetOrLoad(ctx, "d", fixed("d", &calls, "tag:x"))
	if n := c.InvalidateAll(); n != 2 || c.Len() != 0 {
		t.Errorf("InvalidateAll = %d, Len = %d", n, c.Len())
	}
	if _, ok := c.Get("c"); ok {
		t.Error("hit after InvalidateAll")
	}
	_, _ = c.GetOrLoad(ctx, "e", fixed("e", &calls, "tag:x"))
	if n := c.Invalidate("tag:x"); n != 1 {
		t.Errorf("after InvalidateAll the index is inconsistent: Invalidate = %d, want 1", n)
	}
}

// TestInvalidationRacingLoad: a load that read the old content before a
// publish must not be stored after the publish's invalidation.
func TestInvalidationRacingLoad(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		invalidate  func(c *Cache[string, string]) int
		wantStored  bool
		loadDepends []string
	}{
		{"same dependency", func(c *Cache[string, string]) int { return c.Invalidate("item:a") }, false, []string{"item:a"}},
		{"other dependency", func(c *Cache[string, string]) int { return c.Invalidate("item:b") }, true, []string{"item:a"}},
		// The first invalidation detaches the load from its key; the second
		// must still reach it.
		{"after an unrelated one", func(c *Cache[string, string]) int {
			return c.Invalidate("item:b") + c.Invalidate("item:a")
		}, false, []string{"item:a"}},
		{"matching", func(c *Cache[string, string]) int {
			return c.InvalidateMatching(func(d string) bool { return strings.HasPrefix(d, "item:") })
		}, false, []string{"item:a"}},
		{"matching other", func(c *Cache[string, string]) int {
			return c.InvalidateMatching(func(d string) bool { return strings.HasPrefix(d, "type:") })
		}, true, []string{"item:a"}},
		{"all", func(c *Cache[string, string]) int { return c.InvalidateAll() }, false, []string{"item:a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := newCache(t, Options[string, string]{})
				started, release := make(chan struct{}), make(chan struct{})
				var calls atomic.Int64
				old := func(context.Context) (string, []string, error) {
					calls.Add(1)
					close(started)
					<-release
					return "old", tc.loadDepends, nil
				}
				got := make(chan string, 1)
				go func() {
					v, _ := c.GetOrLoad(t.Context(), "k", old)
					got <- v
				}()
				<-started
				tc.invalidate(c)
				// A caller arriving after the invalidation must not join the
				// old load: it loads afresh.
				fresh := make(chan string, 1)
				go func() {
					v, _ := c.GetOrLoad(t.Context(), "k", fixed("new", &calls, tc.loadDepends...))
					fresh <- v
				}()
				if v := <-fresh; v != "new" {
					t.Errorf("a caller after the invalidation got %q", v)
				}
				close(release)
				if v := <-got; v != "old" {
					t.Errorf("the caller before the invalidation got %q, want the value it asked for", v)
				}
				synctest.Wait()
				v, ok := c.Get("k")
				switch {
				case !ok:
					t.Fatal("nothing cached")
				case tc.wantStored && v != "old" && v != "new":
					t.Errorf("cached %q", v)
				case !tc.wantStored && v != "new":
					t.Errorf("cached %q after the invalidation, want the fresh load", v)
				}
				if d := c.Stats().Discarded; (d == 1) == tc.wantStored {
					t.Errorf("Discarded = %d", d)
				}
			})
		})
	}
}

func TestTTL(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 5, 14, 30, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := newCache(t, Options[string, string]{TTL: time.Minute, Now: clock})
	var calls atomic.Int64
	_, _ = c.GetOrLoad(t.Context(), "k", fixed("v", &calls))
	advance(59 * time.Second)
	if _, ok := c.Get("k"); !ok {
		t.Error("expired before its TTL")
	}
	advance(time.Second)
	if _, ok := c.Get("k"); ok {
		t.Error("still cached at its TTL")
	}
	_, _ = c.GetOrLoad(t.Context(), "k", fixed("v", &calls))
	if calls.Load() != 2 || c.Len() != 1 || c.Stats().Expirations != 1 {
		t.Errorf("after expiry: %d loads, %d entries, %+v", calls.Load(), c.Len(), c.Stats())
	}
}

// TestTTLCoarseClock checks the default clock inside a synctest bubble,
// where time is fake: no injected Now, the coarse clock drives expiry.
func TestTTLCoarseClock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t, Options[string, string]{TTL: time.Minute})
		var calls atomic.Int64
		_, _ = c.GetOrLoad(t.Context(), "k", fixed("v", &calls))
		time.Sleep(59 * time.Second)
		if _, ok := c.Get("k"); !ok {
			t.Error("expired before its TTL")
		}
		time.Sleep(time.Second + resolutionFor(time.Minute))
		if _, ok := c.Get("k"); ok {
			t.Error("still cached after TTL + resolution")
		}
	})
}

func TestSieveEviction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := newCache(t, Options[string, int]{MaxEntries: 3})
	var calls atomic.Int64
	get := func(k string) { _, _ = c.GetOrLoad(ctx, k, fixed(0, &calls, "dep:"+k)) }
	get("a")
	get("b")
	get("c")
	get("a") // visited: the hand passes over it once
	get("d") // evicts b, the oldest not visited
	if got := c.keys(); !slices.Equal(got, []string{"d", "c", "a"}) {
		t.Fatalf("after inserting d: %v, want [d c a]", got)
	}
	get("e") // hand resumes after b's place: c is not visited
	if got := c.keys(); !slices.Equal(got, []string{"e", "d", "a"}) {
		t.Fatalf("after inserting e: %v, want [e d a]", got)
	}
	if s := c.Stats(); s.Evictions != 2 {
		t.Errorf("Evictions = %d, want 2", s.Evictions)
	}
	c.mu.Lock()
	_, stale := c.byDep["dep:b"]
	c.mu.Unlock()
	if stale {
		t.Error("an evicted entry is still in the dependency index")
	}
}

func TestMaxBytes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := newCache(t, Options[string, string]{MaxBytes: 10, Size: func(k, v string) int64 { return int64(len(v)) }})
	var calls atomic.Int64
	_, _ = c.GetOrLoad(ctx, "a", fixed("aaaa", &calls))
	_, _ = c.GetOrLoad(ctx, "b", fixed("bbbb", &calls))
	_, _ = c.GetOrLoad(ctx, "c", fixed("cccc", &calls)) // 12 > 10: evicts a
	if got := c.keys(); !slices.Equal(got, []string{"c", "b"}) || c.Stats().Bytes != 8 {
		t.Errorf("keys %v, bytes %d", got, c.Stats().Bytes)
	}
	v, err := c.GetOrLoad(ctx, "huge", fixed("0123456789ab", &calls))
	if err != nil || v != "0123456789ab" {
		t.Errorf("an oversized value was not returned: %q, %v", v, err)
	}
	if _, ok := c.Get("huge"); ok {
		t.Error("a value larger than MaxBytes was cached")
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := newCache(t, Options[string, string]{Name: "items", Registerer: reg, MaxEntries: 1})
	var calls atomic.Int64
	ctx := t.Context()
	_, _ = c.GetOrLoad(ctx, "a", fixed("a", &calls, "item:a"))
	_, _ = c.GetOrLoad(ctx, "a", fixed("a", &calls, "item:a"))
	_, _ = c.GetOrLoad(ctx, "b", fixed("b", &calls, "item:b"))
	c.Invalidate("item:b")
	want := map[string]float64{
		"depcache_hits_total": 1, "depcache_misses_total": 2, "depcache_loads_total": 2,
		"depcache_evictions_total": 1, "depcache_invalidations_total": 1, "depcache_entries": 0,
		"depcache_load_errors_total": 0, "depcache_loads_discarded_total": 0, "depcache_expirations_total": 0,
		"depcache_bytes": 0,
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		if l := m.GetLabel(); len(l) != 1 || l[0].GetName() != "cache" || l[0].GetValue() != "items" {
			t.Errorf("%s: labels %v", mf.GetName(), l)
		}
		v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		w, ok := want[mf.GetName()]
		if !ok {
			t.Errorf("unexpected metric %s", mf.GetName())
			continue
		}
		if v != w {
			t.Errorf("%s = %v, want %v", mf.GetName(), v, w)
		}
		delete(want, mf.GetName())
	}
	for name := range want {
		t.Errorf("metric %s missing", name)
	}
	if _, err := New(Options[string, string]{Name: "items", Registerer: reg}); err == nil {
		t.Error("a second cache of the same name registered into the same registry")
	}
	if _, err := New(Options[string, string]{Name: "pages", Registerer: reg}); err != nil {
		t.Errorf("a cache of another name: %v", err)
	}
}

func TestGenericKeys(t *testing.T) {
	t.Parallel()
	type key struct {
		Type string
		ID   int
	}
	c, err := New(Options[key, []byte]{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.GetOrLoad(t.Context(), key{"room", 1}, func(context.Context) ([]byte, []string, error) {
		return []byte("deluxe"), []string{fmt.Sprintf("item:%d", 1)}, nil
	})
	if err != nil || string(v) != "deluxe" {
		t.Fatal(v, err)
	}
	if c.Invalidate("item:1") != 1 {
		t.Error("struct-keyed entry not invalidated")
	}
}

// TestLargeInvalidationSweeps: an invalidation of more than sweepInline
// entries kills them at once (no hit sees them after Invalidate returns)
// and leaves the unlinking to the sweeper, which leaves the index clean.
func TestLargeInvalidationSweeps(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const n = 3*sweepBatch + 7
		c := newCache(t, Options[int, int]{MaxEntries: 2 * n})
		for i := range n {
			_, _ = c.GetOrLoad(t.Context(), i, func(context.Context) (int, []string, error) {
				return i, []string{"type:article", fmt.Sprintf("item:%d", i)}, nil
			})
		}
		_, _ = c.GetOrLoad(t.Context(), -1, func(context.Context) (int, []string, error) {
			return -1, []string{"item:0", "type:page"}, nil
		})
		if got := c.Invalidate("type:article"); got != n {
			t.Fatalf("Invalidate = %d, want %d", got, n)
		}
		for i := range n {
			if _, ok := c.Get(i); ok {
				t.Fatalf("entry %d still visible after Invalidate returned", i)
			}
		}
		if c.Len() != 1 {
			t.Errorf("Len = %d right after the invalidation, want 1", c.Len())
		}
		// Entries killed but not yet swept are neither counted again nor
		// break a second invalidation of one of their other dependencies.
		if got := c.Invalidate("item:5"); got != 0 {
			t.Errorf("invalidating a dependency of a killed entry dropped %d", got)
		}
		synctest.Wait() // the sweeper has finished
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.sweeping || len(c.pending) != 0 {
			t.Errorf("sweeper still pending: %v, %d", c.sweeping, len(c.pending))
		}
		if len(c.byDep) != 2 || c.byDep["item:0"] == nil || c.byDep["type:page"] == nil {
			t.Errorf("dependency index after the sweep: %d nodes, want item:0 and type:page", len(c.byDep))
		}
		left := 0
		c.index.Range(func(any, any) bool { left++; return true })
		if left != 1 || c.head == nil || c.head != c.tail || c.head.key != -1 {
			t.Errorf("after the sweep: %d index entries, queue head %v", left, c.head)
		}
	})
}
