-- Web copies of digests (issue 14): what each mail held, so that its "view in browser" link
-- shows it again. Article lists are shared: the mails of a run hold a few distinct lists per
-- language, so a delivery adds one small row rather than its list (or its HTML).
CREATE TABLE digest_contents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL UNIQUE,             -- SHA-256 of the language and the ids
    locale      TEXT NOT NULL,
    article_ids TEXT NOT NULL,                    -- JSON array, in mail order
    created_at  INTEGER NOT NULL
);
CREATE TABLE digest_copies (
    delivery_id INTEGER PRIMARY KEY REFERENCES deliveries(id) ON DELETE CASCADE,
    content_id  INTEGER NOT NULL REFERENCES digest_contents(id)
);
