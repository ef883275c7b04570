-- Send rates every process of one database shares (SPEC §10): `mail.rate_per_second` and each
-- `[[mail.domain_limits]]` entry. GCRA: the theoretical arrival time of the next free send
-- slot, in microseconds on the process's wall clock (SQLite serves one process); for a domain
-- also how many times in a row it deferred our mail (4xx) and until when it is left alone
-- because of that.
CREATE TABLE send_budgets (
    name          TEXT PRIMARY KEY NOT NULL,
    tat_us        INTEGER NOT NULL DEFAULT 0,
    strikes       INTEGER NOT NULL DEFAULT 0,
    cool_until_us INTEGER NOT NULL DEFAULT 0
);
