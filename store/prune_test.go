package store

import (
	"testing"
	"time"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
)

func TestPrune(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return now })
		id, _, _ := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "old", Changes: []change.Change{{Event: "e"}}})
		must(t, s.EventAdd(ctx, id, 0, "accepted", "old"))
		must(t, s.PendingInsert(ctx, id, []change.Target{{Kind: change.URL, Value: "https://a.example/"}}))
		must(t, s.BudgetSpend(ctx, "cf", budget.WindowAt(now).Day, 1))
		var batch, unsettled int64
		mustTx(t, s, func(tx *Tx) error {
			pend, err := tx.PendingTake(ctx, 0)
			if err != nil {
				return err
			}
			if batch, err = tx.BatchInsert(ctx, pend); err != nil {
				return err
			}
			if _, err := tx.CallInsert(ctx, change.Call{Batch: batch, Provider: "cf", Kind: change.URL, Items: []string{"https://a.example/"}}, "", time.Time{}); err != nil {
				return err
			}
			if err := tx.WarmInsert(ctx, batch, []string{"https://a.example/"}); err != nil {
				return err
			}
			if err := tx.BatchSettle(ctx, batch, BatchDone, ""); err != nil {
				return err
			}
			// A batch still purging is work in progress, however old.
			unsettled, err = tx.BatchInsert(ctx, nil)
			return err
		})
		// A newer delivery still waiting must survive pruning.
		now = now.Add(40 * 24 * time.Hour)
		id2, _, _ := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "new"})
		must(t, s.PendingInsert(ctx, id2, []change.Target{{Kind: change.Tag, Value: "t"}}))

		n, err := s.Prune(ctx, now.Add(-30*24*time.Hour))
		if err != nil || n == 0 {
			t.Fatalf("prune: %d %v", n, err)
		}
		_, err = s.DeliveryGet(ctx, id)
		isNotFound(t, "the old delivery", err)
		if cs, _ := s.ChangeList(ctx, id); len(cs) != 0 {
			t.Errorf("the old delivery's changes were kept: %+v", cs)
		}
		_, err = s.BatchGet(ctx, batch)
		isNotFound(t, "the old batch", err)
		if cs, _ := s.CallList(ctx, batch, 10); len(cs) != 0 {
			t.Errorf("the old batch's calls were kept: %+v", cs)
		}
		if ws, _ := s.WarmList(ctx, batch, "", 10); len(ws) != 0 {
			t.Errorf("the old batch's warm-ups were kept: %+v", ws)
		}
		if es, _ := s.EventList(ctx, 0, 0, 10); len(es) != 0 {
			t.Errorf("old events were kept: %+v", es)
		}
		if n, _ := s.BudgetSpent(ctx, "cf", budget.WindowAt(now.Add(-40*24*time.Hour)).Day); len(n) != 0 {
			t.Errorf("an old budget was kept: %v", n)
		}
		if _, err := s.DeliveryGet(ctx, id2); err != nil {
			t.Errorf("the waiting delivery was pruned: %v", err)
		}
		if _, err := s.BatchGet(ctx, unsettled); err != nil {
			t.Errorf("the unsettled batch was pruned: %v", err)
		}
	})
}
