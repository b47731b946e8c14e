package store

import (
	"slices"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
)

// TestDeliveryRequestID: a delivery keeps the request id it was journaled
// with, by either insert, and a batch names the request ids of the
// deliveries it serves, each once, oldest first, capped.
func TestDeliveryRequestID(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		one, _, err := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "d1", RequestID: "req-1"})
		if err != nil {
			t.Fatal(err)
		}
		var res []DeliveryJournaled
		mustTx(t, s, func(tx *Tx) error {
			res, err = tx.DeliveryInsertMany(ctx, []change.Delivery{
				{Source: "cms", ID: "d2", RequestID: "req-2"},
				{Source: "cms", ID: "d3", RequestID: "req-1"}, // the same request id again: named once
				{Source: "cms", ID: "d4"},                     // none (journaled before the column)
			})
			return err
		})
		d, err := s.DeliveryGet(ctx, res[0].ID)
		if err != nil || d.RequestID != "req-2" {
			t.Errorf("get: %+v %v", d, err)
		}
		list, err := s.DeliveryList(ctx, 10)
		if err != nil || len(list) != 4 || list[3].ID != one || list[3].RequestID != "req-1" || list[0].RequestID != "" {
			t.Errorf("list: %+v %v", list, err)
		}
		target := change.Target{Kind: change.URL, Value: "https://a.example/"}
		var batch int64
		mustTx(t, s, func(tx *Tx) error {
			batch, err = tx.BatchInsert(ctx, []PendingTarget{{res[0].ID, target}, {one, target}, {res[1].ID, target}, {res[2].ID, target}})
			return err
		})
		ids, n, err := s.BatchRequestIDs(ctx, batch, 10)
		if err != nil || n != 2 || !slices.Equal(ids, []string{"req-1", "req-2"}) {
			t.Errorf("request ids: %q of %d, %v", ids, n, err)
		}
		ids, n, err = s.BatchRequestIDs(ctx, batch, 1)
		if err != nil || n != 2 || !slices.Equal(ids, []string{"req-1"}) {
			t.Errorf("capped request ids: %q of %d, %v", ids, n, err)
		}

		// EventLatest: the newest event of a kind, whatever came after.
		if _, ok, err := s.EventLatest(ctx, batch, "purged"); ok || err != nil {
			t.Errorf("no purged event yet: %v %v", ok, err)
		}
		first := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		for i, kind := range []string{"purged", "warm", "purged", "warm"} {
			s.SetClock(func() time.Time { return first.Add(time.Duration(i) * time.Second) })
			if err := s.EventAdd(ctx, one, batch, kind, "x"); err != nil {
				t.Fatal(err)
			}
		}
		at, ok, err := s.EventLatest(ctx, batch, "purged")
		if err != nil || !ok || !at.Equal(first.Add(2*time.Second)) {
			t.Errorf("latest purged: %v %v %v", at, ok, err)
		}
	})
}
