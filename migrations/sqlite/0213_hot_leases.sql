-- Fewer writes per delivery (issue 15, item 2). Keep in step with
-- migrations/postgres/0213_hot_leases.sql.
--
-- The same indexes as on PostgreSQL, so that both backends answer the same queries the same
-- way: no index reads the lease columns (a claim and a lease renewal write no index entry),
-- leases are renewed by the ids a delivery loop holds, and deliveries whose holder stopped
-- mid-send are looked for among those being sent. PostgreSQL also keeps room on the pages of
-- deliveries and watermarks (fillfactor) so that those updates stay on their page; SQLite
-- rewrites a row in place and has no such setting.
DROP INDEX deliveries_owner;
DROP INDEX deliveries_sending;
CREATE INDEX deliveries_sending ON deliveries (sending_at) WHERE sending_at IS NOT NULL;
