package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/store"
	"github.com/purgehook/purgehook/warm"
)

// queueWarm works out which pages to fetch again once every layer is
// purged: the URL targets marked for warming and, where a step purged a
// whole host or everything, the warm list of each affected site.
func (p *Pipeline) queueWarm(ctx context.Context, tx *store.Tx, batch int64, targets []change.Target) error {
	if p.o.Warmer == nil {
		if err := p.eventBatch(ctx, tx, batch, "done", "purged (warming disabled)"); err != nil {
			return err
		}
		return p.settleDone(ctx, tx, batch)
	}
	b, err := tx.BatchGet(ctx, batch)
	if err != nil {
		return err
	}
	var urls []string
	seen := map[string]bool{}
	addURL := func(u string) {
		if !seen[u] {
			seen[u] = true
			urls = append(urls, u)
		}
	}
	sites := map[string]bool{}
	allSites := false
	for _, t := range targets {
		if b.Broad || t.Kind == change.Host || t.Kind == change.Everything {
			if t.Site == "" {
				allSites = true
			} else {
				sites[t.Site] = true
			}
		}
	}
	// The sites' warm lists (their most visited pages).
	for _, s := range p.o.Resolver.Sites() {
		if allSites || sites[s.Name] {
			for _, w := range s.Warm {
				addURL(s.Abs(w))
			}
		}
	}
	for _, t := range targets {
		if t.Kind == change.URL && t.Warm {
			addURL(t.Value)
		}
	}
	// Most important first (stable: the warm lists keep their order), so
	// that limits.warm cuts the least visited pages.
	tiers := make(map[string]int, len(urls))
	for _, u := range urls {
		tiers[u] = p.warmTier(u)
	}
	slices.SortStableFunc(urls, func(a, b string) int { return tiers[a] - tiers[b] })
	if p.o.MaxWarm > 0 && len(urls) > p.o.MaxWarm {
		note := fmt.Sprintf("%d page(s) to warm, over limits.warm (%d): warming the first %d", len(urls), p.o.MaxWarm, p.o.MaxWarm)
		if err := p.eventBatch(ctx, tx, batch, "capped", note); err != nil {
			return err
		}
		urls = urls[:p.o.MaxWarm]
	}
	if len(urls) == 0 {
		if err := p.eventBatch(ctx, tx, batch, "done", "purged; nothing to warm"); err != nil {
			return err
		}
		return p.settleDone(ctx, tx, batch)
	}
	if err := tx.WarmInsert(ctx, batch, urls); err != nil {
		return err
	}
	if err := p.eventBatch(ctx, tx, batch, "purged", fmt.Sprintf("every layer purged; warming %d page(s)", len(urls))); err != nil {
		return err
	}
	if err := tx.JobInsert(ctx, p.queue, WarmArgs{Batch: batch}, nil); err != nil {
		return err
	}
	return tx.BatchSettle(ctx, batch, store.BatchWarming, "")
}

// warmWorker fetches a batch's pages again, a chunk per job.
type warmWorker struct {
	river.WorkerDefaults[WarmArgs]
	p *Pipeline
}

// warmRounds returns how many rounds of fetches one warm job makes: as
// many as fit, at their slowest, well inside rescue_after (so a slow job
// is never run twice), between 1 and 20. A crash re-fetches at most one
// job's pages.
func warmRounds(w *warm.Warmer, rescueAfter time.Duration) int {
	if w == nil || rescueAfter <= 0 {
		return 20
	}
	n := int((rescueAfter - warmSlack) / w.RoundTime())
	return min(max(n, 1), 20)
}

// warmSlack is the part of rescue_after a warm job leaves for its
// bookkeeping.
const warmSlack = 10 * time.Second

// chunk is how many pages one job fetches.
func (w *warmWorker) chunk() int {
	if w.p.o.Warmer == nil {
		return 100
	}
	return warmRounds(w.p.o.Warmer, w.p.o.RescueAfter) * w.p.o.Warmer.PerRound()
}

// window is how long a job starts pages: its timeout less one page's
// requests at their slowest and some slack.
func (w *warmWorker) window() time.Duration {
	if w.p.o.Warmer == nil {
		return 0
	}
	return max(w.Timeout(nil)-w.p.o.Warmer.RoundTime()-warmSlack/2, 0)
}

// Timeout covers the job's rounds at their slowest.
func (w *warmWorker) Timeout(*river.Job[WarmArgs]) time.Duration {
	if w.p.o.Warmer == nil {
		return 0
	}
	return time.Duration(warmRounds(w.p.o.Warmer, w.p.o.RescueAfter))*w.p.o.Warmer.RoundTime() + warmSlack/2
}

