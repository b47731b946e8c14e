-- Leases on warm-up requests per origin, shared by every replica: a
-- replica takes a free slot (or one whose lease ran out, so a replica
-- that died frees its slots) before each request and gives it back after.
CREATE TABLE ph_warm_slot (
    origin   TEXT    NOT NULL,
    slot     INTEGER NOT NULL,
    holder   TEXT    NOT NULL,
    until_ms BIGINT  NOT NULL,
    PRIMARY KEY (origin, slot)
);
