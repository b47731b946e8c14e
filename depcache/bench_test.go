package depcache

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The benchmarks here measure depcache alone and beside a plain sync.Map in
// the same run; bench/depcache adds golang-lru and prints ratios
// (docs/benchmarks.md). Nothing here asserts a speed.

const benchKeys = 10_000

func benchKeyList() []string {
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "item:" + strconv.Itoa(i)
	}
	return keys
}

// benchHit runs get over the keys. Each get returns the value as a caller
// would use it (for sync.Map, after the type assertion, which reads the
// boxed value as depcache reads its entry).
func benchHit(b *testing.B, get func(string) bool, parallel bool) {
	keys := benchKeyList()
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for i := 0; i < b.N; i++ {
			if !get(keys[i%benchKeys]) {
				b.Fatal("miss")
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(benchKeys) // goroutines walking the keys in step would share cache lines
		for pb.Next() {
			if !get(keys[i%benchKeys]) {
				panic("miss")
			}
			i++
		}
	})
}

func filledCache(b *testing.B, ttl time.Duration) *Cache[string, int] {
	c, err := New(Options[string, int]{MaxEntries: 2 * benchKeys, TTL: ttl})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i, k := range benchKeyList() {
		_, _ = c.GetOrLoad(ctx, k, func(context.Context) (int, []string, error) { return i, []string{k}, nil })
	}
	return c
}

func filledSyncMap() *sync.Map {
	var m sync.Map
	for i, k := range benchKeyList() {
		m.Store(k, i)
	}
	return &m
}

func BenchmarkHit(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run("syncmap/"+name, func(b *testing.B) {
			m := filledSyncMap()
			benchHit(b, func(k string) bool { v, ok := m.Load(k); return ok && v.(int) >= 0 }, parallel)
		})
		b.Run("depcache/"+name, func(b *testing.B) {
			c := filledCache(b, 0)
			benchHit(b, func(k string) bool { v, ok := c.Get(k); return ok && v >= 0 }, parallel)
		})
		b.Run("depcache_ttl/"+name, func(b *testing.B) {
			c := filledCache(b, time.Hour)
			benchHit(b, func(k string) bool { v, ok := c.Get(k); return ok && v >= 0 }, parallel)
		})
		b.Run("depcache_getorload/"+name, func(b *testing.B) {
			c := filledCache(b, 0)
			ctx := context.Background()
			load := func(context.Context) (int, []string, error) { return 0, nil, nil }
			benchHit(b, func(k string) bool { v, err := c.GetOrLoad(ctx, k, load); return err == nil && v >= 0 }, parallel)
		})
	}
}

// BenchmarkInvalidate100k invalidates one dependency that 100,000 entries
// depend on (each also depends on its own item), then refills outside the
// timer.
func BenchmarkInvalidate100k(b *testing.B) {
	const n = 100_000
	c, err := New(Options[int, int]{MaxEntries: n})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	fill := func() {
		for i := range n {
			_, _ = c.GetOrLoad(ctx, i, func(context.Context) (int, []string, error) {
				return i, []string{"type:article", "item:" + strconv.Itoa(i)}, nil
			})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		fill()
		b.StartTimer()
		if got := c.Invalidate("type:article"); got != n {
			b.Fatalf("dropped %d, want %d", got, n)
		}
	}
}
