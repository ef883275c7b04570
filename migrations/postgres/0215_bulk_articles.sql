-- Bulk article imports (issue 15): the feed marks of 0010 are kept per statement instead of
-- per row. A batch of 5,000 imported articles fired 5,000 triggers, each an upsert of the
-- same few feed_marks rows; now each INSERT or UPDATE of articles bumps each section it
-- touched once, from its transition tables. Same result: a section's mark is the latest
-- `modified_at` of any row entering it or (on update) leaving it.
-- There is no `external_changes` table here, unlike SQLite: on PostgreSQL `tidings import`
-- announces its changes to running servers with NOTIFY.
-- Keep in step with migrations/sqlite/0215_bulk_articles.sql.

DROP TRIGGER feed_marks_after_change ON articles;
DROP FUNCTION feed_marks_bump();

CREATE FUNCTION feed_marks_bump_inserted() RETURNS trigger AS $$
BEGIN
    -- Sections in a fixed order, so that two statements cannot deadlock on feed_marks.
    INSERT INTO feed_marks (section, changed_at)
    SELECT section, MAX(modified_at) FROM new_rows GROUP BY section ORDER BY section
    ON CONFLICT (section) DO UPDATE
        SET changed_at = GREATEST(feed_marks.changed_at, EXCLUDED.changed_at);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION feed_marks_bump_updated() RETURNS trigger AS $$
BEGIN
    -- The section a row leaves is bumped with its new `modified_at`, as the one it enters.
    INSERT INTO feed_marks (section, changed_at)
    SELECT section, MAX(modified_at) FROM (
        SELECT n.section, n.modified_at FROM new_rows n
        UNION ALL
        SELECT o.section, n.modified_at FROM old_rows o JOIN new_rows n ON n.id = o.id
    ) touched
    GROUP BY section ORDER BY section
    ON CONFLICT (section) DO UPDATE
        SET changed_at = GREATEST(feed_marks.changed_at, EXCLUDED.changed_at);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER feed_marks_after_insert AFTER INSERT ON articles
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION feed_marks_bump_inserted();

CREATE TRIGGER feed_marks_after_update AFTER UPDATE ON articles
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION feed_marks_bump_updated();
