package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/store"
)

// minPoll bounds how often an asynchronous provider is asked for
// completion, whatever it suggests.
const minPoll = 250 * time.Millisecond

// callWorker makes one provider call and records its outcome; the last
// call of a layer moves the batch on.
type callWorker struct {
	river.WorkerDefaults[CallArgs]
	p *Pipeline
}

// Timeout lets the provider's own timeout bound the call.
func (w *callWorker) Timeout(job *river.Job[CallArgs]) time.Duration {
	if pr := w.p.providers[job.Args.Provider]; pr != nil && pr.Timeout > 0 {
		return pr.Timeout + 5*time.Second
	}
	return 0
}

func (w *callWorker) Work(ctx context.Context, job *river.Job[CallArgs]) error {
	p := w.p
	row, err := p.st.CallGet(ctx, job.Args.Call)
	if err != nil {
		return err
	}
	if row.State.Settled() {
		// Already settled by an earlier run that crashed before
		// completing its job.
		return p.st.InTx(ctx, func(tx *store.Tx) error { return store.JobComplete(ctx, tx, job) })
	}
	batch, err := p.st.BatchGet(ctx, row.Batch)
	if err != nil {
		return err
	}
	if batch.State == store.BatchFailed {
		return p.st.InTx(ctx, func(tx *store.Tx) error {
			// Read again under the batch's lock: a retry may have set the
			// batch purging since, counting on this call to run.
			if err := tx.BatchLock(ctx, row.Batch); err != nil {
				return err
			}
			b, err := tx.BatchGet(ctx, row.Batch)
			if err != nil {
				return err
			}
			if b.State != store.BatchFailed {
				return river.JobSnooze(0)
			}
			if err := tx.CallUpdate(ctx, store.CallUpdateParams{ID: row.ID, State: store.CallSkipped, Error: "batch failed"}); err != nil {
				return err
			}
			return store.JobComplete(ctx, tx, job)
		})
	}
	pr := p.providers[row.Provider]
	if pr == nil {
		return p.fail(ctx, job, row, fmt.Errorf("provider %q is no longer configured", row.Provider))
	}
	cctx := ctx
	if pr.Timeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, pr.Timeout)
		defer cancel()
	}

	if row.State == store.CallWaiting {
		comp, ok := pr.Purger.(purger.Completer)
		if !ok {
			return p.succeed(ctx, job, row, "")
		}
		done, after, err := comp.Completed(cctx, row.Call)
		if err != nil {
			return p.failed(ctx, job, row, err)
		}
		if !done {
			return river.JobSnooze(max(after, minPoll))
		}
		return p.succeed(ctx, job, row, "")
	}

	if wait, err := p.slot(ctx, pr, row); err != nil {
		return err
	} else if wait > 0 {
		// Its rate slot is later: hand the job back rather than hold a
		// worker; the provider would only answer 429.
		return river.JobSnooze(wait)
	}
	res, err := pr.Purger.Purge(cctx, row.Call)
	if err != nil {
		return p.failed(ctx, job, row, err)
	}
	if res.Pending {
		if err := p.st.CallUpdate(ctx, store.CallUpdateParams{ID: row.ID, State: store.CallWaiting, Ref: res.Ref, Attempted: true}); err != nil {
			return err
		}
		p.m.calls.WithLabelValues(row.Provider, "accepted").Inc()
		p.batchLog(ctx, p.st, row.Batch).Info("call accepted, waiting for completion", "provider", row.Provider, "call", row.ID, "ref", res.Ref)
		return river.JobSnooze(max(res.CheckAfter, minPoll))
	}
	return p.succeed(ctx, job, row, res.Ref)
}

