package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
)

type testArgs struct {
	N int `json:"n"`
}

func (testArgs) Kind() string { return "store_test" }

// insertOnlyQueue is a queue that works no jobs.
func insertOnlyQueue(t *testing.T, s *Store) *Queue {
	t.Helper()
	q, err := s.NewQueue(&river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func jobTotal(t *testing.T, s *Store) int {
	t.Helper()
	counts, err := s.JobCounts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	return total
}

// completingWorker records an event and completes its job in one
// transaction, as the pipeline's stages do.
type completingWorker struct {
	river.WorkerDefaults[testArgs]
	s *Store
}

func (w *completingWorker) Work(ctx context.Context, job *river.Job[testArgs]) error {
	return w.s.InTx(ctx, func(tx *Tx) error {
		if err := tx.EventAdd(ctx, 0, 0, "worked", fmt.Sprint(job.Args.N)); err != nil {
			return err
		}
		return JobComplete(ctx, tx, job)
	})
}

func TestJobs(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		counts, err := s.JobCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []string{"available", "running", "scheduled", "retryable", "completed", "cancelled", "discarded", "pending"} {
			if n, ok := counts[st]; !ok || n != 0 {
				t.Errorf("empty queue: %s = %d, %v", st, n, ok)
			}
		}

		workers := river.NewWorkers()
		river.AddWorker(workers, &completingWorker{s: s})
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
			if err := tx.JobInsert(ctx, q, testArgs{N: 1}, nil); err != nil {
				return err
			}
			return tx.JobInsert(ctx, q, testArgs{N: 2}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
		})
		if counts, _ := s.JobCounts(ctx); counts["available"] != 1 || counts["scheduled"] != 1 {
			t.Fatalf("after insert: %v", counts)
		}
		// By kind: the two are counted under theirs and not under another.
		if counts, _ := s.JobCounts(ctx, "store_test", "other"); counts["available"] != 1 || counts["scheduled"] != 1 {
			t.Fatalf("after insert, of kind store_test: %v", counts)
		}
		if counts, _ := s.JobCounts(ctx, "other"); counts["available"] != 0 || counts["scheduled"] != 0 {
			t.Fatalf("after insert, of kind other: %v", counts)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := q.Stop(sctx); err != nil {
				t.Error(err)
			}
		}()
		deadline := time.Now().Add(15 * time.Second)
		for {
			counts, err := s.JobCounts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if counts["completed"] == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job not completed: %v", counts)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The completion committed with the worker's event.
		es, err := s.EventList(ctx, 0, 0, 10)
		if err != nil || len(es) != 1 || es[0].Kind != "worked" || es[0].Message != "1" {
			t.Errorf("events %+v %v", es, err)
		}
		if counts, _ := s.JobCounts(ctx); counts["scheduled"] != 1 || counts["available"] != 0 {
			t.Errorf("the scheduled job ran early: %v", counts)
		}
	})
}
