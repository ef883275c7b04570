-- The console's subscribers pages (SPEC §9). Keep in step with
-- migrations/sqlite/0120_subscribers_console.sql.

-- Address search by prefix, case-insensitive: a range on lower(email) in byte order (C), which
-- an index answers whatever the database's collation is.
CREATE INDEX subscribers_email_lower ON subscribers ((lower(email)) COLLATE "C", id);
-- The same with a status filter (a short prefix and a rare status stay quick).
CREATE INDEX subscribers_status_email ON subscribers (status, (lower(email)) COLLATE "C", id);
-- The schedule filter alone, newest first.
CREATE INDEX subscribers_schedule_id ON subscribers (schedule, id);

-- Counts per status without a scan of every subscriber: triggers append +1/-1 rows (no row is
-- ever updated, so no two transactions wait on one counter); readers sum them and now and
-- then fold them back into one row per status.
CREATE TABLE subscriber_status_deltas (
    id     BIGSERIAL PRIMARY KEY,
    status TEXT NOT NULL,
    n      BIGINT NOT NULL
);
INSERT INTO subscriber_status_deltas (status, n)
    SELECT status, COUNT(*) FROM subscribers GROUP BY status;

CREATE FUNCTION subscriber_status_delta() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO subscriber_status_deltas (status, n) VALUES (NEW.status, 1);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO subscriber_status_deltas (status, n) VALUES (OLD.status, -1);
    ELSE
        INSERT INTO subscriber_status_deltas (status, n) VALUES (OLD.status, -1), (NEW.status, 1);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER subscriber_status_after_insert AFTER INSERT ON subscribers
    FOR EACH ROW EXECUTE FUNCTION subscriber_status_delta();
CREATE TRIGGER subscriber_status_after_delete AFTER DELETE ON subscribers
    FOR EACH ROW EXECUTE FUNCTION subscriber_status_delta();
CREATE TRIGGER subscriber_status_after_update AFTER UPDATE OF status ON subscribers
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION subscriber_status_delta();

-- What the console did to a person (consent with its reason, a re-sent confirmation), shown
-- in their history next to the times kept on the subscriber row. Erased with the person.
CREATE TABLE subscriber_history (
    id            BIGSERIAL PRIMARY KEY,
    subscriber_id BIGINT NOT NULL,
    at            BIGINT NOT NULL,
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
    content     BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX subscriber_uploads_expires ON subscriber_uploads (expires_at);

-- A person's recent deliveries, on their page.
CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id, id);
