-- Run figures as counters (issue 15): the runs list, a run's page, the queue-depth gauge and
-- the end of a run read these instead of counting deliveries (a million rows for a big run).
-- Keep in step with migrations/sqlite/0211_run_figures.sql.
--
-- The counters are kept by triggers on deliveries, in the transaction of every change, so no
-- writer can forget them (planning, the outcome writer, orphans, late DSNs, console retries,
-- and any writer added later). Each statement appends one row per run it changed to
-- run_figure_deltas (no row is updated, so processes committing outcomes of one run never
-- wait for each other on its row); readers add the deltas to the run's own columns, and the
-- delivery loops fold them in about once a second. Deleting deliveries (retention) changes
-- no figure.

-- Writers wait while the counters are filled in, so none is missed or counted twice.
LOCK TABLE deliveries IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE runs
    ADD COLUMN total     BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN sent      BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN skipped   BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN deferred  BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN failed    BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN bounced   BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN uncertain BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN pending   BIGINT NOT NULL DEFAULT 0,
    -- Deliveries with status 'pending' (not tried, deferred, or uncertain awaiting its one
    -- retry): the run is finished when none is left; the queue depth is their sum.
    ADD COLUMN queued    BIGINT NOT NULL DEFAULT 0;

CREATE TABLE run_figure_deltas (
    run_id    BIGINT NOT NULL,
    total     BIGINT NOT NULL DEFAULT 0,
    sent      BIGINT NOT NULL DEFAULT 0,
    skipped   BIGINT NOT NULL DEFAULT 0,
    deferred  BIGINT NOT NULL DEFAULT 0,
    failed    BIGINT NOT NULL DEFAULT 0,
    bounced   BIGINT NOT NULL DEFAULT 0,
    uncertain BIGINT NOT NULL DEFAULT 0,
    pending   BIGINT NOT NULL DEFAULT 0,
    queued    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX run_figure_deltas_run ON run_figure_deltas (run_id);

-- The run figure a delivery counts in (SPEC §7): each delivery is in exactly one.
CREATE FUNCTION delivery_figure(status TEXT, uncertain BIGINT, attempts BIGINT, last_error TEXT)
RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN status = 'pending' AND uncertain > 0 THEN 'uncertain'
        WHEN status = 'pending' AND (attempts > 0 OR last_error IS NOT NULL) THEN 'deferred'
        ELSE status
    END
$$;

UPDATE runs SET total = c.total, sent = c.sent, skipped = c.skipped, deferred = c.deferred,
    failed = c.failed, bounced = c.bounced, uncertain = c.uncertain, pending = c.pending,
    queued = c.queued
FROM (
    SELECT run_id, COUNT(*) AS total,
        COUNT(*) FILTER (WHERE f = 'sent') AS sent,
        COUNT(*) FILTER (WHERE f = 'skipped') AS skipped,
        COUNT(*) FILTER (WHERE f = 'deferred') AS deferred,
        COUNT(*) FILTER (WHERE f = 'failed') AS failed,
        COUNT(*) FILTER (WHERE f = 'bounced') AS bounced,
        COUNT(*) FILTER (WHERE f = 'uncertain') AS uncertain,
        COUNT(*) FILTER (WHERE f = 'pending') AS pending,
        COUNT(*) FILTER (WHERE status = 'pending') AS queued
    FROM (SELECT run_id, status,
                 delivery_figure(status, uncertain, attempts, last_error) AS f
          FROM deliveries) d
    GROUP BY run_id
) c
WHERE runs.id = c.run_id;

-- One statement-level trigger per kind of change: one delta row per run a statement changed,
-- whatever number of deliveries it touched.
CREATE FUNCTION deliveries_figures_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO run_figure_deltas
        (run_id, total, sent, skipped, deferred, failed, bounced, uncertain, pending, queued)
    SELECT run_id, COUNT(*),
        COUNT(*) FILTER (WHERE f = 'sent'),
        COUNT(*) FILTER (WHERE f = 'skipped'),
        COUNT(*) FILTER (WHERE f = 'deferred'),
        COUNT(*) FILTER (WHERE f = 'failed'),
        COUNT(*) FILTER (WHERE f = 'bounced'),
        COUNT(*) FILTER (WHERE f = 'uncertain'),
        COUNT(*) FILTER (WHERE f = 'pending'),
        COUNT(*) FILTER (WHERE status = 'pending')
    FROM (SELECT run_id, status,
                 delivery_figure(status, uncertain, attempts, last_error) AS f
          FROM new_rows) n
    GROUP BY run_id;
    RETURN NULL;
END;
$$;

CREATE FUNCTION deliveries_figures_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Each changed row counts -1 in its old figure and +1 in its new one; a statement that
    -- moved no delivery between figures (claims, lease renewals, intents) adds nothing.
    INSERT INTO run_figure_deltas
        (run_id, sent, skipped, deferred, failed, bounced, uncertain, pending, queued)
    SELECT * FROM (
        SELECT run_id,
            COALESCE(SUM(w) FILTER (WHERE f = 'sent'), 0) AS sent,
            COALESCE(SUM(w) FILTER (WHERE f = 'skipped'), 0) AS skipped,
            COALESCE(SUM(w) FILTER (WHERE f = 'deferred'), 0) AS deferred,
            COALESCE(SUM(w) FILTER (WHERE f = 'failed'), 0) AS failed,
            COALESCE(SUM(w) FILTER (WHERE f = 'bounced'), 0) AS bounced,
            COALESCE(SUM(w) FILTER (WHERE f = 'uncertain'), 0) AS uncertain,
            COALESCE(SUM(w) FILTER (WHERE f = 'pending'), 0) AS pending,
            COALESCE(SUM(w) FILTER (WHERE q), 0) AS queued
        FROM (
            SELECT run_id, -1 AS w, status = 'pending' AS q,
                   delivery_figure(status, uncertain, attempts, last_error) AS f
            FROM old_rows
            UNION ALL
            SELECT run_id, 1, status = 'pending',
                   delivery_figure(status, uncertain, attempts, last_error)
            FROM new_rows
        ) c
        GROUP BY run_id
    ) d
    WHERE (d.sent, d.skipped, d.deferred, d.failed, d.bounced, d.uncertain, d.pending, d.queued)
          <> (0, 0, 0, 0, 0, 0, 0, 0);
    RETURN NULL;
END;
$$;

CREATE TRIGGER deliveries_figures_insert AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_figures_inserted();
CREATE TRIGGER deliveries_figures_update AFTER UPDATE ON deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_figures_updated();

-- A run's figures: its counters and the deltas not folded in yet.
CREATE VIEW run_figures AS
SELECT r.id AS run_id,
    CAST(r.total + COALESCE(d.total, 0) AS BIGINT) AS total,
    CAST(r.sent + COALESCE(d.sent, 0) AS BIGINT) AS sent,
    CAST(r.skipped + COALESCE(d.skipped, 0) AS BIGINT) AS skipped,
    CAST(r.deferred + COALESCE(d.deferred, 0) AS BIGINT) AS deferred,
    CAST(r.failed + COALESCE(d.failed, 0) AS BIGINT) AS failed,
    CAST(r.bounced + COALESCE(d.bounced, 0) AS BIGINT) AS bounced,
    CAST(r.uncertain + COALESCE(d.uncertain, 0) AS BIGINT) AS uncertain,
    CAST(r.pending + COALESCE(d.pending, 0) AS BIGINT) AS pending,
    CAST(r.queued + COALESCE(d.queued, 0) AS BIGINT) AS queued
FROM runs r LEFT JOIN (
    SELECT run_id, SUM(total) AS total, SUM(sent) AS sent, SUM(skipped) AS skipped,
        SUM(deferred) AS deferred, SUM(failed) AS failed, SUM(bounced) AS bounced,
        SUM(uncertain) AS uncertain, SUM(pending) AS pending, SUM(queued) AS queued
    FROM run_figure_deltas GROUP BY run_id
) d ON d.run_id = r.id;
