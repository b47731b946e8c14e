package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/store"
)

// ErrNotRetryable is returned, wrapped with the reason, when a call or a
// job named for a retry is not one that failed (or can no longer run).
var ErrNotRetryable = errors.New("not retryable")

// Failures is what an operator can act on: failed calls (whose batch
// stopped at their layer) and jobs River gave up on.
type Failures struct {
	Calls []store.CallRow `json:"calls"`
	Jobs  []JobFailure    `json:"jobs"`
}

// JobFailure is a discarded job with its last error.
type JobFailure struct {
	ID       int64           `json:"id"`
	Kind     string          `json:"kind"`
	Args     json.RawMessage `json:"args"`
	Attempts int             `json:"attempts"`
	Error    string          `json:"error"`
	At       time.Time       `json:"at,omitzero"`
}

// Failures lists up to limit failed calls and discarded jobs, newest
// first.
func (p *Pipeline) Failures(ctx context.Context, limit int) (Failures, error) {
	calls, err := p.st.CallFailures(ctx, limit)
	if err != nil {
		return Failures{}, err
	}
	jobs, err := p.st.JobsDiscarded(ctx, p.queue, limit)
	if err != nil {
		return Failures{}, err
	}
	f := Failures{Calls: calls, Jobs: make([]JobFailure, 0, len(jobs))}
	if f.Calls == nil {
		f.Calls = []store.CallRow{}
	}
	for _, j := range jobs {
		jf := JobFailure{ID: j.ID, Kind: j.Kind, Args: j.EncodedArgs, Attempts: j.Attempt}
		if n := len(j.Errors); n > 0 {
			jf.Error = j.Errors[n-1].Error
		}
		if j.FinalizedAt != nil {
			jf.At = *j.FinalizedAt
		}
		f.Jobs = append(f.Jobs, jf)
	}
	return f, nil
}

// RetryCall makes a failed call again, as a new call of the same batch
// and layer, without replaying the delivery: the layers already purged are
// not purged again. Its batch, stopped at that layer, purges again: the
// calls of the layer that were skipped because of the failure are queued
// again too, and once the layer's last call succeeds the batch moves on to
// its outer layers and its warm-up through step, as if nothing had failed.
// A layer with another failed call stops again when its other calls are
// done, until that call is retried too.
//
// The retry is one more call to the provider, charged to today's budget;
// by names who asked (a token's name), for the audit trail.
func (p *Pipeline) RetryCall(ctx context.Context, id int64, by string) (store.CallRow, error) {
	row, err := p.st.CallGet(ctx, id)
	if err != nil {
		return store.CallRow{}, err
	}
	pr := p.providers[row.Provider]
	if pr == nil {
		return store.CallRow{}, fmt.Errorf("call %d: provider %q is no longer configured: %w", id, row.Provider, ErrNotRetryable)
	}
	var out store.CallRow
	err = p.st.InTxDurable(ctx, func(tx *store.Tx) error {
		// Serialised with the calls of the batch finishing, so that a
		// layer closes either before the retry (and stops on the failure)
		// or after it (and waits for the retried call).
		if err := tx.BatchLock(ctx, row.Batch); err != nil {
			return err
		}
		row, err := tx.CallGet(ctx, id)
		if err != nil {
			return err
		}
		if row.State != store.CallFailed && row.State != store.CallRefused {
			return fmt.Errorf("call %d is %s, not failed: %w", id, row.State, ErrNotRetryable)
		}
		b, err := tx.BatchGet(ctx, row.Batch)
		if err != nil {
			return err
		}
		if b.Layer != row.Layer || (b.State != store.BatchFailed && b.State != store.BatchPurging) {
			return fmt.Errorf("call %d: batch %d has moved on (%s, %s layer): %w", id, b.ID, b.State, b.Layer, ErrNotRetryable)
		}
		if err := tx.CallUpdate(ctx, store.CallUpdateParams{ID: row.ID, State: store.CallRetried, Error: row.Error}); err != nil {
			return err
		}
		c, err := p.requeue(ctx, tx, row, fmt.Sprintf("retry of call %d", row.ID))
		if err != nil {
			return err
		}
		if pr.Budget.Limited() {
			if err := tx.BudgetSpend(ctx, row.Provider, budget.WindowAt(p.st.Now()).Day, 1); err != nil {
				return err
			}
		}
		skipped := 0
		if b.State == store.BatchFailed {
			// The calls of the layer that the failure stopped never
			// reached the provider (or were not confirmed): they go again,
			// already charged when planned.
			calls, err := tx.CallList(ctx, row.Batch, 100_000)
			if err != nil {
				return err
			}
			for _, s := range calls {
				if s.Layer == row.Layer && s.State == store.CallSkipped {
					if _, err := p.requeue(ctx, tx, s, fmt.Sprintf("requeued with call %d's retry", row.ID)); err != nil {
						return err
					}
					skipped++
				}
			}
			if err := tx.BatchPurging(ctx, row.Batch, row.Layer); err != nil {
				return err
			}
		}
		msg := fmt.Sprintf("%s call %d retried as call %d by %s", row.Provider, row.ID, c.ID, by)
		if skipped > 0 {
			msg += fmt.Sprintf("; %d skipped call(s) of the %s layer queued again", skipped, row.Layer)
		}
		if err := p.eventBatch(ctx, tx, row.Batch, "retry", msg); err != nil {
			return err
		}
		out, err = tx.CallGet(ctx, c.ID)
		return err
	})
	if err != nil {
		return store.CallRow{}, err
	}
	p.log.Info("call retried", "call", id, "as", out.ID, "provider", row.Provider, "batch", row.Batch, "by", by)
	return out, nil
}

