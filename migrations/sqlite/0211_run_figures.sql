-- Run figures as counters (issue 15): the runs list, a run's page, the queue-depth gauge and
-- the end of a run read these instead of counting deliveries.
-- Keep in step with migrations/postgres/0211_run_figures.sql.
--
-- Triggers on deliveries keep the counters in the transaction of every change, so no writer
-- can forget them. With SQLite's single writer they update the run's row directly;
-- run_figure_deltas (written by PostgreSQL's triggers) stays empty here and exists so that
-- both backends read figures through the same view. Deleting deliveries (retention) changes
-- no figure.

ALTER TABLE runs ADD COLUMN total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN deferred INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN bounced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
-- Deliveries with status 'pending' (not tried, deferred, or uncertain awaiting its one
-- retry): the run is finished when none is left; the queue depth is their sum.
ALTER TABLE runs ADD COLUMN queued INTEGER NOT NULL DEFAULT 0;

CREATE TABLE run_figure_deltas (
    run_id    INTEGER NOT NULL,
    total     INTEGER NOT NULL DEFAULT 0,
    sent      INTEGER NOT NULL DEFAULT 0,
    skipped   INTEGER NOT NULL DEFAULT 0,
    deferred  INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0,
    bounced   INTEGER NOT NULL DEFAULT 0,
    uncertain INTEGER NOT NULL DEFAULT 0,
    pending   INTEGER NOT NULL DEFAULT 0,
    queued    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX run_figure_deltas_run ON run_figure_deltas (run_id);

-- The run figure a delivery counts in (SPEC §7), spelled out in each statement below: each
-- delivery is in exactly one of sent, skipped, failed, bounced, uncertain (status
-- 'uncertain', or 'pending' after an uncertain outcome), deferred ('pending' after an attempt
-- or with a reason) and pending (not tried yet).
UPDATE runs SET total = c.total, sent = c.sent, skipped = c.skipped, deferred = c.deferred,
    failed = c.failed, bounced = c.bounced, uncertain = c.uncertain, pending = c.pending,
    queued = c.queued
FROM (
    SELECT run_id, COUNT(*) AS total,
        SUM(status = 'sent') AS sent,
        SUM(status = 'skipped') AS skipped,
        SUM(status = 'pending' AND uncertain = 0
            AND (attempts > 0 OR last_error IS NOT NULL)) AS deferred,
        SUM(status = 'failed') AS failed,
        SUM(status = 'bounced') AS bounced,
        SUM(status = 'uncertain' OR (status = 'pending' AND uncertain > 0)) AS uncertain,
        SUM(status = 'pending' AND uncertain = 0 AND attempts = 0
            AND last_error IS NULL) AS pending,
        SUM(status = 'pending') AS queued
    FROM deliveries GROUP BY run_id
) AS c
WHERE runs.id = c.run_id;

CREATE TRIGGER deliveries_figures_insert AFTER INSERT ON deliveries
BEGIN
    UPDATE runs SET total = total + 1,
        sent = sent + (NEW.status = 'sent'),
        skipped = skipped + (NEW.status = 'skipped'),
        deferred = deferred + (NEW.status = 'pending' AND NEW.uncertain = 0
            AND (NEW.attempts > 0 OR NEW.last_error IS NOT NULL)),
        failed = failed + (NEW.status = 'failed'),
        bounced = bounced + (NEW.status = 'bounced'),
        uncertain = uncertain + (NEW.status = 'uncertain'
            OR (NEW.status = 'pending' AND NEW.uncertain > 0)),
        pending = pending + (NEW.status = 'pending' AND NEW.uncertain = 0
            AND NEW.attempts = 0 AND NEW.last_error IS NULL),
        queued = queued + (NEW.status = 'pending')
    WHERE id = NEW.run_id;
END;

-- Only changes that can move a delivery between figures (not claims, renewals or intents).
CREATE TRIGGER deliveries_figures_update
AFTER UPDATE OF status, attempts, uncertain, last_error ON deliveries
WHEN OLD.status IS NOT NEW.status OR OLD.uncertain IS NOT NEW.uncertain
    OR OLD.attempts IS NOT NEW.attempts
    OR (OLD.last_error IS NULL) IS NOT (NEW.last_error IS NULL)
BEGIN
    UPDATE runs SET
        sent = sent + (NEW.status = 'sent') - (OLD.status = 'sent'),
        skipped = skipped + (NEW.status = 'skipped') - (OLD.status = 'skipped'),
        deferred = deferred
            + (NEW.status = 'pending' AND NEW.uncertain = 0
               AND (NEW.attempts > 0 OR NEW.last_error IS NOT NULL))
            - (OLD.status = 'pending' AND OLD.uncertain = 0
               AND (OLD.attempts > 0 OR OLD.last_error IS NOT NULL)),
        failed = failed + (NEW.status = 'failed') - (OLD.status = 'failed'),
        bounced = bounced + (NEW.status = 'bounced') - (OLD.status = 'bounced'),
        uncertain = uncertain
            + (NEW.status = 'uncertain' OR (NEW.status = 'pending' AND NEW.uncertain > 0))
            - (OLD.status = 'uncertain' OR (OLD.status = 'pending' AND OLD.uncertain > 0)),
        pending = pending
            + (NEW.status = 'pending' AND NEW.uncertain = 0 AND NEW.attempts = 0
               AND NEW.last_error IS NULL)
            - (OLD.status = 'pending' AND OLD.uncertain = 0 AND OLD.attempts = 0
               AND OLD.last_error IS NULL),
        queued = queued + (NEW.status = 'pending') - (OLD.status = 'pending')
    WHERE id = NEW.run_id;
END;

-- A run's figures: its counters and the deltas not folded in yet (none on SQLite).
CREATE VIEW run_figures AS
SELECT r.id AS run_id,
    r.total + COALESCE(d.total, 0) AS total,
    r.sent + COALESCE(d.sent, 0) AS sent,
    r.skipped + COALESCE(d.skipped, 0) AS skipped,
    r.deferred + COALESCE(d.deferred, 0) AS deferred,
    r.failed + COALESCE(d.failed, 0) AS failed,
    r.bounced + COALESCE(d.bounced, 0) AS bounced,
    r.uncertain + COALESCE(d.uncertain, 0) AS uncertain,
    r.pending + COALESCE(d.pending, 0) AS pending,
    r.queued + COALESCE(d.queued, 0) AS queued
FROM runs r LEFT JOIN (
    SELECT run_id, SUM(total) AS total, SUM(sent) AS sent, SUM(skipped) AS skipped,
        SUM(deferred) AS deferred, SUM(failed) AS failed, SUM(bounced) AS bounced,
        SUM(uncertain) AS uncertain, SUM(pending) AS pending, SUM(queued) AS queued
    FROM run_figure_deltas GROUP BY run_id
) d ON d.run_id = r.id;
