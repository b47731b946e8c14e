package pipeline

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgehook/purgehook/store"
)

type metrics struct {
	calls           *prometheus.CounterVec
	items           *prometheus.CounterVec
	budgetRemaining *prometheus.GaugeVec
	warm            *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, st *store.Store) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purgehook_purge_calls_total",
			Help: "Provider calls by outcome: done, accepted (asynchronous), rate_limited, retry, split, failed.",
		}, []string{"provider", "outcome"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purgehook_purge_items_total",
			Help: "Items purged by provider and kind (url, tag, prefix, host, everything).",
		}, []string{"provider", "kind"}),
		budgetRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "purgehook_budget_remaining",
			Help: "Calls left in today's budget (UTC day) per provider; -1 when unlimited.",
		}, []string{"provider"}),
		warm: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purgehook_warm_requests_total",
			Help: "Warm-up fetches by outcome (ok: 2xx or 3xx).",
		}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.items, m.budgetRemaining, m.warm, &queueCollector{st: st}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// queueCollector reads job counts by state from the store at scrape time,
// so the gauge is right whichever process made the jobs.
type queueCollector struct{ st *store.Store }

var queueDesc = prometheus.NewDesc("purgehook_queue_jobs", "Jobs in the durable queue by state.", []string{"state"}, nil)

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDesc }

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := q.st.JobCounts(ctx)
	if err != nil {
		// A scrape during a database outage reports no queue rather than
		// zeros that look like an empty queue.
		return
	}
	for s, n := range counts {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n), s)
	}
}
