-- Digest scheduling state: how far each schedule's cron has been evaluated.
ALTER TABLE schedules ADD COLUMN checked_until BIGINT;
-- Which cutoff a run mails up to (its fire instant, or its creation for manual runs).
ALTER TABLE runs ADD COLUMN cutoff BIGINT;
ALTER TABLE runs ADD COLUMN manual BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX deliveries_run ON deliveries (run_id, status);
-- Server-wide secrets shared by every process (e.g. the key that derives link tokens).
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
