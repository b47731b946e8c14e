package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/purgehook/purgehook/store"
)

// crawlScript answers a fixed sequence of crawl reads, the last one again
// once the sequence is used up.
type crawlScript struct {
	steps []store.Crawl
	n     int
}

func (s *crawlScript) crawl(context.Context, int64) (store.Crawl, error) {
	c := s.steps[min(s.n, len(s.steps)-1)]
	s.n++
	return c, nil
}

func crawlSteps(final store.CrawlState) []store.Crawl {
	return []store.Crawl{
		{ID: 3, Site: "www", State: store.CrawlRunning, MaxPages: 10, Sitemaps: 1},
		{ID: 3, Site: "www", State: store.CrawlRunning, MaxPages: 10, Sitemaps: 3, Pages: 6, Fetched: 3},
		{ID: 3, Site: "www", State: final, MaxPages: 10, Sitemaps: 3, Pages: 10, Fetched: 13, OffSite: 1, Capped: 4},
	}
}

func TestWaitCrawlBarCountsFetchedOfFound(t *testing.T) {
	var out bytes.Buffer
	c, err := waitCrawl(context.Background(), &crawlScript{steps: crawlSteps(store.CrawlDone)}, 3, 0, newBarWatcher(&out))
	if err != nil || c.State != store.CrawlDone || c.Fetched != 13 {
		t.Fatalf("%+v %v", c, err)
	}
	if !strings.Contains(out.String(), "3/9") || !strings.Contains(out.String(), "crawl 3: 6 of at most 10 page(s) found") {
		t.Errorf("the bar did not show 3 of 9 fetched:\n%q", out.String())
	}
	if !strings.HasSuffix(out.String(), "done\n") {
		t.Errorf("no outcome line:\n%q", out.String())
	}
	out.Reset()
	printCrawl(&out, c)
	if !strings.Contains(out.String(), "10 page(s) and 3 sitemap(s) fetched: 0 failed, 1 off the site") || !strings.Contains(out.String(), "4 link(s) not followed: max_pages (10) reached") {
		t.Errorf("summary:\n%s", out.String())
	}
}

func TestWaitCrawlEndsFailedOrWithItsContext(t *testing.T) {
	var out bytes.Buffer
	c, err := waitCrawl(context.Background(), &crawlScript{steps: crawlSteps(store.CrawlFailed)}, 3, 0, lineWatcher{&out})
	if err != nil || c.State != store.CrawlFailed || out.String() != "failed\n" {
		t.Errorf("%+v %v %q", c, err, out.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = waitCrawl(ctx, &crawlScript{steps: crawlSteps(store.CrawlRunning)}, 3, 0, quietWatcher{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
}
