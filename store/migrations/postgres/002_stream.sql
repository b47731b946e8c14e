-- Invalidations published on /v1/stream, kept so that a client that
-- reconnects is given everything it missed.
CREATE TABLE ph_stream (
    id   BIGSERIAL PRIMARY KEY,
    at   BIGINT NOT NULL,
    body TEXT    NOT NULL
);
