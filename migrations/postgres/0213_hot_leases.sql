-- Fewer dead tuples per delivery (issue 15, item 2). Keep in step with
-- migrations/sqlite/0213_hot_leases.sql.
--
-- An UPDATE is HOT (no new index entries, and its old row version is reclaimed when the page
-- is next read instead of waiting for VACUUM) only when it changes no column that an index
-- reads, the predicates of partial indexes included, and the new version fits on the same
-- page. A delivery is written three times after planning: claimed (lease_owner, lease_until),
-- intent to send (sending_at), outcome (status). The intent and the outcome move the row out
-- of deliveries_due, so they cannot be HOT; the claim (and a lease renewal) can, once no
-- index reads the lease columns and its page has room.

-- The delivery loops renew their leases by the ids they hold (the primary key), so nothing
-- looks deliveries up by owner any more.
DROP INDEX deliveries_owner;
-- Deliveries whose holder stopped after its intent to send are looked for among those being
-- sent (a few per SMTP connection), by sending_at rather than by lease_until.
DROP INDEX deliveries_sending;
CREATE INDEX deliveries_sending ON deliveries (sending_at) WHERE sending_at IS NOT NULL;

-- Room on each page for the claim's new versions of the rows a planned page holds (a claim
-- takes consecutive ids, so all of a page's rows at once) and, with the old versions pruned,
-- for the later ones: measured with benches/wal.sh (benches/scale-notes.md). New pages only:
-- deliveries are new rows every run.
ALTER TABLE deliveries SET (fillfactor = 50);
-- A run moves the watermark of every subscriber it mails, in one commit window per page's
-- rows: room for a new version of each, so that these updates are HOT and the table does not
-- grow by a version per subscriber and run.
ALTER TABLE watermarks SET (fillfactor = 50);
