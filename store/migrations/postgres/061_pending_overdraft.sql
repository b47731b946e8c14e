-- Whether a waiting target is an emergency purge is asked by every flush;
-- a column with an index of the few that are answers it without reading
-- every waiting target's JSON.
ALTER TABLE ph_pending ADD COLUMN overdraft INTEGER NOT NULL DEFAULT 0;
UPDATE ph_pending SET overdraft = 1 WHERE data LIKE '%"overdraft":true%';
CREATE INDEX ph_pending_overdraft ON ph_pending (id) WHERE overdraft = 1;
