-- Subscriber counts per status kept by statement-level triggers (issue 15, bulk import). Keep
-- in step with migrations/sqlite/0214_status_deltas_per_statement.sql.
--
-- The row-level triggers of 0120 appended one delta row per subscriber inserted, deleted or
-- moved between statuses: an import of a million people wrote a million delta rows, one
-- INSERT each. These fire once per statement and append one row per status the statement
-- changed, read from its transition tables. The sums stay what they were: no delta row is
-- rewritten here, only how new ones are written changes.

DROP TRIGGER subscriber_status_after_insert ON subscribers;
DROP TRIGGER subscriber_status_after_delete ON subscribers;
DROP TRIGGER subscriber_status_after_update ON subscribers;
DROP FUNCTION subscriber_status_delta();

CREATE FUNCTION subscriber_status_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO subscriber_status_deltas (status, n)
    SELECT status, COUNT(*) FROM new_rows GROUP BY status;
    RETURN NULL;
END;
$$;

CREATE FUNCTION subscriber_status_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO subscriber_status_deltas (status, n)
    SELECT status, -COUNT(*) FROM old_rows GROUP BY status;
    RETURN NULL;
END;
$$;

-- A trigger with transition tables cannot name columns (UPDATE OF status) nor have a WHEN, so
-- this one sees every UPDATE of subscribers and writes only the statuses whose count moved: an
-- update of other columns adds no row.
CREATE FUNCTION subscriber_status_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO subscriber_status_deltas (status, n)
    SELECT status, SUM(n) FROM (
        SELECT status, -1 AS n FROM old_rows
        UNION ALL
        SELECT status, 1 FROM new_rows
    ) c
    GROUP BY status
    HAVING SUM(n) <> 0;
    RETURN NULL;
END;
$$;

CREATE TRIGGER subscriber_status_after_insert AFTER INSERT ON subscribers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION subscriber_status_inserted();
CREATE TRIGGER subscriber_status_after_delete AFTER DELETE ON subscribers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION subscriber_status_deleted();
CREATE TRIGGER subscriber_status_after_update AFTER UPDATE ON subscribers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION subscriber_status_updated();
