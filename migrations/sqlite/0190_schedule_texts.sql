-- A schedule's name per locale (SPEC §7 `names`), as sections have `section_texts`: pages and
-- mail in that language use it; `schedules.name` stays the site language's name.
CREATE TABLE schedule_texts (
    slug   TEXT NOT NULL REFERENCES schedules(slug) ON DELETE CASCADE,
    locale TEXT NOT NULL,
    name   TEXT NOT NULL,
    PRIMARY KEY (slug, locale)
);
