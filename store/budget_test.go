package store

import (
	"maps"
	"testing"

	"github.com/purgehook/purgehook/budget"
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
			if err := tx.BudgetSpend(ctx, "cf", "2026-11-25", 3); err != nil {
				return err
			}
			return tx.BudgetSpend(ctx, "cf", "2026-11-23", 1)
		})
		must(t, s.BudgetSpend(ctx, "cf", "2026-11-22", 9))
		// What each window from a day on spent; earlier windows are not
		// read, windows nothing was charged to are absent.
		want := budget.Spent{"2026-11-23": 7, "2026-11-25": 3}
		if got, err := s.BudgetSpent(ctx, "cf", "2026-11-23"); err != nil || !maps.Equal(got, want) {
			t.Errorf("spent %v %v, want %v", got, err, want)
		}
		if got, err := s.BudgetSpent(ctx, "cf", "2026-11-26"); err != nil || len(got) != 0 {
			t.Errorf("later windows spent %v %v", got, err)
		}
		if got, _ := s.BudgetSpent(ctx, "fastly", "2026-11-23"); len(got) != 0 {
			t.Errorf("another provider spent %v", got)
		}
		// The store is the ledger budget.Read reads.
		var l budget.Ledger = s
		_ = l
	})
}
