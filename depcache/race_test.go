package depcache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// backend is content whose dependencies have versions. A publish bumps a
// version and then invalidates it; floor records, once the invalidation
// returned, the version every later read must see at least.
type backend struct {
	version []atomic.Int64
	floor   []atomic.Int64
}

// snapshot is a loaded value: the version of each dependency it was read
// at.
type snapshot map[int]int64

func depName(i int) string { return fmt.Sprintf("d%d", i) }

// TestConcurrentInvalidationNeverStale hammers a small cache with readers,
// nested loads and publishers, and checks the property the race handling
// exists for: a read that starts after an invalidation returned never sees
// content older than what was published before it. Run it with -race.
func TestConcurrentInvalidationNeverStale(t *testing.T) {
	t.Parallel()
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			runConcurrent(t, seed, sweepInline)
		})
		t.Run(fmt.Sprintf("%d_swept", seed), func(t *testing.T) {
			t.Parallel()
			runConcurrent(t, seed, 0)
		})
	}
}

func runConcurrent(t *testing.T, seed uint64, inline int) {
	const (
		nDeps   = 8
		nKeys   = 24
		readers = 6
		writers = 2
		ops     = 3000
	)
	b := &backend{version: make([]atomic.Int64, nDeps), floor: make([]atomic.Int64, nDeps)}
	rng := rand.New(rand.NewPCG(seed, 1))
	keyDeps := make([][]int, nKeys)
	children := make([][]int, nKeys)
	for k := range keyDeps {
		keyDeps[k] = []int{rng.IntN(nDeps), rng.IntN(nDeps)}
		if k >= nKeys-4 { // the last keys are listings of earlier ones
			children[k] = []int{rng.IntN(nKeys - 4), rng.IntN(nKeys - 4)}
		}
	}
	c, err := New(Options[int, snapshot]{MaxEntries: nKeys / 2})
	if err != nil {
		t.Fatal(err)
	}
	c.sweepInline = inline
	var loader func(k int) Loader[snapshot]
	loader = func(k int) Loader[snapshot] {
		return func(ctx context.Context) (snapshot, []string, error) {
			s := snapshot{}
			var deps []string
			for _, d := range keyDeps[k] {
				s[d] = b.version[d].Load()
				deps = append(deps, depName(d))
				runtime.Gosched() // let publishers in between the reads
			}
			for _, ch := range children[k] {
				cs, cd, err := c.GetOrLoadDeps(ctx, ch, loader(ch))
				if err != nil {
					return nil, nil, err
				}
				for d, v := range cs {
					if old, ok := s[d]; !ok || v < old {
						s[d] = v
					}
				}
				deps = append(deps, cd...)
			}
			return s, deps, nil
		}
	}

	var wg sync.WaitGroup
	var stale atomic.Int64
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(100+r)))
			for range ops {
				k := rng.IntN(nKeys)
				// Read the floors before the call: every invalidation that
				// completed before this point must be visible in the value.
				floors := make([]int64, nDeps)
				for d := range floors {
					floors[d] = b.floor[d].Load()
				}
				s, err := c.GetOrLoad(context.Background(), k, loader(k))
				if err != nil {
					t.Error(err)
					return
				}
				for d, v := range s {
					if v < floors[d] {
						if stale.Add(1) < 5 {
							t.Errorf("key %d read d%d at version %d after version %d was published and invalidated", k, d, v, floors[d])
						}
					}
				}
			}
		})
	}
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(200+w)))
			for i := range ops / 3 {
				d := rng.IntN(nDeps)
				v := b.version[d].Add(1)
				if i%50 == 49 {
					c.InvalidateAll()
				} else if i%7 == 6 {
					c.InvalidateMatching(func(name string) bool { return name == depName(d) })
				} else {
					c.Invalidate(depName(d))
				}
				// Raise the floor to v unless another writer already raised
				// it further.
				for {
					f := b.floor[d].Load()
					if f >= v || b.floor[d].CompareAndSwap(f, v) {
						break
					}
				}
				runtime.Gosched()
			}
		})
	}
	wg.Wait()
	s := c.Stats()
	t.Logf("stats: %+v", s)
	if s.Hits == 0 || s.Loads == 0 {
		t.Errorf("the test exercised no hits or no loads: %+v", s)
	}
	if s.Entries > nKeys/2 {
		t.Errorf("%d entries, bound %d", s.Entries, nKeys/2)
	}
}
