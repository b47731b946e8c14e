package depcache

// This file is the write side: storing, evicting, and invalidating. Every
// function here runs with c.mu held, except sweep, which takes it.
//
// Invalidation happens in two steps so that dropping 100,000 dependents is
// quick: kill marks an entry dead (hits check the flag, so it is gone at
// once) and takes it out of the counts and away from the SIEVE hand; unlink
// then removes it from the index, the queue and its other dependency nodes.
// Small invalidations unlink at once; large ones leave that to a sweeper
// goroutine that works in batches, so loads are not held up behind it.

const (
	// sweepInline is how many entries an invalidation unlinks itself.
	sweepInline = 256
	// sweepBatch is how many entries the sweeper unlinks per lock hold.
	sweepBatch = 1024
)

// store inserts a loaded value, replacing the key's old entry and evicting
// to make room.
func (c *Cache[K, V]) store(key K, v V, deps []string) {
	var size int64
	if c.size != nil {
		size = c.size(key, v)
	}
	if c.maxBytes > 0 && size > c.maxBytes {
		return
	}
	now := int64(0)
	if c.ttl > 0 {
		now = c.exactNow()
	}
	if p, ok := c.index.Load(key); ok {
		if old := p.(*entry[K, V]); !old.dead.get() {
			if c.expired(old, now) {
				c.stats.expirations.Add(1)
			}
			c.kill(old)
			c.unlink(old)
		}
	}
	for c.count > 0 && ((c.maxEntries > 0 && c.count >= c.maxEntries) || (c.maxBytes > 0 && c.bytes+size > c.maxBytes)) {
		c.evict(now)
	}
	c.seq++
	e := &entry[K, V]{key: key, value: v, deps: deps, size: size}
	if c.ttl > 0 {
		e.expires = now + c.ttl
	}
	e.next = c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
	if c.tail == nil {
		c.tail = e
	}
	c.count++
	c.bytes += size
	e.links = make([]link[K, V], len(deps))
	for i, d := range deps {
		n := c.byDep[d]
		if n == nil {
			n = &depNode[K, V]{name: d}
			c.byDep[d] = n
		}
		e.links[i] = link[K, V]{node: n, pos: len(n.entries)}
		n.entries = append(n.entries, e)
	}
	c.index.Store(key, e)
}

// evict drops one live entry by SIEVE: the hand moves from the oldest entry
// toward the newest, clearing visited flags, and evicts the first entry not
// visited since the hand last passed it (or expired). Dead entries it meets
// are unlinked on the way. Called with at least one live entry present.
func (c *Cache[K, V]) evict(now int64) {
	o := c.hand
	if o == nil {
		o = c.tail
	}
	for {
		if o.dead.get() {
			next := o.prev
			c.unlink(o)
			if o = next; o == nil {
				o = c.tail
			}
			continue
		}
		if c.expired(o, now) || !o.visited.get() {
			break
		}
		o.visited.clear()
		if o = o.prev; o == nil {
			o = c.tail
		}
	}
	if c.expired(o, now) {
		c.stats.expirations.Add(1)
	} else {
		c.stats.evictions.Add(1)
	}
	c.hand = o // kill moves it on to the next newer live entry
	c.kill(o)
	c.unlink(o)
}

// kill takes a live entry out of service: hits stop seeing it, it leaves
// the counts, and the hand moves off it to the nearest newer live entry
// (nil: back to the tail), which is where it would be had the entry been
// unlinked.
func (c *Cache[K, V]) kill(e *entry[K, V]) {
	e.dead.set()
	c.count--
	c.bytes -= e.size
	if c.hand == e {
		c.hand = nil
		for p := e.prev; p != nil; p = p.prev {
			if !p.dead.get() {
				c.hand = p
				break
			}
		}
	}
}

