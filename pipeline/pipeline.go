// Package pipeline runs purgehook's stages after a webhook is journaled, as
// durable River jobs in the same database as the journal:
//
//	delivery → resolve its changes into targets, queue them for a batch
//	flush    → after the coalescing window, take every queued target into a
//	           batch and plan the innermost layer's provider calls
//	call     → make one provider call; when the last call of a layer is done,
//	           plan the next layer; after the outermost, queue the warm-up
//	warm     → fetch the batch's pages again, a bounded number at a time
//
// Every hand-over between stages is one transaction: the state it records
// and the job that continues the work commit together, so a crash at any
// point loses nothing and a restart continues where the process stopped.
package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"golang.org/x/time/rate"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/plan"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/store"
	"github.com/purgehook/purgehook/warm"
)

// Provider is a configured provider as the pipeline uses it.
type Provider struct {
	Purger purger.Purger
	plan.Provider
	// Policy is what to do when the daily budget cannot cover a plan
	// (plan.PurgeEverything or plan.Wait).
	Policy  string
	Timeout time.Duration

	limiter *rate.Limiter
}

// Options wire a Pipeline.
type Options struct {
	Store     *store.Store
	Resolver  *resolve.Resolver
	Providers []Provider
	// SourceSites maps a source name to its configured site.
	SourceSites map[string]string
	Coalesce    time.Duration
	MaxWait     time.Duration
	// Warmer is nil when warming is disabled.
	Warmer      *warm.Warmer
	Workers     int
	JobTimeout  time.Duration
	RescueAfter time.Duration
	MaxAttempts int
	// Retention is how long settled work is kept (0: forever).
	Retention time.Duration
	// RetryPolicy overrides River's exponential backoff (tests).
	RetryPolicy river.ClientRetryPolicy
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

// Pipeline owns the job queue and its workers.
type Pipeline struct {
	o         Options
	st        *store.Store
	providers map[string]*Provider
	layers    []change.Layer
	client    *river.Client[*sql.Tx]
	log       *slog.Logger
	m         *metrics
}

// Job kinds.
const (
	kindDelivery = "purgehook_delivery"
	kindFlush    = "purgehook_flush"
	kindCall     = "purgehook_call"
	kindWarm     = "purgehook_warm"
	kindPrune    = "purgehook_prune"
)

// DeliveryArgs is the job that resolves a delivery.
type DeliveryArgs struct {
	Delivery int64 `json:"delivery"`
}

// Kind names the job.
func (DeliveryArgs) Kind() string { return kindDelivery }

// FlushArgs is the job that closes the coalescing window.
type FlushArgs struct{}

// Kind names the job.
func (FlushArgs) Kind() string { return kindFlush }

// CallArgs is the job that makes one provider call.
type CallArgs struct {
	Call     int64  `json:"call"`
	Provider string `json:"provider"`
}

// Kind names the job.
func (CallArgs) Kind() string { return kindCall }

// WarmArgs is the job that warms a batch's pages.
type WarmArgs struct {
	Batch int64 `json:"batch"`
}

// Kind names the job.
func (WarmArgs) Kind() string { return kindWarm }

// PruneArgs is the periodic job that deletes settled work older than the
// retention.
type PruneArgs struct{}

// Kind names the job.
func (PruneArgs) Kind() string { return kindPrune }

// flushKey is the ph_state key that says a flush job is queued.
const flushKey = "flush_queued"

// warmRounds returns how many rounds of fetches one warm job makes: as
// many as fit, at their slowest, well inside rescue_after (so a slow job
// is never run twice), between 1 and 20. A crash re-fetches at most one
// job's pages.
func warmRounds(w *warm.Warmer, rescueAfter time.Duration) int {
	if w == nil || rescueAfter <= 0 {
		return 20
	}
	n := int((rescueAfter - warmSlack) / w.RoundTime())
	return min(max(n, 1), 20)
}

// warmSlack is the part of rescue_after a warm job leaves for its
// bookkeeping.
const warmSlack = 10 * time.Second

// New builds the pipeline and its River client (not yet started).
func New(o Options) (*Pipeline, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	p := &Pipeline{o: o, st: o.Store, providers: map[string]*Provider{}, log: o.Logger.With("component", "pipeline")}
	var pps []plan.Provider
	for i := range o.Providers {
		pr := &o.Providers[i]
		if l := pr.Limits; l.RatePerSecond > 0 {
			pr.limiter = rate.NewLimiter(rate.Limit(l.RatePerSecond), max(l.Burst, 1))
		}
		p.providers[pr.Name] = pr
		pps = append(pps, pr.Provider)
	}
	p.layers = plan.Layers(pps)
	m, err := newMetrics(o.Registerer, o.Store)
	if err != nil {
		return nil, err
	}
	p.m = m

	workers := river.NewWorkers()
	river.AddWorker(workers, &deliveryWorker{p: p})
	river.AddWorker(workers, &flushWorker{p: p})
	river.AddWorker(workers, &callWorker{p: p})
	river.AddWorker(workers, &warmWorker{p: p})
	river.AddWorker(workers, &pruneWorker{p: p})
	periodic := []*river.PeriodicJob{
		// A safety net: should a flush job ever be lost (discarded after
		// repeated store errors), the flag that says one is queued would
		// keep new ones from being queued. A flush with nothing pending
		// costs one query.
		river.NewPeriodicJob(river.PeriodicInterval(time.Minute), func() (river.JobArgs, *river.InsertOpts) {
			return FlushArgs{}, nil
		}, nil),
	}
	if o.Retention > 0 {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
			return PruneArgs{}, nil
		}, &river.PeriodicJobOpts{RunOnStart: true}))
	}
	client, err := river.NewClient(o.Store.RiverDriver(), &river.Config{
		PeriodicJobs:         periodic,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: max(o.Workers, 1)}},
		Workers:              workers,
		JobTimeout:           o.JobTimeout,
		RescueStuckJobsAfter: o.RescueAfter,
		MaxAttempts:          o.MaxAttempts,
		RetryPolicy:          o.RetryPolicy,
		// Through database/sql River has no LISTEN/NOTIFY: new jobs are
		// found by polling, so poll often enough that a stage hand-over
		// is not the slow part.
		FetchPollInterval: 100 * time.Millisecond,
		FetchCooldown:     20 * time.Millisecond,
		Logger:            slog.New(riverLog{o.Logger.With("component", "river").Handler()}),
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	p.client = client
	for _, pr := range o.Providers {
		p.m.budgetRemaining.WithLabelValues(pr.Name).Set(float64(p.remaining(context.Background(), pr)))
	}
	return p, nil
}

