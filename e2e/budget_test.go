package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
	"github.com/purgehook/purgehook/store"
)

func TestBudgetEscalatesAndSurvivesRestart(t *testing.T) {
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	o := newOrigin(t)
	cfg := fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
sites:
  - {name: site, base_url: %s, warm: [/, /en/]}
sources:
  - {name: cms, kind: generic, secret: %s, site: site}
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s,
     budget: {calls_per_day: 3}, on_budget_exhausted: purge_everything}
coalesce: 100ms
warm: {delay: 1ms}
`, o.URL, secret, cf.Zone(), cf.Token(), cf.APIURL())
	dir := t.TempDir()
	s := startServiceIn(t, dir, cfg)

	many := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("/%s/%d", prefix, i))
		}
		return out
	}
	if status, _ := send(t, s.hooks.URL, publishPayload("bulk", many("a", 200)...)); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	waitBatches(t, s.Store, 30*time.Second)
	calls := cf.Accepted()
	if len(calls) != 1 || calls[0].Key != "purge_everything" {
		t.Fatalf("200 URLs with 3 calls/day: got %d call(s) %v, want one purge_everything", len(calls), keys(calls))
	}
	t.Logf("measured: 200 URLs, budget 3/day → %d call (%s)", len(calls), calls[0].Key)
	if !strings.Contains(scrape(t, s.hooks.URL), `purgehook_budget_remaining{provider="cf"} 2`) {
		t.Error("budget_remaining is not 2 after one call")
	}
	// After a purge-everything the site's warm list is fetched.
	if o.warmed("/") == 0 || o.warmed("/en/") == 0 {
		t.Error("the site's warm list was not fetched after purge_everything")
	}
	s.stop()

	// Restart on the same store: the spent call is remembered.
	s = startServiceIn(t, dir, cfg)
	if !strings.Contains(scrape(t, s.hooks.URL), `purgehook_budget_remaining{provider="cf"} 2`) {
		t.Fatal("after a restart the budget was reset")
	}
	// 2 calls left: 45 URLs (2 calls) fit.
	send(t, s.hooks.URL, publishPayload("two", many("b", 45)...))
	waitBatches(t, s.Store, 30*time.Second)
	if calls := cf.Accepted()[1:]; len(calls) != 2 || calls[0].Key != "files" {
		t.Fatalf("45 URLs with 2 calls left: %v", keys(calls))
	}
	// Nothing left: the next plan waits for tomorrow instead of calling.
	send(t, s.hooks.URL, publishPayload("late", "/c/1"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		calls, err := s.Store.CallList(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		deferred := 0
		for _, c := range calls {
			if c.State == store.CallDeferred {
				deferred++
			}
		}
		if deferred == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the over-budget call was not deferred")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(cf.Accepted()); n != 3 {
		t.Errorf("%d calls made in total, want 3 (the budget)", n)
	}
}

func keys(calls []cloudflaretest.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, fmt.Sprintf("%s×%d", c.Key, len(c.Items)))
	}
	return out
}
