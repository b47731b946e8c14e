package app

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/purger/cloudflare"
)

// cdnAnalytics reads each CDN's own cache hit ratio where the provider is
// configured to (cloudflare's analytics block) and exports it as
// purgehook_cdn_cache_hit_ratio{provider}: every request the CDN served,
// where purgehook_cache_lookups_total counts only the warm-ups.
type cdnAnalytics struct {
	readers map[string]*cloudflare.Analytics
	ratio   *prometheus.GaugeVec
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

func newCDNAnalytics(cfg *config.Config, client *http.Client, logger *slog.Logger, reg prometheus.Registerer) (*cdnAnalytics, error) {
	a := &cdnAnalytics{readers: map[string]*cloudflare.Analytics{}, ratio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "purgehook_cdn_cache_hit_ratio",
		Help: "The CDN's own cache hit ratio over its analytics window (cloudflare: GraphQL Analytics, hit/stale/updating/revalidated of those and miss/expired); absent when not read.",
	}, []string{"provider"})}
	for _, pc := range cfg.Providers {
		cf, ok := pc.Settings.(*cloudflare.Config)
		if pc.Kind != "cloudflare" || !ok || cf.Analytics == nil {
			continue
		}
		c := client
		if c == nil {
			c = &http.Client{Timeout: 30 * time.Second}
		}
		a.readers[pc.Name] = cloudflare.NewAnalytics(cloudflare.AnalyticsOptions{Name: pc.Name, Config: *cf, Client: c, Logger: logger})
	}
	if err := reg.Register(a.ratio); err != nil {
		return nil, err
	}
	return a, nil
}

// start polls every reader until stop.
func (a *cdnAnalytics) start(ctx context.Context) {
	ctx, a.stop = context.WithCancel(context.WithoutCancel(ctx))
	for name, r := range a.readers {
		a.wg.Go(func() {
			r.Run(ctx, func(ratio float64, ok bool) {
				if ok {
					a.ratio.WithLabelValues(name).Set(ratio)
				} else {
					a.ratio.DeleteLabelValues(name)
				}
			})
		})
	}
}

func (a *cdnAnalytics) close() {
	if a.stop != nil {
		a.stop()
		a.wg.Wait()
	}
}
