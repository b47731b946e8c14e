package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
)

// PendingTarget is a resolved target waiting for the next batch.
type PendingTarget struct {
	Delivery int64
	Target   change.Target
}

// PendingInsert queues targets resolved from a delivery.
func (q *queries) PendingInsert(ctx context.Context, delivery int64, targets []change.Target) error {
	now := ms(q.now())
	// A few multi-row statements rather than one per target: a bulk
	// publish resolves to thousands, and each statement is parsed anew.
	for start := 0; start < len(targets); start += pendingRowsPerInsert {
		chunk := targets[start:min(start+pendingRowsPerInsert, len(targets))]
		var b strings.Builder
		b.WriteString(`INSERT INTO ph_pending (delivery, data, created_at) VALUES `)
		args := make([]any, 0, 3*len(chunk))
		for i, t := range chunk {
			data, err := json.Marshal(t)
			if err != nil {
				return err
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?)")
			args = append(args, delivery, string(data), now)
		}
		if _, err := q.q.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("store: pending: %w", err)
		}
	}
	return nil
}

// pendingRowsPerInsert bounds one multi-row insert of pending targets.
const pendingRowsPerInsert = 500

// PendingWindow returns how many targets wait and when the oldest and
// newest arrived.
func (q *queries) PendingWindow(ctx context.Context) (n int, oldest, newest time.Time, err error) {
	var o, nw sql.NullInt64
	if err = q.q.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at), MAX(created_at) FROM ph_pending`).Scan(&n, &o, &nw); err != nil {
		return 0, time.Time{}, time.Time{}, fmt.Errorf("store: pending window: %w", err)
	}
	return n, fromMS(o), fromMS(nw), nil
}

// PendingTake removes and returns every waiting target, in one statement,
// so that replicas flushing at once take disjoint sets and a target that
// arrives meanwhile is either taken whole or left for the next batch.
func (q *queries) PendingTake(ctx context.Context) ([]PendingTarget, error) {
	rows, err := q.q.QueryContext(ctx, `DELETE FROM ph_pending RETURNING id, delivery, data`)
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
	for _, t := range targets {
		data, err := json.Marshal(t.Target)
		if err != nil {
			return 0, err
		}
		if _, err := q.q.ExecContext(ctx, `INSERT INTO ph_batch_target (batch, delivery, data) VALUES (?, ?, ?)`, id, t.Delivery, string(data)); err != nil {
			return 0, fmt.Errorf("store: batch target: %w", err)
		}
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

// BatchDeliveries lists the distinct deliveries a batch serves.
func (q *queries) BatchDeliveries(ctx context.Context, batch int64) ([]int64, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT DISTINCT delivery FROM ph_batch_target WHERE batch = ? ORDER BY delivery`, batch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// BatchPurging records that a batch is purging a layer.
func (q *queries) BatchPurging(ctx context.Context, id int64, layer change.Layer) error {
	_, err := q.q.ExecContext(ctx, `UPDATE ph_batch SET state = ?, layer = ? WHERE id = ?`, string(BatchPurging), int(layer), id)
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

// CallState says where a provider call is.
type CallState string

// Call states.
const (
	CallPending  CallState = "pending"
	CallWaiting  CallState = "waiting" // accepted by an asynchronous provider, not yet complete
	CallDone     CallState = "done"
	CallFailed   CallState = "failed"
	CallSplit    CallState = "split"
	CallSkipped  CallState = "skipped"
	CallDeferred CallState = "deferred" // waiting for the next budget window
)

// Settled reports whether a call in this state is finished for good.
func (s CallState) Settled() bool {
	return s == CallDone || s == CallFailed || s == CallSplit || s == CallSkipped
}

// CallRow is a planned or made provider call with its outcome.
type CallRow struct {
	change.Call
	State     CallState `json:"state"`
	Attempts  int       `json:"attempts"`
	Error     string    `json:"error,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	DoneAt    time.Time `json:"done_at,omitzero"`
}

// CallInsert records a planned call and returns it with its id and key.
func (q *queries) CallInsert(ctx context.Context, c change.Call, reason string, notBefore time.Time) (change.Call, error) {
	items, err := json.Marshal(c.Items)
	if err != nil {
		return c, err
	}
	var nb int64
	if !notBefore.IsZero() {
		nb = ms(notBefore)
	}
	state := CallPending
	if nb > ms(q.now()) {
		state = CallDeferred
	}
	err = q.q.QueryRowContext(ctx, `INSERT INTO ph_call (batch, provider, layer, kind, items, n_items, call_key, state, reason, not_before, created_at)
		VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?) RETURNING id`,
		c.Batch, c.Provider, int(c.Layer), string(c.Kind), string(items), len(c.Items), string(state), reason, nb, ms(q.now())).Scan(&c.ID)
	if err != nil {
		return c, fmt.Errorf("store: insert call: %w", err)
	}
	if c.Key == "" {
		// Stable across retries of this call, unique across calls.
		c.Key = fmt.Sprintf("%s-%d-%d", q.env.keyPrefix, c.Batch, c.ID)
	}
	if _, err := q.q.ExecContext(ctx, `UPDATE ph_call SET call_key = ? WHERE id = ?`, c.Key, c.ID); err != nil {
		return c, err
	}
	return c, nil
}

const callCols = `id, batch, provider, layer, kind, items, call_key, ref, state, attempts, error, reason, not_before, created_at, done_at`

func scanCall(sc interface{ Scan(...any) error }) (CallRow, error) {
	var r CallRow
	var layer int
	var kind, items string
	var nb, at int64
	var done sql.NullInt64
	if err := sc.Scan(&r.ID, &r.Batch, &r.Provider, &layer, &kind, &items, &r.Key, &r.Ref, &r.State, &r.Attempts, &r.Error, &r.Reason, &nb, &at, &done); err != nil {
		return r, err
	}
	r.Layer, r.Kind = change.Layer(layer), change.TargetKind(kind)
	if err := json.Unmarshal([]byte(items), &r.Items); err != nil {
		return r, err
	}
	if nb != 0 {
		r.NotBefore = time.UnixMilli(nb)
	}
	r.CreatedAt, r.DoneAt = time.UnixMilli(at), fromMS(done)
	return r, nil
}

// CallGet reads a call.
func (q *queries) CallGet(ctx context.Context, id int64) (CallRow, error) {
	r, err := scanCall(q.q.QueryRowContext(ctx, `SELECT `+callCols+` FROM ph_call WHERE id = ?`, id))
	if err != nil {
		return r, fmt.Errorf("store: call %d: %w", id, notFound(err))
	}
	return r, nil
}

// CallList lists a batch's calls (batch 0: the newest calls of all).
func (q *queries) CallList(ctx context.Context, batch int64, limit int) ([]CallRow, error) {
	query := `SELECT ` + callCols + ` FROM ph_call`
	var args []any
	if batch != 0 {
		query += ` WHERE batch = ? ORDER BY id`
		args = append(args, batch)
	} else {
		query += ` ORDER BY id DESC`
	}
	query += ` LIMIT ?`
	args = append(args, limit)
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CallRow
	for rows.Next() {
		r, err := scanCall(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// CallUpdateParams is an outcome to record.
type CallUpdateParams struct {
	ID    int64
	State CallState
	Ref   string
	Error string
	// Attempted counts this as an attempt.
	Attempted bool
}

// CallUpdate records a call's outcome.
func (q *queries) CallUpdate(ctx context.Context, p CallUpdateParams) error {
	var done any
	if p.State.Settled() {
		done = ms(q.now())
	}
	inc := 0
	if p.Attempted {
		inc = 1
	}
	_, err := q.q.ExecContext(ctx, `UPDATE ph_call SET state = ?, ref = CASE WHEN ? = '' THEN ref ELSE ? END, error = ?, attempts = attempts + ?, done_at = ? WHERE id = ?`,
		string(p.State), p.Ref, p.Ref, p.Error, inc, done, p.ID)
	if err != nil {
		return fmt.Errorf("store: call %d: %w", p.ID, err)
	}
	return nil
}

// CallsOpen counts a batch layer's calls that have not finished.
func (q *queries) CallsOpen(ctx context.Context, batch int64, layer change.Layer) (int, error) {
	var n int
	err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM ph_call WHERE batch = ? AND layer = ? AND state IN (?, ?, ?)`,
		batch, int(layer), string(CallPending), string(CallWaiting), string(CallDeferred)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: open calls of batch %d: %w", batch, err)
	}
	return n, nil
}

