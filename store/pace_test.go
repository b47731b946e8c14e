package store

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
)

func TestRateState(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		if tat, err := s.RateGet(ctx, "cf"); err != nil || !tat.IsZero() {
			t.Fatalf("unset: %v %v", tat, err)
		}
		at := time.Date(2026, 11, 23, 7, 0, 0, 333333333, time.UTC)
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.RateLock(ctx, "cf"); err != nil {
				return err
			}
			return tx.RateSet(ctx, "cf", at)
		})
		if tat, err := s.RateGet(ctx, "cf"); err != nil || !tat.Equal(at) {
			t.Errorf("read back %v %v, want %v to the nanosecond", tat, err, at)
		}
		if tat, _ := s.RateGet(ctx, "other"); !tat.IsZero() {
			t.Errorf("another provider's state: %v", tat)
		}

		b, _ := s.BatchInsert(ctx, nil)
		c, err := s.CallInsert(ctx, change.Call{Batch: b, Provider: "cf", Layer: change.LayerEdge, Kind: change.URL, Items: []string{"u"}}, "", time.Time{})
		must(t, err)
		if slot, err := s.CallSlot(ctx, c.ID); err != nil || !slot.IsZero() {
			t.Errorf("a new call's slot: %v %v", slot, err)
		}
		must(t, s.CallSlotSet(ctx, c.ID, at))
		if slot, err := s.CallSlot(ctx, c.ID); err != nil || !slot.Equal(at.Truncate(time.Millisecond)) {
			t.Errorf("slot read back: %v %v", slot, err)
		}
		if _, err := s.CallSlot(ctx, c.ID+100); !errors.Is(err, ErrNotFound) {
			t.Errorf("no such call: %v", err)
		}
	})
}

// Replicas taking one provider's slots at once each get slots of their
// own: under RateLock no two transactions read the same state.
func TestRateSlotsAreSharedAcrossConnections(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		r := budget.Rate{PerSecond: 10, Burst: 1}
		from := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		var slots []time.Time
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 5 {
					err := s.InTx(ctx, func(tx *Tx) error {
						if err := tx.RateLock(ctx, "cf"); err != nil {
							return err
						}
						tat, err := tx.RateGet(ctx, "cf")
						if err != nil {
							return err
						}
						slot, next := r.Take(tat, from)
						mu.Lock()
						slots = append(slots, slot)
						mu.Unlock()
						return tx.RateSet(ctx, "cf", next)
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		slices.SortFunc(slots, func(a, b time.Time) int { return a.Compare(b) })
		for i, at := range slots {
			if want := from.Add(time.Duration(i) * 100 * time.Millisecond); !at.Equal(want) {
				t.Fatalf("slot %d at %v, want %v: two transactions shared a slot", i, at.Sub(from), want.Sub(from))
			}
		}
	})
}

func TestPendingOverdraft(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		d, _, err := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "d"})
		must(t, err)
		must(t, s.PendingInsert(ctx, d, []change.Target{{Kind: change.Everything}}))
		if got, err := s.PendingOverdraft(ctx); err != nil || got {
			t.Errorf("a plain purge of everything: %v %v", got, err)
		}
		must(t, s.PendingInsert(ctx, d, []change.Target{{Kind: change.Everything, Overdraft: true}}))
		if got, err := s.PendingOverdraft(ctx); err != nil || !got {
			t.Errorf("an emergency: %v %v", got, err)
		}
	})
}
