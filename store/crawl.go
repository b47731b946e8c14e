package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CrawlState says where a crawl is.
type CrawlState string

// Crawl states.
const (
	CrawlRunning CrawlState = "running"
	CrawlDone    CrawlState = "done"
	CrawlFailed  CrawlState = "failed"
)

// CrawlPageState says what became of one URL of a crawl.
type CrawlPageState string

// Crawl page states.
const (
	CrawlPagePending CrawlPageState = "pending"
	// CrawlPageDone: fetched and answered (any status; Status says which).
	CrawlPageDone CrawlPageState = "done"
	// CrawlPageFailed: the fetch failed (Error says why).
	CrawlPageFailed CrawlPageState = "failed"
	// CrawlPageOffSite: not fetched, or not followed, because it (or its
	// redirect) leads off the site.
	CrawlPageOffSite CrawlPageState = "offsite"
)

// Crawl is one crawl of a site, with its progress.
type Crawl struct {
	ID         int64      `json:"id"`
	Site       string     `json:"site"`
	State      CrawlState `json:"state"`
	StartedBy  string     `json:"started_by"`
	MaxPages   int        `json:"max_pages"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt time.Time  `json:"finished_at,omitzero"`
	Error      string     `json:"error,omitempty"`
	// Pages are the pages discovered so far (at most MaxPages), Sitemaps
	// the sitemaps; Fetched counts both once fetched or given up.
	Pages    int `json:"pages"`
	Sitemaps int `json:"sitemaps"`
	Fetched  int `json:"fetched"`
	Failed   int `json:"failed"`
	OffSite  int `json:"offsite"`
	// Capped counts the links not followed because MaxPages was reached.
	Capped int `json:"capped"`
}

// CrawlPage is one URL of a crawl: a sitemap or a page.
type CrawlPage struct {
	ID      int64          `json:"id"`
	Crawl   int64          `json:"crawl"`
	URL     string         `json:"url"`
	Sitemap bool           `json:"sitemap,omitempty"`
	State   CrawlPageState `json:"state"`
	Status  int            `json:"status,omitempty"`
	// Tags is how many cache tags the page reported.
	Tags  int    `json:"tags,omitempty"`
	Error string `json:"error,omitempty"`
}

// CrawlSeed is a URL a crawl starts from.
type CrawlSeed struct {
	URL     string
	Sitemap bool
}

// CrawlStart starts a crawl of site from seeds, unless one is running:
// then it returns that one's id and started false. A crawl runs once
// across replicas.
func (tx *Tx) CrawlStart(ctx context.Context, site, by string, maxPages int, seeds []CrawlSeed) (int64, bool, error) {
	if err := tx.StateLock(ctx, "crawl:"+site); err != nil {
		return 0, false, err
	}
	var id int64
	err := tx.q.QueryRowContext(ctx, `SELECT id FROM ph_crawl WHERE site = ? AND state = ? ORDER BY id LIMIT 1`, site, string(CrawlRunning)).Scan(&id)
	if err == nil {
		return id, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("store: crawl of %s: %w", site, err)
	}
	if err := tx.q.QueryRowContext(ctx, `INSERT INTO ph_crawl (site, state, started_by, max_pages, started_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		site, string(CrawlRunning), by, maxPages, ms(tx.now())).Scan(&id); err != nil {
		return 0, false, fmt.Errorf("store: start crawl of %s: %w", site, err)
	}
	for _, s := range seeds {
		if _, _, err := tx.CrawlAdd(ctx, id, []string{s.URL}, s.Sitemap, maxPages); err != nil {
			return 0, false, err
		}
	}
	return id, true, nil
}

// MaxSitemaps bounds the sitemaps one crawl reads (a sitemap index lists
// at most 50,000; a loop of indexes must end).
const MaxSitemaps = 1000

