package pipeline_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/store"
	"github.com/purgehook/purgehook/warm"
)

// A batch warms home pages first, then list pages, then the rest; each
// page plainly and in every variant; a variant that fails fails the page.
func TestWarmOrderAndVariants(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		lang := r.Header.Get("Accept-Language")
		seen = append(seen, strings.TrimSpace(r.URL.Path+" "+lang))
		if r.URL.Path == "/news/b" && lang == "de" {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	to, _ := url.Parse(srv.URL)
	g := graph.New()
	g.Apply(graph.Edge{Key: graph.Key{Site: "a", Kind: graph.Tag, Value: "list:newsArticle"}, URL: "https://a.example/news", Origin: graph.Learned})
	st := openStore(t, store.SQLite)
	w := warm.New(warm.Options{Concurrency: 1, Client: &http.Client{Transport: rewrite{to: to}},
		Variants: []warm.Variant{{Name: "de", Header: map[string]string{"Accept-Language": "de"}}}})
	h := startFull(t, st, g, func(o *pipeline.Options) { o.Warmer = w },
		provider(&recorder{name: "edge", limits: all, log: &callLog{}}, change.LayerEdge))
	h.publish(t, "d1", "/news/a", "/news", "/en/", "/news/b", "/")
	b := h.settle(t)
	if b.State != store.BatchDone {
		t.Fatalf("batch %+v", b)
	}
	mu.Lock()
	got := slices.Clone(seen)
	mu.Unlock()
	// Top tier (/en/, /) in the order published, then the list page, then
	// the rest; the de variant right after each plain request.
	want := []string{"/en/", "/en/ de", "/", "/ de", "/news", "/news de", "/news/a", "/news/a de", "/news/b", "/news/b de"}
	if !slices.Equal(got, want) {
		t.Errorf("fetched\n%q\nwant\n%q", got, want)
	}
	rows, err := st.WarmList(context.Background(), b.ID, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		failed := r.URL == "https://a.example/news/b"
		if (r.State == store.WarmFailed) != failed {
			t.Errorf("%s: %s %q", r.URL, r.State, r.Error)
		}
		if failed && r.Error != "variant de: status 502" {
			t.Errorf("%s: error %q", r.URL, r.Error)
		}
	}
}
