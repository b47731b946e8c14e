package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/purgehook/purgehook/change"
)

// BatchState says where a batch is.
type BatchState string

// Batch states.
const (
	BatchPurging BatchState = "purging"
	BatchWarming BatchState = "warming"
	BatchDone    BatchState = "done"
	BatchFailed  BatchState = "failed"
)

// Batch is a set of targets purged together, layer by layer.
type Batch struct {
	ID        int64      `json:"id"`
	CreatedAt time.Time  `json:"created_at"`
	State     BatchState `json:"state"`
	// Layer is the layer being purged (-1 before the first step).
	Layer change.Layer `json:"layer"`
	// Broad says a step purged a whole host or everything.
	Broad bool   `json:"broad,omitempty"`
	Error string `json:"error,omitempty"`
}

// BatchInsert creates a batch from taken targets.
func (q *queries) BatchInsert(ctx context.Context, targets []PendingTarget) (int64, error) {
	var id int64
	if err := q.q.QueryRowContext(ctx, `INSERT INTO ph_batch (created_at, state) VALUES (?, ?) RETURNING id`, ms(q.now()), BatchPurging).Scan(&id); err != nil {
		return 0, fmt.Errorf("store: batch: %w", err)
	}
	err := q.insertMany(ctx, `INSERT INTO ph_batch_target (batch, delivery, data) VALUES `, "(?, ?, ?)", len(targets),
		func(i int, args []any) ([]any, error) {
			data, err := json.Marshal(targets[i].Target)
			if err != nil {
				return nil, err
			}
			return append(args, id, targets[i].Delivery, string(data)), nil
		})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// BatchGet reads a batch.
func (q *queries) BatchGet(ctx context.Context, id int64) (Batch, error) {
	var b Batch
	var at int64
	err := q.q.QueryRowContext(ctx, `SELECT id, created_at, state, layer, broad, error FROM ph_batch WHERE id = ?`, id).Scan(&b.ID, &at, &b.State, &b.Layer, &b.Broad, &b.Error)
	b.CreatedAt = time.UnixMilli(at)
	if err != nil {
		return b, fmt.Errorf("store: batch %d: %w", id, notFound(err))
	}
	return b, nil
}

// BatchList lists the newest batches first.
func (q *queries) BatchList(ctx context.Context, limit int) ([]Batch, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT id, created_at, state, layer, broad, error FROM ph_batch ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Batch
	for rows.Next() {
		var b Batch
		var at int64
		if err := rows.Scan(&b.ID, &at, &b.State, &b.Layer, &b.Broad, &b.Error); err != nil {
			return nil, err
		}
		b.CreatedAt = time.UnixMilli(at)
		out = append(out, b)
	}
	return out, rows.Err()
}

// BatchTargets reads a batch's targets with the deliveries they came from.
func (q *queries) BatchTargets(ctx context.Context, batch int64) ([]PendingTarget, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT delivery, data FROM ph_batch_target WHERE batch = ? ORDER BY id`, batch)
	if err != nil {
		return nil, fmt.Errorf("store: batch targets: %w", err)
	}
	defer rows.Close()
	var out []PendingTarget
	for rows.Next() {
		var p PendingTarget
		var data string
		if err := rows.Scan(&p.Delivery, &data); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(data), &p.Target); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeliveryTargets returns the distinct targets a delivery was purged for,
// across every batch that served it.
func (q *queries) DeliveryTargets(ctx context.Context, delivery int64) ([]change.Target, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT data FROM ph_batch_target WHERE delivery = ? GROUP BY data ORDER BY MIN(id)`, delivery)
	if err != nil {
		return nil, fmt.Errorf("store: delivery targets: %w", err)
	}
	defer rows.Close()
	var out []change.Target
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var t change.Target
		if err := json.Unmarshal([]byte(data), &t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeliveryStart is when a delivery's processing began: its acceptance,
// or its latest replay.
type DeliveryStart struct {
	ID     int64
	Source string
	From   time.Time
}

// BatchDeliveryStarts returns, in one query, when each delivery a batch
// served began (the processing-time metric reads it when the batch is
// done; a bulk import's batch serves thousands).
func (q *queries) BatchDeliveryStarts(ctx context.Context, batch int64) ([]DeliveryStart, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT d.id, d.source, d.received_at,
		(SELECT MAX(e.at) FROM ph_event e WHERE e.delivery = d.id AND e.kind = 'replay')
		FROM ph_delivery d WHERE d.id IN (SELECT delivery FROM ph_batch_target WHERE batch = ?) ORDER BY d.id`, batch)
	if err != nil {
		return nil, fmt.Errorf("store: batch %d deliveries: %w", batch, err)
	}
	defer rows.Close()
	var out []DeliveryStart
	for rows.Next() {
		var d DeliveryStart
		var received int64
		var replay sql.NullInt64
		if err := rows.Scan(&d.ID, &d.Source, &received, &replay); err != nil {
			return nil, fmt.Errorf("store: batch %d deliveries: %w", batch, err)
		}
		d.From = time.UnixMilli(received)
		if replay.Valid {
			d.From = time.UnixMilli(replay.Int64)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// BatchPurging records that a batch is purging a layer. A failed batch
// whose failed call is retried is purging again: its error and done time
// are cleared, so that it is neither shown as failed nor pruned.
func (q *queries) BatchPurging(ctx context.Context, id int64, layer change.Layer) error {
	_, err := q.q.ExecContext(ctx, `UPDATE ph_batch SET state = ?, layer = ?, error = '', done_at = NULL WHERE id = ?`, string(BatchPurging), int(layer), id)
	if err != nil {
		return fmt.Errorf("store: batch %d: %w", id, err)
	}
	return nil
}

// BatchSettle moves a batch past its purges: warming, done, or failed
// (msg is kept as its error). Its layer stays the last one it purged.
func (q *queries) BatchSettle(ctx context.Context, id int64, state BatchState, msg string) error {
	var done any
	if state == BatchDone || state == BatchFailed {
		done = ms(q.now())
	}
	_, err := q.q.ExecContext(ctx, `UPDATE ph_batch SET state = ?, error = ?, done_at = ? WHERE id = ?`, string(state), msg, done, id)
	if err != nil {
		return fmt.Errorf("store: batch %d: %w", id, err)
	}
	return nil
}

// BatchMarkBroad records that a step of the batch purged a whole host or
// everything.
func (q *queries) BatchMarkBroad(ctx context.Context, id int64) error {
	if _, err := q.q.ExecContext(ctx, `UPDATE ph_batch SET broad = 1 WHERE id = ?`, id); err != nil {
		return fmt.Errorf("store: batch %d: %w", id, err)
	}
	return nil
}

// BatchRequestIDs lists the distinct request ids of the deliveries a batch
// serves, oldest delivery first, at most limit of them, and how many there
// are in all: a batch coalesces deliveries, so its log lines name theirs.
func (q *queries) BatchRequestIDs(ctx context.Context, batch int64, limit int) ([]string, int, error) {
	// From the batch's targets (its index) to their deliveries (the
	// primary key): as an IN over ph_delivery, SQLite scanned every
	// delivery.
	rows, err := q.q.QueryContext(ctx, `SELECT d.request_id, MIN(d.id) FROM ph_batch_target t
		JOIN ph_delivery d ON d.id = t.delivery
		WHERE t.batch = ? AND d.request_id <> ''
		GROUP BY d.request_id ORDER BY MIN(d.id)`, batch)
	if err != nil {
		return nil, 0, fmt.Errorf("store: batch %d request ids: %w", batch, err)
	}
	defer rows.Close()
	var out []string
	n := 0
	for rows.Next() {
		var id string
		var first int64
		if err := rows.Scan(&id, &first); err != nil {
			return nil, 0, fmt.Errorf("store: batch %d request ids: %w", batch, err)
		}
		if n < limit {
			out = append(out, id)
		}
		n++
	}
	return out, n, rows.Err()
}
