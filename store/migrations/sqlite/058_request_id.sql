-- The webhook request's X-Request-Id (taken from a well-formed header or
-- made at ingest): every log line of the jobs that handle the delivery
-- carries it, and the trace shows it.
ALTER TABLE ph_delivery ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
