package stream

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Event is one published message.
type Event struct {
	ID   int64
	Data []byte
}

// Log keeps published events so that a client that reconnects can be given
// everything it missed. The hub calls it from many goroutines at once.
//
// IDs are assigned by Append, increase strictly, and must become visible to
// Since in increasing order: once Since returned an event, it must never
// later return one with a smaller id (a database-backed log serialises its
// appends, or reads only up to the oldest uncommitted id).
type Log interface {
	// Append stores body and returns its id.
	Append(ctx context.Context, body []byte) (int64, error)
	// Since returns up to limit events with ids greater than afterID, oldest
	// first. When events after afterID are no longer kept (or afterID is
	// from before the log's history began, e.g. an in-memory log after a
	// restart), it returns a *TruncatedError.
	Since(ctx context.Context, afterID int64, limit int) ([]Event, error)
}

// Latest is implemented by logs that can say where a new client starts: the
// id of the newest event (or, when empty, the id before the first one to
// come). A client that sends no Last-Event-ID starts there; without Latest
// it would be replayed the whole log.
type Latest interface {
	LatestID(ctx context.Context) (int64, error)
}

// TruncatedError says that events after the requested id were not kept.
// The hub answers it with an "everything" invalidation, since it cannot
// tell the client what it missed.
type TruncatedError struct {
	// Oldest is the id of the oldest event still kept (or the next id to
	// be assigned, when none is).
	Oldest int64
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("stream: events before id %d are no longer kept", e.Oldest)
}

// DefaultMemLogSize is how many events a MemLog keeps by default.
const DefaultMemLogSize = 10_000

// MemLog is a bounded in-memory Log: it keeps the newest events and
// forgets older ones. Its ids start at the creation time in microseconds,
// so that ids keep increasing across restarts of the process and a client
// holding an id from before a restart is told its history is gone (an
// everything invalidation) instead of being silently skipped ahead.
type MemLog struct {
	mu     sync.Mutex
	size   int
	events []Event // oldest first, at most size
	next   int64   // id of the next Append
}

var (
	_ Log    = (*MemLog)(nil)
	_ Latest = (*MemLog)(nil)
)

// NewMemLog returns a log keeping at most size events (DefaultMemLogSize
// when size ≤ 0).
func NewMemLog(size int) *MemLog {
	if size <= 0 {
		size = DefaultMemLogSize
	}
	return &MemLog{size: size, next: time.Now().UnixMicro()}
}

// Append stores body.
func (m *MemLog) Append(ctx context.Context, body []byte) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.next
	m.next++
	if len(m.events) == m.size {
		// Drop the oldest; shift rather than ring so Since stays a slice
		// search. Amortised by dropping a quarter at a time.
		drop := max(1, m.size/4)
		m.events = slices.Delete(m.events, 0, drop)
	}
	m.events = append(m.events, Event{ID: id, Data: slices.Clone(body)})
	return id, nil
}

// Since returns events after afterID.
func (m *MemLog) Since(ctx context.Context, afterID int64, limit int) ([]Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	oldest := m.next
	if len(m.events) > 0 {
		oldest = m.events[0].ID
	}
	if afterID < oldest-1 {
		return nil, &TruncatedError{Oldest: oldest}
	}
	i, _ := slices.BinarySearchFunc(m.events, afterID+1, func(e Event, id int64) int {
		switch {
		case e.ID < id:
			return -1
		case e.ID > id:
			return 1
		}
		return 0
	})
	end := len(m.events)
	if limit > 0 {
		end = min(end, i+limit)
	}
	return slices.Clone(m.events[i:end]), nil
}

// LatestID is the newest id assigned (or the one before the first).
func (m *MemLog) LatestID(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.next - 1, nil
}
