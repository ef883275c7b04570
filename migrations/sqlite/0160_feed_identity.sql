-- The authority and date of every feed's `tag:` ids (SPEC §4), fixed once per database so that
-- a later change of site.base_url never changes an id. One row, written by the first start
-- (`feeds::identity`). A database that already held articles when this migration ran had been
-- serving `tag:<host of site.base_url>,2026:` ids: it gets a row marked `legacy` without an
-- authority, which its next start fills with the host of the base_url of that moment, keeping
-- the year 2026, so that readers see the ids they know.
CREATE TABLE feed_identity (
    id        INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    authority TEXT,
    tag_date  TEXT NOT NULL,
    legacy    INTEGER NOT NULL DEFAULT 0,
    fixed_at  INTEGER
);
INSERT INTO feed_identity (id, authority, tag_date, legacy)
SELECT 1, NULL, '2026', 1 WHERE EXISTS (SELECT 1 FROM articles);
