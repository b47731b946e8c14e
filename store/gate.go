package store

import (
	"context"
	"sync"
)

// writeGate orders the transactions of SQLite's one writing connection:
// a transaction someone outside waits for (InTxDurable: a webhook's
// acknowledgement) begins before any job worker's that is waiting, and
// those wait in the order they came. database/sql hands a freed
// connection to a random waiter, so without it a group commit could wait
// behind every flush, call and resolve queued at the time; under load
// that was most of an acknowledgement's latency.
//
// Only our own transactions pass the gate. River's statements outside
// them (fetching jobs, completing them) still take the connection as
// database/sql gives it; each is short.
//
// sync.Mutex has no priorities and a channel of waiters is what the
// hand-over needs, so this is written by hand.
type writeGate struct {
	mu   sync.Mutex
	busy bool
	// high and low are the waiters, oldest first; a waiter is given the
	// gate by closing its channel.
	high, low []chan struct{}
}

// lock waits for the gate, ahead of every low waiter when high, or until
// ctx ends.
func (g *writeGate) lock(ctx context.Context, high bool) error {
	g.mu.Lock()
	if !g.busy {
		g.busy = true
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if high {
		g.high = append(g.high, ch)
	} else {
		g.low = append(g.low, ch)
	}
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	if g.remove(ch) {
		g.mu.Unlock()
		return ctx.Err()
	}
	g.mu.Unlock()
	// Given the gate as ctx ended: pass it on.
	g.unlock()
	return ctx.Err()
}

// remove takes ch out of the waiters, reporting whether it was there
// (false: it was given the gate).
func (g *writeGate) remove(ch chan struct{}) bool {
	for _, q := range []*[]chan struct{}{&g.high, &g.low} {
		for i, c := range *q {
			if c == ch {
				*q = append((*q)[:i], (*q)[i+1:]...)
				return true
			}
		}
	}
	return false
}

// unlock gives the gate to the oldest high waiter, else the oldest low
// one, else frees it.
func (g *writeGate) unlock() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, q := range []*[]chan struct{}{&g.high, &g.low} {
		if len(*q) > 0 {
			ch := (*q)[0]
			*q = (*q)[1:]
			close(ch)
			return
		}
	}
	g.busy = false
}
