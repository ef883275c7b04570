-- Inbound mail (SPEC §10): what came back after the 250, and what it did.

-- Why and when a person was suppressed: hard_bounce | soft_bounces | complaint, with the DSN
-- status and diagnostic or the feedback type. Cleared when they confirm a new subscription.
ALTER TABLE subscribers ADD COLUMN suppressed_at BIGINT;
ALTER TABLE subscribers ADD COLUMN suppressed_reason TEXT;
ALTER TABLE subscribers ADD COLUMN suppressed_detail TEXT;

-- The enhanced status code of a DSN that came back for this delivery (5.1.1, 4.2.2).
ALTER TABLE deliveries ADD COLUMN dsn_status TEXT;

-- Bumped when a late DSN changes a finished run's figures, so that remembered figures of
-- finished runs are read again.
ALTER TABLE runs ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

-- Every message the receiver or the poller handed over, and what it was taken for.
CREATE TABLE inbound_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at   BIGINT NOT NULL,
    via           TEXT NOT NULL,              -- smtp | imap
    kind          TEXT NOT NULL,              -- hard_bounce | soft_bounce | complaint | unsubscribe | forged | unrecognised
    subscriber_id BIGINT,
    delivery_id   BIGINT,
    status        TEXT,                       -- the DSN's status code
    detail        TEXT,                       -- diagnostic, feedback type, or why not recognised
    raw           BLOB                        -- the message, kept only when unrecognised
);
CREATE INDEX inbound_events_subscriber ON inbound_events (subscriber_id, kind, received_at);
CREATE INDEX inbound_events_kind ON inbound_events (kind, received_at);
