-- Crawls: a walk of one site's sitemaps and in-site links that records the
-- cache tags every page reports (graph edges of origin "crawled"). The
-- pages are the crawl's frontier and its outcome at once, so a crawl that
-- a restart interrupts continues where it stopped, and its progress is a
-- count of rows.
CREATE TABLE ph_crawl (
    id          BIGSERIAL PRIMARY KEY,
    site        TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'running',
    started_by  TEXT    NOT NULL DEFAULT '',
    max_pages   BIGINT  NOT NULL,
    capped      BIGINT  NOT NULL DEFAULT 0,
    started_at  BIGINT  NOT NULL,
    finished_at BIGINT,
    error       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX ph_crawl_site ON ph_crawl (site, state);

CREATE TABLE ph_crawl_page (
    id      BIGSERIAL PRIMARY KEY,
    crawl   BIGINT  NOT NULL REFERENCES ph_crawl (id) ON DELETE CASCADE,
    url     TEXT    NOT NULL,
    sitemap BIGINT  NOT NULL DEFAULT 0,
    state   TEXT    NOT NULL DEFAULT 'pending',
    status  BIGINT  NOT NULL DEFAULT 0,
    tags    BIGINT  NOT NULL DEFAULT 0,
    error   TEXT    NOT NULL DEFAULT '',
    UNIQUE (crawl, url)
);
CREATE INDEX ph_crawl_page_state ON ph_crawl_page (crawl, state, sitemap, id);
