-- Bulk article imports (issue 15).
-- 1. Changes made by `tidings import`, a process other than the server, for the running
--    server to notice within a second: SQLite has no NOTIFY, so the importer appends the
--    sections each committed batch changed, and the server reads the rows after the last
--    one it saw (a primary-key range read, twice a second). The importer prunes rows older
--    than ten minutes; AUTOINCREMENT keeps numbers consecutive and never reused, so a server
--    that finds a gap knows it missed some and rebuilds everything.
-- 2. The feed-mark triggers of 0010 stay per row here, while PostgreSQL's become per
--    statement: SQLite has only FOR EACH ROW triggers, and in process they cost no round
--    trip or lock beyond the single writer's own.
-- Keep in step with migrations/postgres/0215_bulk_articles.sql.

CREATE TABLE external_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    sections   TEXT NOT NULL,              -- JSON array of section slugs
    created_at INTEGER NOT NULL
);
