-- Subscriber counts per status kept by statement-level triggers (issue 15, bulk import). Keep
-- in step with migrations/postgres/0214_status_deltas_per_statement.sql.
--
-- On PostgreSQL the row-level triggers of 0120 become statement-level ones reading transition
-- tables, one delta row per status a statement changed instead of one per subscriber. SQLite
-- has neither statement-level triggers nor transition tables, so its row-level triggers of
-- 0120 stay as they are: each delta there is an insert into the same local file, within the
-- same transaction, without a round trip, and costs little next to the row it counts.
SELECT 1;
