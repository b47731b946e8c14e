package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/purgehook/purgehook/internal/pgtest"
)

func TestStreamLog(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		l := s.StreamLog(time.Hour)
		if id, err := l.LatestID(ctx); err != nil || id != 0 {
			t.Errorf("empty latest %d %v", id, err)
		}
		if evs, err := l.Since(ctx, 0, 10); err != nil || len(evs) != 0 {
			t.Errorf("empty since 0: %+v %v", evs, err)
		}
		now := time.Now()
		s.SetClock(func() time.Time { return now })
		for i := range 3 {
			if id, err := l.Append(ctx, []byte{'a' + byte(i)}); err != nil || id != int64(i+1) {
				t.Fatalf("append %d: %d %v", i, id, err)
			}
		}
		evs, err := l.Since(ctx, 1, 10)
		if err != nil || len(evs) != 2 || string(evs[0].Body) != "b" || evs[1].ID != 3 {
			t.Fatalf("since 1: %+v %v", evs, err)
		}
		if evs, _ := l.Since(ctx, 0, 1); len(evs) != 1 || evs[0].ID != 1 {
			t.Errorf("limit 1: %+v", evs)
		}
		if id, _ := l.LatestID(ctx); id != 3 {
			t.Errorf("latest %d", id)
		}
		// Two hours later the first three are gone: a client that saw only
		// the first is told it missed something.
		now = now.Add(2 * time.Hour)
		if _, err := l.Append(ctx, []byte("d")); err != nil {
			t.Fatal(err)
		}
		var te *StreamTruncatedError
		if _, err := l.Since(ctx, 1, 10); !errors.As(err, &te) || te.Oldest != 4 {
			t.Errorf("since 1 after pruning: %v, want StreamTruncatedError{4}", err)
		}
		if evs, err := l.Since(ctx, 3, 10); err != nil || len(evs) != 1 || evs[0].ID != 4 {
			t.Errorf("since 3: %+v %v", evs, err)
		}
	})
}

// With every event deleted, ids still continue from where they were, and a
// client behind them is told so.
func TestStreamLogEmptied(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		now := time.Now()
		s.SetClock(func() time.Time { return now })
		l := s.StreamLog(0)
		for range 2 {
			if _, err := l.Append(ctx, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Prune(ctx, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if id, err := l.LatestID(ctx); err != nil || id != 2 {
			t.Errorf("latest after emptying: %d %v", id, err)
		}
		var te *StreamTruncatedError
		if _, err := l.Since(ctx, 0, 10); !errors.As(err, &te) || te.Oldest != 3 {
			t.Errorf("since 0: %v, want StreamTruncatedError{3}", err)
		}
		if evs, err := l.Since(ctx, 2, 10); err != nil || len(evs) != 0 {
			t.Errorf("since 2: %+v %v", evs, err)
		}
	})
}

// TestStreamListenHearsAnotherStore: two stores on one PostgreSQL database
// stand for two replicas; an event one appends wakes the other's Listen
// (no polling: nothing else would call wake).
func TestStreamListenHearsAnotherStore(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	open := func() *Store {
		s, err := Open(context.Background(), Postgres, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	ctx, cancel := context.WithCancel(t.Context())
	woken := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.StreamLog(0).Listen(ctx, func() { woken <- struct{}{} }, func(err error) { t.Errorf("listen: %v", err) }, time.Second)
	}()
	defer func() { cancel(); <-done }()
	// Listen has no "ready" signal: append until the first wake, which
	// proves the channel works; an append before LISTEN is simply missed.
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := a.StreamLog(0).Append(ctx, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-woken:
			return
		case <-deadline:
			t.Fatal("the other store's Listen never woke")
		case <-tick.C:
		}
	}
}

func TestStreamListenReturnsOnSQLite(t *testing.T) {
	t.Parallel()
	s := openStore(t, SQLite)
	// One process: nothing to listen for, so Listen returns at once.
	s.StreamLog(0).Listen(t.Context(), func() { t.Error("woken") }, func(err error) { t.Error(err) }, time.Second)
}
