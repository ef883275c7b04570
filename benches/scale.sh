#!/usr/bin/env bash
# A million members on PostgreSQL (issue 15, the Acceptance): its own database, N subscribers
# imported with `tidings subscribers import` (time, rows/s), then three runs of the daily
# schedule (an article published before each) into Postfix's smtp-sink: the first with one
# release `tidings serve` process, the next two with three processes (different ports, the
# same database). For each run: planning time (the run's created_at to planned_at), time to
# first send, msgs/s over the whole run and over its first and last 10 % of deliveries (from
# the deliveries' sent_at), peak RSS of each process (/proc/PID/status VmHWM), and the latency
# of `GET /api/v1/runs` and `GET /api/v1/runs/{id}` sampled about once a second while the run
# goes (median, 95th percentile and max), and the CPU time per delivery of the tidings processes
# and of PostgreSQL's (from /proc, so PostgreSQL on this machine); after the three runs, the
# size of the big tables. One table at the end.
#
#   benches/scale.sh                       # 1,000,000 subscribers
#   N=100000 benches/scale.sh              # the 1M/100k ratio of the issue: run both
#   PROCS="1 3 3" N=20000 benches/scale.sh # processes per run
#   BIN=/path/to/tidings KEEP=1 benches/scale.sh
#
# Goals (issue 15): msgs/s of the last 10 % within 20 % of the first 10 %; peak RSS < 200 MB
# per process; runs list and run view < 50 ms during a run. Exits 1 when one is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=benches/common.sh
source benches/common.sh

N=${N:-1000000}
PROCS=${PROCS:-1 3 3}
PORT=${PORT:-18651}
SINK_PORT=${SINK_PORT:-28651}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://root@127.0.0.1:5432/test}
DB_NAME=${DB_NAME:-tidings_scale_bench}
MAX_CONNECTIONS=${MAX_CONNECTIONS:-8}
TOKEN=scale-bench-admin-token-0123456789abcdef
WORK=$(mktemp -d /tmp/tidings-scalebench.XXXXXX)
cleanup() { bench_cleanup; rm -rf "$WORK"; }
trap cleanup EXIT

bench_tools
bench_build
pg_isready -d "$PG_ADMIN_URL" -q || { echo "PostgreSQL is not answering at $PG_ADMIN_URL"; exit 1; }
bench_create_db
bench_migrate
P() { psql -qAtX -F' ' -v ON_ERROR_STOP=1 "$PG_URL" "$@"; }
bench_sink
for i in 1 2 3; do bench_config "$WORK/p$i" $((PORT + i - 1)); done

echo "== importing $N subscribers with tidings subscribers import"
bench_import "$WORK/p1" "$N"
IMPORT_RATE=$(awk -v n="$N" -v s="$IMPORT_SECONDS" 'BEGIN { printf "%.0f", n / s }')
echo "   $IMPORT_SECONDS s, $IMPORT_RATE rows/s"

