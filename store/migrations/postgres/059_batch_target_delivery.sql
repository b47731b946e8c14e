-- A batch's events are written once, against the batch, and a delivery's
-- trace reads them through the batches that served it: this index finds
-- those batches.
CREATE INDEX ph_batch_target_delivery ON ph_batch_target (delivery, batch);
