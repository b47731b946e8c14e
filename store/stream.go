package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// streamChannel is the PostgreSQL channel Append notifies once an event
// is committed.
const streamChannel = "purgehook_stream"

// StreamLog keeps /v1/stream events in the database, so that an
// application instance that reconnects after a purgehook restart still gets
// what it missed. app adapts it to stream.Log and stream.Latest.
type StreamLog struct {
	s *Store
	// Keep is how long events are kept (0: forever).
	Keep time.Duration
}

// StreamEvent is one stored stream event.
type StreamEvent struct {
	ID   int64
	Body []byte
}

// StreamTruncatedError says that events after the requested id were
// deleted: the follower missed something it cannot be told.
type StreamTruncatedError struct {
	// Oldest is the id of the oldest event still kept (or the next id to
	// be assigned, when none is).
	Oldest int64
}

func (e *StreamTruncatedError) Error() string {
	return fmt.Sprintf("store: stream events before id %d are no longer kept", e.Oldest)
}

// StreamLog returns the store's stream log.
func (s *Store) StreamLog(keep time.Duration) *StreamLog { return &StreamLog{s: s, Keep: keep} }

// Append stores an event. Appends are serialised (SQLite has one writer;
// on PostgreSQL a transaction lock), so ids become visible in increasing
// order and a follower never skips an id that commits late.
func (l *StreamLog) Append(ctx context.Context, body []byte) (int64, error) {
	var id int64
	err := l.s.InTx(ctx, func(tx *Tx) error {
		if tx.env.driver == Postgres {
			if _, err := tx.q.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('purgehook-stream'))`); err != nil {
				return err
			}
		}
		if err := tx.q.QueryRowContext(ctx, `INSERT INTO ph_stream (at, body) VALUES (?, ?) RETURNING id`, ms(tx.now()), string(body)).Scan(&id); err != nil {
			return err
		}
		if tx.env.driver == Postgres {
			// Delivered at commit, to every replica's Listen.
			if _, err := tx.q.ExecContext(ctx, `SELECT pg_notify(?, ?)`, streamChannel, strconv.FormatInt(id, 10)); err != nil {
				return err
			}
		}
		if l.Keep > 0 {
			_, err := tx.q.ExecContext(ctx, `DELETE FROM ph_stream WHERE at < ?`, ms(tx.now().Add(-l.Keep)))
			return err
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: stream append: %w", err)
	}
	return id, nil
}

// Since returns up to limit events after afterID, oldest first, or a
// *StreamTruncatedError when some of those were deleted.
func (l *StreamLog) Since(ctx context.Context, afterID int64, limit int) ([]StreamEvent, error) {
	var oldest sql.NullInt64
	var next int64
	if err := l.s.q.QueryRowContext(ctx, `SELECT MIN(id), COALESCE(MAX(id), 0) + 1 FROM ph_stream`).Scan(&oldest, &next); err != nil {
		return nil, fmt.Errorf("store: stream: %w", err)
	}
	if oldest.Valid && afterID+1 < oldest.Int64 {
		return nil, &StreamTruncatedError{Oldest: oldest.Int64}
	}
	if !oldest.Valid && afterID+1 < l.seqNext(ctx, next) {
		return nil, &StreamTruncatedError{Oldest: l.seqNext(ctx, next)}
	}
	rows, err := l.s.q.QueryContext(ctx, `SELECT id, body FROM ph_stream WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: stream: %w", err)
	}
	defer rows.Close()
	var out []StreamEvent
	for rows.Next() {
		var e StreamEvent
		var body string
		if err := rows.Scan(&e.ID, &body); err != nil {
			return nil, fmt.Errorf("store: stream: %w", err)
		}
		e.Body = []byte(body)
		out = append(out, e)
	}
	return out, rows.Err()
}

// seqNext is the next id the database will assign, which survives
// deletes.
func (l *StreamLog) seqNext(ctx context.Context, fallback int64) int64 {
	query := `SELECT seq + 1 FROM sqlite_sequence WHERE name = 'ph_stream'`
	if l.s.env.driver == Postgres {
		query = `SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM ph_stream_id_seq`
	}
	var next int64
	if err := l.s.q.QueryRowContext(ctx, query).Scan(&next); err != nil {
		return fallback
	}
	return next
}

// LatestID is the newest event's id (when there is none, the id before
// the next one to be assigned: 0 in a new database).
func (l *StreamLog) LatestID(ctx context.Context) (int64, error) {
	var id int64
	if err := l.s.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM ph_stream`).Scan(&id); err != nil {
		return 0, fmt.Errorf("store: stream: %w", err)
	}
	if id == 0 {
		id = l.seqNext(ctx, 1) - 1
	}
	return id, nil
}

// Listen calls wake whenever another replica sharing the database may
// have appended events, until ctx ends: on PostgreSQL it LISTENs for
// Append's notifications, so that a follower of any replica hears of an
// invalidation within moments rather than at the hub's next heartbeat. A
// lost connection is reported to onErr, then redialled after retry, with
// a wake in case something was missed meanwhile. With SQLite (one process)
// it returns at once.
func (l *StreamLog) Listen(ctx context.Context, wake func(), onErr func(error), retry time.Duration) {
	if l.s.listen == nil {
		return
	}
	for ctx.Err() == nil {
		err := l.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		onErr(fmt.Errorf("store: stream listen: %w", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		wake()
	}
}

// listenOnce holds one LISTEN connection until it fails or ctx ends.
func (l *StreamLog) listenOnce(ctx context.Context, wake func()) error {
	c, err := l.s.listen.Acquire(ctx)
	if err != nil {
		return err
	}
	// A listening connection is never handed back to the pool: its
	// session would keep listening for whoever took it next.
	conn := c.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{streamChannel}.Sanitize()); err != nil {
		return err
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}
