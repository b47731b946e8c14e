package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/plan"
	"github.com/purgehook/purgehook/store"
)

// step is the one place a batch moves on: it reads what the planner
// needs (the batch's targets come from the caller, which holds them), asks
// plan.Next for the batch's next step from layer `from` outwards, and
// persists it: the calls with their jobs and budget charges, the planner's
// notes, the batch's layer; or, when no layer is left, the warm-up.
func (p *Pipeline) step(ctx context.Context, tx *store.Tx, batch int64, from change.Layer, targets []change.Target) error {
	now := p.st.Now()
	spent, err := p.spending(ctx, tx, now)
	if err != nil {
		return err
	}
	s := plan.Next(plan.Input{Targets: targets, Providers: p.planned, From: from, Spent: spent, Now: now, Graph: p.PlanGraph(targets)})
	for _, d := range s.Dropped {
		p.m.unknownTags.WithLabelValues(d.Provider).Inc()
	}
	log := p.batchLog(ctx, tx, batch)
	for _, st := range s.Stale {
		p.m.refetchRisk.WithLabelValues(st.Layer.String(), st.Provider).Inc()
	}
	for _, n := range s.Notes {
		log.Info("plan", "note", string(n))
		if err := p.eventBatch(ctx, tx, batch, "plan", string(n)); err != nil {
			return err
		}
	}
	if s.Done {
		log.Info("every layer purged")
		return p.queueWarm(ctx, tx, batch, targets)
	}
	log.Info("step", "layer", s.Layer.String(), "calls", len(s.Calls))
	for _, pr := range p.planned {
		if n := len(s.CallsOf(pr.Name)); n > 0 {
			if err := p.eventBatch(ctx, tx, batch, "plan", fmt.Sprintf("%s (%s): %d call(s)", pr.Name, s.Layer, n)); err != nil {
				return err
			}
		}
	}
	for _, sc := range s.Calls {
		sc.Call.Batch = batch
		c, err := tx.CallInsert(ctx, sc.Call, string(sc.Reason), sc.NotBefore)
		if err != nil {
			return err
		}
		opts := &river.InsertOpts{}
		if !sc.NotBefore.IsZero() {
			opts.ScheduledAt = sc.NotBefore
		}
		if err := tx.JobInsert(ctx, p.queue, CallArgs{Call: c.ID, Provider: c.Provider}, opts); err != nil {
			return err
		}
	}
	for provider, days := range s.Charges() {
		for day, n := range days {
			if err := tx.BudgetSpend(ctx, provider, day, n); err != nil {
				return err
			}
		}
	}
	if s.Broad {
		if err := tx.BatchMarkBroad(ctx, batch); err != nil {
			return err
		}
	}
	return tx.BatchPurging(ctx, batch, s.Layer)
}

// spending reads what each limited provider has spent from today's window
// on, holding each budget's lock for the rest of the transaction so that
// replicas planning at once do not both spend the last call.
func (p *Pipeline) spending(ctx context.Context, tx *store.Tx, now time.Time) (map[string]budget.Spent, error) {
	out := map[string]budget.Spent{}
	day := budget.WindowAt(now).Day
	for _, pr := range p.planned {
		if !pr.Budget.Limited() {
			continue
		}
		if err := tx.BudgetLock(ctx, pr.Name); err != nil {
			return nil, err
		}
		s, err := tx.BudgetSpent(ctx, pr.Name, day)
		if err != nil {
			return nil, err
		}
		out[pr.Name] = s
	}
	return out, nil
}

// Budgets reads every provider's budget as it stands now: what the admin
// API, `purgehook status` and the budget gauge show. A read error is
// returned, never shown as an empty or a full budget.
func (p *Pipeline) Budgets(ctx context.Context) ([]budget.Status, error) {
	now := p.st.Now()
	out := make([]budget.Status, 0, len(p.planned))
	for _, pr := range p.planned {
		s, err := budget.Read(ctx, p.st, pr.Name, pr.Budget, now)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