# Latency samples of the two run views, about once a second, until the file STOP exists.
sample_views() { # $1 = output file
    local url="http://127.0.0.1:$PORT/api/v1"
    while [[ ! -e "$WORK/stop" ]]; do
        curl -fs -o /dev/null -w '%{time_total} ' -H "Authorization: Bearer $TOKEN" "$url/runs" >>"$1" || true
        curl -fs -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "$url/runs/$RUN_ID" >>"$1" || true
        sleep 1
    done
}
# Median, 95th percentile and max, in ms, of column $2 of file $1.
median_max() {
    awk -v c="$2" 'NF >= c { print $c * 1000 }' "$1" | sort -n |
        awk '{ v[NR] = $1 }
             END { if (NR) printf "%.1f/%.1f/%.1f", v[int((NR + 1) / 2)], v[int((NR * 95 + 99) / 100)], v[NR]
                   else printf "-" }'
}

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
    bench_publish "$PORT" "scale-$run_number"
    rm -f "$WORK/stop"
    echo "== run $run_number: $procs process(es)"
    T0=$(date +%s.%N)
    cpu_tidings0=$(bench_cpu_seconds "${pids[@]}")
    cpu_postgres0=$(bench_postgres_cpu_seconds)
    bench_run "$PORT"
    sample_views "$WORK/views$run_number" &
    SAMPLER=$!
    bench_wait_run "$PORT" 7200
    T1=$(date +%s.%N)
    cpu_tidings1=$(bench_cpu_seconds "${pids[@]}")
    cpu_postgres1=$(bench_postgres_cpu_seconds)
    touch "$WORK/stop"
    wait "$SAMPLER" || true
    rss=()
    for pid in "${pids[@]}"; do rss+=("$(bench_peak_rss "$pid")"); done
    for pid in "${pids[@]}"; do bench_stop "$pid"; done

    # Planning and first send from the run's row; rates from the deliveries' sent_at (ms):
    # the first and the last tenth of the sent deliveries, in sending order.
    read -r planning first_send sent rate first10 last10 < <(P -c "
        WITH r AS (SELECT created_at, planned_at FROM runs WHERE id = $RUN_ID),
        s AS (SELECT sent_at, row_number() OVER (ORDER BY sent_at) AS k,
                     COUNT(*) OVER () AS n
              FROM deliveries WHERE run_id = $RUN_ID AND status = 'sent'),
        e AS (SELECT MIN(n) AS n, MIN(sent_at) AS t0, MAX(sent_at) AS t1,
                     MAX(sent_at) FILTER (WHERE k <= GREATEST(n / 10, 2)) AS a,
                     MIN(sent_at) FILTER (WHERE k > n - GREATEST(n / 10, 2)) AS b
              FROM s)
        SELECT round((r.planned_at - r.created_at) / 1000.0, 2),
               round((e.t0 - r.created_at) / 1000.0, 2), e.n,
               round(e.n * 1000.0 / GREATEST(e.t1 - e.t0, 1)),
               round(GREATEST(e.n / 10, 2) * 1000.0 / GREATEST(e.a - e.t0, 1)),
               round(GREATEST(e.n / 10, 2) * 1000.0 / GREATEST(e.t1 - e.b, 1))
        FROM r, e")
    wall=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }')
    # CPU per delivery, in µs: the tidings processes, then every PostgreSQL process.
    cpu=$(awk -v t0="$cpu_tidings0" -v t1="$cpu_tidings1" -v p0="$cpu_postgres0" \
        -v p1="$cpu_postgres1" -v n="$sent" \
        'BEGIN { printf "%.0f/%.0f", (t1 - t0) * 1e6 / n, (p1 - p0) * 1e6 / n }')
    echo "$run_number $procs $planning $first_send $wall $sent $rate $first10 $last10" \
        "$(IFS=/; echo "${rss[*]}") $(median_max "$WORK/views$run_number" 1)" \
        "$(median_max "$WORK/views$run_number" 2) $cpu" >>"$RESULTS"
    echo "   $sent sent in $wall s"
done

# --- the table ------------------------------------------------------------------------------
echo
echo "== scale: $N subscribers, PostgreSQL $(P -c 'SHOW server_version'), $(nproc) cores, smtp-sink"
echo "import: $N rows in $IMPORT_SECONDS s = $IMPORT_RATE rows/s (tidings subscribers import)"
printf '%-3s %-5s %8s %8s %8s %8s %7s %7s %7s %6s  %-17s %-18s %-18s %-11s\n' run procs \
    "plan s" "1st s" "run s" sent "msgs/s" "1st10%" "last10%" "l/f" "peak RSS MB" \
    "runs ms" "run view ms" "CPU us/msg"
FAILED=0
while read -r run procs planning first_send wall sent rate first10 last10 rss runs view cpu; do
    ratio=$(awk -v a="$last10" -v b="$first10" 'BEGIN { printf "%.2f", a / b }')
    printf '%-3s %-5s %8s %8s %8s %8s %7s %7s %7s %6s  %-17s %-18s %-18s %-11s\n' "$run" "$procs" \
        "$planning" "$first_send" "$wall" "$sent" "$rate" "$first10" "$last10" "$ratio" "$rss" \
        "$runs" "$view" "$cpu"
    awk -v r="$ratio" 'BEGIN { exit !(r >= 0.8 && r <= 1.2) }' || FAILED=1
    for m in ${rss//\// }; do awk -v m="$m" 'BEGIN { exit !(m < 200) }' || FAILED=1; done
    for v in "$runs" "$view"; do awk -v v="${v##*/}" 'BEGIN { exit !(v < 50) }' || FAILED=1; done
    [[ "$sent" == "$N" ]] || FAILED=1
done <"$RESULTS"
echo "(plan: created_at to planned_at; 1st: to the first sent_at; run: POST to done; msgs/s:"
echo " first to last sent_at; l/f: last 10 % over first 10 %, goal 0.8-1.2; RSS goal < 200 MB;"
echo " latency median/p95/max, goal max < 50 ms; CPU: user + system time per delivery sent, of the"
echo " tidings processes / of all PostgreSQL processes, POST to done)"
echo
echo "tables after $run_number runs:"
P -c "SELECT relname, pg_size_pretty(pg_total_relation_size(relid)), n_live_tup, n_dead_tup
      FROM pg_stat_user_tables
      WHERE relname IN ('deliveries', 'tokens', 'watermarks', 'subscribers', 'run_figure_deltas')
      ORDER BY pg_total_relation_size(relid) DESC" |
    awk 'BEGIN { printf "%-18s %10s %12s %12s\n", "table", "size", "live", "dead" }
         { printf "%-18s %7s %2s %12s %12s\n", $1, $2, $3, $4, $5 }'
exit "$FAILED"
