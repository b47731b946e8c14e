package store

import (
	"context"
	"fmt"

	"github.com/purgehook/purgehook/budget"
)

// BudgetSpent returns what a provider has spent (made or planned) in
// each budget window from fromDay on; it is the ledger budget.Read and
// the planner read.
func (q *queries) BudgetSpent(ctx context.Context, provider, fromDay string) (budget.Spent, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT day, spent FROM ph_budget WHERE provider = ? AND day >= ?`, provider, fromDay)
	if err != nil {
		return nil, fmt.Errorf("store: budget %s: %w", provider, err)
	}
	defer rows.Close()
	out := budget.Spent{}
	for rows.Next() {
		var day string
		var n int
		if err := rows.Scan(&day, &n); err != nil {
			return nil, fmt.Errorf("store: budget %s: %w", provider, err)
		}
		out[day] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: budget %s: %w", provider, err)
	}
	return out, nil
}

// BudgetSpend charges n calls to a provider's day.
func (q *queries) BudgetSpend(ctx context.Context, provider, day string, n int) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO ph_budget (provider, day, spent) VALUES (?, ?, ?)
		ON CONFLICT (provider, day) DO UPDATE SET spent = ph_budget.spent + excluded.spent`, provider, day, n)
	if err != nil {
		return fmt.Errorf("store: budget %s: %w", provider, err)
	}
	return nil
}
