package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/store"
)

// A site with a crawl block is crawled at start; crawl --wait crawls it
// again on demand and shows the outcome; the tags the pages report land
// in the graph as crawled edges.
func TestCrawlAtStartAndOnDemand(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := "http://" + r.Host
		switch r.URL.Path {
		case "/sitemap.xml":
			fmt.Fprintf(w, `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>%s/news</loc></url></urlset>`, base)
		case "/", "/news", "/about":
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Cache-Tag", "page"+strings.ReplaceAll(r.URL.Path, "/", ":")+", layout")
			fmt.Fprint(w, `<a href="/about">about</a> <a href="https://elsewhere.example/">elsewhere</a>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(site.Close)
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
admin:
  tokens:
    - {name: ci, secret: crawl-secret-token, scopes: [crawl]}
    - {name: ops, secret: ops-secret-token, scopes: [read]}
sites:
  - name: www
    base_url: %s
    crawl: {interval: 1h, rate: 100, max_pages: 100}
sources:
  - {name: cms, kind: generic, secret: %s}
providers:
  - {name: log, kind: log}
`, site.URL, secret))

	// The crawl at start.
	deadline := time.Now().Add(60 * time.Second)
	var first store.Crawl
	for time.Now().Before(deadline) {
		cs, err := s.Store.CrawlList(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) > 0 && cs[0].State != store.CrawlRunning {
			first = cs[0]
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if first.State != store.CrawlDone || first.StartedBy != "schedule" || first.Pages != 3 || first.Sitemaps != 1 {
		t.Fatalf("crawl at start: %+v", first)
	}

	code, out := runCLI(t, "crawl", "--server", s.hooks.URL, "--token", "ops-secret-token")
	if code != 2 || !strings.Contains(out, "lacks the crawl scope") {
		t.Errorf("crawl with a read token: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, "crawl", "--server", s.hooks.URL, "--token", "crawl-secret-token", "--site", "nope")
	if code != 2 || !strings.Contains(out, `400 site: no site named "nope"`) {
		t.Errorf("crawl of an unknown site: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, "crawl", "--server", s.hooks.URL, "--token", "crawl-secret-token", "--wait", "--json")
	var v struct {
		Crawl   int64       `json:"crawl"`
		Started bool        `json:"started"`
		Outcome store.Crawl `json:"outcome"`
	}
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil {
		t.Fatalf("crawl --wait --json: exit %d %v\n%s", code, err, out)
	}
	if !v.Started || v.Crawl == first.ID || v.Outcome.State != store.CrawlDone || v.Outcome.Pages != 3 || v.Outcome.StartedBy != "token ci" {
		t.Errorf("crawl on demand: %+v", v)
	}
	// The crawl's last write commits before the job reads it into the
	// graph: catch up, as any replica would.
	if _, err := s.Pipeline.SyncGraph(t.Context()); err != nil {
		t.Fatal(err)
	}
	g := s.Pipeline.Graph()
	if got := g.URLs("www", "tag", "layout"); len(got) != 3 {
		t.Errorf("layout tag on %q, want the 3 pages", got)
	}
	if got := g.URLs("www", "tag", "page:about"); len(got) != 1 || got[0] != site.URL+"/about" {
		t.Errorf("page:about on %q", got)
	}
}
