-- Retention of deliveries (issue 15, digests.keep_days). Keep in step with
-- migrations/sqlite/0212_retention.sql.
-- When the deliveries of a finished run were all deleted (its figures stay on the run).
ALTER TABLE runs ADD COLUMN purged_at BIGINT;
