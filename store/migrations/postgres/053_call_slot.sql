-- The rate slot a call took (unix ms; 0: none yet): its job takes one
-- the first time it runs, under the provider's rate lock, and keeps it
-- across snoozes and restarts rather than taking another.
ALTER TABLE ph_call ADD COLUMN slot_at BIGINT NOT NULL DEFAULT 0;
