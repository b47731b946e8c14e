// Package pipeline runs purgehook's stages after a webhook is journaled, as
// durable River jobs in the same database as the journal. One webhook, end
// to end (each arrow is one transaction that records the stage's outcome
// together with the job that continues the work):
//
//	Accept   journal the delivery and its changes, with the
//	         others of its group commit                   → delivery job, unless one is queued  (accept.go, group.go)
//	delivery resolve the changes of every delivery waiting
//	         into targets, queue them                     → flush job     (deliver.go)
//	flush    after the coalescing window, take the queued targets (1,000 at
//	         most) into a batch and plan its first step  → call jobs     (flush.go)
//	step     read the batch's targets and budgets → plan.Next → persist
//	         the calls of the innermost layer left, or queue the warm-up  (step.go)
//	call     make one provider call; the last call of a layer runs the
//	         batch's next step                            → call/warm jobs (call.go)
//	warm     fetch the batch's pages again, a bounded number at a time    (warm.go)
//
// A crash at any point loses nothing: a restart continues where the
// process stopped. The planning itself is plan.Next, a pure function; this
// package only reads its input from the store and persists its output.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/crawl"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/plan"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/store"
	"github.com/purgehook/purgehook/warm"
)

// Provider is a configured provider: what the planner knows of it, the
// adapter that makes its calls, and how long one call may take.
type Provider struct {
	plan.Provider
	Purger  purger.Purger
	Timeout time.Duration
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
	Warmer *warm.Warmer
	// MaxWarm is the most pages a batch warms (config limits.warm; 0: no
	// limit): a site's warm list first, then the purged pages.
	MaxWarm int
	// Graph is the content graph this replica keeps current and the
	// resolver asks (nil: deliveries are not remembered). GraphSync is how
	// often it catches up with other replicas' writes (default
	// DefaultGraphSync).
	Graph     *graph.Graph
	GraphSync time.Duration
	// TagHeaders, with a Graph, are the headers every warm-up response's
	// cache tags are learned from (nil: no learning).
	TagHeaders *graph.TagHeaders
	// Crawler fetches the pages of crawls (nil: no crawls). Crawls are the
	// sites that may be crawled; one with an Interval is crawled at start
	// and every Interval, the others on demand (StartCrawl).
	Crawler *crawl.Fetcher
	Crawls  []CrawlSite
	// UnknownTags is what the planner does with a tag no page the graph
	// knows carries, for a provider that cannot purge tags (default:
	// drop it with a note).
	UnknownTags plan.UnknownTags
	Workers     int
	JobTimeout  time.Duration
	RescueAfter time.Duration
	MaxAttempts int
	// Retention is how long settled work is kept (0: forever).
	Retention time.Duration
	// RetryPolicy overrides River's exponential backoff (tests, purge
	// --direct).
	RetryPolicy river.ClientRetryPolicy
	// GroupWindow is how long the journal's writer, when idle, waits for
	// more deliveries to commit together (0: DefaultGroupWindow, which is
	// not at all; a negative value: not at all).
	GroupWindow time.Duration
	// GroupMax is the most deliveries one commit takes (default
	// DefaultGroupMax).
	GroupMax int
	// AcceptQueue is how many deliveries may wait for the writer before
	// Accept answers busy (default DefaultAcceptQueue).
	AcceptQueue int
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

// Pipeline owns the job queue and its workers.
type Pipeline struct {
	o         Options
	st        *store.Store
	providers map[string]*provider
	planned   []plan.Provider
	queue     *store.Queue
	log       *slog.Logger
	m         *metrics
	graphSync graphSync
	reqIDs    requestIDCache // batch → request ids, for batchLog
	stopSync  context.CancelFunc
	synced    sync.WaitGroup
	w         *writer
	// drainChunk, drainTargets and drainChunks are deliverChunk,
	// deliverChunkTargets and deliverChunksPerJob, flushMax and
	// flushChunks flushMaxTargets and flushChunks (tests make them small).
	drainChunk, drainTargets, drainChunks, flushMax, flushChunks int
}

// provider is a Provider with its rate, which replicas share through the
// store (pace.go).
type provider struct {
	Provider
	rate budget.Rate
}

// New builds the pipeline and its job queue (not yet started).
func New(o Options) (*Pipeline, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	p := &Pipeline{o: o, st: o.Store, providers: map[string]*provider{}, log: o.Logger.With("component", "pipeline"),
		drainChunk: deliverChunk, drainTargets: deliverChunkTargets, drainChunks: deliverChunksPerJob,
		flushMax: flushMaxTargets, flushChunks: flushChunks}
	for _, pr := range o.Providers {
		pp := &provider{Provider: pr, rate: budget.Rate{PerSecond: pr.Limits.RatePerSecond, Burst: pr.Limits.Burst}}
		p.providers[pr.Name] = pp
		p.planned = append(p.planned, pr.Provider)
	}
	m, err := newMetrics(o.Registerer, o.Store, p.Budgets)
	if err != nil {
		return nil, err
	}
	p.m = m
	for _, pr := range o.Providers {
		// From zero, so that a rate over it reads 0, not absent.
		m.stale.WithLabelValues(pr.Name)
	}
	p.w = newWriter(p, o)

	workers := river.NewWorkers()
	river.AddWorker(workers, &deliveryWorker{p: p})
	river.AddWorker(workers, &flushWorker{p: p})
	river.AddWorker(workers, &callWorker{p: p})
	river.AddWorker(workers, &warmWorker{p: p})
	river.AddWorker(workers, &pruneWorker{p: p})
	river.AddWorker(workers, &crawlWorker{p: p})
	periodic := []*river.PeriodicJob{
		// A safety net: should a flush job ever be lost (discarded after
		// repeated store errors), the flag that says one is queued would
		// keep new ones from being queued. A flush with nothing pending
		// costs one query.
		river.NewPeriodicJob(river.PeriodicInterval(time.Minute), func() (river.JobArgs, *river.InsertOpts) {
			return FlushArgs{Periodic: true}, nil
		}, nil),
		// The same for the draining delivery job (deliver.go): one that
		// finds nothing waiting costs a query and a transaction.
		river.NewPeriodicJob(river.PeriodicInterval(time.Minute), func() (river.JobArgs, *river.InsertOpts) {
			return DeliveryArgs{Periodic: true}, nil
		}, nil),
	}
	if o.Retention > 0 {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
			return PruneArgs{}, nil
		}, &river.PeriodicJobOpts{RunOnStart: true}))
	}
	periodic = append(periodic, p.crawlSchedule()...)
	q, err := o.Store.NewQueue(&river.Config{
		PeriodicJobs:         periodic,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: max(o.Workers, 1)}},
		Workers:              workers,
		JobTimeout:           o.JobTimeout,
		RescueStuckJobsAfter: o.RescueAfter,
		MaxAttempts:          o.MaxAttempts,
		RetryPolicy:          o.RetryPolicy,
		// On SQLite River has no LISTEN/NOTIFY: new jobs are found by
		// polling, so poll often enough that a stage hand-over is not the
		// slow part. On PostgreSQL the store's driver listens, and the
		// poll is only the fallback.
		FetchPollInterval: 100 * time.Millisecond,
		FetchCooldown:     20 * time.Millisecond,
		Logger:            slog.New(riverLog{o.Logger.With("component", "river").Handler()}),
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	p.queue = q
	return p, nil
}

