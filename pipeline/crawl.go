package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/time/rate"

	"github.com/purgehook/purgehook/crawl"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/store"
	"github.com/purgehook/purgehook/warm"
)

// CrawlSite is how one site is crawled (config sites[].crawl).
type CrawlSite struct {
	Site string
	// Start is the site's home page and Sitemap its sitemap (or sitemap
	// index), both absolute: the crawl starts from them.
	Start   string
	Sitemap string
	// MaxPages bounds the pages one crawl fetches; Rate the requests per
	// second it makes.
	MaxPages int
	Rate     float64
	// Interval, when set, crawls the site at start and then every
	// Interval.
	Interval time.Duration
}

// ErrNoCrawl is returned, wrapped, by StartCrawl for a site that cannot be
// crawled.
var ErrNoCrawl = errors.New("not crawled")

// crawlConcurrency is how many fetches of one crawl job run at once; the
// rate still bounds how many start each second.
const crawlConcurrency = 4

// crawlSlack is the part of rescue_after a crawl job leaves for its
// bookkeeping.
const crawlSlack = 10 * time.Second

// crawlSite returns a site's crawl settings.
func (p *Pipeline) crawlSite(site string) (CrawlSite, bool) {
	for _, c := range p.o.Crawls {
		if c.Site == site {
			return c, true
		}
	}
	return CrawlSite{}, false
}

// crawlSchedule is the periodic job of every site with a crawl interval.
// River runs periodic jobs on the leader only, so a crawl starts once
// across replicas; CrawlStart makes a start while one runs a no-op.
func (p *Pipeline) crawlSchedule() []*river.PeriodicJob {
	if p.o.Crawler == nil {
		return nil
	}
	var out []*river.PeriodicJob
	for _, c := range p.o.Crawls {
		if c.Interval <= 0 {
			continue
		}
		args := CrawlArgs{Site: c.Site}
		out = append(out, river.NewPeriodicJob(river.PeriodicInterval(c.Interval), func() (river.JobArgs, *river.InsertOpts) {
			return args, nil
		}, &river.PeriodicJobOpts{RunOnStart: true}))
	}
	return out
}

// StartCrawl starts a crawl of site, or returns the one running (started
// false), by says who asked (a token's name, "schedule").
func (p *Pipeline) StartCrawl(ctx context.Context, site, by string) (id int64, started bool, err error) {
	err = p.st.InTxDurable(ctx, func(tx *store.Tx) error {
		var err error
		id, started, err = p.startCrawl(ctx, tx, site, by)
		return err
	})
	return id, started, err
}

func (p *Pipeline) startCrawl(ctx context.Context, tx *store.Tx, site, by string) (int64, bool, error) {
	c, ok := p.crawlSite(site)
	if !ok || p.o.Crawler == nil {
		return 0, false, fmt.Errorf("site %q: %w", site, ErrNoCrawl)
	}
	seeds := []store.CrawlSeed{{URL: c.Sitemap, Sitemap: true}, {URL: c.Start}}
	id, started, err := tx.CrawlStart(ctx, site, by, c.MaxPages, seeds)
	if err != nil || !started {
		return id, started, err
	}
	if err := tx.JobInsert(ctx, p.queue, CrawlArgs{Crawl: id, Site: site}, nil); err != nil {
		return 0, false, err
	}
	tx.AfterCommit(func() { p.log.Info("crawl started", "crawl", id, "site", site, "by", by) })
	return id, true, nil
}

// crawlWorker fetches a crawl's pages, a chunk per job.
type crawlWorker struct {
	river.WorkerDefaults[CrawlArgs]
	p *Pipeline
}

// crawlWindow is how long one crawl job starts fetches for: well inside
// rescue_after (so a slow job is never run twice), with the slowest
// fetch's timeout and the bookkeeping left over. A crash re-fetches at
// most one job's URLs.
func (p *Pipeline) crawlWindow() time.Duration {
	rescue := p.o.RescueAfter
	if rescue <= 0 {
		rescue = 2 * time.Minute
	}
	return max(rescue-crawlSlack-p.fetchTimeout(), time.Second)
}

