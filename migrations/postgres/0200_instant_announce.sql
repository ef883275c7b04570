-- Instant schedules, first digests and announcements (issue 14).
-- "digest" fires on `cron`; "instant" mails within `window_seconds` of a publication.
ALTER TABLE schedules ADD COLUMN kind TEXT NOT NULL DEFAULT 'digest';
ALTER TABLE schedules ADD COLUMN window_seconds BIGINT;
-- Latest articles of their sections in a subscriber's first mail of the schedule.
ALTER TABLE schedules ADD COLUMN first_digest_articles BIGINT NOT NULL DEFAULT 3;
-- An instant schedule's window starts at its last run's cutoff: found by this index.
CREATE INDEX runs_schedule_cutoff ON runs (schedule, cutoff);
-- One row per announcement of an article: (article, 1) is the first; a forced one takes the
-- next number. The key makes two processes announcing one article at once make one run.
CREATE TABLE announcements (
    article_id TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    run_id     BIGINT,
    forced     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (article_id, seq)
);
