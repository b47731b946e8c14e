-- The content graph: which pages (url) show which key (a content id, a
-- codename or a cache tag, kind and value) on a site, learned from an origin
-- (payload, learned, crawled, registered). Rows are never deleted by the
-- graph's writers: an edge that stops holding is marked removed, so that a
-- replica catching up by seq sees the removal too.
CREATE TABLE ph_graph_edge (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    site       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    url        TEXT    NOT NULL,
    origin     TEXT    NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    removed    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (site, kind, value, url, origin)
);
CREATE INDEX ph_graph_edge_seq ON ph_graph_edge (seq, id);
CREATE INDEX ph_graph_edge_url ON ph_graph_edge (url);

-- The graph's change counter: every write takes the next value (holding the
-- row until it commits, so values become visible in order) and stamps its
-- rows with it.
CREATE TABLE ph_graph_seq (
    id  INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL
);
INSERT INTO ph_graph_seq (id, seq) VALUES (1, 0);
