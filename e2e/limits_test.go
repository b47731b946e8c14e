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

// The hostile delivery, scaled: one body of 1,500 URLs and
// dependencies and a 512 KB URL. Without limits it became dozens of
// Cloudflare calls and a warm-up per URL; with them the long URL is
// dropped with a note, the delivery's site is purged whole in one call,
// and the batch warms at most limits.warm pages.
func TestLimitsPerDelivery(t *testing.T) {
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	o := newOrigin(t)
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
sites:
  - {name: site, base_url: %s, warm: [/, /en/, /pt/, /de/, /fr/]}
sources:
  - {name: cms, kind: generic, secret: %s, site: site, max_body: 2MiB}
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s}
coalesce: 50ms
warm: {concurrency: 5, delay: 1ms}
limits: {url_length: 1024, targets: 1000, warm: 3}
`, o.URL, secret, cf.Zone(), cf.Token(), cf.APIURL()))

	var urls []string
	for i := range 1500 {
		urls = append(urls, fmt.Sprintf("/en/rooms/%d", i))
	}
	long := "/" + strings.Repeat("x", 512*1024)
	urls = append(urls, long)
	if status, body := send(t, s.hooks.URL, publishPayload("flood", urls...)); status != http.StatusAccepted {
		t.Fatalf("status %d %v", status, body)
	}
	bs := waitBatches(t, s.Store, 30*time.Second)
	if len(bs) != 1 || bs[0].State != store.BatchDone {
		t.Fatalf("batches %+v", bs)
	}
	calls := cf.Accepted()
	if len(calls) != 1 {
		t.Fatalf("%d Cloudflare calls %v, want one purge of the site", len(calls), keys(calls))
	}
	// Cloudflare's default plan cannot purge by host: the planner
	// escalates the site's host to everything, and says so.
	if calls[0].Key != "purge_everything" && calls[0].Key != "hosts" {
		t.Errorf("call %v", keys(calls))
	}
	events, err := s.Store.EventList(context.Background(), 0, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var capped, dropped, warmCap bool
	for _, e := range events {
		switch {
		case e.Kind == "capped" && strings.Contains(e.Message, "1500 targets, over limits.targets (1000): purging the hosts of site"):
			capped = true
		case e.Kind == "dropped" && strings.Contains(e.Message, "longer than 1024 bytes (limits.url_length)"):
			dropped = true
			if len(e.Message) > 400 {
				t.Errorf("the trace holds %d bytes of the long URL", len(e.Message))
			}
		case e.Kind == "capped" && strings.Contains(e.Message, "5 page(s) to warm, over limits.warm (3)"):
			warmCap = true
		}
	}
	if !capped || !dropped || !warmCap {
		t.Errorf("trace lacks a note: capped %v, dropped %v, warm capped %v", capped, dropped, warmCap)
	}
	warms, _ := s.Store.WarmList(context.Background(), bs[0].ID, "", 10000)
	if len(warms) != 3 {
		t.Errorf("%d pages warmed, want limits.warm (3)", len(warms))
	}
	if o.warmed(long) != 0 {
		t.Error("the long URL was fetched")
	}
}
