-- Indexes of subscribers that serve one status only hold the rows of that status (issue 15):
-- an imported or confirmed member (active) adds no entry to them, so a bulk import writes 9
-- index entries a row instead of 12. Keep in step with migrations/sqlite/0218_partial_subscriber_indexes.sql.
--
-- The growth chart reads unsubscriptions and bounces of people in that status now.
DROP INDEX subscribers_status_unsubscribed_at;
DROP INDEX subscribers_status_bounced_at;
CREATE INDEX subscribers_unsubscribed_at ON subscribers (unsubscribed_at) WHERE status = 'unsubscribed';
CREATE INDEX subscribers_bounced_at ON subscribers (bounced_at) WHERE status = 'bounced';
-- The hourly clean-up finds pending sign-ups by when they last asked for a confirmation.
DROP INDEX subscribers_status_confirmation;
CREATE INDEX subscribers_pending_since ON subscribers ((COALESCE(last_confirmation_at, created_at)))
    WHERE status = 'pending';
