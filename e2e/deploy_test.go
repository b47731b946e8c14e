package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
)

// metricRef finds metric names in PromQL.
var metricRef = regexp.MustCompile(`\bpurgehook_[a-z0-9_]+`)

// Every metric the alert rules and the dashboard use is one purgehook
// exports (read from a running service's /metrics after a webhook went
// through, so that every labelled series exists).
func TestAlertsAndDashboardUseExportedMetrics(t *testing.T) {
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	cf.SetAnalytics(map[string]int64{"hit": 9, "miss": 1})
	o := newOrigin(t)
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
sites:
  - {name: site, base_url: %s}
sources:
  - {name: cms, kind: generic, secret: %s}
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s, budget: {calls_per_day: 100}, analytics: {interval: 1m}}
coalesce: 50ms
warm: {delay: 1ms}
`, o.URL, secret, cf.Zone(), cf.Token(), cf.APIURL()))
	if code, m := send(t, s.hooks.URL, publishPayload("c1", "/en/")); code != 202 {
		t.Fatalf("webhook: %d %v", code, m)
	}
	waitBatches(t, s.Store, 30*time.Second)
	// The CDN's own hit ratio comes from its first analytics answer.
	metrics := scrape(t, s.hooks.URL)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(metrics, "purgehook_cdn_cache_hit_ratio{") && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		metrics = scrape(t, s.hooks.URL)
	}

	exported := map[string]string{} // name → type
	for _, line := range strings.Split(metrics, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			exported[f[2]] = f[3]
		}
	}
	known := func(name string) bool {
		if _, ok := exported[name]; ok {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && exported[base] == "histogram" {
				return true
			}
		}
		return false
	}

	var exprs []string
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	b, err := os.ReadFile("../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
			alerts = append(alerts, r.Alert)
		}
	}
	for _, want := range []string{"PurgehookCacheHitRateLow", "PurgehookPurgeCallsHigh", "PurgehookWarmFailures", "PurgehookWebhookProcessingSlow", "PurgehookBudgetNearlySpent", "PurgehookFailures", "PurgehookQueueGrowing"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alerts.yml lacks %s", want)
		}
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err = os.ReadFile("../deploy/grafana/purgehook.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	used := 0
	for _, e := range exprs {
		for _, name := range metricRef.FindAllString(e, -1) {
			used++
			if !known(name) {
				t.Errorf("%s is used in %q but purgehook does not export it", name, e)
			}
		}
	}
	if used < 20 {
		t.Errorf("found %d metric references; is the regexp right?", used)
	}
}

// The rules are valid and their unit tests pass (promtool, from Debian's
// prometheus package; scripts/test.sh installs it).
func TestAlertRulesWithPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (apt-get install prometheus)")
		}
		t.Skip("promtool is not installed")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "../deploy/prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
