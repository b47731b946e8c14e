package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

// A high waiter goes before every low one; low ones go in the order they
// came; a waiter whose context ends leaves the line.
func TestWriteGateOrder(t *testing.T) {
	g := &writeGate{}
	ctx := context.Background()
	if err := g.lock(ctx, false); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 4)
	wait := func(name string, high bool) {
		go func() {
			if err := g.lock(ctx, high); err != nil {
				order <- "error " + name
				return
			}
			order <- name
			g.unlock()
		}()
	}
	waiters := func(high, low int) {
		for {
			g.mu.Lock()
			h, l := len(g.high), len(g.low)
			g.mu.Unlock()
			if h == high && l == low {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	wait("low1", false)
	waiters(0, 1)
	wait("low2", false)
	waiters(0, 2)
	cctx, cancel := context.WithCancel(ctx)
	gone := make(chan error, 1)
	go func() { gone <- g.lock(cctx, false) }()
	waiters(0, 3)
	cancel()
	if err := <-gone; err == nil {
		t.Fatal("a cancelled waiter got the gate")
	}
	waiters(0, 2)
	wait("high", true)
	waiters(1, 2)
	g.unlock()
	var got []string
	for range 3 {
		got = append(got, <-order)
	}
	if want := []string{"high", "low1", "low2"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	// Free again: taken at once.
	if err := g.lock(ctx, false); err != nil || !g.busy {
		t.Fatalf("free gate: %v", err)
	}
	g.unlock()
	if g.busy {
		t.Error("gate still busy after the last unlock")
	}
}