func (w *warmWorker) Work(ctx context.Context, job *river.Job[WarmArgs]) error {
	p := w.p
	batch := job.Args.Batch
	rows, err := p.st.WarmList(ctx, batch, store.WarmPending, w.chunk())
	if err != nil {
		return err
	}
	byURL := map[string][]store.Warm{}
	var pages []warm.Page
	for _, r := range rows {
		if _, ok := byURL[r.URL]; !ok {
			pages = append(pages, warm.Page{URL: r.URL, Tier: p.warmTier(r.URL)})
		}
		byURL[r.URL] = append(byURL[r.URL], r)
	}
	// Rows come in the order queueWarm ranked them; a page ranked top
	// waits for a slot ahead of other batches' lesser pages.
	slices.SortStableFunc(pages, func(a, b warm.Page) int { return a.Tier - b.Tier })
	var outcomes []warm.Outcome
	if p.o.Warmer != nil {
		// The limiter is shared with every other warm job: stop starting
		// pages while this job's time still covers the requests under
		// way; the rest are the next job's.
		stop := make(chan struct{})
		t := time.AfterFunc(w.window(), func() { close(stop) })
		err := p.o.Warmer.FetchPages(ctx, stop, pages, func(o warm.Outcome) { outcomes = append(outcomes, o) })
		t.Stop()
		if err != nil {
			if released(ctx, err) {
				return river.JobSnooze(0)
			}
			return err
		}
	}
	ok, failed := 0, 0
	err = p.st.InTx(ctx, func(tx *store.Tx) error {
		for _, o := range byPage(outcomes, 1+p.o.Warmer.Variants()) {
			rec := store.Warm{State: store.WarmDone, Status: o.Status, Duration: o.Duration}
			label := "ok"
			if !o.OK() {
				rec.State, label = store.WarmFailed, "failed"
				failed++
				if o.Err != nil {
					rec.Error = o.Err.Error()
				} else {
					rec.Error = fmt.Sprintf("status %d", o.Status)
				}
			} else {
				ok++
			}
			p.m.warm.WithLabelValues(label).Inc()
			if o.Cache != "" {
				p.m.cache.WithLabelValues(o.Cache).Inc()
			}
			for _, r := range byURL[o.URL] {
				rec.ID = r.ID
				if err := tx.WarmRecord(ctx, rec); err != nil {
					return err
				}
			}
		}
		if err := p.checkFresh(ctx, tx, batch, plain(outcomes)); err != nil {
			return err
		}
		learned, err := p.learnTags(ctx, tx, graph.Learned, plain(outcomes))
		if err != nil {
			return err
		}
		if learned != "" {
			if err := p.eventBatch(ctx, tx, batch, "learned", learned); err != nil {
				return err
			}
		}
		more, err := tx.WarmList(ctx, batch, store.WarmPending, 1)
		if err != nil {
			return err
		}
		if err := p.eventBatch(ctx, tx, batch, "warm", fmt.Sprintf("warmed %d page(s), %d failed", ok, failed)); err != nil {
			return err
		}
		if len(more) > 0 {
			if err := tx.JobInsert(ctx, p.queue, WarmArgs{Batch: batch}, nil); err != nil {
				return err
			}
		} else if err := p.settleDone(ctx, tx, batch); err != nil {
			return err
		}
		return store.JobComplete(ctx, tx, job)
	})
	if err == nil {
		p.batchLog(ctx, p.st, batch).Info("warmed", "ok", ok, "failed", failed)
	}
	if err == nil && p.learning() {
		if _, err := p.SyncGraph(ctx); err != nil {
			p.log.Warn("graph catch-up failed", "err", err)
		}
	}
	return err
}

// warmTier ranks a page for warming (see warm.TierTop): a site's home
// page, a culture's home page (/en/, /pt-br/) or a page of the site's warm
// list first; then a list page, one the content graph knows reports a
// list:{type} tag (how list_of rules find list pages); then the rest.
func (p *Pipeline) warmTier(u string) int {
	if s := p.o.Resolver.SiteOfURL(u); s != nil {
		if path, ok := strings.CutPrefix(u, strings.TrimSuffix(s.BaseURL, "/")); ok {
			if path == "" || homePath.MatchString(path) || slices.Contains(s.Warm, path) {
				return warm.TierTop
			}
		}
	}
	if p.o.Graph != nil {
		for _, k := range p.o.Graph.Keys(u) {
			if k.Kind == graph.Tag && strings.HasPrefix(k.Value, "list:") {
				return warm.TierList
			}
		}
	}
	return warm.TierRest
}

