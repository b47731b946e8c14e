-- Deliveries as accepted, one row per (source, delivery id).
CREATE TABLE ph_delivery (
    id          BIGSERIAL PRIMARY KEY,
    source      TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    received_at BIGINT NOT NULL,
    remote      TEXT    NOT NULL DEFAULT '',
    body_sha256 TEXT    NOT NULL DEFAULT '',
    n_changes   BIGINT NOT NULL DEFAULT 0,
    state       TEXT    NOT NULL DEFAULT 'accepted',
    resolved_at BIGINT,
    UNIQUE (source, delivery_id)
);

CREATE TABLE ph_change (
    id       BIGSERIAL PRIMARY KEY,
    delivery BIGINT NOT NULL REFERENCES ph_delivery (id),
    seq      BIGINT NOT NULL,
    data     TEXT    NOT NULL
);
CREATE INDEX ph_change_delivery ON ph_change (delivery);

-- Targets resolved but not yet taken into a batch.
CREATE TABLE ph_pending (
    id         BIGSERIAL PRIMARY KEY,
    delivery   BIGINT NOT NULL,
    data       TEXT    NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE ph_batch (
    id         BIGSERIAL PRIMARY KEY,
    created_at BIGINT NOT NULL,
    state      TEXT    NOT NULL,
    layer      BIGINT NOT NULL DEFAULT -1,
    error      TEXT    NOT NULL DEFAULT '',
    done_at    BIGINT
);

CREATE TABLE ph_batch_target (
    id       BIGSERIAL PRIMARY KEY,
    batch    BIGINT NOT NULL REFERENCES ph_batch (id),
    delivery BIGINT NOT NULL,
    data     TEXT    NOT NULL
);
CREATE INDEX ph_batch_target_batch ON ph_batch_target (batch);

CREATE TABLE ph_call (
    id         BIGSERIAL PRIMARY KEY,
    batch      BIGINT NOT NULL REFERENCES ph_batch (id),
    provider   TEXT    NOT NULL,
    layer      BIGINT NOT NULL,
    kind       TEXT    NOT NULL,
    items      TEXT    NOT NULL,
    n_items    BIGINT NOT NULL,
    call_key   TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    ref        TEXT    NOT NULL DEFAULT '',
    attempts   BIGINT NOT NULL DEFAULT 0,
    error      TEXT    NOT NULL DEFAULT '',
    reason     TEXT    NOT NULL DEFAULT '',
    not_before BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    done_at    BIGINT
);
CREATE INDEX ph_call_batch ON ph_call (batch, layer, state);

-- Daily call budgets per provider; survives restarts.
CREATE TABLE ph_budget (
    provider TEXT    NOT NULL,
    day      TEXT    NOT NULL,
    spent    BIGINT NOT NULL,
    PRIMARY KEY (provider, day)
);

CREATE TABLE ph_warm (
    id          BIGSERIAL PRIMARY KEY,
    batch       BIGINT NOT NULL,
    url         TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'pending',
    status      BIGINT NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    duration_ms BIGINT NOT NULL DEFAULT 0,
    done_at     BIGINT
);
CREATE INDEX ph_warm_batch ON ph_warm (batch, state);

-- Key/value state the pipeline coordinates through (the flush flag).
CREATE TABLE ph_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The audit trail: what each stage did, against the delivery or batch.
CREATE TABLE ph_event (
    id       BIGSERIAL PRIMARY KEY,
    at       BIGINT NOT NULL,
    delivery BIGINT,
    batch    BIGINT,
    kind     TEXT    NOT NULL,
    message  TEXT    NOT NULL
);
CREATE INDEX ph_event_delivery ON ph_event (delivery);
CREATE INDEX ph_event_batch ON ph_event (batch);
