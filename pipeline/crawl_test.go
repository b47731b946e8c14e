package pipeline_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/crawl"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/store"
)

// crawlOrigin is a site to crawl: a sitemap index of two sitemaps (one
// gzip'd), pages that report cache tags, a redirect off the site and a
// page with more links than the crawl may follow.
type crawlOrigin struct {
	*httptest.Server
	hits map[string]*atomic.Int64
	// dropT1 makes /p1 stop reporting the tag t1.
	dropT1 atomic.Bool
}

func newCrawlOrigin(t *testing.T, offSite string) *crawlOrigin {
	o := &crawlOrigin{hits: map[string]*atomic.Int64{}}
	paths := []string{"/sitemap.xml", "/s1.xml", "/s2.xml.gz", "/", "/p1", "/p2", "/p3", "/away"}
	for i := 1; i <= 10; i++ {
		paths = append(paths, fmt.Sprintf("/more/%d", i))
	}
	for _, p := range paths {
		o.hits[p] = &atomic.Int64{}
	}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n, ok := o.hits[r.URL.Path]; ok {
			n.Add(1)
		}
		base := "http://" + r.Host
		switch p := r.URL.Path; {
		case p == "/sitemap.xml":
			fmt.Fprintf(w, `<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>%[1]s/s1.xml</loc></sitemap><sitemap><loc>%[1]s/s2.xml.gz</loc></sitemap></sitemapindex>`, base)
		case p == "/s1.xml":
			fmt.Fprintf(w, `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>%[1]s/</loc></url><url><loc>%[1]s/p1</loc></url><url><loc>%[1]s/p2</loc></url></urlset>`, base)
		case p == "/s2.xml.gz":
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			fmt.Fprintf(zw, `<urlset><url><loc>%[1]s/p3</loc></url><url><loc>%[1]s/away</loc></url></urlset>`, base)
			zw.Close()
			w.Header().Set("Content-Type", "application/x-gzip")
			w.Write(b.Bytes())
		case p == "/away":
			http.Redirect(w, r, offSite+"/", http.StatusFound)
		case p == "/":
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Cache-Tag", "page:home")
			var links strings.Builder
			for i := 1; i <= 10; i++ {
				fmt.Fprintf(&links, `<a href="/more/%d">more</a>`, i)
			}
			fmt.Fprintf(w, `<a href="/p1">p1</a><a href="%s/">elsewhere</a>%s`, offSite, links.String())
		case p == "/p1":
			w.Header().Set("Content-Type", "text/html")
			tags := "page:p1, t1"
			if o.dropT1.Load() {
				tags = "page:p1"
			}
			w.Header().Set("Cache-Tag", tags)
			w.Header().Add("xkey", "shared")
			fmt.Fprint(w, `<a href="/p2">p2</a>`)
		case o.hits[p] != nil:
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Surrogate-Key", "page:"+strings.TrimPrefix(p, "/")+" shared")
			fmt.Fprint(w, `<a href="/">home</a>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *crawlOrigin) hit(path string) int64 { return o.hits[path].Load() }

// waitCrawl waits until a crawl is no longer running.
func waitCrawl(t *testing.T, st *store.Store, id int64) store.Crawl {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c, err := st.CrawlGet(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != store.CrawlRunning {
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("crawl %d still running", id)
	return store.Crawl{}
}

func TestCrawlLearnsTagsWithinTheSiteAndItsLimits(t *testing.T) {
	drivers(t, func(t *testing.T, driver string) {
		var offHits atomic.Int64
		off := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { offHits.Add(1) }))
		t.Cleanup(off.Close)
		a := newCrawlOrigin(t, off.URL)
		r, err := resolve.New([]config.Site{{Name: "a", BaseURL: a.URL}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := graph.New()
		h := startFull(t, openStore(t, driver), g, func(o *pipeline.Options) {
			o.Resolver = r
			o.TagHeaders = &graph.TagHeaders{Names: config.DefaultTagHeaders, Separators: config.DefaultTagSeparators}
			o.Crawler = crawl.New(crawl.Options{Scope: r})
			o.Crawls = []pipeline.CrawlSite{{Site: "a", Start: a.URL + "/", Sitemap: a.URL + "/sitemap.xml", MaxPages: 6, Rate: 1000}}
		})
		ctx := context.Background()
		if _, _, err := h.pl.StartCrawl(ctx, "b", "test"); err == nil {
			t.Error("a site without crawl settings was crawled")
		}
		id, started, err := h.pl.StartCrawl(ctx, "a", "test")
		if err != nil || !started {
			t.Fatalf("start: %v %v", started, err)
		}
		c := waitCrawl(t, h.st, id)
		// The crawl's last write commits before the job reads it into
		// the graph: catch up, as any replica would.
		if _, err := h.pl.SyncGraph(ctx); err != nil {
			t.Fatal(err)
		}

		// The index and its two sitemaps were read; their five pages came
		// first, then one of the home page's ten links: six, the limit.
		if c.State != store.CrawlDone || c.Sitemaps != 3 || c.Pages != 6 || c.Capped < 9 || c.OffSite != 1 || c.Failed != 0 {
			t.Errorf("crawl: %+v", c)
		}
		for _, p := range []string{"/sitemap.xml", "/s1.xml", "/s2.xml.gz", "/", "/p1", "/p2", "/p3", "/away", "/more/1"} {
			if n := a.hit(p); n != 1 {
				t.Errorf("%s fetched %d times, want once", p, n)
			}
		}
		for i := 2; i <= 10; i++ {
			if n := a.hit(fmt.Sprintf("/more/%d", i)); n != 0 {
				t.Errorf("/more/%d fetched beyond max_pages", i)
			}
		}
		// The redirect off the site was not followed, and says so.
		if n := offHits.Load(); n != 0 {
			t.Errorf("the off-site host got %d request(s)", n)
		}
		offsite, _ := h.st.CrawlPages(ctx, id, store.CrawlPageOffSite, 10)
		if len(offsite) != 1 || offsite[0].URL != a.URL+"/away" || !strings.Contains(offsite[0].Error, "not a configured host") {
			t.Errorf("off-site: %+v", offsite)
		}

		// Every header's tags became crawled edges.
		if got := g.URLs("a", graph.Tag, "t1"); !slices.Equal(got, []string{a.URL + "/p1"}) {
			t.Errorf("t1: %q", got)
		}
		// p1 by its xkey, the others by Surrogate-Key; the home page
		// reports only its own tag.
		want := []string{a.URL + "/p1", a.URL + "/p2", a.URL + "/p3", a.URL + "/more/1"}
		got := g.URLs("a", graph.Tag, "shared")
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("shared: %q, want %q", got, want)
		}
		edges, _ := h.st.GraphEdgesOfURL(ctx, a.URL+"/p1")
		for _, e := range edges {
			if e.Origin != string(graph.Crawled) || e.Removed {
				t.Errorf("edge %+v", e)
			}
		}
		if len(edges) != 3 {
			t.Errorf("p1's edges: %+v", edges)
		}

		// The next crawl finds p1 no longer reporting t1: the edge goes.
		a.dropT1.Store(true)
		id2, started, err := h.pl.StartCrawl(ctx, "a", "test")
		if err != nil || !started || id2 == id {
			t.Fatalf("second start: %d %v %v", id2, started, err)
		}
		waitCrawl(t, h.st, id2)
		if _, err := h.pl.SyncGraph(ctx); err != nil {
			t.Fatal(err)
		}
		if got := g.URLs("a", graph.Tag, "t1"); len(got) != 0 {
			t.Errorf("t1 after p1 stopped reporting it: %q", got)
		}
		if got := g.URLs("a", graph.Tag, "page:p1"); len(got) != 1 {
			t.Errorf("page:p1 lost: %q", got)
		}
		edges, _ = h.st.GraphEdgesOfURL(ctx, a.URL+"/p1")
		for _, e := range edges {
			if e.Value == "t1" && !e.Removed {
				t.Errorf("t1 edge not removed: %+v", e)
			}
		}
	})
}

// A crawl is a durable job: one queued by a process that stopped before
// working it runs when the next process starts.
func TestCrawlQueuedBeforeARestartRunsAfterIt(t *testing.T) {
	drivers(t, func(t *testing.T, driver string) {
		a := newCrawlOrigin(t, "http://off.invalid")
		r, err := resolve.New([]config.Site{{Name: "a", BaseURL: a.URL}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		crawling := func(o *pipeline.Options) {
			o.Resolver = r
			o.TagHeaders = &graph.TagHeaders{Names: config.DefaultTagHeaders, Separators: config.DefaultTagSeparators}
			o.Crawler = crawl.New(crawl.Options{Scope: r})
			o.Crawls = []pipeline.CrawlSite{{Site: "a", Start: a.URL + "/", Sitemap: a.URL + "/sitemap.xml", MaxPages: 100, Rate: 1000}}
		}
		st := openStore(t, driver)
		first := pipeline.Options{Store: st, Logger: slog.New(slog.DiscardHandler)}
		crawling(&first)
		stopped, err := pipeline.New(first)
		if err != nil {
			t.Fatal(err)
		}
		id, started, err := stopped.StartCrawl(context.Background(), "a", "test")
		if err != nil || !started {
			t.Fatalf("start: %v %v", started, err)
		}
		if n := a.hit("/sitemap.xml"); n != 0 {
			t.Fatalf("fetched before any worker ran: %d", n)
		}
		h := startFull(t, st, graph.New(), crawling)
		c := waitCrawl(t, h.st, id)
		if c.State != store.CrawlDone || c.Sitemaps != 3 || c.Pages != 15 || c.OffSite != 1 {
			t.Errorf("crawl after the restart: %+v", c)
		}
	})
}
