package pipeline_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/store"
	"github.com/purgehook/purgehook/warm"
)

// origin answers every warm-up, saying a cache hit for paths under /hit/.
func cacheOrigin(t *testing.T) *http.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/hit/") {
			w.Header().Set("cf-cache-status", "HIT")
		} else {
			w.Header().Set("cf-cache-status", "MISS")
		}
	}))
	t.Cleanup(srv.Close)
	to, _ := url.Parse(srv.URL)
	return &http.Client{Transport: rewrite{to: to}}
}

// rewrite sends every request to one server, keeping the path.
type rewrite struct{ to *url.URL }

func (rw rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = rw.to.Scheme, rw.to.Host
	return http.DefaultTransport.RoundTrip(r)
}

func gather(t *testing.T, reg *prometheus.Registry) map[string][]*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*dto.Metric{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetMetric()
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// An asynchronous call counts once; a delivery's processing time is
// observed once its pages are warmed; warm-ups' cache headers make the
// hit ratio; failures waiting for an operator are a gauge.
func TestMetrics(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		reg := prometheus.NewRegistry()
		log := &callLog{}
		slow := &recorder{name: "slow", limits: all, log: log, async: true, polls: 2}
		h := startWith(t, driver, func(o *pipeline.Options) {
			o.Registerer = reg
			o.Warmer = warm.New(warm.Options{Client: cacheOrigin(t)})
		}, provider(slow, change.LayerEdge))
		h.publish(t, "d1", "/hit/a", "/hit/b", "/c")
		if b := h.settle(t); b.State != store.BatchDone {
			t.Fatalf("batch %+v", b)
		}
		// The batch reads done once its transaction commits; the
		// processing time is observed just after, by the worker.
		m := gather(t, reg)
		for deadline := time.Now().Add(10 * time.Second); len(m["purgehook_webhook_processing_seconds"]) == 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			m = gather(t, reg)
		}
		calls := map[string]float64{}
		for _, c := range m["purgehook_purge_calls_total"] {
			calls[label(c, "outcome")] += c.GetCounter().GetValue()
		}
		if calls["accepted"] != 1 || calls["done"] != 0 {
			t.Errorf("calls by outcome %v: the asynchronous call counts once, as accepted", calls)
		}
		cache := map[string]float64{}
		for _, c := range m["purgehook_cache_lookups_total"] {
			cache[label(c, "result")] = c.GetCounter().GetValue()
		}
		if cache["hit"] != 2 || cache["miss"] != 1 {
			t.Errorf("cache lookups %v, want 2 hits and 1 miss", cache)
		}
		hs := m["purgehook_webhook_processing_seconds"]
		if len(hs) != 1 || label(hs[0], "source") != "cms" || hs[0].GetHistogram().GetSampleCount() != 1 || hs[0].GetHistogram().GetSampleSum() <= 0 {
			t.Errorf("processing %v", hs)
		}
		failures := map[string]float64{}
		for _, c := range m["purgehook_failures"] {
			failures[label(c, "kind")] = c.GetGauge().GetValue()
		}
		if v, ok := failures["call"]; !ok || v != 0 || failures["job"] != 0 {
			t.Errorf("failures %v", failures)
		}

		// A failed call shows until it is retried.
		slow.mu.Lock()
		slow.fail = []error{forbidden()}
		slow.mu.Unlock()
		h.publish(t, "d2", "/d")
		deadline := time.Now().Add(30 * time.Second)
		for {
			if n, err := h.st.CallFailureCount(ctx); err != nil || n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the call did not fail")
			}
			time.Sleep(10 * time.Millisecond)
		}
		m = gather(t, reg)
		for _, c := range m["purgehook_failures"] {
			if label(c, "kind") == "call" && c.GetGauge().GetValue() != 1 {
				t.Errorf("failed calls gauge %v, want 1", c.GetGauge().GetValue())
			}
		}
	})
}
