-- Feed marks: the last instant anything changed in each section's feeds, kept by triggers so
-- that every replica derives the same Last-Modified from the database. A row is bumped for the
-- section an article enters AND the one it leaves, which no query on `articles` alone can see.
-- Keep in step with migrations/sqlite/0010_feed_marks.sql.

CREATE TABLE feed_marks (
    section    TEXT PRIMARY KEY NOT NULL,
    changed_at BIGINT NOT NULL
);

INSERT INTO feed_marks (section, changed_at)
SELECT section, MAX(modified_at) FROM articles GROUP BY section;

CREATE FUNCTION feed_marks_bump() RETURNS trigger AS $$
DECLARE
    touched TEXT[];
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.section <> NEW.section THEN
        -- A fixed order, so that two moves in opposite directions cannot deadlock.
        touched := ARRAY[LEAST(OLD.section, NEW.section), GREATEST(OLD.section, NEW.section)];
    ELSE
        touched := ARRAY[NEW.section];
    END IF;
    INSERT INTO feed_marks (section, changed_at)
    SELECT s, NEW.modified_at FROM unnest(touched) AS s
    ON CONFLICT (section) DO UPDATE
        SET changed_at = GREATEST(feed_marks.changed_at, EXCLUDED.changed_at);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER feed_marks_after_change AFTER INSERT OR UPDATE ON articles
FOR EACH ROW EXECUTE FUNCTION feed_marks_bump();
