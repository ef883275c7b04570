#!/usr/bin/env bash
# What one claim of the delivery ledger costs on PostgreSQL (issue 15), measured with
# EXPLAIN (ANALYZE, BUFFERS) on a database made for it:
#
#   benches/claims.sh                                  # 200,000 pending deliveries
#   PENDING=1000000 benches/claims.sh
#   UPTO=0190 benches/claims.sh                        # the schema before migration 0210
#   PGURL=postgres://root@127.0.0.1:5432 benches/claims.sh
#
# It applies migrations/postgres up to UPTO (all by default), plans PENDING deliveries of one
# run that share one next_attempt_at (as a real run's do), then explains the worker's claim
# (500 rows) three times: on the fresh queue, after SETTLED deliveries went through their whole
# life (claim, intent, sent; as the worker writes them, 500 at a time) without a VACUUM in
# between (autovacuum is off for the table: the service must not depend on it), from the
# beginning and from where the last claim ended (as the delivery loops claim), and once more
# after VACUUM. Every explained claim runs in a transaction that is rolled back.
set -euo pipefail
cd "$(dirname "$0")/.."

PGURL=${PGURL:-postgres://root@127.0.0.1:5432}
PENDING=${PENDING:-200000}
SETTLED=${SETTLED:-$((PENDING / 2))}
UPTO=${UPTO:-9999}
DB=tidings_claims_bench
LIMIT=500

WORK=$(mktemp -d)
psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
trap 'psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"; rm -rf "$WORK"' EXIT
for f in migrations/postgres/*.sql; do
    n=$(basename "$f" | cut -c1-4)
    if [[ "$n" > "$UPTO" ]]; then continue; fi
    psql -1 -q -v ON_ERROR_STOP=1 "$PGURL/$DB" -f "$f" >/dev/null
done
P() { psql -X -q -v ON_ERROR_STOP=1 "$PGURL/$DB" "$@"; }

P -c "ALTER TABLE deliveries SET (autovacuum_enabled = false)"
P -c "INSERT INTO runs (schedule, fire_at, status, created_at, planned_at, cutoff, manual)
      VALUES ('daily', 1, 'running', 1000, 1000, 1000, false)"
P -c "INSERT INTO deliveries (run_id, subscriber_id, status, attempts, next_attempt_at)
      SELECT 1, g, 'pending', 0, 1000 FROM generate_series(1, $PENDING) g"
P -c "ANALYZE deliveries"

# The claim of src/store/claims.rs at now = 5000, from a position (due, id) in claim order;
# a claim from the beginning starts at the smallest BIGINT.
MIN=-9223372036854775808
claim_sql() {
    echo "UPDATE deliveries SET lease_owner = 'bench', lease_until = 999999
 WHERE id IN (SELECT id FROM deliveries
              WHERE status = 'pending' AND next_attempt_at <= 5000
                AND (next_attempt_at, id) > ($1, $2)
                AND (lease_until IS NULL OR lease_until < 5000)
                AND sending_at IS NULL
              ORDER BY next_attempt_at, id LIMIT $LIMIT FOR UPDATE SKIP LOCKED)
 RETURNING id, run_id, subscriber_id, attempts"
}
CLAIM=$(claim_sql $MIN $MIN)

explain() {
    echo "== $1"
    local CLAIM=${2:-$CLAIM}
    # The whole plan once, then the time and the buffers read of two more claims (these find
    # the dead row versions the rolled-back claims before them left on their way).
    for i in 1 2 3; do
        P -c "BEGIN" -c "EXPLAIN (ANALYZE, BUFFERS) $CLAIM" -c "ROLLBACK" >"$WORK/plan"
        if [[ $i -eq 1 ]]; then cat "$WORK/plan"; else
            printf '%s; top node %s\n' "$(grep 'Execution Time' "$WORK/plan" | xargs)" \
                "$(grep -m1 'Buffers' "$WORK/plan" | xargs)"
        fi
    done
}

explain "fresh queue: $PENDING pending deliveries, one next_attempt_at"

# Work through SETTLED deliveries as the worker would: claim, intent, sent, 500 at a time.
P -c "DO \$\$
DECLARE ids BIGINT[];
BEGIN
  FOR i IN 1..($SETTLED / $LIMIT) LOOP
    WITH c AS ($CLAIM) SELECT array_agg(id) INTO ids FROM c;
    UPDATE deliveries SET sending_at = 5000, lease_until = 999999 WHERE id = ANY(ids);
    UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = 5001,
        last_attempt_at = 5001, sending_at = NULL, lease_owner = NULL, lease_until = NULL
      WHERE id = ANY(ids);
    COMMIT;
  END LOOP;
END \$\$"
explain "after $SETTLED deliveries settled, no VACUUM: a claim from the last position" \
    "$(claim_sql 1000 "$SETTLED")"
explain "after $SETTLED deliveries settled, no VACUUM: a claim from the beginning"
P -c "VACUUM deliveries"
explain "after VACUUM"
