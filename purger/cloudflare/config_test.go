package cloudflare_test

import (
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger/cloudflare"
	"github.com/purgehook/purgehook/purger/purgertest"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		c    cloudflare.Config
		want []string
	}{
		{"valid", cloudflare.Config{Zone: "023e105f4ecef8ad9ca31a8372d0c353", Token: "t", Plan: "Pro"}, nil},
		{"empty", cloudflare.Config{}, []string{"zone: required for kind cloudflare", "token: required for kind cloudflare"}},
		{"zone with a path", cloudflare.Config{Zone: "../accounts", Token: "t"}, []string{"zone: want the zone id"}},
		{"unknown plan", cloudflare.Config{Zone: "z", Token: "t", Plan: "gold"}, []string{`plan: want free, pro, business or enterprise, got "gold"`}},
		{"api url", cloudflare.Config{Zone: "z", Token: "t", APIURL: "ftp://x"}, []string{`api_url: want an http(s) URL, got "ftp://x"`}},
		{"analytics", cloudflare.Config{Zone: "z", Token: "t", Analytics: &cloudflare.AnalyticsConfig{Interval: 10 * time.Second, Window: 48 * time.Hour}},
			[]string{"analytics.interval: at least 1m0s, got 10s", "analytics.window: between 0 and 24h0m0s, got 48h0m0s"}},
		{"analytics defaults", cloudflare.Config{Zone: "z", Token: "t", Analytics: &cloudflare.AnalyticsConfig{}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			purgertest.CheckProblems(t, tc.c.Validate(), tc.want)
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var c cloudflare.Config
	c.SetDefaults()
	if c.APIURL != cloudflare.DefaultAPIURL {
		t.Errorf("api_url default %q", c.APIURL)
	}
	// The declared limits follow the plan; without one, the safe defaults.
	if l := (cloudflare.Config{}).Limits(); l.Max(change.URL) != cloudflare.DefaultPerCall || l.RatePerSecond != 0 {
		t.Errorf("no plan: %+v", l)
	}
	if l := (cloudflare.Config{Plan: "Enterprise"}).Limits(); l.Max(change.URL) != 500 || l.Max(change.Tag) != 100 || l.RatePerSecond != 50 || l.Burst != 500 {
		t.Errorf("enterprise: %+v", l)
	}
}
