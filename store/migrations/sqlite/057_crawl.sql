-- Crawls: a walk of one site's sitemaps and in-site links that records the
-- cache tags every page reports (graph edges of origin "crawled"). The
-- pages are the crawl's frontier and its outcome at once, so a crawl that
-- a restart interrupts continues where it stopped, and its progress is a
-- count of rows.
CREATE TABLE ph_crawl (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    site        TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'running',
    started_by  TEXT    NOT NULL DEFAULT '',
    max_pages   INTEGER NOT NULL,
    capped      INTEGER NOT NULL DEFAULT 0,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    error       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX ph_crawl_site ON ph_crawl (site, state);

CREATE TABLE ph_crawl_page (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    crawl   INTEGER NOT NULL REFERENCES ph_crawl (id) ON DELETE CASCADE,
    url     TEXT    NOT NULL,
    sitemap INTEGER NOT NULL DEFAULT 0,
    state   TEXT    NOT NULL DEFAULT 'pending',
    status  INTEGER NOT NULL DEFAULT 0,
    tags    INTEGER NOT NULL DEFAULT 0,
    error   TEXT    NOT NULL DEFAULT '',
    UNIQUE (crawl, url)
);
CREATE INDEX ph_crawl_page_state ON ph_crawl_page (crawl, state, sitemap, id);