// Start starts working jobs.
func (p *Pipeline) Start(ctx context.Context) error {
	if err := p.client.Start(ctx); err != nil {
		return fmt.Errorf("pipeline: start: %w", err)
	}
	return nil
}

// Stop lets running jobs finish until ctx ends, then cancels them; a
// cancelled job is released (snoozed with no delay) so the next start
// runs it again without counting an attempt.
func (p *Pipeline) Stop(ctx context.Context) error {
	err := p.client.Stop(ctx)
	if err == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.client.StopAndCancel(cctx)
}

// AcceptParams is a verified, parsed webhook.
type AcceptParams = store.DeliveryInsertParams

// Accept journals a delivery and its resolve job in one transaction. It
// returns the delivery's row id, the id it was journaled under, and
// whether it was new; a redelivery of an accepted (source, delivery id)
// changes nothing.
func (p *Pipeline) Accept(ctx context.Context, a AcceptParams) (int64, string, bool, error) {
	// A redelivery is answered from a read, without taking the write lock
	// (CMSs retry in bursts when purgehook was slow to answer); the insert
	// below still settles a race between two deliveries of the same id.
	id, at, ok, err := p.st.DeliveryFind(ctx, p.st.DB, a.Source, a.DeliveryID)
	if err != nil {
		return 0, "", false, fmt.Errorf("journal: %w", err)
	}
	if ok {
		if a.DedupeWithin <= 0 || p.st.Now().Sub(at) <= a.DedupeWithin {
			return id, a.DeliveryID, false, nil
		}
		// The same body long after: a new event that looks like an old one
		// (an unpublish, a publish, the same unpublish again). Purging
		// twice costs a call; not purging leaves a stale page.
		a.DeliveryID = fmt.Sprintf("%s@%d", a.DeliveryID, p.st.Now().UnixMilli())
	}
	var inserted bool
	err = p.st.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		id, inserted, err = p.st.DeliveryInsert(ctx, tx, a)
		if err != nil || !inserted {
			return err
		}
		if err := p.st.EventAdd(ctx, tx, id, 0, "accepted", fmt.Sprintf("%s delivery %s with %d change(s)", a.Source, a.DeliveryID, len(a.Changes))); err != nil {
			return err
		}
		_, err = p.client.InsertTx(ctx, tx, DeliveryArgs{Delivery: id}, nil)
		return err
	})
	if err != nil {
		return 0, "", false, fmt.Errorf("journal: %w", err)
	}
	return id, a.DeliveryID, inserted, nil
}

