-- Sign-ups the per-address mail limit held back (SPEC §5: one confirmation mail per address
-- per 10 minutes): kept here until the address's window ends, then mailed by whichever
-- process claims them first. One row per subscriber: a newer request replaces the choices.
-- Keep in step with migrations/postgres/0180_deferred_signups.sql.
CREATE TABLE deferred_signups (
    subscriber_id INTEGER PRIMARY KEY NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    sections      TEXT,                   -- space-separated slugs; NULL = every section
    schedule      TEXT NOT NULL,
    locale        TEXT NOT NULL,
    requested_at  INTEGER NOT NULL,       -- the newest request (ms)
    due_at        INTEGER NOT NULL,       -- when the address may get a mail again (ms)
    claimed_by    TEXT,                   -- the process sending it, until claimed_until
    claimed_until INTEGER
);
CREATE INDEX deferred_signups_due ON deferred_signups (due_at);
