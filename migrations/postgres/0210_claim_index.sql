-- Claims that cost O(batch) (issue 15). Keep in step with migrations/sqlite/0210_claim_index.sql.
-- Every delivery of a run shares one next_attempt_at, so the claim's ORDER BY next_attempt_at,
-- id sorted every pending row (deliveries_claim gave no id order). This index holds only the
-- rows a claim may take, in claim order: the claim walks it and stops after its LIMIT.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id)
    WHERE status = 'pending' AND sending_at IS NULL;
-- Replaced by deliveries_due (no query reads it any more); one index fewer to write each time
-- a delivery changes.
DROP INDEX deliveries_claim;
