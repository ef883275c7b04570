-- A digest's web copy outlives its delivery row (issue 14): "view in browser" in a mail keeps
-- working after retention (digests.keep_days) deleted the delivery, until the run is older
-- than digests.copy_keep_days or the person is erased. The copy keeps its run and person.
ALTER TABLE digest_copies ADD COLUMN run_id BIGINT, ADD COLUMN subscriber_id BIGINT;
UPDATE digest_copies k SET run_id = d.run_id, subscriber_id = d.subscriber_id
FROM deliveries d WHERE d.id = k.delivery_id;
DELETE FROM digest_copies WHERE run_id IS NULL OR subscriber_id IS NULL;
ALTER TABLE digest_copies
    ALTER COLUMN run_id SET NOT NULL,
    ALTER COLUMN subscriber_id SET NOT NULL,
    DROP CONSTRAINT digest_copies_delivery_id_fkey,
    ADD CONSTRAINT digest_copies_subscriber_id_fkey
        FOREIGN KEY (subscriber_id) REFERENCES subscribers(id) ON DELETE CASCADE;
-- Retention deletes by run; erasure by person.
CREATE INDEX digest_copies_run ON digest_copies (run_id);
CREATE INDEX digest_copies_subscriber ON digest_copies (subscriber_id);
