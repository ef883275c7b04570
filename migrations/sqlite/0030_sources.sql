-- Sources: conditional GET per article page of a web source (an unchanged page costs one 304),
-- failures in a row for the health API, and retraction lookups by article.
ALTER TABLE source_items ADD COLUMN etag TEXT;
ALTER TABLE source_items ADD COLUMN last_modified TEXT;
CREATE INDEX source_items_article ON source_items (source, article_id);
ALTER TABLE source_state ADD COLUMN consecutive_errors INTEGER NOT NULL DEFAULT 0;
