#!/usr/bin/env bash
# Subscriber CSV import on PostgreSQL (issue 15, "Bulk paths"): `tidings subscribers import
# FILE` of N new subscribers into a fresh database, then the same file again (every row an
# update of an active subscriber), each timed, next to the reference: psql's `\copy` of the
# same file into a bare table of the same columns (email, sections, schedule), in the same run.
#
#   benches/import.sh                          # 1,000,000 subscribers
#   N=100000 benches/import.sh
#   PG_ADMIN_URL=postgres://root@127.0.0.1:5432/test benches/import.sh
#   KEEP=1 benches/import.sh                   # keep the database for another look
#
# The sections and schedules of the file are those of config/default.toml (news, notices,
# grassroots, about; daily, weekly), a fifth of the rows with no sections (= all of them).
# Goal: >= 20,000 rows/s for the first import.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000000}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://root@127.0.0.1:5432/test}
DB_NAME=${DB_NAME:-tidings_import_bench_$$}
PG_URL="${PG_ADMIN_URL%/*}/$DB_NAME"
WORK=$(mktemp -d /tmp/tidings-importbench.XXXXXX)

cleanup() {
    if [[ -z "${KEEP:-}" ]]; then
        psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
    else
        echo "database kept: $PG_URL"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

command -v psql >/dev/null || { echo "psql is needed (PostgreSQL client)"; exit 1; }
pg_isready -h 127.0.0.1 -p 5432 -q || { echo "PostgreSQL is not answering on 127.0.0.1:5432"; exit 1; }

echo "== building (release)"
cargo build --release --quiet --bin tidings
BIN=target/release/tidings

echo "== database $DB_NAME"
psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB_NAME" >/dev/null
psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $DB_NAME" >/dev/null
export TIDINGS_CONFIG=config/default.toml
export TIDINGS_DATABASE__URL="$PG_URL"
# The schema first, so that the timed import does not include the migrations.
"$BIN" migrate >/dev/null

echo "== generating $N rows"
CSV="$WORK/subscribers.csv"
awk -v n="$N" 'BEGIN {
    srand(15);
    split("news|notices|grassroots|about|news notices|news grassroots|notices about|news notices grassroots", picks, "|");
    print "email,sections,schedule";
    for (i = 1; i <= n; i++) {
        r = int(rand() * 10);
        sections = (r < 2) ? "" : picks[1 + int(rand() * 8)];
        schedule = (rand() < 0.7) ? "daily" : "weekly";
        printf "member%07d@example.org,%s,%s\n", i, sections, schedule;
    }
}' >"$CSV"
echo "$(wc -c <"$CSV") bytes"

now() { date +%s.%N; }
# `timed LABEL CMD...`: runs CMD, prints LABEL, seconds and rows/s, keeps the seconds in $SECS.
timed() {
    local label=$1 start end
    shift
    start=$(now)
    "$@"
    end=$(now)
    SECS=$(echo "$end - $start" | bc -l)
    printf '%-34s %8.2f s %10.0f rows/s\n' "$label" "$SECS" "$(echo "$N / $SECS" | bc -l)"
}

echo "== importing"
timed "tidings subscribers import (new)" \
    "$BIN" subscribers import "$CSV" >"$WORK/first.out" 2>"$WORK/first.err"
FIRST=$SECS
timed "tidings subscribers import (again)" \
    "$BIN" subscribers import "$CSV" >"$WORK/second.out" 2>"$WORK/second.err"
SECOND=$SECS
psql -q "$PG_URL" -c "CREATE TABLE bare (email TEXT, sections TEXT, schedule TEXT)"
timed "psql \\copy into a bare table" \
    psql -q "$PG_URL" -c "\\copy bare FROM '$CSV' WITH (FORMAT csv, HEADER true)"
COPY=$SECS

echo "== what the imports said"
echo "first:  $(tail -n 1 "$WORK/first.out")"
echo "second: $(tail -n 1 "$WORK/second.out")"
printf 'import / \\copy: first %.1fx, second %.1fx\n' \
    "$(echo "$FIRST / $COPY" | bc -l)" "$(echo "$SECOND / $COPY" | bc -l)"

echo "== checks"
Q() { psql -X -qtA "$PG_URL" -c "$1"; }
subscribers=$(Q "SELECT COUNT(*) FROM subscribers WHERE status = 'active' AND source = 'import'")
counted=$(Q "SELECT COALESCE(SUM(n), 0) FROM subscriber_status_deltas WHERE status = 'active'")
sections=$(Q "SELECT COUNT(*) FROM subscriber_sections")
expected=$(Q "SELECT COALESCE(SUM(array_length(string_to_array(sections, ' '), 1)), 0) FROM bare")
echo "active subscribers: $subscribers (counter says $counted); section rows: $sections (file: $expected)"
ok=1
[[ "$subscribers" == "$N" && "$counted" == "$N" && "$sections" == "$expected" ]] || ok=0
grep -q "^$N created, 0 updated" "$WORK/first.out" || ok=0
grep -q "^0 created, $N updated" "$WORK/second.out" || ok=0
if [[ $ok == 1 ]]; then echo "all as expected"; else echo "MISMATCH"; cat "$WORK"/*.err | tail -n 20; exit 1; fi
