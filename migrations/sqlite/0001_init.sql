-- tidings schema (SQLite). Every instant is milliseconds since the Unix epoch, UTC.
-- Keep in step with migrations/postgres/0001_init.sql.

CREATE TABLE sections (
    slug        TEXT PRIMARY KEY NOT NULL,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    position    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE articles (
    id            TEXT PRIMARY KEY NOT NULL,
    section       TEXT NOT NULL REFERENCES sections(slug),
    title         TEXT NOT NULL,
    url           TEXT NOT NULL,
    content_html  TEXT NOT NULL,
    summary       TEXT NOT NULL,
    author        TEXT,
    image_url     TEXT,
    image_caption TEXT,
    tags          TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
    published_at  INTEGER NOT NULL,
    updated_at    INTEGER,                      -- the article's own "updated" date
    visible_at    INTEGER NOT NULL,             -- max(published_at, first ingest): digests read from here
    content_hash  TEXT NOT NULL,
    source        TEXT NOT NULL DEFAULT 'api',
    created_at    INTEGER NOT NULL,
    modified_at   INTEGER NOT NULL,             -- last ingest that changed anything
    retracted_at  INTEGER                       -- set by DELETE; row kept as a tombstone
);
CREATE INDEX articles_section_published ON articles (section, published_at DESC, id DESC);
CREATE INDEX articles_published ON articles (published_at DESC, id DESC);
CREATE INDEX articles_visible ON articles (visible_at);

CREATE TABLE schedules (
    slug            TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    cron            TEXT NOT NULL,
    timezone        TEXT NOT NULL,
    enabled         INTEGER NOT NULL DEFAULT 1,
    send_when_empty INTEGER NOT NULL DEFAULT 0,
    max_articles    INTEGER NOT NULL DEFAULT 20,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    deleted_at      INTEGER
);

CREATE TABLE subscribers (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    email                 TEXT NOT NULL UNIQUE,
    status                TEXT NOT NULL,          -- pending | active | unsubscribed | bounced
    all_sections          INTEGER NOT NULL DEFAULT 1,
    schedule              TEXT NOT NULL,
    locale                TEXT NOT NULL DEFAULT 'zh-CN',
    generation            INTEGER NOT NULL DEFAULT 1, -- bumped on re-subscribe: old tokens stop working
    created_at            INTEGER NOT NULL,
    confirmed_at          INTEGER,
    unsubscribed_at       INTEGER,
    bounced_at            INTEGER,
    last_confirmation_at  INTEGER,
    source                TEXT NOT NULL DEFAULT 'form' -- form | import
);
CREATE INDEX subscribers_status ON subscribers (status, id);
CREATE INDEX subscribers_schedule ON subscribers (schedule, status, id);

CREATE TABLE subscriber_sections (
    subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    section       TEXT NOT NULL,
    PRIMARY KEY (subscriber_id, section)
);

CREATE TABLE tokens (
    hash          TEXT PRIMARY KEY NOT NULL,      -- SHA-256 of the token, hex
    subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,                  -- confirm | manage
    generation    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER                         -- NULL = never
);
CREATE INDEX tokens_subscriber ON tokens (subscriber_id);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule    TEXT NOT NULL,
    fire_at     INTEGER,                          -- the cron instant; NULL for a manual run
    status      TEXT NOT NULL,                    -- planning | running | done | missed
    created_at  INTEGER NOT NULL,
    planned_at  INTEGER,
    finished_at INTEGER,
    UNIQUE (schedule, fire_at)
);

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    subscriber_id   INTEGER NOT NULL,
    status          TEXT NOT NULL,                -- pending | sent | skipped | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_error      TEXT,
    message_id      TEXT,
    sent_at         INTEGER,
    UNIQUE (run_id, subscriber_id)
);
CREATE INDEX deliveries_claim ON deliveries (status, next_attempt_at);

CREATE TABLE watermarks (
    subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    schedule      TEXT NOT NULL,
    visible_until INTEGER NOT NULL,               -- articles with visible_at <= this were sent
    PRIMARY KEY (subscriber_id, schedule)
);

CREATE TABLE source_state (
    name            TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    last_success_at INTEGER,
    last_error_at   INTEGER,
    last_error      TEXT,
    items_found     INTEGER NOT NULL DEFAULT 0,
    etag            TEXT,
    last_modified   TEXT,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE source_items (
    source       TEXT NOT NULL,
    item_key     TEXT NOT NULL,                   -- URL or upstream id
    article_id   TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    seen_at      INTEGER NOT NULL,
    PRIMARY KEY (source, item_key)
);
