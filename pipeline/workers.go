package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/plan"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/store"
	"github.com/purgehook/purgehook/warm"
)

type deliveryWorker struct {
	river.WorkerDefaults[DeliveryArgs]
	p *Pipeline
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	p := w.p
	id := job.Args.Delivery
	d, err := p.st.DeliveryGet(ctx, id)
	if err != nil {
		return err
	}
	changes, err := p.st.ChangeList(ctx, id)
	if err != nil {
		return err
	}
	var targets []change.Target
	var events []string
	for _, c := range changes {
		res := p.o.Resolver.Resolve(c, p.o.SourceSites[d.Source])
		targets = append(targets, res.Targets...)
		for _, dr := range res.Dropped {
			p.log.Warn("target dropped", "delivery", id, "value", dr.Value, "reason", dr.Reason)
			events = append(events, fmt.Sprintf("dropped %q: %s", dr.Value, dr.Reason))
		}
	}
	return p.st.InTx(ctx, func(tx *store.Tx) error {
		for _, e := range events {
			if err := tx.EventAdd(ctx, id, 0, "dropped", e); err != nil {
				return err
			}
		}
		if err := tx.EventAdd(ctx, id, 0, "resolved", fmt.Sprintf("%d change(s) → %d target(s): %s", len(changes), len(targets), summarize(targets))); err != nil {
			return err
		}
		if err := p.queueTargets(ctx, tx, id, targets); err != nil {
			return err
		}
		return store.JobComplete(ctx, tx, job)
	})
}

func summarize(ts []change.Target) string {
	n := map[change.TargetKind]int{}
	for _, t := range ts {
		n[t.Kind]++
	}
	var parts []string
	for _, k := range change.AllKinds {
		if n[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[k], k))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

type flushWorker struct {
	river.WorkerDefaults[FlushArgs]
	p *Pipeline
}

// Work closes the coalescing window: it waits while targets keep arriving
// (up to coalesce after the newest), but never longer than max_wait after
// the oldest, so a bulk publish becomes few calls and a lone publish is
// purged within a second.
func (w *flushWorker) Work(ctx context.Context, job *river.Job[FlushArgs]) error {
	p := w.p
	n, oldest, newest, err := p.st.PendingWindow(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		due := newest.Add(p.o.Coalesce)
		if limit := oldest.Add(p.o.MaxWait); limit.Before(due) {
			due = limit
		}
		if wait := due.Sub(p.st.Now()); wait > 0 {
			return river.JobSnooze(wait)
		}
	}
	return p.st.InTx(ctx, func(tx *store.Tx) error {
		pending, err := tx.PendingTake(ctx)
		if err != nil {
			return err
		}
		if err := tx.StateSet(ctx, flushKey, ""); err != nil {
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
			if err := p.advance(ctx, tx, batch, -1, pending); err != nil {
				return err
			}
		}
		return store.JobComplete(ctx, tx, job)
	})
}

// eventBatch records an event against a batch and every delivery it
// serves, so that a delivery's trace shows what happened to its targets.
func (p *Pipeline) eventBatch(ctx context.Context, tx *store.Tx, batch int64, kind, msg string) error {
	ds, err := tx.BatchDeliveries(ctx, batch)
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		return tx.EventAdd(ctx, 0, batch, kind, msg)
	}
	for _, d := range ds {
		if err := tx.EventAdd(ctx, d, batch, kind, msg); err != nil {
			return err
		}
	}
	return nil
}