// Prune deletes what is older than before: deliveries with their changes
// and events, settled batches with their targets, calls and warm-ups,
// stream events and spent budgets. Work still in progress is kept.
func (q *queries) Prune(ctx context.Context, before time.Time) (int64, error) {
	t := ms(before)
	day := budget.WindowAt(before).Day
	var total int64
	for _, st := range []struct {
		query string
		args  []any
	}{
		{`DELETE FROM ph_warm WHERE batch IN (SELECT id FROM ph_batch WHERE done_at IS NOT NULL AND done_at < ?)`, []any{t}},
		{`DELETE FROM ph_call WHERE batch IN (SELECT id FROM ph_batch WHERE done_at IS NOT NULL AND done_at < ?)`, []any{t}},
		{`DELETE FROM ph_batch_target WHERE batch IN (SELECT id FROM ph_batch WHERE done_at IS NOT NULL AND done_at < ?)`, []any{t}},
		{`DELETE FROM ph_batch WHERE done_at IS NOT NULL AND done_at < ?`, []any{t}},
		{`DELETE FROM ph_event WHERE at < ?`, []any{t}},
		{`DELETE FROM ph_change WHERE delivery IN (SELECT id FROM ph_delivery WHERE received_at < ? AND id NOT IN (SELECT delivery FROM ph_pending) AND id NOT IN (SELECT delivery FROM ph_batch_target))`, []any{t}},
		{`DELETE FROM ph_delivery WHERE received_at < ? AND id NOT IN (SELECT delivery FROM ph_pending) AND id NOT IN (SELECT delivery FROM ph_batch_target) AND id NOT IN (SELECT delivery FROM ph_change)`, []any{t}},
		{`DELETE FROM ph_stream WHERE at < ?`, []any{t}},
		{`DELETE FROM ph_budget WHERE day < ?`, []any{day}},
	} {
		res, err := q.q.ExecContext(ctx, st.query, st.args...)
		if err != nil {
			return total, fmt.Errorf("store: prune: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

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
