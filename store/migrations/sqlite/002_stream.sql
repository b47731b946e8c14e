-- Invalidations published on /v1/stream, kept so that a client that
-- reconnects is given everything it missed.
CREATE TABLE ph_stream (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    at   INTEGER NOT NULL,
    body TEXT    NOT NULL
);
