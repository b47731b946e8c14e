// Package depcache is an in-memory cache for applications that cache CMS
// content themselves, where every entry records what it depends on (content
// item codenames, content types, listing scopes, cache tags, page URLs) and
// invalidating a dependency drops every entry built from it. It is the
// innermost cache layer purgehook purges: the package
// depcache/httpinvalidate receives purgehook's `app` provider calls (or
// follows its /v1/stream) and turns them into Invalidate calls.
//
// # Loading
//
// GetOrLoad returns a cached value or runs the loader, which returns the
// value and its dependencies. Loads are single-flight per key: under a
// stampede one loader runs and every caller waits for it, each within its
// own context (the load is cancelled only when every caller has gone).
//
// # Dependencies, transitively
//
// An entry depends on the dependencies its loader returned. An entry built
// from other entries (a listing from its items, an item from its linked
// items) gets theirs with GetOrLoadDeps and returns them among its own, so
// invalidating a linked item drops the item and the listing. Dependencies
// are copied into the outer entry rather than kept as edges between
// entries, so that the chain still holds after an inner entry was evicted.
//
// # Races
//
// An invalidation that arrives while a load is in flight is remembered by
// that load; when the load finishes, its value is handed to the callers
// that were waiting but is not stored if it depends on anything invalidated
// meanwhile, and callers arriving after the invalidation start a new load.
// So a value read before a publish can never be cached after it.
//
// # Bounds and eviction
//
// Entries expire after Options.TTL (checked against a coarse clock so a hit
// reads no system clock) and are bounded by count (MaxEntries) and/or size
// (MaxBytes with a Size function). When full, the cache evicts with SIEVE
// (Zhang et al., NSDI 2024): a hit only sets a flag on the entry, so the hit
// path takes no lock, and a hand sweeping from the oldest entry evicts the
// first one not hit since the hand last passed. See docs/depcache.md.
package depcache
