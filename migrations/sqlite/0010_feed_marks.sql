-- Feed marks: the last instant anything changed in each section's feeds, kept by triggers so
-- that every replica derives the same Last-Modified from the database. A row is bumped for the
-- section an article enters AND the one it leaves, which no query on `articles` alone can see.
-- Keep in step with migrations/postgres/0010_feed_marks.sql.

CREATE TABLE feed_marks (
    section    TEXT PRIMARY KEY NOT NULL,
    changed_at INTEGER NOT NULL
);

INSERT INTO feed_marks (section, changed_at)
SELECT section, MAX(modified_at) FROM articles GROUP BY section;

CREATE TRIGGER feed_marks_after_insert AFTER INSERT ON articles
BEGIN
    INSERT INTO feed_marks (section, changed_at) VALUES (NEW.section, NEW.modified_at)
    ON CONFLICT (section) DO UPDATE SET changed_at = MAX(changed_at, excluded.changed_at);
END;

CREATE TRIGGER feed_marks_after_update AFTER UPDATE ON articles
BEGIN
    INSERT INTO feed_marks (section, changed_at) VALUES (OLD.section, NEW.modified_at)
    ON CONFLICT (section) DO UPDATE SET changed_at = MAX(changed_at, excluded.changed_at);
    INSERT INTO feed_marks (section, changed_at) VALUES (NEW.section, NEW.modified_at)
    ON CONFLICT (section) DO UPDATE SET changed_at = MAX(changed_at, excluded.changed_at);
END;
