package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/purgehook/purgehook/stream"
)

// StreamLog keeps /v1/stream events in the database, so that an
// application instance that reconnects after a purgehook restart still gets
// what it missed. It implements stream.Log and stream.Latest.
type StreamLog struct {
	s *Store
	// Keep is how long events are kept (0: forever).
	Keep time.Duration
}

var (
	_ stream.Log    = (*StreamLog)(nil)
	_ stream.Latest = (*StreamLog)(nil)
)

// StreamLog returns the store's stream log.
func (s *Store) StreamLog(keep time.Duration) *StreamLog { return &StreamLog{s: s, Keep: keep} }

// Append stores an event. Appends are serialised (SQLite has one writer;
// on PostgreSQL a transaction lock), so ids become visible in increasing
// order and a follower never skips an id that commits late.
func (l *StreamLog) Append(ctx context.Context, body []byte) (int64, error) {
	var id int64
	err := l.s.InTx(ctx, func(tx *sql.Tx) error {
		if l.s.Driver == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('purgehook-stream'))`); err != nil {
				return err
			}
		}
		q := l.s.w(tx)
		if err := q.QueryRowContext(ctx, `INSERT INTO ph_stream (at, body) VALUES (?, ?) RETURNING id`, ms(l.s.now()), string(body)).Scan(&id); err != nil {
			return err
		}
		if l.Keep > 0 {
			_, err := q.ExecContext(ctx, `DELETE FROM ph_stream WHERE at < ?`, ms(l.s.now().Add(-l.Keep)))
			return err
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: stream append: %w", err)
	}
	return id, nil
}

// Since returns events after afterID, oldest first.
func (l *StreamLog) Since(ctx context.Context, afterID int64, limit int) ([]stream.Event, error) {
	var oldest sql.NullInt64
	var next int64
	if err := l.s.w(l.s.DB).QueryRowContext(ctx, `SELECT MIN(id), COALESCE(MAX(id), 0) + 1 FROM ph_stream`).Scan(&oldest, &next); err != nil {
		return nil, fmt.Errorf("store: stream: %w", err)
	}
	// Events between afterID and the oldest kept were deleted: the client
	// missed something it cannot be told.
	if oldest.Valid && afterID+1 < oldest.Int64 {
		return nil, &stream.TruncatedError{Oldest: oldest.Int64}
	}
	if !oldest.Valid && afterID+1 < l.seqNext(ctx, next) {
		return nil, &stream.TruncatedError{Oldest: l.seqNext(ctx, next)}
	}
	rows, err := l.s.w(l.s.DB).QueryContext(ctx, `SELECT id, body FROM ph_stream WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: stream: %w", err)
	}
	defer rows.Close()
	var out []stream.Event
	for rows.Next() {
		var e stream.Event
		var body string
		if err := rows.Scan(&e.ID, &body); err != nil {
			return nil, err
		}
		e.Data = []byte(body)
		out = append(out, e)
	}
	return out, rows.Err()
}

// seqNext is the next id the database will assign, which survives
// deletes.
func (l *StreamLog) seqNext(ctx context.Context, fallback int64) int64 {
	query := `SELECT seq + 1 FROM sqlite_sequence WHERE name = 'ph_stream'`
	if l.s.Driver == Postgres {
		query = `SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM ph_stream_id_seq`
	}
	var next int64
	if err := l.s.DB.QueryRowContext(ctx, query).Scan(&next); err != nil {
		return fallback
	}
	return next
}

// LatestID is the newest event's id (0 when there is none yet).
func (l *StreamLog) LatestID(ctx context.Context) (int64, error) {
	var id int64
	err := l.s.w(l.s.DB).QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM ph_stream`).Scan(&id)
	if err == nil && id == 0 {
		id = l.seqNext(ctx, 1) - 1
	}
	return id, err
}
