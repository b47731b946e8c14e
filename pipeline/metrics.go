package pipeline

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/store"
)

type metrics struct {
	calls      *prometheus.CounterVec
	items      *prometheus.CounterVec
	warm       *prometheus.CounterVec
	cache      *prometheus.CounterVec
	processing *prometheus.HistogramVec
	// graphEdges is this replica's in-memory graph size.
	graphEdges prometheus.Gauge
	// unknownTags counts tags dropped because no known page carries them.
	unknownTags *prometheus.CounterVec
	// groups is the group commit's size distribution.
	groups prometheus.Histogram
	// stale counts warm-up answers served from a copy older than their
	// purge (fresh.go).
	stale *prometheus.CounterVec
	// refetchRisk counts targets an inner layer could not purge under an
	// outer layer that purges them.
	refetchRisk *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, st *store.Store, budgets func(context.Context) ([]budget.Status, error)) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purgehook_purge_calls_total",
			Help: "Provider calls made, each once, by outcome: done, accepted (asynchronous; its completion is not counted again), rate_limited, retry, split, failed.",
		}, []string{"provider", "outcome"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purgehook_purge_items_total",
			Help: "Items purged by provider and kind (url, tag, prefix, host, everything).",
		}, []string{"provider", "kind"}),
		warm: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purgehook_warm_requests_total",
			Help: "Warm-up fetches by outcome (ok: 2xx or 3xx).",
		}, []string{"outcome"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purgehook_cache_lookups_total",
			Help: "Warm-up answers by what the cache in front said (cf-cache-status, X-Cache, X-Cache-Status, Age): hit or miss.",
		}, []string{"result"}),
		processing: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "purgehook_webhook_processing_seconds",
			Help:    "From a delivery's acceptance (or replay) to its batch's last layer purged and its pages warmed, by source.",
			Buckets: []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600},
		}, []string{"source"}),
		graphEdges: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "purgehook_graph_edges",
			Help: "Edges (key, page) in this replica's content graph.",
		}),
		unknownTags: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purgehook_graph_unknown_tags_total",
			Help: "Tags dropped for a provider that cannot purge tags because no page the content graph knows carries them.",
		}, []string{"provider"}),
		refetchRisk: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purgehook_outer_purge_may_refetch_stale_total",
			Help: "Targets a provider purged nothing for (no kind covers them, the content graph knows no page under them) while a provider of an outer layer purges them, which may refetch the stale copy; by the inner layer and provider.",
		}, []string{"layer", "provider"}),
		groups: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "purgehook_journal_group_size",
			Help:    "Deliveries journaled per write transaction (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 to 512: DefaultGroupMax
		}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purgehook_stale_after_purge_total",
			Help: "Warm-up answers served from a cache copy older than the purge (Age), by a provider of the layer that served it (purged once more); provider is empty when no provider caches the page.",
		}, []string{"provider"}),
	}
	// The hit ratio is a ratio of two series that both exist from the
	// start, so that it reads 0 of 0, not absent.
	m.cache.WithLabelValues("hit")
	m.cache.WithLabelValues("miss")
	for _, c := range []prometheus.Collector{m.calls, m.items, m.warm, m.cache, m.processing, m.graphEdges, m.unknownTags, m.groups, m.stale, m.refetchRisk, &queueCollector{st: st}, &failureCollector{st: st}, &budgetCollector{read: budgets}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// scrapeTimeout bounds the store reads a scrape makes.
const scrapeTimeout = 2 * time.Second

// queueCollector reads job counts by state from the store at scrape time,
// so the gauge is right whichever process made the jobs.
type queueCollector struct{ st *store.Store }

var queueDesc = prometheus.NewDesc("purgehook_queue_jobs", "Jobs in the durable queue by state.", []string{"state"}, nil)

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDesc }

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	counts, err := q.st.JobCounts(ctx)
	if err != nil {
		// Absent rather than a number the scrape does not know; the
		// store's own failures show in /readyz and the logs.
		return
	}
	for s, n := range counts {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n), s)
	}
}

// budgetCollector reads every provider's budget from the store at scrape
// time, so the gauge is right on every replica and after the window
// turns, whichever process spent the budget.
type budgetCollector struct {
	read func(context.Context) ([]budget.Status, error)
}

var (
	budgetDesc   = prometheus.NewDesc("purgehook_budget_remaining", "Calls left in today's budget (UTC day) per provider; -1 when unlimited.", []string{"provider"}, nil)
	budgetPerDay = prometheus.NewDesc("purgehook_budget_calls_per_day", "A provider's daily budget of calls; 0 when unlimited.", []string{"provider"}, nil)
	// The pace of a limited budget (absent for an unlimited one).
	budgetAllowance = prometheus.NewDesc("purgehook_budget_allowance_now", "Calls a provider's budget allows now: what remains less what its reserve keeps for later changes.", []string{"provider"}, nil)
	budgetProjected = prometheus.NewDesc("purgehook_budget_projected", "Calls today's window will have spent by its end at its average pace so far.", []string{"provider"}, nil)
)

func (b *budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- budgetDesc
	ch <- budgetPerDay
	ch <- budgetAllowance
	ch <- budgetProjected
}

func (b *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	statuses, err := b.read(ctx)
	if err != nil {
		// Absent rather than a number the scrape does not know (a read
		// error is never an empty or a full budget).
		return
	}
	for _, s := range statuses {
		ch <- prometheus.MustNewConstMetric(budgetDesc, prometheus.GaugeValue, float64(s.Remaining), s.Provider)
		ch <- prometheus.MustNewConstMetric(budgetPerDay, prometheus.GaugeValue, float64(s.PerDay), s.Provider)
		if !s.Unlimited() {
			ch <- prometheus.MustNewConstMetric(budgetAllowance, prometheus.GaugeValue, float64(s.AllowanceNow), s.Provider)
			ch <- prometheus.MustNewConstMetric(budgetProjected, prometheus.GaugeValue, float64(s.Projected), s.Provider)
		}
	}
}

// failureCollector counts at scrape time what `purgehook failures` lists:
// failed calls not retried and discarded jobs, whichever process made them.
type failureCollector struct{ st *store.Store }

var failuresDesc = prometheus.NewDesc("purgehook_failures", "Failures waiting for an operator: failed provider calls not retried (kind=call) and jobs the queue gave up on (kind=job).", []string{"kind"}, nil)

func (f *failureCollector) Describe(ch chan<- *prometheus.Desc) { ch <- failuresDesc }

func (f *failureCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	calls, err := f.st.CallFailureCount(ctx)
	if err != nil {
		return
	}
	jobs, err := f.st.JobCounts(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.GaugeValue, float64(calls), "call")
	ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.GaugeValue, float64(jobs["discarded"]), "job")
}