func (p *Pipeline) fetchTimeout() time.Duration {
	if p.o.Crawler == nil {
		return 30 * time.Second
	}
	return p.o.Crawler.Timeout()
}

// crawlChunk is how many URLs one job reads: as many as the site's rate
// allows in the window, between 1 and 200. A slow site fetches fewer: no
// fetch starts after the window.
func (p *Pipeline) crawlChunk(c CrawlSite) int {
	n := int(c.Rate * p.crawlWindow().Seconds())
	return min(max(n, 1), 200)
}

// Timeout covers the job's window, its slowest fetch and the
// bookkeeping.
func (w *crawlWorker) Timeout(*river.Job[CrawlArgs]) time.Duration {
	return w.p.crawlWindow() + w.p.fetchTimeout() + crawlSlack/2
}

func (w *crawlWorker) Work(ctx context.Context, job *river.Job[CrawlArgs]) error {
	p := w.p
	if job.Args.Crawl == 0 {
		return p.st.InTx(ctx, func(tx *store.Tx) error {
			if _, _, err := p.startCrawl(ctx, tx, job.Args.Site, "schedule"); err != nil && !errors.Is(err, ErrNoCrawl) {
				return err
			}
			return store.JobComplete(ctx, tx, job)
		})
	}
	err := w.work(ctx, job)
	if err != nil && !released(ctx, err) && job.Attempt >= job.MaxAttempts {
		// The last attempt: settle the crawl, so that the next one can
		// start.
		ferr := p.st.CrawlFinish(context.WithoutCancel(ctx), job.Args.Crawl, store.CrawlFailed, err.Error())
		p.log.Error("crawl failed", "crawl", job.Args.Crawl, "site", job.Args.Site, "err", err, "settle_err", ferr)
	}
	return err
}

func (w *crawlWorker) work(ctx context.Context, job *river.Job[CrawlArgs]) error {
	p := w.p
	id := job.Args.Crawl
	cr, err := p.st.CrawlGet(ctx, id)
	if err != nil {
		return err
	}
	c, ok := p.crawlSite(cr.Site)
	if cr.State != store.CrawlRunning || !ok || p.o.Crawler == nil {
		return p.st.InTx(ctx, func(tx *store.Tx) error {
			if cr.State == store.CrawlRunning {
				if err := tx.CrawlFinish(ctx, id, store.CrawlFailed, "the site is no longer crawled"); err != nil {
					return err
				}
			}
			return store.JobComplete(ctx, tx, job)
		})
	}
	todo, err := p.st.CrawlPending(ctx, id, p.crawlChunk(c))
	if err != nil {
		return err
	}
	// Sitemaps come first and alone: the pages they list are the site's
	// own list, and take their places under max_pages before the links
	// the pages show.
	for i, t := range todo {
		if !t.Sitemap && i > 0 {
			todo = todo[:i]
			break
		}
	}
	pages, err := p.fetchCrawl(ctx, c, todo, time.Now().Add(p.crawlWindow()))
	if err != nil {
		if released(ctx, err) {
			return river.JobSnooze(0)
		}
		return err
	}
	// The URLs not started in the window stay pending for the next job.
	todo = todo[:len(pages)]
	err = p.st.InTx(ctx, func(tx *store.Tx) error {
		if err := p.recordCrawl(ctx, tx, id, c, todo, pages); err != nil {
			return err
		}
		more, err := tx.CrawlPending(ctx, id, 1)
		if err != nil {
			return err
		}
		if len(more) > 0 {
			if err := tx.JobInsert(ctx, p.queue, CrawlArgs{Crawl: id, Site: c.Site}, nil); err != nil {
				return err
			}
		} else {
			if err := tx.CrawlFinish(ctx, id, store.CrawlDone, ""); err != nil {
				return err
			}
			tx.AfterCommit(func() { p.logCrawl(id) })
		}
		return store.JobComplete(ctx, tx, job)
	})
	if err == nil && p.learning() {
		if _, err := p.SyncGraph(ctx); err != nil {
			p.log.Warn("graph catch-up failed", "err", err)
		}
	}
	return err
}

