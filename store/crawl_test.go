package store

import (
	"errors"
	"testing"
	"time"
)

func TestCrawl(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		seeds := []CrawlSeed{{URL: "https://a.example/sitemap.xml", Sitemap: true}, {URL: "https://a.example/"}}
		var id int64
		mustTx(t, s, func(tx *Tx) error {
			var started bool
			var err error
			id, started, err = tx.CrawlStart(ctx, "a", "token ci", 3, seeds)
			if err == nil && !started {
				t.Error("first crawl not started")
			}
			return err
		})
		// A second start while the first runs returns the first.
		mustTx(t, s, func(tx *Tx) error {
			again, started, err := tx.CrawlStart(ctx, "a", "schedule", 3, seeds)
			if again != id || started {
				t.Errorf("second start: %d %v, want %d false", again, started, id)
			}
			return err
		})
		// Another site's crawl is its own.
		mustTx(t, s, func(tx *Tx) error {
			other, started, err := tx.CrawlStart(ctx, "b", "schedule", 3, nil)
			if other == id || !started {
				t.Errorf("site b: %d %v", other, started)
			}
			return err
		})
		pending, err := s.CrawlPending(ctx, id, 10)
		if err != nil || len(pending) != 2 || !pending[0].Sitemap || pending[1].URL != "https://a.example/" {
			t.Fatalf("pending: %+v %v", pending, err)
		}
		// Pages beyond max_pages are capped; a URL the crawl has is skipped.
		mustTx(t, s, func(tx *Tx) error {
			added, capped, err := tx.CrawlAdd(ctx, id, []string{"https://a.example/", "https://a.example/1", "https://a.example/2", "https://a.example/3"}, false, 3)
			if added != 2 || capped != 1 {
				t.Errorf("add: %d added, %d capped; want 2, 1", added, capped)
			}
			return err
		})
		mustTx(t, s, func(tx *Tx) error {
			added, _, err := tx.CrawlAdd(ctx, id, []string{"https://a.example/s2.xml"}, true, 3)
			if added != 1 {
				t.Errorf("a sitemap counts apart from pages: %d added", added)
			}
			return err
		})
		pending, _ = s.CrawlPending(ctx, id, 10)
		if len(pending) != 5 || !pending[1].Sitemap || pending[2].URL != "https://a.example/" {
			t.Fatalf("sitemaps first: %+v", pending)
		}
		must(t, s.CrawlRecord(ctx, CrawlPage{ID: pending[0].ID, State: CrawlPageDone, Status: 200}))
		must(t, s.CrawlRecord(ctx, CrawlPage{ID: pending[2].ID, State: CrawlPageDone, Status: 200, Tags: 4}))
		must(t, s.CrawlRecord(ctx, CrawlPage{ID: pending[3].ID, State: CrawlPageOffSite, Error: "redirect to b.example: not a configured host of the site"}))
		must(t, s.CrawlRecord(ctx, CrawlPage{ID: pending[4].ID, State: CrawlPageFailed, Error: "timeout"}))
		c, err := s.CrawlGet(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want := Crawl{ID: id, Site: "a", State: CrawlRunning, StartedBy: "token ci", MaxPages: 3, Pages: 3, Sitemaps: 2, Fetched: 4, Failed: 1, OffSite: 1, Capped: 1}
		c.StartedAt = time.Time{}
		if c != want {
			t.Errorf("crawl:\n got %+v\nwant %+v", c, want)
		}
		off, _ := s.CrawlPages(ctx, id, CrawlPageOffSite, 10)
		if len(off) != 1 || off[0].URL != "https://a.example/1" || off[0].Error == "" {
			t.Errorf("offsite: %+v", off)
		}
		must(t, s.CrawlFinish(ctx, id, CrawlDone, ""))
		c, _ = s.CrawlGet(ctx, id)
		if c.State != CrawlDone || c.FinishedAt.IsZero() {
			t.Errorf("finished: %+v", c)
		}
		// Finished: the next start is a new crawl.
		mustTx(t, s, func(tx *Tx) error {
			next, started, err := tx.CrawlStart(ctx, "a", "schedule", 3, seeds)
			if next == id || !started {
				t.Errorf("after finish: %d %v", next, started)
			}
			return err
		})
		if cs, err := s.CrawlList(ctx, 10); err != nil || len(cs) != 3 || cs[2].ID != id {
			t.Errorf("list: %+v %v", cs, err)
		}
		if _, err := s.CrawlGet(ctx, 999); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing crawl: %v", err)
		}
		// A finished crawl is pruned with its pages after the retention.
		if _, err := s.Prune(ctx, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CrawlGet(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("pruned crawl: %v", err)
		}
		if ps, _ := s.CrawlPages(ctx, id, "", 10); len(ps) != 0 {
			t.Errorf("pruned pages: %+v", ps)
		}
	})
}
