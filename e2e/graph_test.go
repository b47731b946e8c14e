package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/internal/varnishtest"
	"github.com/purgehook/purgehook/store"
)

// taggedOrigin is a website whose pages report the xkey tags a test sets.
type taggedOrigin struct {
	*httptest.Server
	mu   sync.Mutex
	tags map[string]string
}

func newTaggedOrigin(t *testing.T) *taggedOrigin {
	o := &taggedOrigin{tags: map[string]string{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		tags := o.tags[r.URL.Path]
		o.mu.Unlock()
		w.Header().Set("Cache-Control", "public, max-age=0, s-maxage=31536000")
		if tags != "" {
			w.Header().Set("xkey", tags)
		}
		fmt.Fprintf(w, "%s\n", r.URL.Path)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *taggedOrigin) tag(path, tags string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tags[path] = tags
}

// urlCalls lists the URL items of every call of the batches after skip.
func urlCalls(t *testing.T, st *store.Store, batches []store.Batch, skip int64) []string {
	t.Helper()
	var out []string
	for _, b := range batches {
		if b.ID <= skip {
			continue
		}
		calls, err := st.CallList(context.Background(), b.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range calls {
			if c.Kind == change.URL {
				out = append(out, c.Items...)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestLearningTagsFromVarnish runs origin → a real varnishd with the VCL
// we ship → purgehook warming through Varnish: the tags the origin's xkey
// headers report become the graph's edges, a change to the tagged content
// purges the page, and once the page stops reporting the tag it no longer
// does.
func TestLearningTagsFromVarnish(t *testing.T) {
	vcl, err := os.ReadFile("../examples/varnish/purgehook.vcl")
	if err != nil {
		t.Fatal(err)
	}
	o := newTaggedOrigin(t)
	ou, _ := url.Parse(o.URL)
	v := varnishtest.Start(t, string(vcl), ou.Host)
	// The changes name no tag, so the graph, not Varnish's own xkey
	// index, decides which pages a change reaches.
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
admin: {tokens: [{name: dash, secret: why-token-1, scopes: [read]}]}
sites:
  - {name: site, base_url: %s}
sources:
  - {name: cms, kind: generic, secret: %s, site: site}
providers:
  - {name: varnish, kind: varnish, layer: origin, servers: [%s]}
coalesce: 50ms
warm: {delay: 1ms}
`, v.URL, secret, v.URL))
	home := v.URL + "/en/"
	o.tag("/en/", "offer-7 home")

	// Publishing the homepage purges and warms it through Varnish: the
	// warm-up's response reports its tags.
	if status, _ := send(t, s.hooks.URL, publishPayload("home", "/en/")); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	bs := waitBatches(t, s.Store, 30*time.Second)
	if _, err := s.Pipeline.SyncGraph(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := s.Pipeline.Graph()
	if got := g.URLs("site", graph.Tag, "offer-7"); !slices.Equal(got, []string{home}) {
		t.Fatalf("pages tagged offer-7: %q, want the homepage", got)
	}

	// A change to offer 7, which names no page, purges the homepage.
	last := bs[0].ID
	if status, _ := send(t, s.hooks.URL, publishPayload("offer-7")); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	bs = waitBatches(t, s.Store, 30*time.Second)
	if got := urlCalls(t, s.Store, bs, last); !slices.Equal(got, []string{home}) {
		t.Fatalf("offer-7 purged %q, want the homepage", got)
	}
	// purgehook why: the offer's delivery, through the tag the homepage
	// reports, and the publish before it.
	code, out := runCLI(t, "why", "--server", s.hooks.URL, "--token", "why-token-1", home)
	if code != 0 || !strings.Contains(out, "tag offer-7  (learned") ||
		!strings.Contains(out, "graph: tag offer-7") || !strings.Contains(out, ": payload") || strings.Count(out, "\nbatch ") != 2 {
		t.Errorf("why (exit %d):\n%s", code, out)
	}
	if code, out := runCLI(t, "why", "--server", s.hooks.URL, "--token", "why-token-1", "https://elsewhere.example/"); code != 0 || !strings.Contains(out, "dropped as off-site") {
		t.Errorf("why off-site (exit %d):\n%s", code, out)
	}
	if code, out := runCLI(t, "why", "--server", s.hooks.URL, "--token", "why-token-1", v.URL+"/never"); code != 0 || !strings.Contains(out, "never seen") {
		t.Errorf("why never seen (exit %d):\n%s", code, out)
	}
	resp, err := http.Get(s.hooks.URL + "/v1/why")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("why without a token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, s.hooks.URL+"/v1/why", nil)
	req.Header.Set("Authorization", "Bearer why-token-1")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("why without url: %d, want 400", resp.StatusCode)
	}
	t.Logf("purgehook why %s:\n%s", home, out)

	// The homepage stops showing the offer; the next warm-up learns it.
	o.tag("/en/", "home")
	// (Another body than the first publish's: the generic source takes
	// the same body within dedupe_window for a redelivery.)
	again := publishPayload("home", "/en/")
	again.Content.ContentType = "homePage"
	if status, _ := send(t, s.hooks.URL, again); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	bs = waitBatches(t, s.Store, 30*time.Second)
	// The warm job commits what it learned, then this replica reads it
	// back: catch up as a replica would, rather than race that read.
	if _, err := s.Pipeline.SyncGraph(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := g.URLs("site", graph.Tag, "offer-7"); got != nil {
		t.Fatalf("pages tagged offer-7 after the homepage stopped reporting it: %q", got)
	}
	if got := g.URLs("site", graph.Tag, "home"); !slices.Equal(got, []string{home}) {
		t.Errorf("pages tagged home: %q", got)
	}
	last = bs[0].ID
	offer := publishPayload("offer-7")
	offer.Content.ContentType = "offer"
	if status, _ := send(t, s.hooks.URL, offer); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	waitDelivered(t, s.Store, 3)
	bs = waitBatches(t, s.Store, 30*time.Second)
	if got := urlCalls(t, s.Store, bs, last); len(got) != 0 {
		t.Errorf("offer-7 still purged %q", got)
	}
	// The audit trail says what was learned.
	events, err := s.Store.EventList(context.Background(), 0, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range events {
		found = found || (e.Kind == "learned" && strings.Contains(e.Message, "1 tag(s) no longer reported"))
	}
	if !found {
		t.Errorf("no learned event saying a tag went in %+v", events)
	}
}

// waitDelivered waits until no delivery is waiting to be resolved (the
// newest n are looked at).
func waitDelivered(t *testing.T, st *store.Store, n int) {
	t.Helper()
	for range 3000 {
		ds, err := st.DeliveryList(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		waiting := false
		for _, d := range ds {
			waiting = waiting || d.State == store.DeliveryAccepted
		}
		if !waiting {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("deliveries were not resolved")
}