// advance plans the first layer after `after` that has calls to make, or
// queues the warm-up when no layer is left.
func (p *Pipeline) advance(ctx context.Context, tx *store.Tx, batch int64, after change.Layer, pending []store.PendingTarget) error {
	if pending == nil {
		var err error
		if pending, err = tx.BatchTargets(ctx, batch); err != nil {
			return err
		}
	}
	targets := make([]change.Target, len(pending))
	for i, pt := range pending {
		targets[i] = pt.Target
	}
	now := p.st.Now()
	for _, layer := range p.layers {
		if layer <= after {
			continue
		}
		planned := 0
		for _, pr := range p.o.Providers {
			if pr.Layer != layer {
				continue
			}
			calls, notes := plan.Calls(pr.Provider, targets)
			if pr.Limits.CallsPerDay > 0 {
				if err := tx.BudgetLock(ctx, pr.Name); err != nil {
					return err
				}
			}
			spentCache := map[string]int{}
			spent := func(day string) int {
				if v, ok := spentCache[day]; ok {
					return v
				}
				v, err := tx.BudgetSpent(ctx, pr.Name, day)
				if err != nil {
					p.log.Error("read budget", "provider", pr.Name, "err", err)
				}
				spentCache[day] = v
				return v
			}
			d := plan.ApplyBudget(pr.Provider, calls, pr.Policy, pr.Limits.CallsPerDay,
				plan.Window{Day: store.Day(now), Start: now}, spent, nextWindow)
			if d.Note != "" {
				notes = append(notes, d.Note)
			}
			for _, n := range notes {
				p.log.Info("plan", "batch", batch, "note", string(n))
				if err := p.eventBatch(ctx, tx, batch, "plan", string(n)); err != nil {
					return err
				}
			}
			perDay := map[string]int{}
			for _, sc := range d.Calls {
				sc.Call.Batch = batch
				c, err := tx.CallInsert(ctx, sc.Call, string(d.Note), sc.NotBefore)
				if err != nil {
					return err
				}
				opts := &river.InsertOpts{}
				if !sc.NotBefore.IsZero() {
					opts.ScheduledAt = sc.NotBefore
				}
				if err := tx.JobInsert(ctx, p.client, CallArgs{Call: c.ID, Provider: c.Provider}, opts); err != nil {
					return err
				}
				perDay[sc.Day]++
				planned++
			}
			for day, n := range perDay {
				if pr.Limits.CallsPerDay > 0 {
					if err := tx.BudgetSpend(ctx, pr.Name, day, n); err != nil {
						return err
					}
				}
			}
			if pr.Limits.CallsPerDay > 0 {
				left := pr.Limits.CallsPerDay - spent(store.Day(now)) - perDay[store.Day(now)]
				p.m.budgetRemaining.WithLabelValues(pr.Name).Set(float64(max(left, 0)))
			}
			if len(d.Calls) > 0 {
				if err := p.eventBatch(ctx, tx, batch, "plan", fmt.Sprintf("%s (%s): %d call(s)", pr.Name, layer, len(d.Calls))); err != nil {
					return err
				}
			}
		}
		if planned > 0 {
			return tx.BatchSet(ctx, batch, store.BatchPurging, int(layer), "")
		}
	}
	return p.queueWarm(ctx, tx, batch, targets)
}

func nextWindow(w plan.Window) plan.Window {
	start := store.NextDay(w.Start)
	return plan.Window{Day: store.Day(start), Start: start}
}

// queueWarm works out which pages to fetch again: the URL targets marked
// for warming and, where a whole host or everything was purged, the warm
// list of each affected site.
func (p *Pipeline) queueWarm(ctx context.Context, tx *store.Tx, batch int64, targets []change.Target) error {
	if p.o.Warmer == nil {
		if err := p.eventBatch(ctx, tx, batch, "done", "purged (warming disabled)"); err != nil {
			return err
		}
		return tx.BatchSet(ctx, batch, store.BatchDone, -1, "")
	}
	calls, err := tx.CallList(ctx, batch, 1_000_000)
	if err != nil {
		return err
	}
	broad := slices.ContainsFunc(calls, func(c store.CallRow) bool {
		return c.State == store.CallDone && (c.Kind == change.Everything || c.Kind == change.Host)
	})
	var urls []string
	seen := map[string]bool{}
	addURL := func(u string) {
		if !seen[u] {
			seen[u] = true
			urls = append(urls, u)
		}
	}
	sites := map[string]bool{}
	allSites := false
	for _, t := range targets {
		if t.Kind == change.URL && t.Warm {
			addURL(t.Value)
		}
		if broad || t.Kind == change.Host || t.Kind == change.Everything {
			if t.Site == "" {
				allSites = true
			} else {
				sites[t.Site] = true
			}
		}
	}
	for _, s := range p.o.Resolver.Sites() {
		if allSites || sites[s.Name] {
			for _, w := range s.Warm {
				addURL(s.Abs(w))
			}
		}
	}
	if len(urls) == 0 {
		if err := p.eventBatch(ctx, tx, batch, "done", "purged; nothing to warm"); err != nil {
			return err
		}
		return tx.BatchSet(ctx, batch, store.BatchDone, -1, "")
	}
	if err := tx.WarmInsert(ctx, batch, urls); err != nil {
		return err
	}
	if err := p.eventBatch(ctx, tx, batch, "purged", fmt.Sprintf("every layer purged; warming %d page(s)", len(urls))); err != nil {
		return err
	}
	if err := tx.JobInsert(ctx, p.client, WarmArgs{Batch: batch}, nil); err != nil {
		return err
	}
	return tx.BatchSet(ctx, batch, store.BatchWarming, -1, "")
}

