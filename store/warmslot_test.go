package store

import (
	"testing"
	"time"
)

func TestWarmSlots(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return now })
		take := func(holder string) int {
			t.Helper()
			n, err := s.WarmSlotTake(ctx, "a.example:443", holder, 2, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if a, b, c := take("r1-1"), take("r2-1"), take("r1-2"); a != 0 || b != 1 || c != -1 {
			t.Fatalf("slots %d %d %d; want 0, 1, then none", a, b, c)
		}
		if n, _ := s.WarmSlotTake(ctx, "b.example:443", "r1-3", 2, time.Minute); n != 0 {
			t.Errorf("another origin: slot %d", n)
		}
		// Giving back someone else's slot does nothing.
		must(t, s.WarmSlotGive(ctx, "a.example:443", "r1-2", 1))
		if n := take("r1-4"); n != -1 {
			t.Errorf("slot %d after a give by a non-holder", n)
		}
		must(t, s.WarmSlotGive(ctx, "a.example:443", "r2-1", 1))
		if n := take("r1-5"); n != 1 {
			t.Errorf("slot %d after a give; want 1", n)
		}
		// A lease that ran out (its replica died) is free again.
		now = now.Add(time.Minute)
		if n := take("r3-1"); n != 0 {
			t.Errorf("slot %d after the leases ran out; want 0", n)
		}
	})
}
