#!/usr/bin/env bash
# What one digest delivery writes on PostgreSQL (issue 15, item 2): bytes of WAL, transactions
# and statements, rows inserted, updated (and how many of those were HOT) and deleted per
# table, and the dead tuples left behind, all per delivery of a real run: N subscribers
# imported with `tidings subscribers import`, an article published through the API, the daily
# schedule run through `POST /api/v1/schedules/daily/run` by a release `tidings serve`, mail
# into Postfix's smtp-sink. RUNS runs in a row (a new article before each): the first inserts
# the watermarks, the later ones update them, as every run after a list's first does.
#
#   benches/wal.sh                                 # 20,000 subscribers, 2 runs
#   N=50000 RUNS=3 benches/wal.sh
#   BIN=/tmp/tidings-main UPTO=0212 benches/wal.sh # a build of an older checkout, its schema
#   SHARED=1 benches/wal.sh                        # on the server of PG_ADMIN_URL instead
#   EXTRA_SQL="ALTER TABLE deliveries SET (fillfactor = 70)" benches/wal.sh  # to try a change
#
# By default it starts a private PostgreSQL cluster of its own (initdb in a scratch folder,
# autovacuum off as on the shared server, pg_stat_statements loaded), because WAL positions
# are cluster-wide: on a server other clients write to, the WAL of a run counts theirs too.
# The database and the cluster are removed at exit (KEEP=1 keeps the database of SHARED=1).
#
# Each run is measured from just before the POST (after a CHECKPOINT, so every run pays the
# same full-page images) until the process has stopped after the run (its sessions flush
# their statistics when they end): pg_current_wal_lsn() before and after, xact_commit of
# pg_stat_database, n_tup_ins/upd/hot_upd/del and n_dead_tup of pg_stat_user_tables, and
# pg_stat_statements (calls, rows and WAL bytes per statement) when it is loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=benches/common.sh
source benches/common.sh

N=${N:-20000}
RUNS=${RUNS:-2}
PORT=${PORT:-18641}
SINK_PORT=${SINK_PORT:-28641}
PG_PORT=${PG_PORT:-55441}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://root@127.0.0.1:5432/test}
DB_NAME=tidings_wal_bench
TOKEN=wal-bench-admin-token-0123456789abcdef
WORK=$(mktemp -d /tmp/tidings-walbench.XXXXXX)
chmod 755 "$WORK"
PRIVATE=""

