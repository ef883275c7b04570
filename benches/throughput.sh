#!/usr/bin/env bash
# Processes that add throughput (issue 15, item 4): a relay that takes DELAY_MS (50) per
# message (benches/slow_sink.py; smtp-sink's -w counts whole seconds), N subscribers, one run
# of the daily schedule with one release `tidings serve` process, then another run (a new
# article) with three processes on the same PostgreSQL database, mail.concurrency = 4 each.
# With such a relay SMTP, not the database, bounds one process (4 connections x 20 msgs/s), so
# three must deliver about three times as much.
#
#   benches/throughput.sh                      # 10,000 subscribers, 50 ms per message
#   N=20000 DELAY_MS=50 CONCURRENCY=4 benches/throughput.sh
#   PROCS="1 2 3" benches/throughput.sh
#
# msgs/s is counted from the deliveries' sent_at, first to last, and over the steady part
# (the 5th to the 95th percentile of them, without the start and the tail where some
# processes already ran out of work). Goal: 3 processes >= 2.5x one. Exits 1 when missed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=benches/common.sh
source benches/common.sh

N=${N:-10000}
PROCS=${PROCS:-1 3}
DELAY_MS=${DELAY_MS:-50}
CONCURRENCY=${CONCURRENCY:-4}
PORT=${PORT:-18661}
SINK_PORT=${SINK_PORT:-28661}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://root@127.0.0.1:5432/test}
DB_NAME=${DB_NAME:-tidings_throughput_bench}
MAX_CONNECTIONS=${MAX_CONNECTIONS:-8}
TOKEN=throughput-bench-admin-token-0123456789abcdef
WORK=$(mktemp -d /tmp/tidings-throughputbench.XXXXXX)
cleanup() { bench_cleanup; rm -rf "$WORK"; }
trap cleanup EXIT

bench_tools
bench_build
command -v python3 >/dev/null || { echo "python3 is needed (benches/slow_sink.py)"; exit 1; }
bench_create_db
bench_migrate
P() { psql -qAtX -F' ' -v ON_ERROR_STOP=1 "$PG_URL" "$@"; }
export DELAY_MS
bench_sink
for i in 1 2 3 4 5 6; do bench_config "$WORK/p$i" $((PORT + i - 1)); done
echo "== importing $N subscribers"
bench_import "$WORK/p1" "$N"

RESULTS="$WORK/results"
: >"$RESULTS"
run_number=0
for procs in $PROCS; do
    run_number=$((run_number + 1))
    pids=()
    for i in $(seq "$procs"); do
        bench_serve "$WORK/p$i" $((PORT + i - 1))
        pids+=("$SERVED_PID")
    done
    bench_publish "$PORT" "throughput-$run_number"
    echo "== run $run_number: $procs process(es), mail.concurrency = $CONCURRENCY, $DELAY_MS ms per message"
    T0=$(date +%s.%N)
    bench_run "$PORT"
    bench_wait_run "$PORT" 7200
    T1=$(date +%s.%N)
    shares=()
    for i in $(seq "$procs"); do
        shares+=("$(curl -fs "http://127.0.0.1:$((PORT + i - 1))/metrics" |
            sed -n 's/^tidings_deliveries_total{outcome="sent"} //p')")
    done
    for pid in "${pids[@]}"; do bench_stop "$pid"; done
    read -r sent rate steady < <(P -c "
        WITH s AS (SELECT sent_at, row_number() OVER (ORDER BY sent_at) AS k,
                          COUNT(*) OVER () AS n
                   FROM deliveries WHERE run_id = $RUN_ID AND status = 'sent'),
        e AS (SELECT MIN(n) AS n, MIN(sent_at) AS t0, MAX(sent_at) AS t1,
                     MIN(sent_at) FILTER (WHERE k >= n * 5 / 100) AS a,
                     MAX(sent_at) FILTER (WHERE k <= n * 95 / 100) AS b,
                     COUNT(*) FILTER (WHERE k >= n * 5 / 100 AND k <= n * 95 / 100) AS m
              FROM s)
        SELECT n, round(n * 1000.0 / GREATEST(t1 - t0, 1), 1),
               round(m * 1000.0 / GREATEST(b - a, 1), 1)
        FROM e")
    wall=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }')
    echo "$procs $sent $wall $rate $steady $(IFS=/; echo "${shares[*]}")" >>"$RESULTS"
    echo "   $sent sent in $wall s: $rate msgs/s (steady part $steady)"
done

echo
echo "== throughput: $N subscribers, relay $DELAY_MS ms per message, mail.concurrency = $CONCURRENCY, $(nproc) cores"
printf '%-6s %8s %8s %10s %12s %10s  %s\n' procs sent "run s" "msgs/s" "steady msgs/s" "x one" \
    "sent by each"
BASE=""
FAILED=0
while read -r procs sent wall rate steady shares; do
    BASE=${BASE:-$rate}
    ratio=$(awk -v a="$rate" -v b="$BASE" 'BEGIN { printf "%.2f", a / b }')
    printf '%-6s %8s %8s %10s %12s %10s  %s\n' "$procs" "$sent" "$wall" "$rate" "$steady" \
        "$ratio" "$shares"
    if [[ "$procs" == 3 ]]; then
        awk -v r="$ratio" 'BEGIN { exit !(r >= 2.5) }' || FAILED=1
    fi
    [[ "$sent" == "$N" ]] || FAILED=1
done <"$RESULTS"
echo "(x one: msgs/s first to last sent_at over the first row's; goal for 3 processes >= 2.5)"
exit "$FAILED"
