# Helpers shared by the scale benchmarks (benches/wal.sh, scale.sh, throughput.sh; import_articles.sh
# takes the CPU counters): sourced,
# never run. Kept in one place so that the three measure the same service the same way: a
# release `tidings serve` per process on one PostgreSQL database, subscribers imported with
# `tidings subscribers import`, an article published through the API, the daily schedule run
# through `POST /api/v1/schedules/daily/run`, mail into a local SMTP sink.
#
# A script sets ROOT (the repository), WORK (a scratch folder), PG_ADMIN_URL (a database URL
# of the server to create its database on), DB_NAME and TOKEN, then calls these. Everything
# started here is stopped by `bench_cleanup`, which the script calls from its EXIT trap.

BENCH_PIDS=()
BENCH_SINK_PID=""

# CPU time (user + system, reaped children included) of the processes $@, in seconds.
bench_cpu_seconds() {
    local t=0 p
    for p in "$@"; do
        [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$p/stat")))
    done
    awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}
# The same for every PostgreSQL process of this machine (the server the benches use).
bench_postgres_cpu_seconds() {
    # shellcheck disable=SC2046
    bench_cpu_seconds $(pgrep -u postgres || true)
}

# Tools the scripts need; installs Postfix for smtp-sink when it is missing (the mail daemon
# itself is not started).
bench_tools() {
    command -v psql >/dev/null || { echo "psql is needed (PostgreSQL client)"; exit 1; }
    export PATH="$PATH:/usr/sbin"
    if ! command -v smtp-sink >/dev/null; then
        echo "== installing postfix (for smtp-sink; the daemon is not started)"
        local sudo=""
        if [[ $(id -u) -ne 0 ]]; then sudo=sudo; fi
        echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix >/dev/null
    fi
}

# BIN: the binary given, or a release build of this checkout.
bench_build() {
    if [[ -z "${BIN:-}" ]]; then
        echo "== building (release)"
        cargo build --release --quiet
        BIN="$ROOT/target/release/tidings"
    fi
    [[ -x "$BIN" ]] || { echo "no binary at $BIN"; exit 1; }
}

# Creates DB_NAME on the server of PG_ADMIN_URL and sets PG_URL to it.
bench_create_db() {
    PG_URL="${PG_ADMIN_URL%/*}/$DB_NAME"
    psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null
    psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $DB_NAME" >/dev/null
}

# Applies migrations/postgres up to UPTO (all by default) with psql, one transaction per file
# in name order, and records each in sqlx's table with the checksum sqlx gives it (SHA-384 of
# the file), so that `tidings serve` takes them as applied and adds only the ones after UPTO
# that its binary embeds: UPTO=0212 with BIN= a build of an older checkout measures that
# checkout's schema.
bench_migrate() {
    local upto=${UPTO:-9999} f n
    psql -q -X -v ON_ERROR_STOP=1 "$PG_URL" -c "CREATE TABLE _sqlx_migrations (
        version BIGINT PRIMARY KEY, description TEXT NOT NULL,
        installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL,
        checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)" >/dev/null
    for f in "$ROOT"/migrations/postgres/*.sql; do
        n=$(basename "$f" .sql)
        if [[ "${n:0:4}" > "$upto" ]]; then continue; fi
        psql -1 -q -X -v ON_ERROR_STOP=1 "$PG_URL" -f "$f" >/dev/null
        psql -q -X -v ON_ERROR_STOP=1 "$PG_URL" -c "INSERT INTO _sqlx_migrations
            (version, description, success, checksum, execution_time)
            VALUES (${n%%_*} + 0, '$(echo "${n#*_}" | tr _ ' ')', TRUE,
                    '\\x$(sha384sum "$f" | cut -d' ' -f1)', 0)" >/dev/null
    done
}

# Writes DIR/tidings.toml for a process listening on PORT. Mail goes to the sink on SINK_PORT
# at RATE messages/s for the whole cluster (default: far above what a sink takes, so the
# limit never binds) over CONCURRENCY connections.
bench_config() { # $1 = DIR, $2 = PORT
    mkdir -p "$1"
    cat >"$1/tidings.toml" <<EOF
[site]
base_url = "http://127.0.0.1:$2"
templates_dir = "$ROOT/config/templates"
[server]
bind = "127.0.0.1:$2"
[database]
url = "$PG_URL"
max_connections = ${MAX_CONNECTIONS:-10}
[auth]
admin_token = "$TOKEN"
[mail]
transport = "smtp"
smtp_url = "smtp://127.0.0.1:$SINK_PORT"
from = "青海省总工会 <news@example.org>"
rate_per_second = ${RATE:-1000000}
concurrency = ${CONCURRENCY:-4}
EOF
}

# Starts `tidings serve` from DIR (its tidings.toml) and waits until it is ready; the process
# id (the binary's own, for /proc/PID/status) is left in SERVED_PID.
bench_serve() { # $1 = DIR, $2 = PORT
    (cd "$1" && HOSTNAME="bench-$(basename "$1")" TIDINGS_CONFIG=tidings.toml exec "$BIN" serve) \
        >"$1/serve.log" 2>&1 &
    SERVED_PID=$!
    BENCH_PIDS+=("$SERVED_PID")
    for _ in $(seq 300); do
        if curl -fs "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; then return; fi
        if ! kill -0 "$SERVED_PID" 2>/dev/null; then break; fi
        sleep 0.2
    done
    echo "tidings serve in $1 did not start:"; tail -20 "$1/serve.log"; exit 1
}

# Stops one process as SIGTERM does in production (finish in flight, give back the rest).
bench_stop() { # $1 = pid
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# Peak resident set of a running process, in MB.
bench_peak_rss() { # $1 = pid
    awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# Imports N active subscribers of the daily schedule (every section) from a CSV file with
# `tidings subscribers import`; sets IMPORT_SECONDS. DIR holds the config used.
bench_import() { # $1 = DIR, $2 = N
    awk -v n="$2" 'BEGIN {
        print "email,sections,schedule"
        split("example.org 163.com 126.com qq.com sina.com gmail.com", d, " ")
        for (i = 1; i <= n; i++) printf "member%d@%s,,daily\n", i, d[1 + i % 6]
    }' >"$WORK/subscribers.csv"
    local t0 t1
    t0=$(date +%s.%N)
    (cd "$1" && TIDINGS_CONFIG=tidings.toml "$BIN" subscribers import "$WORK/subscribers.csv") \
        >"$WORK/import.log" 2>&1 || { echo "import failed:"; tail -5 "$WORK/import.log"; exit 1; }
    t1=$(date +%s.%N)
    IMPORT_SECONDS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
}

# Publishes one article in section news through the publisher API of the process on PORT,
# published a second ago (so that a run started now mails it).
bench_publish() { # $1 = PORT, $2 = article id
    local at
    at=$(date -u -d '-1 second' +%Y-%m-%dT%H:%M:%SZ)
    curl -fs -o /dev/null -X PUT -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' "http://127.0.0.1:$1/api/v1/articles/$2" \
        --data "{\"section\": \"news\", \"title\": \"第 $2 期 工会要闻：基层工会换届选举工作稳步推进\",
                 \"url\": \"https://www.example.org/news/$2.html\",
                 \"content_html\": \"<p>全省各级工会认真学习贯彻会议精神，推进基层工会规范化建设。</p>\",
                 \"published_at\": \"$at\"}" || { echo "publishing $2 failed"; exit 1; }
}

# Starts the daily schedule now through the process on PORT; sets RUN_ID.
bench_run() { # $1 = PORT
    RUN_ID=$(curl -fs -X POST -H "Authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$1/api/v1/schedules/daily/run" | sed 's/.*"run_id":\([0-9]*\).*/\1/')
    [[ "$RUN_ID" =~ ^[0-9]+$ ]] || { echo "no run id"; exit 1; }
}