as_postgres() {
    if [[ $(id -u) -eq 0 ]]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
cleanup() {
    bench_cleanup
    if [[ -n "$PRIVATE" ]]; then
        as_postgres "$PRIVATE/pg_ctl -D $WORK/pg -m immediate stop" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

bench_tools
bench_build
echo "== binary $BIN"

# --- the server ----------------------------------------------------------------------------
if [[ -z "${SHARED:-}" ]]; then
    PRIVATE=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)
    [[ -x "$PRIVATE/initdb" ]] || { echo "no initdb found: run with SHARED=1"; exit 1; }
    echo "== private PostgreSQL cluster ($PRIVATE) on port $PG_PORT"
    mkdir -m 700 "$WORK/pg"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$WORK/pg"; fi
    as_postgres "$PRIVATE/initdb -D $WORK/pg -U root --auth=trust -E UTF8" >"$WORK/initdb.log"
    as_postgres "$PRIVATE/pg_ctl -D $WORK/pg -l $WORK/pg/server.log -w start -o \"-p $PG_PORT \
        -k $WORK/pg -c listen_addresses=127.0.0.1 -c autovacuum=off \
        -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top\"" >/dev/null
    PG_ADMIN_URL=postgres://root@127.0.0.1:$PG_PORT/postgres
else
    echo "== shared server $PG_ADMIN_URL: the WAL figures include what other clients wrote meanwhile"
fi
bench_create_db
echo "== database $DB_NAME: migrations up to ${UPTO:-the last}, $N subscribers"
bench_migrate
if [[ -n "${EXTRA_SQL:-}" ]]; then psql -qX -v ON_ERROR_STOP=1 "$PG_URL" -c "$EXTRA_SQL"; fi
ADMIN_DB="${PG_ADMIN_URL%/*}/postgres"
STATEMENTS=""
if psql -qAtX "$ADMIN_DB" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null 2>&1 &&
    psql -qAtX "$ADMIN_DB" -c "SELECT pg_stat_statements_reset()" >/dev/null 2>&1; then
    STATEMENTS=1
fi
P() { psql -qAtX -F' ' -v ON_ERROR_STOP=1 "$PG_URL" "$@"; }

bench_sink
bench_config "$WORK/p" "$PORT"
bench_import "$WORK/p" "$N"
P -c "ANALYZE"

# --- measuring -----------------------------------------------------------------------------
snapshot() { # $1 = file prefix
    P -c "SELECT pg_current_wal_lsn()" >"$1.lsn"
    P -c "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()" >"$1.xact"
    P -c "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, n_dead_tup,
                 pg_total_relation_size(relid)
          FROM pg_stat_user_tables" | LC_ALL=C sort >"$1.tables"
}

report() { # $1 = run number, $2 = before prefix, $3 = after prefix, $4 = seconds
    local wal xacts sent skipped
    wal=$(P -c "SELECT pg_wal_lsn_diff('$(cat "$3.lsn")', '$(cat "$2.lsn")')")
    xacts=$(($(cat "$3.xact") - $(cat "$2.xact")))
    read -r sent skipped < <(P -c "SELECT COUNT(*) FILTER (WHERE status = 'sent'),
        COUNT(*) FILTER (WHERE status = 'skipped') FROM deliveries WHERE run_id = $RUN_ID")
    local total=$((sent + skipped))
    echo
    echo "== run $1 of $RUNS (run $RUN_ID): $total deliveries ($sent sent, $skipped skipped) in $4 s"
    awk -v n="$total" -v w="$wal" -v x="$xacts" 'BEGIN {
        printf "per delivery: %.0f bytes of WAL (%.1f MB in all), %.4f transactions committed\n",
            w / n, w / 1048576, x / n }'
    printf '%-20s %9s %9s %6s %9s %12s %10s\n' table "ins/dlv" "upd/dlv" "HOT%" "del/dlv" \
        "dead after" "size MB"
    LC_ALL=C join "$2.tables" "$3.tables" | awk -v n="$total" '
        { ins = $8 - $2; upd = $9 - $3; hot = $10 - $4; del = $11 - $5
          if (ins + upd + del == 0) next
          printf "%-20s %9.3f %9.3f %6s %9.3f %12d %10.1f\n", $1, ins / n, upd / n,
              upd ? sprintf("%.0f", 100 * hot / upd) : "-", del / n, $12, $13 / 1048576 }'
    if [[ -n "$STATEMENTS" ]]; then
        psql -qAtX -F'|' "$ADMIN_DB" -c "
            SELECT calls, rows, wal_bytes, regexp_replace(query, '\s+', ' ', 'g')
            FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$DB_NAME')
            ORDER BY wal_bytes DESC, calls DESC" >"$3.statements"
        awk -F'|' -v n="$total" '
            $4 ~ /^(BEGIN|COMMIT|ROLLBACK)/ { tx += $1; next }
            { calls += $1 }
            END { printf "statements per delivery (pg_stat_statements): %.4f, plus %.4f BEGIN/COMMIT\n",
                    calls / n, tx / n }' "$3.statements"
        # Statements that differ only in their number of VALUES rows are one kind.
        echo "statements by WAL written, per delivery: calls, rows, WAL bytes"
        awk -F'|' -v n="$total" '$4 !~ /^(BEGIN|COMMIT|ROLLBACK)/ {
                k = $4; gsub(/\$[0-9]+/, "$", k); k = substr(k, 1, 70); c[k] += $1; r[k] += $2; w[k] += $3 }
            END { for (k in w) if (w[k] / n >= 1)
                    printf "  %8.4f %8.3f %8.1f  %s\n", c[k] / n, r[k] / n, w[k] / n, k }' \
            "$3.statements" | sort -k3,3 -n -r
    fi
}

for run in $(seq "$RUNS"); do
    bench_serve "$WORK/p" "$PORT"
    SERVE_PID=$SERVED_PID
    bench_publish "$PORT" "wal-$run"
    # What the start wrote is flushed to the statistics by now (an idle session flushes
    # within 10 s), so it is not counted as the run's.
    sleep 11
    P -c "CHECKPOINT"
    if [[ -n "$STATEMENTS" ]]; then
        psql -qAtX "$ADMIN_DB" -c "SELECT pg_stat_statements_reset()" >/dev/null
    fi
    snapshot "$WORK/before$run"
    T0=$SECONDS
    bench_run "$PORT"
    bench_wait_run "$PORT" 3600
    ELAPSED=$((SECONDS - T0))
    bench_stop "$SERVE_PID"
    sleep 1
    snapshot "$WORK/after$run"
    report "$run" "$WORK/before$run" "$WORK/after$run" "$ELAPSED"
done
