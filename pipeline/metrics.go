package pipeline

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/store"
)

type metrics struct {
	calls *prometheus.CounterVec
	items *prometheus.CounterVec
	warm  *prometheus.CounterVec
	// groups is the group commit's size distribution.
	groups prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, st *store.Store, budgets func(context.Context) ([]budget.Status, error)) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purgehook_purge_calls_total",
			Help: "Provider calls by outcome: done, accepted (asynchronous), rate_limited, retry, split, failed.",
		}, []string{"provider", "outcome"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purgehook_purge_items_total",
			Help: "Items purged by provider and kind (url, tag, prefix, host, everything).",
		}, []string{"provider", "kind"}),
		warm: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purgehook_warm_requests_total",
			Help: "Warm-up fetches by outcome (ok: 2xx or 3xx).",
		}, []string{"outcome"}),
		groups: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "purgehook_journal_group_size",
			Help:    "Deliveries journaled per write transaction (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 8),
		}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.items, m.warm, m.groups, &queueCollector{st: st}, &budgetCollector{read: budgets}} {
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

var budgetDesc = prometheus.NewDesc("purgehook_budget_remaining", "Calls left in today's budget (UTC day) per provider; -1 when unlimited.", []string{"provider"}, nil)

func (b *budgetCollector) Describe(ch chan<- *prometheus.Desc) { ch <- budgetDesc }

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
	}
}