# Waits until run RUN_ID is done, asking the process on PORT every half second.
bench_wait_run() { # $1 = PORT, $2 = timeout in seconds
    local deadline=$((SECONDS + ${2:-3600})) status
    while :; do
        status=$(curl -fs -H "Authorization: Bearer $TOKEN" \
            "http://127.0.0.1:$1/api/v1/runs/$RUN_ID" | sed 's/.*"status":"\([a-z_]*\)".*/\1/')
        [[ "$status" == done* ]] && return
        if ((SECONDS > deadline)); then echo "run $RUN_ID not done after ${2:-3600} s"; exit 1; fi
        sleep 0.5
    done
}

# Starts a sink on SINK_PORT: Postfix's smtp-sink (accepts at once), or with DELAY_MS set the
# scripted sink of benches/slow_sink.py, which answers the final "." of each message after
# that many milliseconds.
bench_sink() {
    if [[ -n "${DELAY_MS:-}" ]]; then
        python3 "$ROOT/benches/slow_sink.py" --port "$SINK_PORT" --delay-ms "$DELAY_MS" \
            >"$WORK/sink.log" 2>&1 &
    else
        local user=()
        if [[ $(id -u) -eq 0 ]]; then user=(-u nobody); fi
        smtp-sink -c "${user[@]}" "127.0.0.1:$SINK_PORT" 1000 >"$WORK/sink.log" 2>&1 &
    fi
    BENCH_SINK_PID=$!
    for _ in $(seq 150); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$SINK_PORT") 2>/dev/null; then return; fi
        sleep 0.1
    done
    echo "the sink did not start on port $SINK_PORT"; cat "$WORK/sink.log"; exit 1
}

# Stops every process started here and drops the database unless KEEP is set.
bench_cleanup() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${BENCH_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n "$BENCH_SINK_PID" ]]; then
        kill "$BENCH_SINK_PID" 2>/dev/null || true
        wait "$BENCH_SINK_PID" 2>/dev/null || true
    fi
    if [[ -z "${KEEP:-}" && -n "${PG_URL:-}" ]]; then
        psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
    fi
}
