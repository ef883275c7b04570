-- Digest scheduling state: how far each schedule's cron has been evaluated.
ALTER TABLE schedules ADD COLUMN checked_until INTEGER;
-- Which cutoff a run mails up to (its fire instant, or its creation for manual runs).
ALTER TABLE runs ADD COLUMN cutoff INTEGER;
ALTER TABLE runs ADD COLUMN manual INTEGER NOT NULL DEFAULT 0;
CREATE INDEX deliveries_run ON deliveries (run_id, status);
-- Server-wide secrets shared by every process (e.g. the key that derives link tokens).
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
