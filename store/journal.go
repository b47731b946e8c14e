package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/purgehook/purgehook/change"
)

// DeliveryState says how far a delivery got.
type DeliveryState string

// Delivery states.
const (
	DeliveryAccepted DeliveryState = "accepted"
	DeliveryResolved DeliveryState = "resolved"
	// DeliveryNothing: its changes resolved to no target.
	DeliveryNothing DeliveryState = "nothing to purge"
)

// Delivery is one accepted webhook.
type Delivery struct {
	ID         int64         `json:"id"`
	Source     string        `json:"source"`
	DeliveryID string        `json:"delivery_id"`
	ReceivedAt time.Time     `json:"received_at"`
	Remote     string        `json:"remote,omitempty"`
	BodySHA256 string        `json:"body_sha256,omitempty"`
	Changes    int           `json:"changes"`
	State      DeliveryState `json:"state"`
}

// DeliveryInsert journals a delivery and its changes as given: the caller
// has settled the delivery's id and stamped its changes with it. It
// returns the new row id, or inserted=false (and the existing id) when the
// same (source, delivery id) was accepted before: a redelivery.
func (q *queries) DeliveryInsert(ctx context.Context, d change.Delivery) (id int64, inserted bool, err error) {
	res, err := q.q.ExecContext(ctx, `INSERT INTO ph_delivery (source, delivery_id, received_at, remote, body_sha256, n_changes)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, delivery_id) DO NOTHING`,
		d.Source, d.ID, ms(q.now()), d.Remote, d.BodySHA256, len(d.Changes))
	if err != nil {
		return 0, false, fmt.Errorf("store: insert delivery: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, false, fmt.Errorf("store: insert delivery: %w", err)
	}
	if err := q.q.QueryRowContext(ctx, `SELECT id FROM ph_delivery WHERE source = ? AND delivery_id = ?`, d.Source, d.ID).Scan(&id); err != nil {
		return 0, false, fmt.Errorf("store: insert delivery: %w", err)
	}
	if n == 0 {
		return id, false, nil
	}
	for i, c := range d.Changes {
		data, err := json.Marshal(c)
		if err != nil {
			return 0, false, fmt.Errorf("store: insert change: %w", err)
		}
		if _, err := q.q.ExecContext(ctx, `INSERT INTO ph_change (delivery, seq, data) VALUES (?, ?, ?)`, id, i, string(data)); err != nil {
			return 0, false, fmt.Errorf("store: insert change: %w", err)
		}
	}
	return id, true, nil
}

// DeliveryFind looks a delivery up by its source and delivery id, and
// says when it arrived; ErrNotFound when there is none.
func (q *queries) DeliveryFind(ctx context.Context, source, deliveryID string) (int64, time.Time, error) {
	var id, at int64
	err := q.q.QueryRowContext(ctx, `SELECT id, received_at FROM ph_delivery WHERE source = ? AND delivery_id = ?`, source, deliveryID).Scan(&id, &at)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: find delivery %s/%s: %w", source, deliveryID, notFound(err))
	}
	return id, time.UnixMilli(at), nil
}

// DeliveryFind on the store reads from the read-only pool when there is
// one (a SQLite file), so that it does not wait for a write transaction.
func (s *Store) DeliveryFind(ctx context.Context, source, deliveryID string) (int64, time.Time, error) {
	if s.read == nil {
		return s.queries.DeliveryFind(ctx, source, deliveryID)
	}
	r := queries{q: s.read, env: s.env}
	return r.DeliveryFind(ctx, source, deliveryID)
}

// DeliveryGet reads one delivery.
func (q *queries) DeliveryGet(ctx context.Context, id int64) (Delivery, error) {
	var d Delivery
	var at int64
	err := q.q.QueryRowContext(ctx, `SELECT id, source, delivery_id, received_at, remote, body_sha256, n_changes, state FROM ph_delivery WHERE id = ?`, id).
		Scan(&d.ID, &d.Source, &d.DeliveryID, &at, &d.Remote, &d.BodySHA256, &d.Changes, &d.State)
	if err != nil {
		return d, fmt.Errorf("store: delivery %d: %w", id, notFound(err))
	}
	d.ReceivedAt = time.UnixMilli(at)
	return d, nil
}

