-- The delivery ledger under slow servers, lost leases and crashes (issue 10).
-- When the current holder committed its intent to send (set right before the SMTP
-- transaction, cleared with the outcome). A lease that expires while this is set means the
-- holder stopped mid-transaction: the message may have gone out, so it is not re-sent at once.
ALTER TABLE deliveries ADD COLUMN sending_at INTEGER;
-- Outcomes with no answer after the final "." (or lost mid-transaction).
ALTER TABLE deliveries ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0;
-- When the last attempt ended (any outcome), for the deliveries list.
ALTER TABLE deliveries ADD COLUMN last_attempt_at INTEGER;
CREATE INDEX deliveries_sending ON deliveries (lease_until) WHERE sending_at IS NOT NULL;
CREATE INDEX deliveries_owner ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