// minPoll bounds how often an asynchronous provider is asked for
// completion, whatever it suggests.
const minPoll = 250 * time.Millisecond

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
	switch row.State {
	case store.CallDone, store.CallFailed, store.CallSplit, store.CallSkipped:
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

	if wait := pr.pace(); wait > 0 {
		// Over the provider's rate: hand the job back rather than hold a
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
		return river.JobSnooze(max(res.CheckAfter, minPoll))
	}
	return p.succeed(ctx, job, row, res.Ref)
}

// succeed records a finished call and, if it was its layer's last, moves
// the batch on, in one transaction with the job's completion.
func (p *Pipeline) succeed(ctx context.Context, job *river.Job[CallArgs], row store.CallRow, ref string) error {
	p.m.calls.WithLabelValues(row.Provider, "done").Inc()
	kind := string(row.Kind)
	n := len(row.Items)
	if row.Kind == change.Everything {
		n = 1
	}
	p.m.items.WithLabelValues(row.Provider, kind).Add(float64(n))
	return p.st.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.BatchLock(ctx, row.Batch); err != nil {
			return err
		}
		if err := tx.CallUpdate(ctx, store.CallUpdateParams{ID: row.ID, State: store.CallDone, Ref: ref, Attempted: row.State != store.CallWaiting}); err != nil {
			return err
		}
		open, err := tx.CallsOpen(ctx, row.Batch, row.Layer)
		if err != nil {
			return err
		}
		if open == 0 {
			b, err := tx.BatchGet(ctx, row.Batch)
			if err != nil {
				return err
			}
			if b.State == store.BatchPurging && b.Layer == int(row.Layer) {
				if err := p.eventBatch(ctx, tx, row.Batch, "layer", fmt.Sprintf("%s layer purged", row.Layer)); err != nil {
					return err
				}
				if err := p.advance(ctx, tx, row.Batch, row.Layer, nil); err != nil {
					return err
				}
			}
		}
		return store.JobComplete(ctx, tx, job)
	})
}

// failed classifies a provider error into snooze, retry, split or
// failure.
func (p *Pipeline) failed(ctx context.Context, job *river.Job[CallArgs], row store.CallRow, err error) error {
	if released(ctx, err) {
		return river.JobSnooze(0)
	}
	class, after := purger.Classify(err)
	log := p.log.With("provider", row.Provider, "batch", row.Batch, "call", row.ID, "attempt", job.Attempt)
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
			return p.split(ctx, job, row, err)
		}
		return p.fail(ctx, job, row, err)
	case purger.Permanent:
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
	p.log.Error("call failed", "provider", row.Provider, "batch", row.Batch, "call", row.ID, "err", err)
	msg := err.Error()
	txErr := p.st.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.BatchLock(ctx, row.Batch); err != nil {
			return err
		}
		if err := tx.CallUpdate(ctx, store.CallUpdateParams{ID: row.ID, State: store.CallFailed, Error: msg, Attempted: true}); err != nil {
			return err
		}
		if err := tx.BatchSet(ctx, row.Batch, store.BatchFailed, int(row.Layer), fmt.Sprintf("%s call %d: %s", row.Provider, row.ID, msg)); err != nil {
			return err
		}
		if err := p.eventBatch(ctx, tx, row.Batch, "failed", fmt.Sprintf("%s: %s; outer layers not purged", row.Provider, msg)); err != nil {
			return err
		}
		return store.JobComplete(ctx, tx, job)
	})
	return txErr
}

func (p *Pipeline) split(ctx context.Context, job *river.Job[CallArgs], row store.CallRow, cause error) error {
	half := len(row.Items) / 2
	return p.st.InTx(ctx, func(tx *store.Tx) error {
		for _, items := range [][]string{row.Items[:half], row.Items[half:]} {
			c, err := tx.CallInsert(ctx, change.Call{Batch: row.Batch, Provider: row.Provider, Layer: row.Layer, Kind: row.Kind, Items: items}, "split from call "+fmt.Sprint(row.ID), time.Time{})
			if err != nil {
				return err
			}
			if err := tx.JobInsert(ctx, p.client, CallArgs{Call: c.ID, Provider: c.Provider}, nil); err != nil {
				return err
			}
		}
		if err := tx.CallUpdate(ctx, store.CallUpdateParams{ID: row.ID, State: store.CallSplit, Error: cause.Error(), Attempted: true}); err != nil {
			return err
		}
		return store.JobComplete(ctx, tx, job)
	})
}

type pruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	p *Pipeline
}

func (w *pruneWorker) Work(ctx context.Context, job *river.Job[PruneArgs]) error {
	p := w.p
	return p.st.InTx(ctx, func(tx *store.Tx) error {
		n, err := tx.Prune(ctx, p.st.Now().Add(-p.o.Retention))
		if err != nil {
			return err
		}
		if n > 0 {
			p.log.Info("pruned", "rows", n, "older_than", p.o.Retention)
		}
		return store.JobComplete(ctx, tx, job)
	})
}

type warmWorker struct {
	river.WorkerDefaults[WarmArgs]
	p *Pipeline
}

// chunk is how many pages one job fetches.
func (w *warmWorker) chunk() int {
	if w.p.o.Warmer == nil {
		return 100
	}
	return warmRounds(w.p.o.Warmer, w.p.o.RescueAfter) * w.p.o.Warmer.PerRound()
}

// Timeout covers the job's rounds at their slowest.
func (w *warmWorker) Timeout(*river.Job[WarmArgs]) time.Duration {
	if w.p.o.Warmer == nil {
		return 0
	}
	return time.Duration(warmRounds(w.p.o.Warmer, w.p.o.RescueAfter))*w.p.o.Warmer.RoundTime() + warmSlack/2
}

func (w *warmWorker) Work(ctx context.Context, job *river.Job[WarmArgs]) error {
	p := w.p
	batch := job.Args.Batch
	rows, err := p.st.WarmList(ctx, batch, store.WarmPending, w.chunk())
	if err != nil {
		return err
	}
	byURL := map[string][]store.Warm{}
	var urls []string
	for _, r := range rows {
		if _, ok := byURL[r.URL]; !ok {
			urls = append(urls, r.URL)
		}
		byURL[r.URL] = append(byURL[r.URL], r)
	}
	var outcomes []warm.Outcome
	if p.o.Warmer != nil {
		if err := p.o.Warmer.Fetch(ctx, urls, func(o warm.Outcome) { outcomes = append(outcomes, o) }); err != nil {
			if released(ctx, err) {
				return river.JobSnooze(0)
			}
			return err
		}
	}
	ok, failed := 0, 0
	return p.st.InTx(ctx, func(tx *store.Tx) error {
		for _, o := range outcomes {
			st := store.Warm{State: store.WarmDone, Status: o.Status, Duration: o.Duration}
			label := "ok"
			if !o.OK() {
				st.State, label = store.WarmFailed, "failed"
				failed++
				if o.Err != nil {
					st.Error = o.Err.Error()
				} else {
					st.Error = fmt.Sprintf("status %d", o.Status)
				}
			} else {
				ok++
			}
			p.m.warm.WithLabelValues(label).Inc()
			for _, r := range byURL[o.URL] {
				st.ID = r.ID
				if err := tx.WarmRecord(ctx, st); err != nil {
					return err
				}
			}
		}
		more, err := tx.WarmList(ctx, batch, store.WarmPending, 1)
		if err != nil {
			return err
		}
		msg := fmt.Sprintf("warmed %d page(s), %d failed", ok, failed)
		if err := p.eventBatch(ctx, tx, batch, "warm", msg); err != nil {
			return err
		}
		if len(more) > 0 {
			if err := tx.JobInsert(ctx, p.client, WarmArgs{Batch: batch}, nil); err != nil {
				return err
			}
		} else if err := tx.BatchSet(ctx, batch, store.BatchDone, -1, ""); err != nil {
			return err
		}
		return store.JobComplete(ctx, tx, job)
	})
}

// pace takes a token from the provider's rate limiter; it returns how long
// to wait when none is available (0 when the call may go now).
func (pr *Provider) pace() time.Duration {
	if pr.limiter == nil {
		return 0
	}
	r := pr.limiter.Reserve()
	d := r.Delay()
	if d > 0 {
		r.Cancel()
	}
	return d
}
