-- Manual actions (purges, replays, retries): who (the token's name), what,
-- when; shown by GET /v1/audit.
CREATE TABLE ph_audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    token  TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