// CrawlAdd adds URLs to a crawl's frontier, skipping those it has; pages
// beyond maxPages (sitemaps beyond MaxSitemaps) are not added but counted
// as capped. It returns how many it added and how many it capped.
func (tx *Tx) CrawlAdd(ctx context.Context, crawl int64, urls []string, sitemap bool, maxPages int) (int, int, error) {
	if len(urls) == 0 {
		return 0, 0, nil
	}
	limit := maxPages
	if sitemap {
		limit = MaxSitemaps
	}
	var have int
	if err := tx.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM ph_crawl_page WHERE crawl = ? AND sitemap = ?`, crawl, boolInt(sitemap)).Scan(&have); err != nil {
		return 0, 0, fmt.Errorf("store: crawl %d: %w", crawl, err)
	}
	added, capped := 0, 0
	for _, u := range urls {
		if have+added >= limit {
			capped++
			continue
		}
		res, err := tx.q.ExecContext(ctx, `INSERT INTO ph_crawl_page (crawl, url, sitemap, state) VALUES (?, ?, ?, ?) ON CONFLICT (crawl, url) DO NOTHING`,
			crawl, u, boolInt(sitemap), string(CrawlPagePending))
		if err != nil {
			return 0, 0, fmt.Errorf("store: crawl %d: add %s: %w", crawl, u, err)
		}
		n, _ := res.RowsAffected()
		added += int(n)
	}
	if capped > 0 && !sitemap {
		if _, err := tx.q.ExecContext(ctx, `UPDATE ph_crawl SET capped = capped + ? WHERE id = ?`, capped, crawl); err != nil {
			return 0, 0, fmt.Errorf("store: crawl %d: %w", crawl, err)
		}
	}
	return added, capped, nil
}

// CrawlPending returns up to limit URLs of a crawl still to fetch:
// sitemaps first (they name the pages), then pages in the order found.
func (q *queries) CrawlPending(ctx context.Context, crawl int64, limit int) ([]CrawlPage, error) {
	return q.crawlPages(ctx, `SELECT id, crawl, url, sitemap, state, status, tags, error FROM ph_crawl_page
		WHERE crawl = ? AND state = ? ORDER BY sitemap DESC, id LIMIT ?`, crawl, string(CrawlPagePending), limit)
}

// CrawlPages returns a crawl's URLs in a state ("" for all), in the order
// found.
func (q *queries) CrawlPages(ctx context.Context, crawl int64, state CrawlPageState, limit int) ([]CrawlPage, error) {
	if state == "" {
		return q.crawlPages(ctx, `SELECT id, crawl, url, sitemap, state, status, tags, error FROM ph_crawl_page
			WHERE crawl = ? ORDER BY id LIMIT ?`, crawl, limit)
	}
	return q.crawlPages(ctx, `SELECT id, crawl, url, sitemap, state, status, tags, error FROM ph_crawl_page
		WHERE crawl = ? AND state = ? ORDER BY id LIMIT ?`, crawl, string(state), limit)
}

func (q *queries) crawlPages(ctx context.Context, query string, args ...any) ([]CrawlPage, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: crawl pages: %w", err)
	}
	defer rows.Close()
	var out []CrawlPage
	for rows.Next() {
		var p CrawlPage
		var sitemap int64
		if err := rows.Scan(&p.ID, &p.Crawl, &p.URL, &sitemap, &p.State, &p.Status, &p.Tags, &p.Error); err != nil {
			return nil, fmt.Errorf("store: crawl pages: %w", err)
		}
		p.Sitemap = sitemap != 0
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: crawl pages: %w", err)
	}
	return out, nil
}

// CrawlRecord stores what fetching one URL of a crawl found.
func (q *queries) CrawlRecord(ctx context.Context, p CrawlPage) error {
	if _, err := q.q.ExecContext(ctx, `UPDATE ph_crawl_page SET state = ?, status = ?, tags = ?, error = ? WHERE id = ?`,
		string(p.State), p.Status, p.Tags, p.Error, p.ID); err != nil {
		return fmt.Errorf("store: crawl page %d: %w", p.ID, err)
	}
	return nil
}

// CrawlFinish settles a running crawl.
func (q *queries) CrawlFinish(ctx context.Context, id int64, state CrawlState, errMsg string) error {
	if _, err := q.q.ExecContext(ctx, `UPDATE ph_crawl SET state = ?, error = ?, finished_at = ? WHERE id = ? AND state = ?`,
		string(state), errMsg, ms(q.now()), id, string(CrawlRunning)); err != nil {
		return fmt.Errorf("store: finish crawl %d: %w", id, err)
	}
	return nil
}

const crawlColumns = `c.id, c.site, c.state, c.started_by, c.max_pages, c.capped, c.started_at, c.finished_at, c.error,
	(SELECT COUNT(*) FROM ph_crawl_page p WHERE p.crawl = c.id AND p.sitemap = 0),
	(SELECT COUNT(*) FROM ph_crawl_page p WHERE p.crawl = c.id AND p.sitemap = 1),
	(SELECT COUNT(*) FROM ph_crawl_page p WHERE p.crawl = c.id AND p.state <> 'pending'),
	(SELECT COUNT(*) FROM ph_crawl_page p WHERE p.crawl = c.id AND p.state = 'failed'),
	(SELECT COUNT(*) FROM ph_crawl_page p WHERE p.crawl = c.id AND p.state = 'offsite')`

// CrawlGet returns a crawl with its progress.
func (q *queries) CrawlGet(ctx context.Context, id int64) (Crawl, error) {
	cs, err := q.crawls(ctx, `SELECT `+crawlColumns+` FROM ph_crawl c WHERE c.id = ?`, id)
	if err != nil {
		return Crawl{}, err
	}
	if len(cs) == 0 {
		return Crawl{}, fmt.Errorf("store: crawl %d: %w", id, ErrNotFound)
	}
	return cs[0], nil
}

// CrawlList returns the latest crawls, newest first.
func (q *queries) CrawlList(ctx context.Context, limit int) ([]Crawl, error) {
	return q.crawls(ctx, `SELECT `+crawlColumns+` FROM ph_crawl c ORDER BY c.id DESC LIMIT ?`, limit)
}

func (q *queries) crawls(ctx context.Context, query string, args ...any) ([]Crawl, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: crawls: %w", err)
	}
	defer rows.Close()
	var out []Crawl
	for rows.Next() {
		var c Crawl
		var started int64
		var finished sql.NullInt64
		if err := rows.Scan(&c.ID, &c.Site, &c.State, &c.StartedBy, &c.MaxPages, &c.Capped, &started, &finished, &c.Error,
			&c.Pages, &c.Sitemaps, &c.Fetched, &c.Failed, &c.OffSite); err != nil {
			return nil, fmt.Errorf("store: crawls: %w", err)
		}
		c.StartedAt, c.FinishedAt = time.UnixMilli(started), fromMS(finished)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: crawls: %w", err)
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
