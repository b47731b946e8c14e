package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/internal/pgtest"
	"github.com/purgehook/purgehook/stream"
)

// drivers runs a test against each driver: every store passes the same
// tests.
func drivers(t *testing.T, test func(t *testing.T, open func(t *testing.T) *Store)) {
	for _, d := range []string{SQLite, Postgres} {
		t.Run(d, func(t *testing.T) {
			test(t, func(t *testing.T) *Store {
				t.Helper()
				dsn := filepath.Join(t.TempDir(), "s.db")
				if d == Postgres {
					dsn = pgtest.DSN(t)
				}
				s, err := Open(context.Background(), d, dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}

func TestOpenTwiceIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(context.Background(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), "sqlite", path)
	if err == nil || !strings.Contains(err.Error(), "is in use by pid") {
		t.Fatalf("second open: %v", err)
	}
	s.Close()
	s, err = Open(context.Background(), "sqlite", path)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s.Close()
}

func TestDeliveryDedupe(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := context.Background()
		p := DeliveryInsertParams{Source: "cms", DeliveryID: "d1", Changes: []change.Change{{Event: "e", ContentID: "1"}, {Event: "e", ContentID: "2"}}}
		id, ins, err := s.DeliveryInsert(ctx, s.DB, p)
		if err != nil || !ins {
			t.Fatal(err, ins)
		}
		id2, ins, err := s.DeliveryInsert(ctx, s.DB, p)
		if err != nil || ins || id2 != id {
			t.Fatalf("redelivery: %d %v %v", id2, ins, err)
		}
		// The same id from another source is another delivery.
		if _, ins, _ := s.DeliveryInsert(ctx, s.DB, DeliveryInsertParams{Source: "other", DeliveryID: "d1"}); !ins {
			t.Error("another source's d1 was taken for a redelivery")
		}
		cs, _ := s.ChangeList(ctx, s.DB, id)
		if len(cs) != 2 || cs[1].ContentID != "2" || cs[0].Delivery != "d1" {
			t.Errorf("changes %+v", cs)
		}
	})
}

func TestBudgetWindows(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := context.Background()
		for range 3 {
			if err := s.BudgetSpend(ctx, s.DB, "cf", "2026-11-23", 2); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := s.BudgetSpent(ctx, s.DB, "cf", "2026-11-23"); n != 6 {
			t.Errorf("spent %d", n)
		}
		if n, _ := s.BudgetSpent(ctx, s.DB, "cf", "2026-11-24"); n != 0 {
			t.Errorf("next day spent %d", n)
		}
		at := time.Date(2026, 11, 23, 23, 59, 0, 0, time.FixedZone("x", -3*3600))
		if Day(at) != "2026-11-24" || !NextDay(at).Equal(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("Day %s NextDay %s: windows are UTC days", Day(at), NextDay(at))
		}
	})
}

func TestPendingTakeAndPrune(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := context.Background()
		now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return now })
		id, _, _ := s.DeliveryInsert(ctx, s.DB, DeliveryInsertParams{Source: "cms", DeliveryID: "old", Changes: []change.Change{{Event: "e"}}})
		s.PendingInsert(ctx, s.DB, id, []change.Target{{Kind: change.URL, Value: "https://a.example/"}})
		var batch int64
		err := s.InTx(ctx, func(tx *sql.Tx) error {
			pend, err := s.PendingTake(ctx, tx)
			if err != nil || len(pend) != 1 {
				return errors.Join(err, errors.New("take"))
			}
			batch, err = s.BatchInsert(ctx, tx, pend)
			if err != nil {
				return err
			}
			if _, err := s.CallInsert(ctx, tx, change.Call{Batch: batch, Provider: "cf", Kind: change.URL, Items: []string{"https://a.example/"}}, "", time.Time{}); err != nil {
				return err
			}
			return s.BatchSet(ctx, tx, batch, BatchDone, -1, "")
		})
		if err != nil {
			t.Fatal(err)
		}
		if n, _, _, _ := s.PendingWindow(ctx, s.DB); n != 0 {
			t.Errorf("%d pending after take", n)
		}
		// A newer delivery still waiting must survive pruning.
		now = now.Add(40 * 24 * time.Hour)
		id2, _, _ := s.DeliveryInsert(ctx, s.DB, DeliveryInsertParams{Source: "cms", DeliveryID: "new"})
		s.PendingInsert(ctx, s.DB, id2, []change.Target{{Kind: change.Tag, Value: "t"}})

		n, err := s.Prune(ctx, s.DB, now.Add(-30*24*time.Hour))
		if err != nil || n == 0 {
			t.Fatalf("prune: %d %v", n, err)
		}
		if _, err := s.DeliveryGet(ctx, s.DB, id); err == nil {
			t.Error("the old delivery was kept")
		}
		if _, err := s.BatchGet(ctx, s.DB, batch); err == nil {
			t.Error("the old batch was kept")
		}
		if _, err := s.DeliveryGet(ctx, s.DB, id2); err != nil {
			t.Errorf("the waiting delivery was pruned: %v", err)
		}
	})
}

func TestStreamLog(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := context.Background()
		l := s.StreamLog(time.Hour)
		if id, _ := l.LatestID(ctx); id != 0 {
			t.Errorf("empty latest %d", id)
		}
		now := time.Now()
		s.SetClock(func() time.Time { return now })
		for i := range 3 {
			if id, err := l.Append(ctx, []byte{'a' + byte(i)}); err != nil || id != int64(i+1) {
				t.Fatalf("append %d: %d %v", i, id, err)
			}
		}
		evs, err := l.Since(ctx, 1, 10)
		if err != nil || len(evs) != 2 || string(evs[0].Data) != "b" {
			t.Fatalf("since 1: %+v %v", evs, err)
		}
		// Two hours later the first three are gone: a client that saw only
		// the first is told it missed something.
		now = now.Add(2 * time.Hour)
		if _, err := l.Append(ctx, []byte("d")); err != nil {
			t.Fatal(err)
		}
		var te *stream.TruncatedError
		if _, err := l.Since(ctx, 1, 10); !errors.As(err, &te) {
			t.Errorf("since 1 after pruning: %v, want TruncatedError", err)
		}
		if evs, err := l.Since(ctx, 3, 10); err != nil || len(evs) != 1 || evs[0].ID != 4 {
			t.Errorf("since 3: %+v %v", evs, err)
		}
	})
}
