-- Sections deleted through the admin API (issue 12), so that the configured `[[sections]]`
-- do not bring them back at the next start; creating one again through the API removes its row.
-- Keep in step with migrations/sqlite/0070_deleted_sections.sql.
CREATE TABLE deleted_sections (
    slug       TEXT PRIMARY KEY NOT NULL,
    deleted_at BIGINT NOT NULL
);
