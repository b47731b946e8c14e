package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/store"
)

// flushWorker closes the coalescing window.
type flushWorker struct {
	river.WorkerDefaults[FlushArgs]
	p *Pipeline
}

// flushMaxTargets is the most targets one batch takes. Its flush and
// each of its steps run in one transaction, holding SQLite's one writer
// for as long as planning the batch takes (a batch of 12,000 targets held
// it for up to a second, with every acknowledgement waiting; 5,000 for
// 60-90 ms at 500/s); a longer backlog becomes several batches, one
// after the other. flushChunks bounds how many one flush job takes
// before queueing the next.
const (
	flushMaxTargets = 1000
	flushChunks     = 16
)

// Work waits until the waiting targets are due (flushDue: the coalescing
// window after the oldest, longer only while a provider lacks rate or
// budget), so a lone publish is purged about a window after it arrives
// and a storm becomes as few calls as the providers need; then it takes
// every waiting target into batches and plans each's first step.
func (w *flushWorker) Work(ctx context.Context, job *river.Job[FlushArgs]) error {
	p := w.p
	oldest, waiting, err := p.st.PendingOldest(ctx)
	if err != nil {
		return err
	}
	if waiting {
		due, err := p.flushDue(ctx, oldest)
		if err != nil {
			return err
		}
		if wait := due.Sub(p.st.Now()); wait > 0 {
			if job.Args.Periodic {
				// Not due: the queued flush takes them, or the next
				// periodic one if it was lost.
				return nil
			}
			// Looked at again at least every second: an emergency
			// purge queued meanwhile is not held by a pacing wait.
			return river.JobSnooze(min(wait, max(p.o.Coalesce, time.Second)))
		}
	}
	// Due: everything waiting is taken, a batch of at most flushMax
	// targets a transaction, without waiting for the next fetch between
	// batches; a backlog longer than flushChunks batches goes on in the
	// flush this run queues.
	for chunk := 1; ; chunk++ {
		done := false
		err := p.st.InTx(ctx, func(tx *store.Tx) error {
			// Locked before the take, so that a delivery queueing targets
			// meanwhile either commits first (and its targets are taken
			// here) or reads the flag after this flush cleared it (and
			// queues the next flush).
			if err := tx.StateLock(ctx, flushKey); err != nil {
				return err
			}
			pending, err := tx.PendingTake(ctx, p.flushMax)
			if err != nil {
				return err
			}
			switch {
			case len(pending) < p.flushMax:
				done = true
				err = tx.StateSet(ctx, flushKey, "")
			case chunk >= p.flushChunks:
				// More may wait, and they are due already.
				done = true
				err = tx.JobInsert(ctx, p.queue, FlushArgs{}, nil)
			}
			if err != nil {
				return err
			}
			if len(pending) > 0 {
				batch, err := tx.BatchInsert(ctx, pending)
				if err != nil {
					return err
				}
				if err := p.eventBatch(ctx, tx, batch, "batch", fmt.Sprintf("batch %d: %d target(s)", batch, len(pending))); err != nil {
					return err
				}
				p.batchLog(ctx, tx, batch).Info("batch taken", "targets", len(pending))
				if err := p.step(ctx, tx, batch, change.LayerApp, targetsOf(pending)); err != nil {
					return err
				}
			}
			if !done {
				return nil
			}
			return store.JobComplete(ctx, tx, job)
		})
		if err != nil || done {
			return err
		}
	}
}

func targetsOf(pending []store.PendingTarget) []change.Target {
	out := make([]change.Target, len(pending))
	for i, pt := range pending {
		out[i] = pt.Target
	}
	return out
}

// eventBatch records an event against a batch. It is written once: a
// delivery's trace reads the events of the batches that served it
// (store.EventList), so a batch of thousands of deliveries costs one row.
func (p *Pipeline) eventBatch(ctx context.Context, tx *store.Tx, batch int64, kind, msg string) error {
	return tx.EventAdd(ctx, 0, batch, kind, msg)
}