// succeed records a finished call and, if it was its layer's last, runs
// the batch's next step, in one transaction with the job's completion.
func (p *Pipeline) succeed(ctx context.Context, job *river.Job[CallArgs], row store.CallRow, ref string) error {
	if row.State != store.CallWaiting {
		// An asynchronous call was counted once, as accepted.
		p.m.calls.WithLabelValues(row.Provider, "done").Inc()
	}
	n := len(row.Items)
	if row.Kind == change.Everything {
		n = 1
	}
	p.m.items.WithLabelValues(row.Provider, string(row.Kind)).Add(float64(n))
	p.batchLog(ctx, p.st, row.Batch).Info("call done", "provider", row.Provider, "call", row.ID, "layer", row.Layer.String(), "kind", string(row.Kind), "items", n)
	return p.st.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.BatchLock(ctx, row.Batch); err != nil {
			return err
		}
		if err := tx.CallUpdate(ctx, store.CallUpdateParams{ID: row.ID, State: store.CallDone, Ref: ref, Attempted: row.State != store.CallWaiting}); err != nil {
			return err
		}
		return p.closeLayer(ctx, tx, job, row)
	})
}

// closeLayer, in the transaction that settled a call, completes its job
// and, if the call was its layer's last, runs the batch's next step (or
// fails the batch when a call of the layer failed).
func (p *Pipeline) closeLayer(ctx context.Context, tx *store.Tx, job *river.Job[CallArgs], row store.CallRow) error {
	open, err := tx.CallsOpen(ctx, row.Batch, row.Layer)
	if err != nil {
		return err
	}
	if open == 0 {
		b, err := tx.BatchGet(ctx, row.Batch)
		if err != nil {
			return err
		}
		// Only the transaction that closes the layer moves the batch
		// on; a replica that finished a call of the same layer at the
		// same time sees the layer already moved.
		if b.State == store.BatchPurging && b.Layer == row.Layer {
			// A call of the layer that failed while others ran, and
			// was then retried, leaves the layer unpurged while
			// another failed call of it waits for its own retry.
			failed, err := tx.CallsFailed(ctx, row.Batch, row.Layer)
			if err != nil {
				return err
			}
			if failed == 0 {
				// Every item a provider was sent, refused one by one, is
				// a refusal of the provider's, not of an item (a zone on
				// hold): the layer failed.
				failed, err = p.refusedWhole(ctx, tx, row.Batch, row.Layer)
				if err != nil {
					return err
				}
			}
			if failed > 0 {
				msg := fmt.Sprintf("%d call(s) of the %s layer failed; outer layers not purged", failed, row.Layer)
				if err := tx.BatchSettle(ctx, row.Batch, store.BatchFailed, msg); err != nil {
					return err
				}
				if err := p.eventBatch(ctx, tx, row.Batch, "failed", msg); err != nil {
					return err
				}
				return store.JobComplete(ctx, tx, job)
			}
			if err := p.eventBatch(ctx, tx, row.Batch, "layer", fmt.Sprintf("%s layer purged", row.Layer)); err != nil {
				return err
			}
			targets, err := tx.BatchTargets(ctx, row.Batch)
			if err != nil {
				return err
			}
			if err := p.step(ctx, tx, row.Batch, row.Layer+1, targetsOf(targets)); err != nil {
				return err
			}
		}
	}
	return store.JobComplete(ctx, tx, job)
}

// failed acts on a provider error as purger classified it: snooze,
// retry, split or fail.
func (p *Pipeline) failed(ctx context.Context, job *river.Job[CallArgs], row store.CallRow, err error) error {
	if released(ctx, err) {
		return river.JobSnooze(0)
	}
	class, after := purger.Classify(err)
	log := p.batchLog(ctx, p.st, row.Batch).With("provider", row.Provider, "call", row.ID, "attempt", job.Attempt)
	switch class {
	case purger.Snooze:
		p.m.calls.WithLabelValues(row.Provider, "rate_limited").Inc()
		log.Info("rate limited", "after", after, "err", err)
		if uerr := p.st.CallUpdate(ctx, store.CallUpdateParams{ID: row.ID, State: row.State, Error: err.Error()}); uerr != nil {
			return uerr
		}
		return river.JobSnooze(max(after, time.Second))
	case purger.TooLarge:
		if len(row.Items) > 1 {
			p.m.calls.WithLabelValues(row.Provider, "split").Inc()
			log.Info("call too large, splitting", "items", len(row.Items), "err", err)
			return p.split(ctx, job, row, err, "split from call")
		}
		return p.fail(ctx, job, row, err)
	case purger.Permanent:
		if badRequest(err) && len(row.Items) > 1 {
			// One bad item refuses the whole call: halve it until the
			// refused item is alone, so that the others are purged.
			p.m.calls.WithLabelValues(row.Provider, "bisect").Inc()
			log.Info("call refused, bisecting to find the refused item", "items", len(row.Items), "err", err)
			return p.split(ctx, job, row, err, bisectReason)
		}
		if badRequest(err) && len(row.Items) == 1 && strings.HasPrefix(row.Reason, bisectReason) {
			return p.refuse(ctx, job, row, err)
		}
		return p.fail(ctx, job, row, err)
	}
	p.m.calls.WithLabelValues(row.Provider, "retry").Inc()
	if job.Attempt >= job.MaxAttempts {
		return p.fail(ctx, job, row, fmt.Errorf("giving up after %d attempts: %w", job.Attempt, err))
	}
	// Log a repeated failure once, not every retry.
	if job.Attempt == 1 {
		log.Warn("call failed, will retry", "err", err)
	} else {
		log.Debug("call failed again, will retry", "err", err)
	}
	if uerr := p.st.CallUpdate(ctx, store.CallUpdateParams{ID: row.ID, State: row.State, Error: err.Error(), Attempted: true}); uerr != nil {
		return uerr
	}
	return err
}

