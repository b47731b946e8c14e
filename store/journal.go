package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/purgehook/purgehook/change"
)

// Delivery is one accepted webhook.
type Delivery struct {
	ID         int64     `json:"id"`
	Source     string    `json:"source"`
	DeliveryID string    `json:"delivery_id"`
	ReceivedAt time.Time `json:"received_at"`
	Remote     string    `json:"remote,omitempty"`
	BodySHA256 string    `json:"body_sha256,omitempty"`
	Changes    int       `json:"changes"`
	State      string    `json:"state"`
}

// DeliveryInsertParams describes a delivery to journal.
type DeliveryInsertParams struct {
	Source     string
	DeliveryID string
	Remote     string
	BodySHA256 string
	Changes    []change.Change
	// DedupeWithin, when set, makes a delivery with the same id a
	// redelivery only if it arrived less than this long ago (for ids that
	// are a hash of the body, which two real events can share).
	DedupeWithin time.Duration
}

// DeliveryInsert journals a delivery and its changes. It returns the new
// row id, or inserted=false (and the existing id) when the same (source,
// delivery id) was accepted before: a redelivery.
func (s *Store) DeliveryInsert(ctx context.Context, q Querier, p DeliveryInsertParams) (id int64, inserted bool, err error) {
	res, err := s.w(q).ExecContext(ctx, `INSERT INTO ph_delivery (source, delivery_id, received_at, remote, body_sha256, n_changes)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, delivery_id) DO NOTHING`,
		p.Source, p.DeliveryID, ms(s.now()), p.Remote, p.BodySHA256, len(p.Changes))
	if err != nil {
		return 0, false, fmt.Errorf("store: insert delivery: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, false, err
	}
	if err := s.w(q).QueryRowContext(ctx, `SELECT id FROM ph_delivery WHERE source = ? AND delivery_id = ?`, p.Source, p.DeliveryID).Scan(&id); err != nil {
		return 0, false, fmt.Errorf("store: insert delivery: %w", err)
	}
	if n == 0 {
		return id, false, nil
	}
	for i, c := range p.Changes {
		c.Delivery = p.DeliveryID
		data, err := json.Marshal(c)
		if err != nil {
			return 0, false, err
		}
		if _, err := s.w(q).ExecContext(ctx, `INSERT INTO ph_change (delivery, seq, data) VALUES (?, ?, ?)`, id, i, string(data)); err != nil {
			return 0, false, fmt.Errorf("store: insert change: %w", err)
		}
	}
	return id, true, nil
}

// DeliveryFind looks a delivery up by its source and delivery id, and
// says when it arrived.
func (s *Store) DeliveryFind(ctx context.Context, q Querier, source, deliveryID string) (int64, time.Time, bool, error) {
	var id, at int64
	err := s.w(q).QueryRowContext(ctx, `SELECT id, received_at FROM ph_delivery WHERE source = ? AND delivery_id = ?`, source, deliveryID).Scan(&id, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, false, nil
	}
	if err != nil {
		return 0, time.Time{}, false, fmt.Errorf("store: find delivery: %w", err)
	}
	return id, time.UnixMilli(at), true, nil
}

// DeliveryGet reads one delivery.
func (s *Store) DeliveryGet(ctx context.Context, q Querier, id int64) (Delivery, error) {
	var d Delivery
	var at int64
	err := s.w(q).QueryRowContext(ctx, `SELECT id, source, delivery_id, received_at, remote, body_sha256, n_changes, state FROM ph_delivery WHERE id = ?`, id).
		Scan(&d.ID, &d.Source, &d.DeliveryID, &at, &d.Remote, &d.BodySHA256, &d.Changes, &d.State)
	if err != nil {
		return d, fmt.Errorf("store: delivery %d: %w", id, err)
	}
	d.ReceivedAt = time.UnixMilli(at)
	return d, nil
}

// DeliveryList lists the newest deliveries first.
func (s *Store) DeliveryList(ctx context.Context, q Querier, limit int) ([]Delivery, error) {
	rows, err := s.w(q).QueryContext(ctx, `SELECT id, source, delivery_id, received_at, remote, body_sha256, n_changes, state FROM ph_delivery ORDER BY id DESC LIMIT ?`, limit)
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
func (s *Store) DeliveryCount(ctx context.Context, q Querier) (int, error) {
	var n int
	err := s.w(q).QueryRowContext(ctx, `SELECT COUNT(*) FROM ph_delivery`).Scan(&n)
	return n, err
}

// DeliverySetState records how far a delivery got.
func (s *Store) DeliverySetState(ctx context.Context, q Querier, id int64, state string) error {
	_, err := s.w(q).ExecContext(ctx, `UPDATE ph_delivery SET state = ?, resolved_at = ? WHERE id = ?`, state, ms(s.now()), id)
	return err
}

// ChangeList reads a delivery's changes in order.
func (s *Store) ChangeList(ctx context.Context, q Querier, delivery int64) ([]change.Change, error) {
	rows, err := s.w(q).QueryContext(ctx, `SELECT data FROM ph_change WHERE delivery = ? ORDER BY seq`, delivery)
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
func (s *Store) EventAdd(ctx context.Context, q Querier, delivery, batch int64, kind, msg string) error {
	_, err := s.w(q).ExecContext(ctx, `INSERT INTO ph_event (at, delivery, batch, kind, message) VALUES (?, ?, ?, ?, ?)`,
		ms(s.now()), nullID(delivery), nullID(batch), kind, msg)
	if err != nil {
		return fmt.Errorf("store: event: %w", err)
	}
	return nil
}

// EventList returns events for a delivery, a batch, or (both 0) the newest.
func (s *Store) EventList(ctx context.Context, q Querier, delivery, batch int64, limit int) ([]Event, error) {
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
	rows, err := s.w(q).QueryContext(ctx, query, args...)
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
