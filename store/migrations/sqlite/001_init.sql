-- Deliveries as accepted, one row per (source, delivery id).
CREATE TABLE ph_delivery (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    remote      TEXT    NOT NULL DEFAULT '',
    body_sha256 TEXT    NOT NULL DEFAULT '',
    n_changes   INTEGER NOT NULL DEFAULT 0,
    state       TEXT    NOT NULL DEFAULT 'accepted',
    resolved_at INTEGER,
    UNIQUE (source, delivery_id)
);

CREATE TABLE ph_change (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery INTEGER NOT NULL REFERENCES ph_delivery (id),
    seq      INTEGER NOT NULL,
    data     TEXT    NOT NULL
);
CREATE INDEX ph_change_delivery ON ph_change (delivery);

-- Targets resolved but not yet taken into a batch.
CREATE TABLE ph_pending (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery   INTEGER NOT NULL,
    data       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE ph_batch (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at INTEGER NOT NULL,
    state      TEXT    NOT NULL,
    layer      INTEGER NOT NULL DEFAULT -1,
    error      TEXT    NOT NULL DEFAULT '',
    done_at    INTEGER
);

CREATE TABLE ph_batch_target (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    batch    INTEGER NOT NULL REFERENCES ph_batch (id),
    delivery INTEGER NOT NULL,
    data     TEXT    NOT NULL
);
CREATE INDEX ph_batch_target_batch ON ph_batch_target (batch);

CREATE TABLE ph_call (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    batch      INTEGER NOT NULL REFERENCES ph_batch (id),
    provider   TEXT    NOT NULL,
    layer      INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    items      TEXT    NOT NULL,
    n_items    INTEGER NOT NULL,
    call_key   TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    ref        TEXT    NOT NULL DEFAULT '',
    attempts   INTEGER NOT NULL DEFAULT 0,
    error      TEXT    NOT NULL DEFAULT '',
    reason     TEXT    NOT NULL DEFAULT '',
    not_before INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    done_at    INTEGER
);
CREATE INDEX ph_call_batch ON ph_call (batch, layer, state);

-- Daily call budgets per provider; survives restarts.
CREATE TABLE ph_budget (
    provider TEXT    NOT NULL,
    day      TEXT    NOT NULL,
    spent    INTEGER NOT NULL,
    PRIMARY KEY (provider, day)
);

CREATE TABLE ph_warm (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    batch       INTEGER NOT NULL,
    url         TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'pending',
    status      INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    duration_ms INTEGER NOT NULL DEFAULT 0,
    done_at     INTEGER
);
CREATE INDEX ph_warm_batch ON ph_warm (batch, state);

-- Key/value state the pipeline coordinates through (the flush flag).
CREATE TABLE ph_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The audit trail: what each stage did, against the delivery or batch.
CREATE TABLE ph_event (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    delivery INTEGER,
    batch    INTEGER,
    kind     TEXT    NOT NULL,
    message  TEXT    NOT NULL
);
CREATE INDEX ph_event_delivery ON ph_event (delivery);
CREATE INDEX ph_event_batch ON ph_event (batch);