// requeue inserts a new call making the same purge as row, and its job.
func (p *Pipeline) requeue(ctx context.Context, tx *store.Tx, row store.CallRow, reason string) (change.Call, error) {
	c, err := tx.CallInsert(ctx, change.Call{Batch: row.Batch, Provider: row.Provider, Layer: row.Layer, Kind: row.Kind, Items: row.Items}, reason, time.Time{})
	if err != nil {
		return c, err
	}
	return c, tx.JobInsert(ctx, p.queue, CallArgs{Call: c.ID, Provider: c.Provider}, nil)
}

// RetryJob gives a discarded job one more attempt.
func (p *Pipeline) RetryJob(ctx context.Context, id int64, by string) error {
	err := p.st.InTxDurable(ctx, func(tx *store.Tx) error {
		j, err := tx.JobRetry(ctx, p.queue, id)
		if errors.Is(err, store.ErrJobNotDiscarded) {
			return fmt.Errorf("job %d is %s, not discarded: %w", id, j.State, ErrNotRetryable)
		}
		if err != nil {
			return err
		}
		return tx.EventAdd(ctx, 0, 0, "retry", fmt.Sprintf("%s job %d retried by %s", j.Kind, id, by))
	})
	if err != nil {
		return err
	}
	p.log.Info("job retried", "job", id, "by", by)
	return nil
}

// Retried is what RetryAll did.
type Retried struct {
	// Calls maps each failed call to the call that makes it again.
	Calls map[int64]int64 `json:"calls"`
	Jobs  []int64         `json:"jobs"`
	// Errors says, per call or job, why it was not retried.
	Errors []string `json:"errors"`
}

// RetryAll retries every failed call and discarded job (up to limit of
// each); one that cannot be retried is reported and the others still are.
func (p *Pipeline) RetryAll(ctx context.Context, limit int, by string) (Retried, error) {
	f, err := p.Failures(ctx, limit)
	if err != nil {
		return Retried{}, err
	}
	r := Retried{Calls: map[int64]int64{}, Jobs: []int64{}, Errors: []string{}}
	for _, c := range f.Calls {
		n, err := p.RetryCall(ctx, c.ID, by)
		if errors.Is(err, ErrNotRetryable) || errors.Is(err, store.ErrNotFound) {
			r.Errors = append(r.Errors, err.Error())
			continue
		}
		if err != nil {
			return r, err
		}
		r.Calls[c.ID] = n.ID
	}
	for _, j := range f.Jobs {
		err := p.RetryJob(ctx, j.ID, by)
		if errors.Is(err, ErrNotRetryable) || errors.Is(err, store.ErrNotFound) {
			r.Errors = append(r.Errors, err.Error())
			continue
		}
		if err != nil {
			return r, err
		}
		r.Jobs = append(r.Jobs, j.ID)
	}
	return r, nil
}