// unlink removes a dead entry from the index, the queue and the dependency
// nodes that are still attached. It is idempotent: the sweeper and the
// eviction hand may both reach an entry.
func (c *Cache[K, V]) unlink(e *entry[K, V]) {
	if e.unlinked {
		return
	}
	e.unlinked = true
	c.index.CompareAndDelete(e.key, e)
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
	for _, l := range e.links {
		n := l.node
		if n.detached {
			continue
		}
		last := n.entries[len(n.entries)-1]
		n.entries[l.pos] = last
		for j := range last.links {
			if last.links[j].node == n {
				last.links[j].pos = l.pos
				break
			}
		}
		n.entries[len(n.entries)-1] = nil
		n.entries = n.entries[:len(n.entries)-1]
		if len(n.entries) == 0 {
			delete(c.byDep, n.name)
		}
	}
	e.links = nil
}

// drop detaches the node of dependency d and kills its live entries,
// appending them to killed.
func (c *Cache[K, V]) drop(d string, killed []*entry[K, V]) []*entry[K, V] {
	n := c.byDep[d]
	if n == nil {
		return killed
	}
	delete(c.byDep, d)
	n.detached = true
	for _, e := range n.entries {
		if !e.dead.get() {
			c.kill(e)
			killed = append(killed, e)
		}
	}
	return killed
}

// finish unlinks what an invalidation killed: at once when it is little,
// else on the sweeper. It returns how many entries were killed.
func (c *Cache[K, V]) finish(killed []*entry[K, V]) int {
	c.stats.invalidations.Add(uint64(len(killed)))
	if len(killed) <= c.sweepInline {
		for _, e := range killed {
			c.unlink(e)
		}
		return len(killed)
	}
	c.pending = append(c.pending, killed...)
	if !c.sweeping {
		c.sweeping = true
		go c.sweep()
	}
	return len(killed)
}

// sweep unlinks pending entries in batches, releasing the lock between
// batches so that loads and hits are not held up.
func (c *Cache[K, V]) sweep() {
	for {
		c.mu.Lock()
		n := min(len(c.pending), sweepBatch)
		batch := c.pending[len(c.pending)-n:]
		for _, e := range batch {
			c.unlink(e)
		}
		clear(batch)
		c.pending = c.pending[:len(c.pending)-n]
		if len(c.pending) == 0 {
			c.pending = nil
			c.sweeping = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// Invalidate drops every entry that depends on any of deps (and so,
// through GetOrLoadDeps, every entry built from one) and makes loads in
// flight that depend on them return without storing. It returns the number
// of entries dropped. When it returns, no lookup sees a dropped entry.
func (c *Cache[K, V]) Invalidate(deps ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noteFlights(deps, nil, false)
	var killed []*entry[K, V]
	for _, d := range deps {
		killed = c.drop(d, killed)
	}
	return c.finish(killed)
}

// InvalidateMatching is Invalidate for every dependency for which match
// returns true (prefix and host purges: the dependencies under
// https://host/news). match is called with the cache locked, for every
// dependency name, and must not call the cache.
func (c *Cache[K, V]) InvalidateMatching(match func(dep string) bool) int {
	if match == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noteFlights(nil, match, false)
	var deps []string
	for d := range c.byDep {
		if match(d) {
			deps = append(deps, d)
		}
	}
	var killed []*entry[K, V]
	for _, d := range deps {
		killed = c.drop(d, killed)
	}
	return c.finish(killed)
}

// InvalidateAll drops every entry and makes every load in flight return
// without storing. It returns the number of entries dropped.
func (c *Cache[K, V]) InvalidateAll() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noteFlights(nil, nil, true)
	n := c.count
	c.index.Clear()
	// Unlink so that the dropped entries do not keep each other alive
	// through a reader still holding one.
	for e := c.head; e != nil; {
		next := e.next
		e.dead.set()
		e.prev, e.next, e.links = nil, nil, nil
		e = next
	}
	c.head, c.tail, c.hand = nil, nil, nil
	c.byDep = map[string]*depNode[K, V]{}
	c.count, c.bytes = 0, 0
	// A running sweeper finds nothing left and stops.
	c.pending = nil
	c.stats.invalidations.Add(uint64(n))
	return n
}
