-- A digest's web copy outlives its delivery row (issue 14): "view in browser" in a mail keeps
-- working after retention (digests.keep_days) deleted the delivery, until the run is older
-- than digests.copy_keep_days or the person is erased. The copy keeps its run and person.
-- SQLite cannot drop a foreign key: the table is made again.
CREATE TABLE digest_copies_new (
    delivery_id   INTEGER PRIMARY KEY,
    run_id        INTEGER NOT NULL,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    content_id    INTEGER NOT NULL REFERENCES digest_contents(id)
);
INSERT INTO digest_copies_new (delivery_id, run_id, subscriber_id, content_id)
SELECT k.delivery_id, d.run_id, d.subscriber_id, k.content_id
FROM digest_copies k JOIN deliveries d ON d.id = k.delivery_id;
DROP TABLE digest_copies;
ALTER TABLE digest_copies_new RENAME TO digest_copies;
-- Retention deletes by run; erasure by person.
CREATE INDEX digest_copies_run ON digest_copies (run_id);
CREATE INDEX digest_copies_subscriber ON digest_copies (subscriber_id);