// homePath matches a home page's path: / or a culture's /en/, /pt-br/.
var homePath = regexp.MustCompile(`^/([a-z]{2}(-[a-z]{2,4})?/?)?$`)

// byPage folds each page's outcomes, one per variant, into one: the
// plain request's, failed with the first failing variant's reason if any
// variant failed. A page with fewer than n outcomes was not fetched whole
// (its job stopped) and is left out: it stays pending.
func byPage(outcomes []warm.Outcome, n int) []warm.Outcome {
	if n <= 1 {
		return outcomes
	}
	type page struct {
		plain  warm.Outcome
		failed *warm.Outcome
		count  int
	}
	var order []string
	pages := map[string]*page{}
	for _, o := range outcomes {
		pg := pages[o.URL]
		if pg == nil {
			pg = &page{}
			pages[o.URL] = pg
			order = append(order, o.URL)
		}
		pg.count++
		if o.Variant == "" {
			pg.plain = o
		} else if !o.OK() && pg.failed == nil {
			pg.failed = &o
		}
	}
	var out []warm.Outcome
	for _, u := range order {
		pg := pages[u]
		if pg.count < n {
			continue
		}
		o := pg.plain
		if o.OK() && pg.failed != nil {
			reason := pg.failed.Err
			if reason == nil {
				reason = fmt.Errorf("status %d", pg.failed.Status)
			}
			o.Err = fmt.Errorf("variant %s: %w", pg.failed.Variant, reason)
		}
		out = append(out, o)
	}
	return out
}

// plain keeps the outcomes of plain requests: tags are learned from those.
func plain(outcomes []warm.Outcome) []warm.Outcome {
	var out []warm.Outcome
	for _, o := range outcomes {
		if o.Variant == "" {
			out = append(out, o)
		}
	}
	return out
}

func (p *Pipeline) learning() bool {
	return p.o.Graph != nil && p.o.TagHeaders != nil && len(p.o.TagHeaders.Names) > 0
}

// learnTags sets each fetched page's tag edges of one origin (learned for
// a warm-up, crawled for a crawl) to the tags its response reported: tags it reports now point at it, tags it no longer
// reports stop pointing at it. A page that answered 404 or 410 is gone and
// shows nothing; a failed fetch or another status teaches nothing. It
// returns a line for the audit trail ("" when nothing was learned).
func (p *Pipeline) learnTags(ctx context.Context, tx *store.Tx, origin graph.Origin, outcomes []warm.Outcome) (string, error) {
	if !p.learning() {
		return "", nil
	}
	pages, tags, dropped := 0, 0, 0
	for _, o := range outcomes {
		var values []string
		switch {
		case o.Err != nil:
			continue
		case o.Status >= 200 && o.Status < 300:
			values = p.o.TagHeaders.Tags(o.Header)
		case o.Status == http.StatusNotFound || o.Status == http.StatusGone:
		default:
			continue
		}
		site := p.o.Resolver.SiteOfURL(o.URL)
		if site == nil {
			continue
		}
		_, removed, err := tx.GraphURLSet(ctx, store.GraphURLSetParams{Site: site.Name, URL: o.URL, Origin: string(origin), Kind: string(graph.Tag), Values: values})
		if err != nil {
			return "", err
		}
		pages++
		tags += len(values)
		dropped += len(removed)
	}
	if pages == 0 {
		return "", nil
	}
	return fmt.Sprintf("%d page(s) report %d tag(s); %d tag(s) no longer reported", pages, tags, dropped), nil
}

// settleDone records a batch done and, once that commits, how long each
// webhook delivery it served took from its acceptance, or its latest
// replay, to here.
func (p *Pipeline) settleDone(ctx context.Context, tx *store.Tx, batch int64) error {
	if err := tx.BatchSettle(ctx, batch, store.BatchDone, ""); err != nil {
		return err
	}
	ds, err := tx.BatchDeliveryStarts(ctx, batch)
	if err != nil {
		return err
	}
	now := p.st.Now()
	for _, d := range ds {
		if d.Source == manualSource {
			continue
		}
		took := now.Sub(d.From).Seconds()
		tx.AfterCommit(func() { p.m.processing.WithLabelValues(d.Source).Observe(took) })
	}
	return nil
}
