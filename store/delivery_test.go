package store

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
)

func TestDelivery(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return at })

		d := change.Delivery{Source: "cms", ID: "d1", Remote: "10.0.0.1:5000", BodySHA256: "abc",
			Changes: []change.Change{{Event: "e", ContentID: "1"}, {Event: "e", ContentID: "2"}}}.Identify("d1")
		id, ins, err := s.DeliveryInsert(ctx, d)
		if err != nil || !ins {
			t.Fatal(err, ins)
		}
		id2, ins, err := s.DeliveryInsert(ctx, d)
		if err != nil || ins || id2 != id {
			t.Fatalf("redelivery: %d %v %v", id2, ins, err)
		}
		// The same id from another source is another delivery.
		other, ins, err := s.DeliveryInsert(ctx, change.Delivery{Source: "other", ID: "d1"})
		if err != nil || !ins || other == id {
			t.Errorf("another source's d1: %d %v %v", other, ins, err)
		}

		// Changes are kept as given, in order, with the identity they were
		// stamped with.
		cs, err := s.ChangeList(ctx, id)
		if err != nil || len(cs) != 2 || cs[1].ContentID != "2" || cs[0].Delivery != "d1" || cs[0].Source != "cms" {
			t.Errorf("changes %+v %v", cs, err)
		}

		got, err := s.DeliveryGet(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want := Delivery{ID: id, Source: "cms", DeliveryID: "d1", ReceivedAt: at, Remote: "10.0.0.1:5000", BodySHA256: "abc", Changes: 2, State: DeliveryAccepted}
		if !got.ReceivedAt.Equal(want.ReceivedAt) {
			t.Errorf("received at %v, want %v", got.ReceivedAt, at)
		}
		got.ReceivedAt = at
		if got != want {
			t.Errorf("get:\n got %+v\nwant %+v", got, want)
		}

		fid, fat, err := s.DeliveryFind(ctx, "cms", "d1")
		if err != nil || fid != id || !fat.Equal(at) {
			t.Errorf("find: %d %v %v", fid, fat, err)
		}

		for _, st := range []DeliveryState{DeliveryResolved, DeliveryNothing} {
			if err := s.DeliverySetStates(ctx, []int64{id}, st); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.DeliveryGet(ctx, id); got.State != st {
				t.Errorf("state %q, want %q", got.State, st)
			}
		}

		if n, err := s.DeliveryCount(ctx); err != nil || n != 2 {
			t.Errorf("count %d %v", n, err)
		}
		list, err := s.DeliveryList(ctx, 10)
		if err != nil || len(list) != 2 || list[0].ID != other || list[1].ID != id {
			t.Errorf("list (newest first): %+v %v", list, err)
		}
		if list, _ := s.DeliveryList(ctx, 1); len(list) != 1 {
			t.Errorf("limit 1: %d", len(list))
		}
	})
}

func TestDeliveryNotFound(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		_, err := s.DeliveryGet(ctx, 42)
		isNotFound(t, "get", err)
		_, _, err = s.DeliveryFind(ctx, "cms", "nope")
		isNotFound(t, "find", err)
		if cs, err := s.ChangeList(ctx, 42); err != nil || len(cs) != 0 {
			t.Errorf("changes of a missing delivery: %v %v", cs, err)
		}
	})
}

// A failed transaction leaves nothing: neither the delivery, its changes,
// its events nor the job queued with them.
func TestInTxRollback(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		q := insertOnlyQueue(t, s)
		boom := errors.New("boom")
		err := s.InTx(ctx, func(tx *Tx) error {
			id, _, err := tx.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "d1", Changes: []change.Change{{Event: "e"}}})
			if err != nil {
				return err
			}
			if err := tx.EventAdd(ctx, id, 0, "accepted", "x"); err != nil {
				return err
			}
			if err := tx.JobInsert(ctx, q, testArgs{N: 1}, nil); err != nil {
				return err
			}
			// Inside the transaction the writes are visible.
			if n, err := tx.DeliveryCount(ctx); err != nil || n != 1 {
				t.Errorf("inside: %d %v", n, err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx: %v, want boom", err)
		}
		if n, _ := s.DeliveryCount(ctx); n != 0 {
			t.Errorf("%d deliveries after rollback", n)
		}
		if es, _ := s.EventList(ctx, 0, 0, 10); len(es) != 0 {
			t.Errorf("events after rollback: %+v", es)
		}
		_, _, err = s.DeliveryFind(ctx, "cms", "d1")
		isNotFound(t, "find after rollback", err)
		if total := jobTotal(t, s); total != 0 {
			t.Errorf("%d jobs after rollback", total)
		}

		// The same work committed keeps all of it.
		mustTx(t, s, func(tx *Tx) error {
			if _, _, err := tx.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "d1"}); err != nil {
				return err
			}
			return tx.JobInsert(ctx, q, testArgs{N: 1}, nil)
		})
		if n, _ := s.DeliveryCount(ctx); n != 1 {
			t.Errorf("%d deliveries after commit", n)
		}
		if counts, _ := s.JobCounts(ctx); counts["available"] != 1 {
			t.Errorf("job counts after commit: %v", counts)
		}
	})
}

func TestDeliveryFindLatest(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return at })
		if _, _, err := s.DeliveryFindLatest(ctx, "cms", "h"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("nothing journaled: %v", err)
		}
		first, _, err := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "h"})
		if err != nil {
			t.Fatal(err)
		}
		if id, got, err := s.DeliveryFindLatest(ctx, "cms", "h"); err != nil || id != first || !got.Equal(at) {
			t.Fatalf("only the original: %d %v %v", id, got, err)
		}
		at = at.Add(10 * time.Minute)
		renamed, _, err := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: fmt.Sprintf("h@%d", at.UnixMilli())})
		if err != nil {
			t.Fatal(err)
		}
		// Neighbours that are not renamings of h: another id with h as a
		// prefix, another source.
		at = at.Add(time.Minute)
		for _, d := range []change.Delivery{{Source: "cms", ID: "hx"}, {Source: "cms", ID: "hA"}, {Source: "other", ID: "h@1"}} {
			if _, _, err := s.DeliveryInsert(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		id, got, err := s.DeliveryFindLatest(ctx, "cms", "h")
		if err != nil || id != renamed || !got.Equal(at.Add(-time.Minute)) {
			t.Errorf("latest: %d at %v (%v), want %d", id, got, err, renamed)
		}
	})
}
