package pipeline

import (
	"context"
	"time"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/plan"
	"github.com/purgehook/purgehook/store"
)

// flushDue is when the waiting targets are taken into a batch:
//
//   - the coalescing window after the oldest, which later targets do not
//     push back: a change is purged about a window after it arrives even
//     under steady traffic, and a batch grows with the arrival rate;
//   - later while a provider's rate has no call free (the calls already
//     planned hold its slots), but at most max_wait after the oldest:
//     targets that wait coalesce into fewer, bigger calls;
//   - later still while a provider's budget reserve allows no call now
//     (plan.Ready), max_wait or not: a batch taken then could only wait for
//     the same call, and every batch would charge one of its own. A budget
//     spent for the day does not hold the targets (its calls wait for the
//     next day instead: the inner layers go at once).
//
// An emergency purge (an admin's overdraft) waits for neither.
func (p *Pipeline) flushDue(ctx context.Context, oldest time.Time) (time.Time, error) {
	due := oldest.Add(p.o.Coalesce)
	emergency, err := p.st.PendingOverdraft(ctx)
	if err != nil || emergency {
		return due, err
	}
	now := p.st.Now()
	limit := oldest.Add(p.o.MaxWait)
	for _, pr := range p.planned {
		r := p.providers[pr.Name].rate
		if !r.Limited() {
			continue
		}
		tat, err := p.st.RateGet(ctx, pr.Name)
		if err != nil {
			return time.Time{}, err
		}
		if free := r.Free(tat, now); free.After(due) {
			due = minTime(free, limit)
		}
	}
	spent := map[string]budget.Spent{}
	day := budget.WindowAt(now).Day
	for _, pr := range p.planned {
		if !pr.Budget.Limited() {
			continue
		}
		s, err := p.st.BudgetSpent(ctx, pr.Name, day)
		if err != nil {
			return time.Time{}, err
		}
		spent[pr.Name] = s
	}
	if ready := plan.Ready(p.planned, spent, now); ready.After(due) {
		due = ready
	}
	return due, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// slot is how long a call must wait for its provider's rate. The first
// time the call's job runs it takes the provider's next slot, under the
// rate lock every replica takes, and records it with the call, so that
// snoozing until then, or a restart, does not take another: replicas on
// one PostgreSQL database together keep the provider's rate.
func (p *Pipeline) slot(ctx context.Context, pr *provider, row store.CallRow) (time.Duration, error) {
	if !pr.rate.Limited() {
		return 0, nil
	}
	at, err := p.st.CallSlot(ctx, row.ID)
	if err != nil {
		return 0, err
	}
	if at.IsZero() {
		err = p.st.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.RateLock(ctx, row.Provider); err != nil {
				return err
			}
			tat, err := tx.RateGet(ctx, row.Provider)
			if err != nil {
				return err
			}
			var next time.Time
			at, next = pr.rate.Take(tat, p.st.Now())
			if err := tx.RateSet(ctx, row.Provider, next); err != nil {
				return err
			}
			return tx.CallSlotSet(ctx, row.ID, at)
		})
		if err != nil {
			return 0, err
		}
	}
	return max(at.Sub(p.st.Now()), 0), nil
}
