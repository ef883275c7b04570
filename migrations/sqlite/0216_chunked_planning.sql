-- Planning in chunks that commit as they go (issue 15). Keep in step with
-- migrations/postgres/0216_chunked_planning.sql.
--
-- A run used to be created and planned (a delivery for every subscriber it mails) in one
-- transaction: 17-25 s at a million subscribers, no mail out until it committed, and the other
-- processes' schedulers waiting on its row. Now the run is created alone with status
-- 'planning' (shown as 'running'), then planned a chunk of subscribers at a time in id order,
-- each chunk in its own short transaction that moves the cursor. The planner holds a lease on
-- the run and renews it with each chunk; a chunk whose planner no longer holds the lease writes
-- nothing, and a run whose lease ran out (its planner crashed or stalled) is taken over by any
-- process from its cursor.

-- The last subscriber id planned (NULL: none yet).
ALTER TABLE runs ADD COLUMN plan_cursor INTEGER;
-- Who plans the run, and until when that holds unless renewed.
ALTER TABLE runs ADD COLUMN plan_owner TEXT;
ALTER TABLE runs ADD COLUMN plan_until INTEGER;
-- Who the run mails, beyond the active subscribers of its schedule, so that whoever resumes
-- the planning mails the same people: an announcement's section (every schedule), or for an
-- instant run the instant after which an article must have become visible in a section a
-- subscriber follows (up to the run's cutoff).
ALTER TABLE runs ADD COLUMN plan_section TEXT;
ALTER TABLE runs ADD COLUMN plan_since INTEGER;

-- Every scheduler tick looks for planning runs whose lease ran out: a few rows at most.
CREATE INDEX runs_planning ON runs (plan_until) WHERE status = 'planning';
