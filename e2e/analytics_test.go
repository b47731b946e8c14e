package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
)

// TestCloudflareAnalyticsHitRatio: a cloudflare provider with an analytics
// block exports the zone's own hit ratio, read from the (fake) GraphQL
// Analytics API; one whose token may not read analytics exports none and
// stops asking.
func TestCloudflareAnalyticsHitRatio(t *testing.T) {
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	cf.SetAnalytics(map[string]int64{"hit": 3, "miss": 1, "dynamic": 10})
	denied := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	denied.DenyAnalytics()
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
sites:
  - {name: site, base_url: https://a.example}
sources:
  - {name: cms, kind: generic, secret: %s, site: site}
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s, analytics: {interval: 1m}}
  - {name: cf2, kind: cloudflare, zone: %s, token: %s, api_url: %s, analytics: {interval: 1m, window: 30m}}
warm: {disabled: true}
`, secret, cf.Zone(), cf.Token(), cf.APIURL(), denied.Zone(), denied.Token(), denied.APIURL()))

	deadline := time.Now().Add(30 * time.Second)
	for {
		m := scrape(t, s.hooks.URL)
		if strings.Contains(m, `purgehook_cdn_cache_hit_ratio{provider="cf"} 0.75`) && denied.AnalyticsQueries() == 1 {
			if strings.Contains(m, `purgehook_cdn_cache_hit_ratio{provider="cf2"}`) {
				t.Errorf("a ratio for the provider whose token may not read analytics:\n%s", grepLines(m, "cdn_cache_hit_ratio"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ratio after 30s (denied queries %d):\n%s", denied.AnalyticsQueries(), grepLines(m, "cdn_cache_hit_ratio"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
