package store

import (
	"context"
	"database/sql"
	"encoding/json"
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
	// DeliveryFailed: a provider refused an item its targets led to
	// (store.CallRefused), while the batch went on for the others.
	DeliveryFailed DeliveryState = "failed"
)

// Delivery is one accepted webhook.
type Delivery struct {
	ID         int64  `json:"id"`
	Source     string `json:"source"`
	DeliveryID string `json:"delivery_id"`
	// RequestID is the webhook request's X-Request-Id, as ingest answered
	// it ("" for manual purges and deliveries journaled before it).
	RequestID  string        `json:"request_id,omitempty"`
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
	res, err := q.q.ExecContext(ctx, `INSERT INTO ph_delivery (source, delivery_id, received_at, remote, body_sha256, n_changes, request_id)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, delivery_id) DO NOTHING`,
		d.Source, d.ID, ms(q.now()), d.Remote, d.BodySHA256, len(d.Changes), d.RequestID)
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

// DeliveryFindLatest looks up the newest delivery journaled under
// deliveryID or under a renaming of it ("<deliveryID>@<unix ms>", the name
// the pipeline gives the same body when it returns after its dedupe
// window), and says when it arrived; ErrNotFound when there is none. A
// body hash's window runs from its latest acceptance, not its first.
func (q *queries) DeliveryFindLatest(ctx context.Context, source, deliveryID string) (int64, time.Time, error) {
	var id, at int64
	// "@" + 1 is "A": the range holds exactly the ids that start with
	// deliveryID + "@", and the (source, delivery_id) index serves it.
	err := q.q.QueryRowContext(ctx, `SELECT id, received_at FROM ph_delivery
		WHERE source = ? AND (delivery_id = ? OR (delivery_id > ? AND delivery_id < ?))
		ORDER BY received_at DESC, id DESC LIMIT 1`,
		source, deliveryID, deliveryID+"@", deliveryID+"A").Scan(&id, &at)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: find delivery %s/%s: %w", source, deliveryID, notFound(err))
	}
	return id, time.UnixMilli(at), nil
}

// DeliveryFind on the store reads from the read pool when there is one
// (Store.read), so that it does not wait for a write transaction.
func (s *Store) DeliveryFind(ctx context.Context, source, deliveryID string) (int64, time.Time, error) {
	r := s.reader()
	return r.DeliveryFind(ctx, source, deliveryID)
}

// DeliveryFindLatest on the store reads from the read-only pool too: a
// redelivery of a body hash is answered without waiting for the writer.
func (s *Store) DeliveryFindLatest(ctx context.Context, source, deliveryID string) (int64, time.Time, error) {
	r := s.reader()
	return r.DeliveryFindLatest(ctx, source, deliveryID)
}

// deliveryColumns are what scanDelivery reads, in its order.
const deliveryColumns = `id, source, delivery_id, received_at, remote, body_sha256, n_changes, state, request_id`

func scanDelivery(row interface{ Scan(...any) error }) (Delivery, error) {
	var d Delivery
	var at int64
	err := row.Scan(&d.ID, &d.Source, &d.DeliveryID, &at, &d.Remote, &d.BodySHA256, &d.Changes, &d.State, &d.RequestID)
	d.ReceivedAt = time.UnixMilli(at)
	return d, err
}

