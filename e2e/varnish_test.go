package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/internal/varnishtest"
	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
	"github.com/purgehook/purgehook/store"
)

func get(t *testing.T, u string) (body, xcache string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), resp.Header.Get("X-Cache")
}

// TestVarnishThenCloudflare runs origin → a real varnishd with the VCL we
// ship → purgehook, with Cloudflare (the fake) as the outer layer.
func TestVarnishThenCloudflare(t *testing.T) {
	vcl, err := os.ReadFile("../examples/varnish/purgehook.vcl")
	if err != nil {
		t.Fatal(err)
	}
	o := newOrigin(t)
	ou, _ := url.Parse(o.URL)
	v := varnishtest.Start(t, string(vcl), ou.Host)
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
sites:
  - {name: site, base_url: %s}
sources:
  - {name: cms, kind: generic, secret: %s, site: site}
providers:
  - {name: varnish, kind: varnish, layer: origin, servers: [%s]}
  - {name: cf, kind: cloudflare, layer: edge, zone: %s, token: %s, api_url: %s}
coalesce: 100ms
warm: {disabled: true}
`, v.URL, secret, v.URL, cf.Zone(), cf.Token(), cf.APIURL()))

	// Cache two pages.
	for _, p := range []string{"/en/a", "/en/b"} {
		get(t, v.URL+p)
		if body, xc := get(t, v.URL+p); xc != "HIT" || body != p+" v0" {
			t.Fatalf("%s before publish: %q %s", p, body, xc)
		}
	}

	// Publish /en/a: Varnish serves the stale copy until purgehook purges.
	o.publish("/en/a")
	if body, _ := get(t, v.URL+"/en/a"); body != "/en/a v0" {
		t.Fatalf("expected the stale copy before the purge, got %q", body)
	}
	if status, _ := send(t, s.hooks.URL, publishPayload("a", "/en/a")); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	bs := waitBatches(t, s.Store, 30*time.Second)
	if body, xc := get(t, v.URL+"/en/a"); xc != "MISS" || body != "/en/a v1" {
		t.Fatalf("after the URL purge: %q %s, want a miss with v1", body, xc)
	}
	if body, xc := get(t, v.URL+"/en/b"); xc != "HIT" || body != "/en/b v0" {
		t.Errorf("an unrelated page was purged: %q %s", body, xc)
	}
	assertInsideOut(t, s.Store, bs[0].ID)

	// A tag purge through xkey: the origin tags /en/b with page:en/b.
	o.publish("/en/b")
	p := publishPayload("b")
	p.Content.Tags = []string{"page:en/b"}
	if status, _ := send(t, s.hooks.URL, p); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	bs = waitBatches(t, s.Store, 30*time.Second)
	if body, xc := get(t, v.URL+"/en/b"); xc != "MISS" || body != "/en/b v1" {
		t.Fatalf("after the tag purge: %q %s, want a miss with v1", body, xc)
	}
	tagged := false
	for _, c := range cf.Accepted() {
		tagged = tagged || (c.Key == "tags" && len(c.Items) == 1 && c.Items[0] == "page:en/b")
	}
	if !tagged {
		t.Error("Cloudflare did not get the tag purge")
	}
	assertInsideOut(t, s.Store, bs[0].ID)
}

// assertInsideOut checks from the journal that every edge call of a batch
// was planned only after every origin call had finished.
func assertInsideOut(t *testing.T, st *store.Store, batch int64) {
	t.Helper()
	calls, err := st.CallList(context.Background(), batch, 100)
	if err != nil {
		t.Fatal(err)
	}
	var originDone, edgeFirst time.Time
	for _, c := range calls {
		if c.State != store.CallDone {
			t.Errorf("call %d to %s is %s: %s", c.ID, c.Provider, c.State, c.Error)
		}
		switch c.Layer {
		case change.LayerOrigin:
			if c.DoneAt.After(originDone) {
				originDone = c.DoneAt
			}
		case change.LayerEdge:
			if edgeFirst.IsZero() || c.CreatedAt.Before(edgeFirst) {
				edgeFirst = c.CreatedAt
			}
		}
	}
	if originDone.IsZero() || edgeFirst.IsZero() {
		t.Fatalf("batch %d lacks a layer: %+v", batch, calls)
	}
	if edgeFirst.Before(originDone) {
		t.Errorf("the edge was planned at %s, before the origin finished at %s", edgeFirst, originDone)
	}
}