// DeliveryList lists the newest deliveries first.
func (q *queries) DeliveryList(ctx context.Context, limit int) ([]Delivery, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT id, source, delivery_id, received_at, remote, body_sha256, n_changes, state FROM ph_delivery ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var at int64
		if err := rows.Scan(&d.ID, &d.Source, &d.DeliveryID, &at, &d.Remote, &d.BodySHA256, &d.Changes, &d.State); err != nil {
			return nil, err
		}
		d.ReceivedAt = time.UnixMilli(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeliveryCount counts journaled deliveries.
func (q *queries) DeliveryCount(ctx context.Context) (int, error) {
	var n int
	if err := q.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM ph_delivery`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count deliveries: %w", err)
	}
	return n, nil
}

// DeliverySetState records how far a delivery got.
func (q *queries) DeliverySetState(ctx context.Context, id int64, state DeliveryState) error {
	if _, err := q.q.ExecContext(ctx, `UPDATE ph_delivery SET state = ?, resolved_at = ? WHERE id = ?`, string(state), ms(q.now()), id); err != nil {
		return fmt.Errorf("store: delivery %d: %w", id, err)
	}
	return nil
}

// ChangeList reads a delivery's changes in order.
func (q *queries) ChangeList(ctx context.Context, delivery int64) ([]change.Change, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT data FROM ph_change WHERE delivery = ? ORDER BY seq`, delivery)
	if err != nil {
		return nil, fmt.Errorf("store: changes of %d: %w", delivery, err)
	}
	defer rows.Close()
	var out []change.Change
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var c change.Change
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return nil, fmt.Errorf("store: change of %d: %w", delivery, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Event is one line of the audit trail.
type Event struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	Delivery int64     `json:"delivery,omitempty"`
	Batch    int64     `json:"batch,omitempty"`
	Kind     string    `json:"kind"`
	Message  string    `json:"message"`
}

// EventAdd appends to the audit trail; delivery and batch may be 0.
func (q *queries) EventAdd(ctx context.Context, delivery, batch int64, kind, msg string) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO ph_event (at, delivery, batch, kind, message) VALUES (?, ?, ?, ?, ?)`,
		ms(q.now()), nullID(delivery), nullID(batch), kind, msg)
	if err != nil {
		return fmt.Errorf("store: event: %w", err)
	}
	return nil
}

// EventList returns events for a delivery, a batch, or (both 0) the newest.
func (q *queries) EventList(ctx context.Context, delivery, batch int64, limit int) ([]Event, error) {
	query := `SELECT id, at, delivery, batch, kind, message FROM ph_event`
	var args []any
	switch {
	case delivery != 0:
		query += ` WHERE delivery = ?`
		args = append(args, delivery)
	case batch != 0:
		query += ` WHERE batch = ?`
		args = append(args, batch)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		var d, b sql.NullInt64
		if err := rows.Scan(&e.ID, &at, &d, &b, &e.Kind, &e.Message); err != nil {
			return nil, err
		}
		e.At, e.Delivery, e.Batch = time.UnixMilli(at), d.Int64, b.Int64
		out = append(out, e)
	}
	return out, rows.Err()
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// DeliveryJournaled is what DeliveryInsertMany did with one delivery: its
// row id, and whether it was new (false: a redelivery of a journaled
// (source, delivery id), one earlier in the same call included).
type DeliveryJournaled struct {
	ID       int64
	Inserted bool
}

// changeRowsPerInsert bounds one multi-row insert of changes (three
// parameters a row), well under SQLite's and PostgreSQL's parameter
// limits.
const changeRowsPerInsert = 500

// DeliveryInsertMany journals several deliveries and their changes, in
// order, as DeliveryInsert does one: the group commit's half of the
// journal. Each delivery costs one statement for its row and one for its
// changes (not one per change), and all of them share the caller's
// transaction, so its one commit makes them all durable.
func (tx *Tx) DeliveryInsertMany(ctx context.Context, ds []change.Delivery) ([]DeliveryJournaled, error) {
	out := make([]DeliveryJournaled, len(ds))
	for i, d := range ds {
		var id int64
		err := tx.q.QueryRowContext(ctx, `INSERT INTO ph_delivery (source, delivery_id, received_at, remote, body_sha256, n_changes)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, delivery_id) DO NOTHING RETURNING id`,
			d.Source, d.ID, ms(tx.now()), d.Remote, d.BodySHA256, len(d.Changes)).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// A redelivery: the row that is already there answers.
			if err := tx.q.QueryRowContext(ctx, `SELECT id FROM ph_delivery WHERE source = ? AND delivery_id = ?`, d.Source, d.ID).Scan(&id); err != nil {
				return nil, fmt.Errorf("store: insert delivery %s/%s: %w", d.Source, d.ID, err)
			}
			out[i] = DeliveryJournaled{ID: id}
			continue
		case err != nil:
			return nil, fmt.Errorf("store: insert delivery %s/%s: %w", d.Source, d.ID, err)
		}
		out[i] = DeliveryJournaled{ID: id, Inserted: true}
		if err := tx.changeInsertMany(ctx, id, d.Changes); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (tx *Tx) changeInsertMany(ctx context.Context, delivery int64, cs []change.Change) error {
	for start := 0; start < len(cs); start += changeRowsPerInsert {
		chunk := cs[start:min(start+changeRowsPerInsert, len(cs))]
		var b strings.Builder
		b.WriteString(`INSERT INTO ph_change (delivery, seq, data) VALUES `)
		args := make([]any, 0, 3*len(chunk))
		for i, c := range chunk {
			data, err := json.Marshal(c)
			if err != nil {
				return fmt.Errorf("store: insert change: %w", err)
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?)")
			args = append(args, delivery, start+i, string(data))
		}
		if _, err := tx.q.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("store: insert changes of %d: %w", delivery, err)
		}
	}
	return nil
}
