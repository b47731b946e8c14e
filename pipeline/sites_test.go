package pipeline_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/purger/cloudfront"
	"github.com/purgehook/purgehook/purger/cloudfront/cloudfronttest"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/store"
)

// Two sites, each behind a CloudFront distribution of its own (two
// fakes): a change on one site invalidates only its distribution, and the
// cost model makes the news pages the graph knows one wildcard path.
func TestTwoSitesTwoCloudFrontDistributions(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		const key, secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
		distribution := func(site, id string) (*cloudfronttest.Fake, pipeline.Provider) {
			fake := cloudfronttest.NewServer(t, cloudfronttest.Options{AccessKeyID: key, SecretAccessKey: secret, Distributions: []string{id}})
			p, err := cloudfront.New(cloudfront.Options{Name: "cf-" + site, PollInterval: time.Millisecond, Logger: slog.New(slog.DiscardHandler),
				Config: cloudfront.Config{DistributionID: id, AccessKeyID: key, SecretAccessKey: secret, Endpoint: fake.URL}})
			if err != nil {
				t.Fatal(err)
			}
			pr := provider(p, change.LayerEdge)
			pr.Sites = []string{site}
			return fake, pr
		}
		fakeA, cfA := distribution("a", "EDFDVBD6AAAAA")
		fakeB, cfB := distribution("b", "EDFDVBD6BBBBB")

		st := openStore(t, driver)
		news := []string{"https://a.example/news/1", "https://a.example/news/2", "https://a.example/news/3"}
		for _, page := range news {
			if _, _, err := st.GraphURLSet(ctx, store.GraphURLSetParams{Site: "a", URL: page, Origin: "learned", Kind: "tag", Values: []string{"news"}}); err != nil {
				t.Fatal(err)
			}
		}
		r, err := resolve.New([]config.Site{{Name: "a", BaseURL: "https://a.example"}, {Name: "b", BaseURL: "https://b.example"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := graph.New()
		r.SetGraph(g)
		h := startFull(t, st, g, func(o *pipeline.Options) { o.Resolver = r }, cfA, cfB)

		paths := func(f *cloudfronttest.Fake) []string {
			var out []string
			for _, inv := range f.Invalidations() {
				out = append(out, inv.Paths...)
			}
			slices.Sort(out)
			return out
		}
		if b := h.deliver(t, "news", change.Change{Kind: change.Update, ContentID: "1", Site: "a", URLs: []string{"/news/1", "/news/2", "/news/3"}}); b.State != store.BatchDone {
			t.Fatalf("batch %+v", b)
		}
		if got := paths(fakeA); !slices.Equal(got, []string{"/news/*"}) {
			t.Errorf("site a's distribution invalidated %q, want the one wildcard path", got)
		}
		if got := paths(fakeB); len(got) != 0 {
			t.Errorf("site b's distribution invalidated %q for site a's change", got)
		}

		if b := h.deliver(t, "rooms", change.Change{Kind: change.Update, ContentID: "2", Site: "b", URLs: []string{"/rooms/1"}}); b.State != store.BatchDone {
			t.Fatalf("batch %+v", b)
		}
		if got := paths(fakeB); !slices.Equal(got, []string{"/rooms/1"}) {
			t.Errorf("site b's distribution invalidated %q", got)
		}
		if got := paths(fakeA); len(got) != 1 {
			t.Errorf("site a's distribution invalidated %q for site b's change", got)
		}
	})
}
