-- One row that /readyz writes: a journal that answers reads but cannot
-- write (a full disk, a read-only file system, a standby after failover)
-- is not ready.
CREATE TABLE ph_heartbeat (
    id INTEGER PRIMARY KEY,
    at BIGINT  NOT NULL
);
