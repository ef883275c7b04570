-- The console's articles and sections pages (issue 12). Keep in step with
-- migrations/sqlite/0090_articles_sections.sql.

-- A section's title and description per locale (SPEC §7 `titles`, `descriptions`). The
-- `sections` row keeps the text of the site's language in `title`/`description`, which public
-- pages and feeds use; these rows hold every locale given through the console or the API.
CREATE TABLE section_texts (
    slug        TEXT NOT NULL REFERENCES sections(slug) ON DELETE CASCADE,
    locale      TEXT NOT NULL,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (slug, locale)
);

-- The console's "retracted" filter reads retracted articles newest first without walking
-- every live one.
CREATE INDEX articles_retracted ON articles (published_at DESC, id DESC) WHERE retracted_at IS NOT NULL;
