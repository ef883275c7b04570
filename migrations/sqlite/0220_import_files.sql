-- What `tidings import DIR` stored from each file (issue 15): a digest of the file's bytes
-- and of what else shapes its article (the importer's version, the time zone), the article
-- it became, and that article's content hash then. A later import recognises a file whose
-- digest is the same while its article is still what the file made (not edited through the
-- API since, not retracted), and counts it unchanged without parsing, rendering or
-- sanitising it again.
-- Keep in step with the other backend's 0220_import_files.sql.
CREATE TABLE import_files (
    item_key     TEXT PRIMARY KEY NOT NULL,   -- <section>/<file name>, as in source_items
    digest       TEXT NOT NULL,
    article_id   TEXT NOT NULL,
    article_hash TEXT NOT NULL,
    seen_at      BIGINT NOT NULL
);
