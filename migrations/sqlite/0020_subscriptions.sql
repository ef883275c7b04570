-- Subscriptions: find expired confirmation tokens and stale pending sign-ups cheaply
-- for the hourly clean-up. Keep in step with migrations/postgres/0020_subscriptions.sql.
CREATE INDEX tokens_expires ON tokens (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX subscribers_status_confirmation ON subscribers (status, last_confirmation_at);
