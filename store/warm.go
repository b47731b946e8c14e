package store

import (
	"context"
	"fmt"
	"time"
)

// WarmState says whether a warm-up fetch was made and how it went.
type WarmState string

// Warm-up states.
const (
	WarmPending WarmState = "pending"
	WarmDone    WarmState = "done" // fetched, 2xx or 3xx
	WarmFailed  WarmState = "failed"
)

// Warm is one warm-up fetch.
type Warm struct {
	ID       int64         `json:"id"`
	Batch    int64         `json:"batch"`
	URL      string        `json:"url"`
	State    WarmState     `json:"state"`
	Status   int           `json:"status,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration"`
}

// WarmInsert queues URLs to fetch after a batch.
func (q *queries) WarmInsert(ctx context.Context, batch int64, urls []string) error {
	for _, u := range urls {
		if _, err := q.q.ExecContext(ctx, `INSERT INTO ph_warm (batch, url) VALUES (?, ?)`, batch, u); err != nil {
			return fmt.Errorf("store: warm: %w", err)
		}
	}
	return nil
}

// WarmList returns a batch's warm rows in a state ("" for all), oldest
// first.
func (q *queries) WarmList(ctx context.Context, batch int64, state WarmState, limit int) ([]Warm, error) {
	query := `SELECT id, batch, url, state, status, error, duration_ms FROM ph_warm WHERE batch = ?`
	args := []any{batch}
	if state != "" {
		query += ` AND state = ?`
		args = append(args, string(state))
	}
	query += ` ORDER BY id LIMIT ?`
	args = append(args, limit)
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Warm
	for rows.Next() {
		var w Warm
		var d int64
		if err := rows.Scan(&w.ID, &w.Batch, &w.URL, &w.State, &w.Status, &w.Error, &d); err != nil {
			return nil, err
		}
		w.Duration = time.Duration(d) * time.Millisecond
		out = append(out, w)
	}
	return out, rows.Err()
}

// WarmRecord stores a fetch's outcome.
func (q *queries) WarmRecord(ctx context.Context, w Warm) error {
	_, err := q.q.ExecContext(ctx, `UPDATE ph_warm SET state = ?, status = ?, error = ?, duration_ms = ?, done_at = ? WHERE id = ?`,
		string(w.State), w.Status, w.Error, w.Duration.Milliseconds(), ms(q.now()), w.ID)
	if err != nil {
		return fmt.Errorf("store: warm %d: %w", w.ID, err)
	}
	return nil
}
