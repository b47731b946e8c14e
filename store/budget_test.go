package store

import (
	"testing"
	"time"
)

func TestBudget(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		for range 3 {
			if err := s.BudgetSpend(ctx, "cf", "2026-11-23", 2); err != nil {
				t.Fatal(err)
			}
		}
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.BudgetLock(ctx, "cf"); err != nil {
				return err
			}
			return tx.BudgetSpend(ctx, "cf", "2026-11-23", 1)
		})
		if n, err := s.BudgetSpent(ctx, "cf", "2026-11-23"); err != nil || n != 7 {
			t.Errorf("spent %d %v", n, err)
		}
		if n, err := s.BudgetSpent(ctx, "cf", "2026-11-24"); err != nil || n != 0 {
			t.Errorf("next day spent %d %v", n, err)
		}
		if n, _ := s.BudgetSpent(ctx, "fastly", "2026-11-23"); n != 0 {
			t.Errorf("another provider spent %d", n)
		}
	})
}

func TestBudgetWindows(t *testing.T) {
	at := time.Date(2026, 11, 23, 23, 59, 0, 0, time.FixedZone("x", -3*3600))
	if Day(at) != "2026-11-24" || !NextDay(at).Equal(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Day %s NextDay %s: windows are UTC days", Day(at), NextDay(at))
	}
}