// fail records a call that cannot succeed; its batch stops, since purging
// an outer layer over a stale inner one would let the outer cache refetch
// stale content.
func (p *Pipeline) fail(ctx context.Context, job *river.Job[CallArgs], row store.CallRow, err error) error {
	p.m.calls.WithLabelValues(row.Provider, "failed").Inc()
	p.batchLog(ctx, p.st, row.Batch).Error("call failed", "provider", row.Provider, "call", row.ID, "err", err)
	msg := err.Error()
	return p.st.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.BatchLock(ctx, row.Batch); err != nil {
			return err
		}
		if err := tx.CallUpdate(ctx, store.CallUpdateParams{ID: row.ID, State: store.CallFailed, Error: msg, Attempted: true}); err != nil {
			return err
		}
		if err := tx.BatchSettle(ctx, row.Batch, store.BatchFailed, fmt.Sprintf("%s call %d: %s", row.Provider, row.ID, msg)); err != nil {
			return err
		}
		if err := p.eventBatch(ctx, tx, row.Batch, "failed", fmt.Sprintf("%s: %s; outer layers not purged", row.Provider, msg)); err != nil {
			return err
		}
		return store.JobComplete(ctx, tx, job)
	})
}

// split replaces a call the provider found too large with its two halves.
// The second half is a call the plan did not count: it is charged to the
// provider's budget, even past it (the first call was made, and leaving
// half of it undone would leave pages stale).
//
// reason names the halves' origin: "split from call" (413) or
// bisectReason (400), followed by the call's id.
func (p *Pipeline) split(ctx context.Context, job *river.Job[CallArgs], row store.CallRow, cause error, reason string) error {
	half := len(row.Items) / 2
	return p.st.InTx(ctx, func(tx *store.Tx) error {
		if pr := p.providers[row.Provider]; pr != nil && pr.Budget.Limited() {
			if err := tx.BudgetLock(ctx, row.Provider); err != nil {
				return err
			}
			if err := tx.BudgetSpend(ctx, row.Provider, budget.WindowAt(p.st.Now()).Day, 1); err != nil {
				return err
			}
		}
		for _, items := range [][]string{row.Items[:half], row.Items[half:]} {
			c, err := tx.CallInsert(ctx, change.Call{Batch: row.Batch, Provider: row.Provider, Layer: row.Layer, Kind: row.Kind, Items: items}, fmt.Sprintf("%s %d", reason, row.ID), time.Time{})
			if err != nil {
				return err
			}
			if err := tx.JobInsert(ctx, p.queue, CallArgs{Call: c.ID, Provider: c.Provider}, nil); err != nil {
				return err
			}
		}
		if err := tx.CallUpdate(ctx, store.CallUpdateParams{ID: row.ID, State: store.CallSplit, Error: cause.Error(), Attempted: true}); err != nil {
			return err
		}
		return store.JobComplete(ctx, tx, job)
	})
}
