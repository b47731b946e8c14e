package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/purgehook/purgehook/change"
)

func TestCallFailures(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		b, err := s.BatchInsert(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		insert := func(layer change.Layer, st CallState, msg string) int64 {
			t.Helper()
			c, err := s.CallInsert(ctx, change.Call{Batch: b, Provider: "cf", Layer: layer, Kind: change.URL, Items: []string{"https://a.example/"}}, "", time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CallUpdate(ctx, CallUpdateParams{ID: c.ID, State: st, Error: msg, Attempted: true}); err != nil {
				t.Fatal(err)
			}
			return c.ID
		}
		insert(change.LayerOrigin, CallDone, "")
		f1 := insert(change.LayerOrigin, CallFailed, "403 forbidden")
		insert(change.LayerOrigin, CallRetried, "403 forbidden")
		insert(change.LayerOrigin, CallSkipped, "batch failed")
		f2 := insert(change.LayerEdge, CallFailed, "giving up after 3 attempts: 502")

		fs, err := s.CallFailures(ctx, 10)
		if err != nil || len(fs) != 2 || fs[0].ID != f2 || fs[1].ID != f1 || fs[1].Error != "403 forbidden" || fs[1].Attempts != 1 {
			t.Fatalf("failures (newest first, retried ones left out): %+v %v", fs, err)
		}
		if n, err := s.CallFailureCount(ctx); err != nil || n != 2 {
			t.Errorf("failure count %d %v", n, err)
		}
		if fs, _ := s.CallFailures(ctx, 1); len(fs) != 1 || fs[0].ID != f2 {
			t.Errorf("limit 1: %+v", fs)
		}
		for layer, want := range map[change.Layer]int{change.LayerApp: 0, change.LayerOrigin: 1, change.LayerEdge: 1} {
			if n, err := s.CallsFailed(ctx, b, layer); err != nil || n != want {
				t.Errorf("failed in %s: %d %v, want %d", layer, n, err, want)
			}
		}
		// A retried call is settled: it is not open and has a done time.
		if !CallRetried.Settled() {
			t.Error("retried is not settled")
		}
		if n, _ := s.CallsOpen(ctx, b, change.LayerOrigin); n != 0 {
			t.Errorf("open in origin: %d", n)
		}
	})
}

// A failed batch that purges again (a retried call) is no longer failed
// nor finished: its error and done time are cleared, so prune keeps it.
func TestBatchPurgingAgainAfterFailure(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return now })
		b, _ := s.BatchInsert(ctx, nil)
		if err := s.BatchSettle(ctx, b, BatchFailed, "cf call 1: 403"); err != nil {
			t.Fatal(err)
		}
		if err := s.BatchPurging(ctx, b, change.LayerEdge); err != nil {
			t.Fatal(err)
		}
		got, err := s.BatchGet(ctx, b)
		if err != nil || got.State != BatchPurging || got.Error != "" || got.Layer != change.LayerEdge {
			t.Fatalf("batch %+v %v", got, err)
		}
		if _, err := s.Prune(ctx, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.BatchGet(ctx, b); err != nil {
			t.Errorf("a batch purging again was pruned: %v", err)
		}
	})
}

// failingWorker fails every job.
type failingWorker struct {
	river.WorkerDefaults[testArgs]
}

func (failingWorker) Work(ctx context.Context, job *river.Job[testArgs]) error {
	return errors.New("origin unreachable")
}

func TestJobsDiscardedAndRetry(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		workers := river.NewWorkers()
		river.AddWorker(workers, failingWorker{})
		q, err := s.NewQueue(&river.Config{
			Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}},
			Workers:           workers,
			FetchPollInterval: 50 * time.Millisecond,
			FetchCooldown:     10 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.JobInsert(ctx, q, testArgs{N: 1}, &river.InsertOpts{MaxAttempts: 1}); err != nil {
				return err
			}
			// Never worked: it is not a failure.
			return tx.JobInsert(ctx, q, testArgs{N: 2}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
		})
		if js, err := s.JobsDiscarded(ctx, q, 10); err != nil || len(js) != 0 {
			t.Fatalf("before any run: %+v %v", js, err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		var js []*rivertype.JobRow
		deadline := time.Now().Add(15 * time.Second)
		for len(js) == 0 {
			if js, err = s.JobsDiscarded(ctx, q, 10); err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatal("the failing job was not discarded")
			}
			time.Sleep(20 * time.Millisecond)
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := q.Stop(sctx); err != nil {
			t.Fatal(err)
		}
		j := js[0]
		if len(js) != 1 || j.Kind != "store_test" || len(j.Errors) != 1 || j.Errors[0].Error != "origin unreachable" {
			t.Fatalf("discarded %+v", js)
		}

		// Only a discarded job is retried; an unknown one is not found.
		scheduled := listAll(t, q, rivertype.JobStateScheduled)
		err = s.InTx(ctx, func(tx *Tx) error { _, err := tx.JobRetry(ctx, q, scheduled[0].ID); return err })
		if !errors.Is(err, ErrJobNotDiscarded) {
			t.Errorf("retrying a scheduled job: %v", err)
		}
		err = s.InTx(ctx, func(tx *Tx) error { _, err := tx.JobRetry(ctx, q, 99_999); return err })
		isNotFound(t, "retry unknown job", err)

		// A retry rolled back with its transaction changes nothing.
		rollback := errors.New("rollback")
		err = s.InTx(ctx, func(tx *Tx) error {
			if _, err := tx.JobRetry(ctx, q, j.ID); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		if js, _ := s.JobsDiscarded(ctx, q, 10); len(js) != 1 {
			t.Errorf("after a rolled back retry: %+v", js)
		}
		mustTx(t, s, func(tx *Tx) error {
			r, err := tx.JobRetry(ctx, q, j.ID)
			if err == nil && r.State != rivertype.JobStateAvailable {
				t.Errorf("retried job is %s", r.State)
			}
			return err
		})
		if js, _ := s.JobsDiscarded(ctx, q, 10); len(js) != 0 {
			t.Errorf("after retry, still discarded: %+v", js)
		}
		if av := listAll(t, q, rivertype.JobStateAvailable); len(av) != 1 || av[0].ID != j.ID || av[0].MaxAttempts != 2 {
			t.Errorf("available after retry: %+v (one more attempt wanted)", av)
		}
	})
}

func listAll(t *testing.T, q *Queue, st rivertype.JobState) []*rivertype.JobRow {
	t.Helper()
	res, err := q.JobList(t.Context(), river.NewJobListParams().States(st))
	if err != nil {
		t.Fatal(err)
	}
	return res.Jobs
}

// AfterCommit runs after a commit, never after a rollback.
func TestAfterCommit(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		var ran []string
		mustTx(t, s, func(tx *Tx) error {
			tx.AfterCommit(func() { ran = append(ran, "committed") })
			if len(ran) != 0 {
				t.Error("ran before the commit")
			}
			return tx.EventAdd(ctx, 0, 0, "x", "y")
		})
		boom := errors.New("boom")
		err := s.InTx(ctx, func(tx *Tx) error {
			tx.AfterCommit(func() { ran = append(ran, "rolled back") })
			return boom
		})
		if !errors.Is(err, boom) || len(ran) != 1 || ran[0] != "committed" {
			t.Errorf("ran %q, err %v", ran, err)
		}
	})
}
