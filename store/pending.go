package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/purgehook/purgehook/change"
)

// PendingTarget is a resolved target waiting for the next batch.
type PendingTarget struct {
	Delivery int64
	Target   change.Target
}

// PendingInsert queues targets resolved from a delivery.
func (q *queries) PendingInsert(ctx context.Context, delivery int64, targets []change.Target) error {
	return q.PendingInsertMany(ctx, []DeliveryTargets{{Delivery: delivery, Targets: targets}})
}

// DeliveryTargets are the targets one delivery resolved to.
type DeliveryTargets struct {
	Delivery int64
	Targets  []change.Target
}

// PendingInsertMany is PendingInsert for several deliveries, in as few
// statements as their targets allow (a delivery job resolves a group of
// deliveries that ingest committed together).
func (q *queries) PendingInsertMany(ctx context.Context, ds []DeliveryTargets) error {
	now := ms(q.now())
	type row struct {
		delivery int64
		t        change.Target
	}
	var rows []row
	for _, d := range ds {
		for _, t := range d.Targets {
			rows = append(rows, row{d.Delivery, t})
		}
	}
	return q.insertMany(ctx, `INSERT INTO ph_pending (delivery, data, created_at, overdraft) VALUES `, "(?, ?, ?, ?)", len(rows),
		func(i int, args []any) ([]any, error) {
			data, err := json.Marshal(rows[i].t)
			if err != nil {
				return nil, err
			}
			overdraft := 0
			if rows[i].t.Overdraft {
				overdraft = 1
			}
			return append(args, rows[i].delivery, string(data), now, overdraft), nil
		})
}

// PendingWindow returns how many targets wait and when the oldest and
// newest arrived.
func (q *queries) PendingWindow(ctx context.Context) (n int, oldest, newest time.Time, err error) {
	var o, nw sql.NullInt64
	if err = q.q.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at), MAX(created_at) FROM ph_pending`).Scan(&n, &o, &nw); err != nil {
		return 0, time.Time{}, time.Time{}, fmt.Errorf("store: pending window: %w", err)
	}
	return n, fromMS(o), fromMS(nw), nil
}

// PendingOldest returns when the oldest waiting target arrived, or
// ok=false when none waits. Unlike PendingWindow it reads one row of the
// primary key, not every waiting target: every flush asks, and under
// load tens of thousands wait.
func (q *queries) PendingOldest(ctx context.Context) (oldest time.Time, ok bool, err error) {
	var o int64
	err = q.q.QueryRowContext(ctx, `SELECT created_at FROM ph_pending ORDER BY id LIMIT 1`).Scan(&o)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: pending window: %w", err)
	}
	return time.UnixMilli(o), true, nil
}

// PendingTake removes and returns the waiting targets, the oldest limit
// of them (every one when limit is 0), in one statement, so that
// replicas flushing at once take disjoint sets and a target that arrives
// meanwhile is either taken whole or left for the next batch.
func (q *queries) PendingTake(ctx context.Context, limit int) ([]PendingTarget, error) {
	query, args := `DELETE FROM ph_pending RETURNING id, delivery, data`, []any{}
	if limit > 0 {
		query, args = `DELETE FROM ph_pending WHERE id IN (SELECT id FROM ph_pending ORDER BY id LIMIT ?) RETURNING id, delivery, data`, []any{limit}
	}
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: take pending: %w", err)
	}
	defer rows.Close()
	type row struct {
		id int64
		p  PendingTarget
	}
	var all []row
	for rows.Next() {
		var r row
		var data string
		if err := rows.Scan(&r.id, &r.p.Delivery, &data); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(data), &r.p.Target); err != nil {
			return nil, err
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// RETURNING promises no order; batches list targets as they arrived.
	slices.SortFunc(all, func(a, b row) int { return cmp.Compare(a.id, b.id) })
	out := make([]PendingTarget, len(all))
	for i, r := range all {
		out[i] = r.p
	}
	return out, nil
}

// StateGet reads a coordination value ("" when unset).
func (q *queries) StateGet(ctx context.Context, key string) (string, error) {
	var v string
	err := q.q.QueryRowContext(ctx, `SELECT value FROM ph_state WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: state %s: %w", key, err)
	}
	return v, nil
}

// StateSet writes a coordination value.
func (q *queries) StateSet(ctx context.Context, key, value string) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO ph_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("store: state %s: %w", key, err)
	}
	return nil
}