// Start loads the content graph, then starts working jobs and keeping
// the graph current.
func (p *Pipeline) Start(ctx context.Context) error {
	if p.o.Graph != nil {
		start := time.Now()
		n, err := p.SyncGraph(ctx)
		if err != nil {
			return fmt.Errorf("pipeline: start: %w", err)
		}
		p.log.Info("graph loaded", "edges", p.o.Graph.Len(), "rows", n, "took", time.Since(start).Round(time.Millisecond))
	}
	if err := p.queue.Start(ctx); err != nil {
		return fmt.Errorf("pipeline: start: %w", err)
	}
	if p.o.Graph != nil {
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		p.stopSync = cancel
		interval := p.o.GraphSync
		if interval <= 0 {
			interval = DefaultGraphSync
		}
		p.synced.Go(func() { p.syncGraphEvery(sctx, interval) })
	}
	return nil
}

// Stop lets running jobs finish until ctx ends, then cancels them; a
// cancelled job is released (snoozed with no delay) so the next start
// runs it again without counting an attempt.
func (p *Pipeline) Stop(ctx context.Context) error {
	if p.stopSync != nil {
		p.stopSync()
		p.synced.Wait()
	}
	err := p.queue.Stop(ctx)
	if err == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.queue.StopAndCancel(cctx)
}

// Providers lists the configured providers as the planner sees them.
func (p *Pipeline) Providers() []plan.Provider { return p.planned }

// released reports whether err is the process shutting down, in which case
// the job is handed back without counting an attempt.
func released(ctx context.Context, err error) bool {
	return errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled)
}
