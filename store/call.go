package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/purgehook/purgehook/change"
)

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
	// CallRetried: a failed call that an operator retried; a new call
	// (its reason says "retry of call N") makes it again.
	CallRetried CallState = "retried"
	// CallRefused: one item the provider refused (400) once bisection
	// left it alone. Unlike a failed call it does not stop its layer: the
	// batch goes on for the other items, and only the deliveries whose
	// targets led to the item fail. Listed with the failures.
	CallRefused CallState = "refused"
)

// Settled reports whether a call in this state is finished for good.
func (s CallState) Settled() bool {
	return s == CallDone || s == CallFailed || s == CallSplit || s == CallSkipped || s == CallRetried || s == CallRefused
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

// CallsFailed counts a batch layer's calls that failed (and were not
// retried): a layer with one is not purged, whatever its other calls did.
func (q *queries) CallsFailed(ctx context.Context, batch int64, layer change.Layer) (int, error) {
	var n int
	err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM ph_call WHERE batch = ? AND layer = ? AND state = ?`,
		batch, int(layer), string(CallFailed)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: failed calls of batch %d: %w", batch, err)
	}
	return n, nil
}

// CallFailureCount counts the calls that failed or were refused and were
// not retried.
func (q *queries) CallFailureCount(ctx context.Context) (int, error) {
	var n int
	if err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM ph_call WHERE state IN (?, ?)`, string(CallFailed), string(CallRefused)).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count failed calls: %w", err)
	}
	return n, nil
}

// CallFailures lists the calls that failed or were refused and were not
// retried, newest first: what an operator can act on.
func (q *queries) CallFailures(ctx context.Context, limit int) ([]CallRow, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+callCols+` FROM ph_call WHERE state IN (?, ?) ORDER BY id DESC LIMIT ?`, string(CallFailed), string(CallRefused), limit)
	if err != nil {
		return nil, fmt.Errorf("store: failed calls: %w", err)
	}
	defer rows.Close()
	var out []CallRow
	for rows.Next() {
		r, err := scanCall(rows)
		if err != nil {
			return nil, fmt.Errorf("store: failed calls: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// CallHours counts a provider's calls made or planned from since on, by
// the hour they were created (UTC, truncated): what the admin page's
// budget chart draws. Split calls are left out, since the calls they were
// split into are counted instead.
func (q *queries) CallHours(ctx context.Context, provider string, since time.Time) (map[time.Time]int, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT created_at FROM ph_call WHERE provider = ? AND created_at >= ? AND state <> ?`, provider, ms(since), string(CallSplit))
	if err != nil {
		return nil, fmt.Errorf("store: calls of %s by hour: %w", provider, err)
	}
	defer rows.Close()
	out := map[time.Time]int{}
	for rows.Next() {
		var at int64
		if err := rows.Scan(&at); err != nil {
			return nil, fmt.Errorf("store: calls of %s by hour: %w", provider, err)
		}
		out[time.UnixMilli(at).UTC().Truncate(time.Hour)]++
	}
	return out, rows.Err()
}