// Manual queues targets that did not come from a webhook (the admin API,
// the CLI) as a delivery of the pseudo-source "manual".
func (p *Pipeline) Manual(ctx context.Context, id string, targets []change.Target) (int64, error) {
	var row int64
	err := p.st.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		var inserted bool
		row, inserted, err = p.st.DeliveryInsert(ctx, tx, store.DeliveryInsertParams{Source: "manual", DeliveryID: id})
		if err != nil || !inserted {
			return err
		}
		if err := p.st.EventAdd(ctx, tx, row, 0, "accepted", fmt.Sprintf("manual purge of %d target(s)", len(targets))); err != nil {
			return err
		}
		return p.queueTargets(ctx, tx, row, targets)
	})
	return row, err
}

// Replay purges a journaled delivery again: a webhook's changes are
// resolved again with the current rules and sites; a manual purge, which
// has no changes, queues the targets it had.
func (p *Pipeline) Replay(ctx context.Context, delivery int64) error {
	changes, err := p.st.ChangeList(ctx, p.st.DB, delivery)
	if err != nil {
		return err
	}
	var targets []change.Target
	if len(changes) == 0 {
		if targets, err = p.st.DeliveryTargets(ctx, p.st.DB, delivery); err != nil {
			return err
		}
	}
	return p.st.InTx(ctx, func(tx *sql.Tx) error {
		if err := p.st.EventAdd(ctx, tx, delivery, 0, "replay", "replay requested"); err != nil {
			return err
		}
		if len(changes) == 0 {
			return p.queueTargets(ctx, tx, delivery, targets)
		}
		_, err := p.client.InsertTx(ctx, tx, DeliveryArgs{Delivery: delivery}, nil)
		return err
	})
}

// queueTargets adds targets to the next batch and makes sure a flush job
// is queued for it.
func (p *Pipeline) queueTargets(ctx context.Context, tx *sql.Tx, delivery int64, targets []change.Target) error {
	if err := p.st.PendingInsert(ctx, tx, delivery, targets); err != nil {
		return err
	}
	if len(targets) == 0 {
		return p.st.DeliverySetState(ctx, tx, delivery, "nothing to purge")
	}
	if err := p.st.DeliverySetState(ctx, tx, delivery, "resolved"); err != nil {
		return err
	}
	queued, err := p.st.StateGet(ctx, tx, flushKey)
	if err != nil {
		return err
	}
	if queued == "1" {
		return nil
	}
	if _, err := p.client.InsertTx(ctx, tx, FlushArgs{}, nil); err != nil {
		return err
	}
	return p.st.StateSet(ctx, tx, flushKey, "1")
}

// Explain resolves and plans changes without calling anything: what would
// each provider be asked to do. The budget is assumed full.
func Explain(r *resolve.Resolver, providers []plan.Provider, sourceSite string, changes []change.Change) (resolve.Result, map[string][]change.Call, []plan.Note) {
	var all resolve.Result
	for _, c := range changes {
		res := r.Resolve(c, sourceSite)
		all.Targets = append(all.Targets, res.Targets...)
		all.Dropped = append(all.Dropped, res.Dropped...)
	}
	calls := map[string][]change.Call{}
	var notes []plan.Note
	for _, pr := range providers {
		c, n := plan.Calls(pr, all.Targets)
		calls[pr.Name] = c
		notes = append(notes, n...)
	}
	return all, calls, notes
}

// remaining is a provider's budget left today (-1: unlimited).
func (p *Pipeline) remaining(ctx context.Context, pr Provider) int {
	if pr.Limits.CallsPerDay <= 0 {
		return -1
	}
	spent, err := p.st.BudgetSpent(ctx, p.st.DB, pr.Name, store.Day(p.st.Now()))
	if err != nil {
		return 0
	}
	return max(pr.Limits.CallsPerDay-spent, 0)
}

// complete marks a job done inside tx, with the driver's own type.
func complete[T river.JobArgs](ctx context.Context, st *store.Store, tx *sql.Tx, job *river.Job[T]) error {
	var err error
	if st.Driver == store.Postgres {
		_, err = river.JobCompleteTx[*riverdatabasesql.Driver](ctx, tx, job)
	} else {
		_, err = river.JobCompleteTx[*riversqlite.Driver](ctx, tx, job)
	}
	return err
}

// released reports whether err is the process shutting down, in which case
// the job is handed back without counting an attempt.
func released(ctx context.Context, err error) bool {
	return errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled)
}
