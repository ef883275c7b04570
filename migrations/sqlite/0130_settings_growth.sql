-- Site settings (branding) edited in the console, shared by every replica, and the indexes
-- of the dashboard's 90-day growth chart (one range scan per timestamp kept on subscribers).
-- Keep in step with migrations/postgres/0130_settings_growth.sql.

-- One row per setting that differs from the config default ("site.title.zh-CN",
-- "accent_colour", ...); a missing row means the config default.
CREATE TABLE site_settings (
    key         TEXT PRIMARY KEY NOT NULL,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE INDEX subscribers_created_at ON subscribers (created_at);
CREATE INDEX subscribers_confirmed_at ON subscribers (confirmed_at) WHERE confirmed_at IS NOT NULL;
CREATE INDEX subscribers_status_unsubscribed_at ON subscribers (status, unsubscribed_at);
CREATE INDEX subscribers_status_bounced_at ON subscribers (status, bounced_at);