// fetchCrawl fetches a chunk of a crawl's URLs at the site's rate, a few at
// a time, starting none after stop; the pages of the URLs it started come
// back in todo's order. It returns ctx's error when ctx ends first.
func (p *Pipeline) fetchCrawl(ctx context.Context, c CrawlSite, todo []store.CrawlPage, stop time.Time) ([]crawl.Page, error) {
	inSite := func(u *url.URL) bool {
		s := p.o.Resolver.SiteOfURL(u.String())
		return s != nil && s.Name == c.Site
	}
	limiter := rate.NewLimiter(rate.Limit(c.Rate), 1)
	pages := make([]crawl.Page, len(todo))
	sem := make(chan struct{}, crawlConcurrency)
	var wg sync.WaitGroup
	var err error
	started := 0
	for i, t := range todo {
		if err = limiter.Wait(ctx); err != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			err = ctx.Err()
		}
		// The first fetch always starts, so a crawl moves however slow
		// its site.
		if err != nil || (i > 0 && time.Now().After(stop)) {
			if err == nil {
				<-sem
			}
			break
		}
		started++
		wg.Go(func() {
			defer func() { <-sem }()
			pages[i] = p.o.Crawler.Fetch(ctx, t.URL, t.Sitemap, inSite)
		})
	}
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return pages[:started], err
}

// recordCrawl stores what a chunk's fetches found: each URL's outcome, the
// pages and sitemaps they name (up to the crawl's max_pages), and the
// tags each page reports as graph edges of origin crawled (the same
// learning as a warm-up's, so a tag a page stops reporting stops pointing
// at it).
func (p *Pipeline) recordCrawl(ctx context.Context, tx *store.Tx, id int64, c CrawlSite, todo []store.CrawlPage, pages []crawl.Page) error {
	var learn []warm.Outcome
	for i, pg := range pages {
		rec := todo[i]
		rec.State, rec.Status = store.CrawlPageDone, pg.Status
		switch {
		case pg.OffSite:
			rec.State, rec.Error = store.CrawlPageOffSite, pg.Err.Error()
		case pg.Err != nil:
			rec.State, rec.Error = store.CrawlPageFailed, pg.Err.Error()
		}
		if !pg.Sitemap && pg.Err == nil {
			learn = append(learn, warm.Outcome{URL: pg.URL, Status: pg.Status, Header: pg.Header})
			if p.learning() && pg.Status >= 200 && pg.Status < 300 {
				rec.Tags = len(p.o.TagHeaders.Tags(pg.Header))
			}
		}
		if err := tx.CrawlRecord(ctx, rec); err != nil {
			return err
		}
		if _, _, err := tx.CrawlAdd(ctx, id, pg.Sitemaps, true, c.MaxPages); err != nil {
			return err
		}
		if _, _, err := tx.CrawlAdd(ctx, id, pg.Links, false, c.MaxPages); err != nil {
			return err
		}
	}
	_, err := p.learnTags(ctx, tx, graph.Crawled, learn)
	return err
}

// logCrawl logs a finished crawl's counts.
func (p *Pipeline) logCrawl(id int64) {
	c, err := p.st.CrawlGet(context.Background(), id)
	if err != nil {
		p.log.Warn("crawl done", "crawl", id, "err", err)
		return
	}
	p.log.Info("crawl done", "crawl", id, "site", c.Site, "pages", c.Pages, "sitemaps", c.Sitemaps,
		"failed", c.Failed, "offsite", c.OffSite, "capped", c.Capped)
}
