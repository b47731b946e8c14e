package cloudflare_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger/cloudflare"
	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
)

func analyticsOf(t *testing.T, fake *cloudflaretest.Server, logs *bytes.Buffer) *cloudflare.Analytics {
	t.Helper()
	cfg := cloudflare.Config{Zone: fake.Zone(), Token: fake.Token(), APIURL: fake.APIURL(), Analytics: &cloudflare.AnalyticsConfig{}}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cloudflare.NewAnalytics(cloudflare.AnalyticsOptions{Name: "cf", Config: cfg, Client: fake.Client(),
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Now:    func() time.Time { return time.Date(2026, 12, 1, 12, 0, 30, 0, time.UTC) }})
}

// TestAnalyticsHitRatio: the zone's requests by cache status become a hit
// ratio: served from the copy over served from the copy or fetched for it;
// what was not cacheable counts neither way.
func TestAnalyticsHitRatio(t *testing.T) {
	fake := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	fake.SetAnalytics(map[string]int64{"hit": 80, "stale": 3, "revalidated": 2, "miss": 10, "expired": 5, "dynamic": 400, "bypass": 7})
	var logs bytes.Buffer
	a := analyticsOf(t, fake, &logs)
	c, err := a.Query(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Hits != 85 || c.Misses != 15 {
		t.Errorf("counts %+v", c)
	}
	if r, ok := c.Ratio(); !ok || math.Abs(r-0.85) > 1e-9 {
		t.Errorf("ratio %v %v", r, ok)
	}
	if _, ok := (cloudflare.Counts{}).Ratio(); ok {
		t.Error("a window with nothing cacheable has a ratio")
	}
	if len(fake.Calls()) != 0 {
		t.Error("an analytics query was recorded as a purge call")
	}

	// Run reports every answer until its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	var got []float64
	a.Run(ctx, func(r float64, ok bool) {
		got = append(got, r)
		if !ok {
			t.Error("no ratio reported")
		}
		cancel()
	})
	if len(got) != 1 || math.Abs(got[0]-0.85) > 1e-9 {
		t.Errorf("reported %v", got)
	}
}

// TestAnalyticsNotAuthorized: a token without Analytics Read gets
// Cloudflare's errors array; the reading turns itself off with one log
// line and asks no more, rather than failing every interval.
func TestAnalyticsNotAuthorized(t *testing.T) {
	fake := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	fake.DenyAnalytics()
	var logs bytes.Buffer
	a := analyticsOf(t, fake, &logs)
	if _, err := a.Query(context.Background()); !errors.Is(err, cloudflare.ErrAnalyticsNotAuthorized) {
		t.Fatalf("query: %v", err)
	}
	var mu sync.Mutex
	var reports []bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(context.Background(), func(_ float64, ok bool) {
			mu.Lock()
			defer mu.Unlock()
			reports = append(reports, ok)
		})
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run kept going after a refusal")
	}
	if fake.AnalyticsQueries() != 2 {
		t.Errorf("%d queries, want 2 (one by Query, one by Run)", fake.AnalyticsQueries())
	}
	if len(reports) != 1 || reports[0] {
		t.Errorf("reports %v, want the ratio withdrawn once", reports)
	}
	if n := strings.Count(logs.String(), "turned off"); n != 1 || strings.Contains(logs.String(), fake.Token()) {
		t.Errorf("want one line, without the token:\n%s", logs.String())
	}

	// A token the API refuses outright (403) turns it off the same way.
	cfg := cloudflare.Config{Zone: fake.Zone(), Token: "not-the-token", APIURL: fake.APIURL(), Analytics: &cloudflare.AnalyticsConfig{}}
	wrong := cloudflare.NewAnalytics(cloudflare.AnalyticsOptions{Name: "cf", Config: cfg, Client: fake.Client(), Logger: slog.New(slog.DiscardHandler)})
	if _, err := wrong.Query(context.Background()); !errors.Is(err, cloudflare.ErrAnalyticsNotAuthorized) {
		t.Errorf("wrong token: %v", err)
	}
}
