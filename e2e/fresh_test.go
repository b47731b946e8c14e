package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/internal/varnishtest"
)

// TestFreshnessCheckAgainstUnpurgedVarnish: purgehook's purge goes to an
// endpoint that is not the real varnishd in front of the site (as a server
// left out of a provider's list would be), so the warm-up is answered from
// Varnish's copy from before the purge. The freshness check sees it (a hit
// whose Age is older than the purge), counts it, purges the page once more
// on the layer that served it, and says so in the trace; once, not again.
func TestFreshnessCheckAgainstUnpurgedVarnish(t *testing.T) {
	vcl, err := os.ReadFile("../examples/varnish/purgehook.vcl")
	if err != nil {
		t.Fatal(err)
	}
	o := newOrigin(t)
	ou, _ := url.Parse(o.URL)
	v := varnishtest.Start(t, string(vcl), ou.Host)

	var mu sync.Mutex
	purged := map[string]int{}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		purged[r.URL.Query().Get("url")]++
		mu.Unlock()
	}))
	t.Cleanup(sink.Close)

	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
sites:
  - {name: site, base_url: %s}
sources:
  - {name: cms, kind: generic, secret: %s, site: site}
providers:
  - name: varnish
    kind: http
    layer: origin
    request: {method: POST, url: '%s/purge?url={{urlquery .Item}}'}
coalesce: 100ms
warm: {concurrency: 2, delay: 1ms}
`, v.URL, secret, sink.URL))

	// Varnish caches the page, and keeps it long enough that its Age
	// tells a copy from before the purge from one made after it. Waiting
	// for the Age, not for a time: however slow the machine, the copy is
	// at least this old when the purge completes.
	page := v.URL + "/en/a"
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(page)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		age, _ := strconv.Atoi(resp.Header.Get("Age"))
		if resp.Header.Get("X-Cache") == "HIT" && age >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("varnish never served an old enough copy: X-Cache %q Age %q", resp.Header.Get("X-Cache"), resp.Header.Get("Age"))
		}
		time.Sleep(200 * time.Millisecond)
	}

	o.publish("/en/a")
	if status, _ := send(t, s.hooks.URL, publishPayload("a", "/en/a")); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	bs := waitBatches(t, s.Store, 60*time.Second)
	if len(bs) != 1 {
		t.Fatalf("batches %+v", bs)
	}
	ctx := context.Background()
	calls, err := s.Store.CallList(ctx, bs[0].ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	repurges := 0
	for _, c := range calls {
		if strings.HasPrefix(c.Reason, "stale after purge") {
			repurges++
			if c.Provider != "varnish" || len(c.Items) != 1 || c.Items[0] != page || c.State != "done" {
				t.Errorf("re-purge call %+v", c)
			}
		}
	}
	if len(calls) != 2 || repurges != 1 {
		t.Errorf("want the purge and one re-purge, got %+v", calls)
	}
	mu.Lock()
	n := purged[page]
	mu.Unlock()
	if n != 2 {
		t.Errorf("the endpoint was asked to purge %s %d time(s), want 2", page, n)
	}

	events, err := s.Store.EventList(ctx, 0, bs[0].ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	stale := 0
	for _, e := range events {
		if e.Kind == "stale" {
			stale++
			if !strings.Contains(e.Message, page) || !strings.Contains(e.Message, "purging it once more on the origin layer") {
				t.Errorf("stale event %q", e.Message)
			}
		}
	}
	if stale != 1 {
		t.Errorf("%d stale event(s), want 1: %+v", stale, events)
	}
	if m := scrape(t, s.hooks.URL); !strings.Contains(m, `purgehook_stale_after_purge_total{provider="varnish"} 1`) {
		t.Errorf("metrics lack the stale count:\n%s", grepLines(m, "stale"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