// DeliveryGet reads one delivery.
func (q *queries) DeliveryGet(ctx context.Context, id int64) (Delivery, error) {
	d, err := scanDelivery(q.q.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM ph_delivery WHERE id = ?`, id))
	if err != nil {
		return d, fmt.Errorf("store: delivery %d: %w", id, notFound(err))
	}
	return d, nil
}

// DeliveryList lists the newest deliveries first.
func (q *queries) DeliveryList(ctx context.Context, limit int) ([]Delivery, error) {
	return q.deliveries(ctx, `SELECT `+deliveryColumns+` FROM ph_delivery ORDER BY id DESC LIMIT ?`, limit)
}

// DeliveryWaiting lists, oldest first, at most limit deliveries that are
// journaled but not yet resolved (state accepted): the delivery job's
// work.
func (q *queries) DeliveryWaiting(ctx context.Context, limit int) ([]Delivery, error) {
	return q.deliveries(ctx, `SELECT `+deliveryColumns+` FROM ph_delivery WHERE state = 'accepted' ORDER BY id LIMIT ?`, limit)
}

// DeliveryWaitingCount counts, of ids, the deliveries still waiting to
// be resolved; with no ids, all of them.
func (q *queries) DeliveryWaitingCount(ctx context.Context, ids []int64) (int, error) {
	query, args := `SELECT COUNT(*) FROM ph_delivery WHERE state = 'accepted'`, []any{}
	if len(ids) > 0 {
		var in string
		in, args = inList(ids)
		query += ` AND id IN ` + in
	}
	var n int
	if err := q.q.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count waiting deliveries: %w", err)
	}
	return n, nil
}

func (q *queries) deliveries(ctx context.Context, query string, args ...any) ([]Delivery, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list deliveries: %w", err)
		}
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

// DeliverySetStates records how far deliveries got, a few hundred a
// statement.
func (q *queries) DeliverySetStates(ctx context.Context, ids []int64, state DeliveryState) error {
	for start := 0; start < len(ids); start += rowsPerInsert {
		chunk := ids[start:min(start+rowsPerInsert, len(ids))]
		in, idArgs := inList(chunk)
		args := append([]any{string(state), ms(q.now())}, idArgs...)
		if _, err := q.q.ExecContext(ctx, `UPDATE ph_delivery SET state = ?, resolved_at = ? WHERE id IN `+in, args...); err != nil {
			return fmt.Errorf("store: %d deliveries: %w", len(chunk), err)
		}
	}
	return nil
}

// ChangeList reads a delivery's changes in order.
func (q *queries) ChangeList(ctx context.Context, delivery int64) ([]change.Change, error) {
	m, err := q.ChangeListMany(ctx, []int64{delivery})
	return m[delivery], err
}

// ChangeListMany reads the changes of several deliveries, each's in
// order, in a statement per few hundred deliveries.
func (q *queries) ChangeListMany(ctx context.Context, deliveries []int64) (map[int64][]change.Change, error) {
	out := map[int64][]change.Change{}
	for start := 0; start < len(deliveries); start += rowsPerInsert {
		chunk := deliveries[start:min(start+rowsPerInsert, len(deliveries))]
		in, args := inList(chunk)
		rows, err := q.q.QueryContext(ctx, `SELECT delivery, data FROM ph_change WHERE delivery IN `+in+` ORDER BY delivery, seq`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: changes of %d deliveries: %w", len(chunk), err)
		}
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				var delivery int64
				var data string
				if err := rows.Scan(&delivery, &data); err != nil {
					return err
				}
				var c change.Change
				if err := json.Unmarshal([]byte(data), &c); err != nil {
					return fmt.Errorf("store: change of %d: %w", delivery, err)
				}
				out[delivery] = append(out[delivery], c)
			}
			return rows.Err()
		}()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
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
// A delivery's are its own and those of the batches that served it, which
// are written once, against the batch (a bulk import's batch serves
// thousands of deliveries); they come back with Delivery set to it.
func (q *queries) EventList(ctx context.Context, delivery, batch int64, limit int) ([]Event, error) {
	query := `SELECT id, at, delivery, batch, kind, message FROM ph_event`
	var args []any
	switch {
	case delivery != 0:
		// COALESCE keeps the planner off the delivery index for the
		// batches' events (all of them have none): it finds them by batch.
		query += ` WHERE delivery = ? UNION ALL ` + query +
			` WHERE batch IN (SELECT batch FROM ph_batch_target WHERE delivery = ?) AND COALESCE(delivery, 0) = 0`
		args = append(args, delivery, delivery)
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
		if delivery != 0 {
			e.Delivery = delivery
		}
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

// inList returns the placeholders "(?, ?, …)" of an IN list of vs (at
// least one) and vs as the statement's arguments.
func inList[T any](vs []T) (string, []any) {
	args := make([]any, len(vs))
	for i, v := range vs {
		args[i] = v
	}
	return "(?" + strings.Repeat(", ?", len(vs)-1) + ")", args
}

// rowsPerInsert is how many rows one multi-row insert writes, well under
// SQLite's and PostgreSQL's parameter limits.
const rowsPerInsert = 500

// insertMany inserts n rows with a few multi-row statements,
// rowsPerInsert rows each, rather than one statement a row: a bulk
// publish resolves to thousands of targets, and each statement is parsed
// anew (a transaction's statements are not kept prepared). head ends with
// VALUES; row is one row's placeholders; add appends row i's values.
func (q *queries) insertMany(ctx context.Context, head, row string, n int, add func(i int, args []any) ([]any, error)) error {
	for start := 0; start < n; start += rowsPerInsert {
		end := min(start+rowsPerInsert, n)
		var b strings.Builder
		b.WriteString(head)
		args := make([]any, 0, (end-start)*strings.Count(row, "?"))
		for i := start; i < end; i++ {
			if i > start {
				b.WriteString(", ")
			}
			b.WriteString(row)
			var err error
			if args, err = add(i, args); err != nil {
				return err
			}
		}
		if _, err := q.q.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("store: %s: %w", strings.Fields(head)[2], err)
		}
	}
	return nil
}

// DeliveryInsertMany journals several deliveries and their changes, as
// DeliveryInsert does one: the group commit's half of the journal. The
// rows go in with a few multi-row statements rather than a few statements
// per delivery (each statement is parsed again, and that, not the commit,
// is what a group spends its time on), and all of them share the caller's
// transaction, so its one commit makes them all durable. When the same
// (source, delivery id) appears twice, the first is new and the second a
// redelivery of it.
func (tx *Tx) DeliveryInsertMany(ctx context.Context, ds []change.Delivery) ([]DeliveryJournaled, error) {
	type key struct{ source, id string }
	ids := make(map[key]int64, len(ds))
	now := ms(tx.now())
	for start := 0; start < len(ds); start += rowsPerInsert {
		chunk := ds[start:min(start+rowsPerInsert, len(ds))]
		var b strings.Builder
		b.WriteString(`INSERT INTO ph_delivery (source, delivery_id, received_at, remote, body_sha256, n_changes, request_id) VALUES `)
		args := make([]any, 0, 7*len(chunk))
		for i, d := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
			args = append(args, d.Source, d.ID, now, d.Remote, d.BodySHA256, len(d.Changes), d.RequestID)
		}
		b.WriteString(` ON CONFLICT (source, delivery_id) DO NOTHING RETURNING id, source, delivery_id`)
		rows, err := tx.q.QueryContext(ctx, b.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("store: insert %d deliveries: %w", len(chunk), err)
		}
		for rows.Next() {
			var id int64
			var k key
			if err := rows.Scan(&id, &k.source, &k.id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: insert deliveries: %w", err)
			}
			ids[k] = id
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("store: insert deliveries: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: insert deliveries: %w", err)
		}
	}
	out := make([]DeliveryJournaled, len(ds))
	inserted := make(map[key]bool, len(ids))
	var changes []changeRow
	for i, d := range ds {
		k := key{d.Source, d.ID}
		id, ok := ids[k]
		switch {
		case !ok:
			// Journaled before this group: a redelivery.
			if err := tx.q.QueryRowContext(ctx, `SELECT id FROM ph_delivery WHERE source = ? AND delivery_id = ?`, d.Source, d.ID).Scan(&id); err != nil {
				return nil, fmt.Errorf("store: insert delivery %s/%s: %w", d.Source, d.ID, err)
			}
			ids[k] = id
			inserted[k] = true // answered: later ones in the group are redeliveries too
			out[i] = DeliveryJournaled{ID: id}
		case inserted[k]:
			out[i] = DeliveryJournaled{ID: id}
		default:
			inserted[k] = true
			out[i] = DeliveryJournaled{ID: id, Inserted: true}
			for seq, c := range d.Changes {
				changes = append(changes, changeRow{delivery: id, seq: seq, c: c})
			}
		}
	}
	if err := tx.changeInsertMany(ctx, changes); err != nil {
		return nil, err
	}
	return out, nil
}

type changeRow struct {
	delivery int64
	seq      int
	c        change.Change
}

func (tx *Tx) changeInsertMany(ctx context.Context, cs []changeRow) error {
	return tx.insertMany(ctx, `INSERT INTO ph_change (delivery, seq, data) VALUES `, "(?, ?, ?)", len(cs),
		func(i int, args []any) ([]any, error) {
			data, err := json.Marshal(cs[i].c)
			if err != nil {
				return nil, fmt.Errorf("store: insert change: %w", err)
			}
			return append(args, cs[i].delivery, cs[i].seq, string(data)), nil
		})
}

// EventAddMany appends several events to the audit trail with one
// statement per few hundred; an event's At is ignored (the store's clock
// stamps them) and its Delivery and Batch may be 0.
func (tx *Tx) EventAddMany(ctx context.Context, es []Event) error {
	now := ms(tx.now())
	return tx.insertMany(ctx, `INSERT INTO ph_event (at, delivery, batch, kind, message) VALUES `, "(?, ?, ?, ?, ?)", len(es),
		func(i int, args []any) ([]any, error) {
			e := es[i]
			return append(args, now, nullID(e.Delivery), nullID(e.Batch), e.Kind, e.Message), nil
		})
}

// EventLatest says when a batch last had an event of a kind; ok is false
// when it never had one. However many events a batch's deliveries add
// since, the answer is the same.
func (q *queries) EventLatest(ctx context.Context, batch int64, kind string) (at time.Time, ok bool, err error) {
	var last sql.NullInt64
	if err := q.q.QueryRowContext(ctx, `SELECT MAX(at) FROM ph_event WHERE batch = ? AND kind = ?`, batch, kind).Scan(&last); err != nil {
		return time.Time{}, false, fmt.Errorf("store: batch %d events: %w", batch, err)
	}
	if !last.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(last.Int64), true, nil
}
