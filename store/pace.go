package store

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Pacing's persistence: a provider's rate state (budget.Rate's next theoretical arrival time) is
// a coordination value, so that replicas on PostgreSQL pace one provider
// together: whoever plans or makes a call takes its slot under RateLock.

func rateKey(provider string) string { return "rate:" + provider }

// RateLock serialises the transactions that take a provider's rate slots
// across replicas for the rest of the transaction.
func (tx *Tx) RateLock(ctx context.Context, provider string) error {
	return tx.StateLock(ctx, rateKey(provider))
}

// RateGet reads a provider's rate state (zero: no call yet).
func (q *queries) RateGet(ctx context.Context, provider string) (time.Time, error) {
	v, err := q.StateGet(ctx, rateKey(provider))
	if err != nil || v == "" {
		return time.Time{}, err
	}
	// Nanoseconds: a rate's interval (a third of a second) is no whole
	// number of milliseconds, and rounding each would drift.
	ns, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: rate %s: %w", provider, err)
	}
	return time.Unix(0, ns), nil
}

// RateSet writes a provider's rate state.
func (q *queries) RateSet(ctx context.Context, provider string, tat time.Time) error {
	return q.StateSet(ctx, rateKey(provider), strconv.FormatInt(tat.UnixNano(), 10))
}

// CallSlot returns the rate slot a call took (zero: none yet).
func (q *queries) CallSlot(ctx context.Context, id int64) (time.Time, error) {
	var v int64
	if err := q.q.QueryRowContext(ctx, `SELECT slot_at FROM ph_call WHERE id = ?`, id).Scan(&v); err != nil {
		return time.Time{}, fmt.Errorf("store: call %d: %w", id, notFound(err))
	}
	if v == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(v), nil
}

// CallSlotSet records the rate slot a call took.
func (q *queries) CallSlotSet(ctx context.Context, id int64, at time.Time) error {
	if _, err := q.q.ExecContext(ctx, `UPDATE ph_call SET slot_at = ? WHERE id = ?`, ms(at), id); err != nil {
		return fmt.Errorf("store: call %d: %w", id, err)
	}
	return nil
}

// PendingOverdraft reports whether a waiting target is an emergency purge
// (change.Target.Overdraft), which no pacing holds back.
func (q *queries) PendingOverdraft(ctx context.Context) (bool, error) {
	var n int
	if err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM ph_pending WHERE overdraft = 1`).Scan(&n); err != nil {
		return false, fmt.Errorf("store: pending: %w", err)
	}
	return n > 0, nil
}
