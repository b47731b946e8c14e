-- A step of the batch purged a whole host or everything: once every layer is
-- purged, the affected sites' warm lists are fetched.
ALTER TABLE ph_batch ADD COLUMN broad INTEGER NOT NULL DEFAULT 0;
