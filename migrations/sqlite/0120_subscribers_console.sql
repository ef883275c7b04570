-- The console's subscribers pages (SPEC §9). Keep in step with
-- migrations/postgres/0120_subscribers_console.sql.

-- Address search by prefix, case-insensitive: a range on lower(email) (byte order).
CREATE INDEX subscribers_email_lower ON subscribers (lower(email), id);
-- The same with a status filter (a short prefix and a rare status stay quick).
CREATE INDEX subscribers_status_email ON subscribers (status, lower(email), id);
-- The schedule filter alone, newest first.
CREATE INDEX subscribers_schedule_id ON subscribers (schedule, id);

-- Counts per status without a scan of every subscriber: triggers append +1/-1 rows; readers
-- sum them and now and then fold them back into one row per status.
CREATE TABLE subscriber_status_deltas (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL,
    n      INTEGER NOT NULL
);
INSERT INTO subscriber_status_deltas (status, n)
    SELECT status, COUNT(*) FROM subscribers GROUP BY status;

CREATE TRIGGER subscriber_status_after_insert AFTER INSERT ON subscribers
BEGIN
    INSERT INTO subscriber_status_deltas (status, n) VALUES (NEW.status, 1);
END;
CREATE TRIGGER subscriber_status_after_delete AFTER DELETE ON subscribers
BEGIN
    INSERT INTO subscriber_status_deltas (status, n) VALUES (OLD.status, -1);
END;
CREATE TRIGGER subscriber_status_after_update AFTER UPDATE OF status ON subscribers
    WHEN OLD.status IS NOT NEW.status
BEGIN
    INSERT INTO subscriber_status_deltas (status, n) VALUES (OLD.status, -1);
    INSERT INTO subscriber_status_deltas (status, n) VALUES (NEW.status, 1);
END;

-- What the console did to a person (consent with its reason, a re-sent confirmation), shown
-- in their history next to the times kept on the subscriber row. Erased with the person.
CREATE TABLE subscriber_history (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber_id INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    event         TEXT NOT NULL,                      -- consented | confirmation_sent
    actor         TEXT NOT NULL,
    note          TEXT
);
CREATE INDEX subscriber_history_subscriber ON subscriber_history (subscriber_id, at);

-- CSV uploads between preview and commit: kept server-side under a random id, for the person
-- who uploaded them, until committed or expired.
CREATE TABLE subscriber_uploads (
    id          TEXT PRIMARY KEY NOT NULL,
    uploader    TEXT NOT NULL,
    filename    TEXT NOT NULL,
    content     BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX subscriber_uploads_expires ON subscriber_uploads (expires_at);

-- A person's recent deliveries, on their page.
CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id, id);
