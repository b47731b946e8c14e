-- The delivery job drains the deliveries still waiting to be resolved,
-- oldest first: this index holds only those, so finding them costs the
-- same however long the journal is.
CREATE INDEX ph_delivery_waiting ON ph_delivery (id) WHERE state = 'accepted';
