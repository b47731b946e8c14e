package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/purgehook/purgehook/change"
)

// TestDeliveryInsertMany is the group commit's journal: several
// deliveries and their jobs in one transaction, a repeated id inside the
// group or one journaled before being a redelivery, and a rollback
// leaving nothing behind.
func TestDeliveryInsertMany(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		q := insertOnlyQueue(t, s)
		old, _, err := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "old"})
		if err != nil {
			t.Fatal(err)
		}
		// More changes than one multi-row insert takes.
		many := make([]change.Change, rowsPerInsert+7)
		for i := range many {
			many[i] = change.Change{Event: "e", ContentID: fmt.Sprint(i)}
		}
		ds := []change.Delivery{
			change.Delivery{Source: "cms", ID: "a", Changes: many}.Identify("a"),
			change.Delivery{Source: "cms", ID: "b", Changes: []change.Change{{Event: "e", ContentID: "b"}}}.Identify("b"),
			change.Delivery{Source: "cms", ID: "a", Changes: []change.Change{{Event: "e", ContentID: "again"}}}.Identify("a"),
			{Source: "cms", ID: "old"},
			{Source: "other", ID: "a"},
		}
		var got []DeliveryJournaled
		mustTx(t, s, func(tx *Tx) error {
			var err error
			if got, err = tx.DeliveryInsertMany(ctx, ds); err != nil {
				return err
			}
			for _, j := range got {
				if !j.Inserted {
					continue
				}
				if err := tx.JobInsert(ctx, q, testArgs{N: int(j.ID)}, nil); err != nil {
					return err
				}
			}
			if err := tx.EventAddMany(ctx, []Event{{Delivery: got[0].ID, Kind: "accepted", Message: "a"}, {Kind: "note", Message: "none"}}); err != nil {
				return err
			}
			return nil
		})
		if es, err := s.EventList(ctx, got[0].ID, 0, 10); err != nil || len(es) != 1 || es[0].Message != "a" || es[0].Kind != "accepted" {
			t.Errorf("a's events: %+v %v", es, err)
		}
		if es, _ := s.EventList(ctx, 0, 0, 10); len(es) != 2 {
			t.Errorf("%d events, want 2", len(es))
		}
		if len(got) != len(ds) {
			t.Fatalf("%d results for %d deliveries", len(got), len(ds))
		}
		a, b := got[0], got[1]
		if !a.Inserted || !b.Inserted || a.ID == b.ID || !got[4].Inserted {
			t.Errorf("new deliveries: %+v", got)
		}
		if got[2] != (DeliveryJournaled{ID: a.ID}) {
			t.Errorf("a again in the same group: %+v, want a redelivery of %d", got[2], a.ID)
		}
		if got[3] != (DeliveryJournaled{ID: old}) {
			t.Errorf("old again: %+v, want a redelivery of %d", got[3], old)
		}
		cs, err := s.ChangeList(ctx, a.ID)
		if err != nil || len(cs) != len(many) || cs[len(many)-1].ContentID != fmt.Sprint(len(many)-1) || cs[0].Delivery != "a" {
			t.Errorf("a's changes: %d %v", len(cs), err)
		}
		if cs, _ := s.ChangeList(ctx, b.ID); len(cs) != 1 || cs[0].ContentID != "b" {
			t.Errorf("b's changes: %+v", cs)
		}
		if n := jobTotal(t, s); n != 3 {
			t.Errorf("%d jobs, want 3", n)
		}

		// A group that fails leaves neither its deliveries nor its jobs.
		boom := errors.New("boom")
		err = s.InTx(ctx, func(tx *Tx) error {
			if _, err := tx.DeliveryInsertMany(ctx, []change.Delivery{{Source: "cms", ID: "c"}}); err != nil {
				return err
			}
			if err := tx.JobInsert(ctx, q, testArgs{N: 99}, nil); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if _, _, err := s.DeliveryFind(ctx, "cms", "c"); !errors.Is(err, ErrNotFound) {
			t.Errorf("rolled back delivery found: %v", err)
		}
		if n := jobTotal(t, s); n != 3 {
			t.Errorf("%d jobs after the rollback, want 3", n)
		}
	})
}

// A redelivery is answered from a read that does not wait for the
// journal's writer, even on SQLite, where that writer holds the one
// writing connection.
func TestDeliveryFindDuringAWrite(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		id, _, err := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "d"})
		if err != nil {
			t.Fatal(err)
		}
		mustTx(t, s, func(tx *Tx) error {
			if _, err := tx.DeliveryInsertMany(ctx, []change.Delivery{{Source: "cms", ID: "e"}}); err != nil {
				return err
			}
			got, _, err := s.DeliveryFind(ctx, "cms", "d")
			if err != nil || got != id {
				t.Errorf("find during a write: %d %v", got, err)
			}
			// Uncommitted writes are not seen.
			if _, _, err := s.DeliveryFind(ctx, "cms", "e"); !errors.Is(err, ErrNotFound) {
				t.Errorf("uncommitted delivery: %v", err)
			}
			return nil
		})
		if _, _, err := s.DeliveryFind(ctx, "cms", "e"); err != nil {
			t.Errorf("after commit: %v", err)
		}
	})
}
