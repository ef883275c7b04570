#!/usr/bin/env bash
# Shared send rates (SPEC §10, issue 13): TWO release `tidings serve` processes on one
# PostgreSQL database, mail.rate_per_second = 200 between them, qq.com limited to 1,200 a
# minute, one digest run to 6,000 subscribers (1,000 of them at qq.com), sent to Postfix's
# smtp-sink. The figures come from the deliveries' `sent_at` (recorded by whichever process
# sent them) and from each process's /metrics.
#
#   bash benches/rates.sh
#   SUBSCRIBERS=12000 LIMITED=2000 RATE=400 PER_MINUTE=2400 bash benches/rates.sh
#   KEEP=1 bash benches/rates.sh               # keep the database for another look
#
# Goals: both processes together send at the configured rate within 10 % over the steady part
# of the run (while every domain still has mail), no second of it above the rate by more than
# 10 %; the limited domain gets at most its limit +10 % (over the steady part, and from its first
# to its last message) and at least 80 % of it; the other domains get at least 90 % of what the
# limited one leaves of the rate; every message arrives. Exits 1 when a goal is missed.
set -euo pipefail
cd "$(dirname "$0")/.."

SUBSCRIBERS=${SUBSCRIBERS:-6000}
LIMITED=${LIMITED:-1000}
RATE=${RATE:-200}
PER_MINUTE=${PER_MINUTE:-1200}
PORT_A=${PORT_A:-18581}
PORT_B=${PORT_B:-18582}
SINK_PORT=${SINK_PORT:-2527}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://root@127.0.0.1:5432/test}
DB_NAME=${DB_NAME:-tidings_rates_bench}
PG_URL="${PG_ADMIN_URL%/*}/$DB_NAME"
TOKEN=rates-bench-admin-token-0123456789abcdef
WORK=$(mktemp -d /tmp/tidings-ratesbench.XXXXXX)
PIDS=()
SINK_PID=""

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n "$SINK_PID" ]]; then kill "$SINK_PID" 2>/dev/null || true; fi
    if [[ -z "${KEEP:-}" ]]; then
        psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- tools -------------------------------------------------------------------------------
command -v psql >/dev/null || { echo "psql is needed (PostgreSQL client)"; exit 1; }
pg_isready -h 127.0.0.1 -p 5432 -q || { echo "PostgreSQL is not answering on 127.0.0.1:5432"; exit 1; }
export PATH="$PATH:/usr/sbin"
if ! command -v smtp-sink >/dev/null; then
    echo "== installing postfix (for smtp-sink; the daemon is not started)"
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix >/dev/null
fi

echo "== building (release)"
cargo build --release --quiet
BIN="$PWD/target/release/tidings"

# --- database and data -------------------------------------------------------------------
# Subscribers of the limited domain are spread among the others (every SUBSCRIBERS/LIMITED-th
# one), as sign-ups come.
echo "== database $DB_NAME: $SUBSCRIBERS subscribers, $LIMITED of them at qq.com"
psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null
psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $DB_NAME" >/dev/null

config() { # $1 = port
    cat <<EOF
[site]
base_url = "http://127.0.0.1:$1"
[server]
bind = "127.0.0.1:$1"
[database]
url = "$PG_URL"
max_connections = 10
[auth]
admin_token = "$TOKEN"
[mail]
transport = "smtp"
smtp_url = "smtp://127.0.0.1:$SINK_PORT"
from = "青海省总工会 <news@example.org>"
rate_per_second = $RATE
concurrency = 4
[[mail.domain_limits]]
domain = "qq.com"
per_minute = $PER_MINUTE
EOF
}
mkdir -p "$WORK/a" "$WORK/b"
config "$PORT_A" >"$WORK/a/tidings.toml"
config "$PORT_B" >"$WORK/b/tidings.toml"
(cd "$WORK/a" && TIDINGS_CONFIG=tidings.toml "$BIN" migrate) >/dev/null

psql -q -v ON_ERROR_STOP=1 "$PG_URL" <<EOF
\set now_ms '(extract(epoch from now()) * 1000)::bigint'
INSERT INTO sections (slug, title, position, created_at, updated_at)
VALUES ('news', '工会要闻', 0, :now_ms, :now_ms), ('notices', '通知公告', 1, :now_ms, :now_ms),
       ('grassroots', '基层动态', 2, :now_ms, :now_ms)
ON CONFLICT DO NOTHING;
INSERT INTO articles (id, section, title, url, content_html, summary, author, tags,
                      published_at, visible_at, content_hash, source, created_at, modified_at)
SELECT 'a' || n, (ARRAY['news', 'notices', 'grassroots'])[1 + n % 3],
       '第' || n || '期 工会要闻：基层工会换届选举工作稳步推进',
       'http://127.0.0.1:$PORT_A/articles/a' || n,
       '<p>全省各级工会认真学习贯彻会议精神，第' || n || '期。</p>',
       '全省各级工会认真学习贯彻会议精神。', '宣传部', '["工会"]',
       :now_ms - n * 600000, :now_ms - n * 600000, md5(n::text), 'api', :now_ms, :now_ms
FROM generate_series(1, 5) AS n;
INSERT INTO subscribers (email, status, all_sections, schedule, locale, created_at,
                         confirmed_at, source)
SELECT 'member' || n || '@' || CASE WHEN n % ($SUBSCRIBERS / $LIMITED) = 0 THEN 'qq.com'
           ELSE (ARRAY['163.com', '126.com', 'example.org', 'gmail.com', 'sina.com'])[1 + n % 5] END,
       'active', TRUE, 'daily', 'zh-CN', :now_ms - 86400000, :now_ms - 86400000, 'import'
FROM generate_series(1, $SUBSCRIBERS) AS n;
ANALYZE;
EOF

# --- sink and servers --------------------------------------------------------------------
user=()
if [[ $(id -u) -eq 0 ]]; then user=(-u nobody); fi
smtp-sink -c "${user[@]}" "127.0.0.1:$SINK_PORT" 1000 >"$WORK/sink.log" 2>&1 &
SINK_PID=$!

serve() { # $1 = a|b, $2 = port
    (cd "$WORK/$1" && HOSTNAME="proc-$1" TIDINGS_CONFIG=tidings.toml exec "$BIN" serve) \
        >"$WORK/$1/serve.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do
        if curl -fs "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; then return; fi
        sleep 0.2
    done
    echo "process $1 did not start:"; tail -20 "$WORK/$1/serve.log"; exit 1
}
serve a "$PORT_A"
serve b "$PORT_B"

# --- the run -----------------------------------------------------------------------------
echo "== one run of the daily schedule, started through process a; both send"
RUN_ID=$(curl -fs -X POST -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$PORT_A/api/v1/schedules/daily/run" | sed 's/.*"run_id":\([0-9]*\).*/\1/')
[[ "$RUN_ID" =~ ^[0-9]+$ ]] || { echo "no run id"; exit 1; }
sent_by() { # process metrics: digest deliveries sent so far
    curl -fs "http://127.0.0.1:$1/metrics" | sed -n 's/^tidings_deliveries_total{outcome="sent"} //p'
}
DEADLINE=$((SECONDS + 600))
while :; do
    STATUS=$(curl -fs -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT_A/api/v1/runs/$RUN_ID" |
        sed 's/.*"status":"\([a-z_]*\)".*/\1/')
    [[ "$STATUS" == done* ]] && break
    if ((SECONDS > DEADLINE)); then echo "run $RUN_ID not done after 600 s"; exit 1; fi
    sleep 1
done
SENT_A=$(sent_by "$PORT_A")
SENT_B=$(sent_by "$PORT_B")
DEFERRED_A=$(curl -fs "http://127.0.0.1:$PORT_A/metrics" | sed -n 's/^tidings_mail_domain_deferrals_total{domain="qq.com"} //p')
DEFERRED_B=$(curl -fs "http://127.0.0.1:$PORT_B/metrics" | sed -n 's/^tidings_mail_domain_deferrals_total{domain="qq.com"} //p')
sleep 0.5
kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true
SINK_PID=""
RECEIVED=$(tr '\r' '\n' <"$WORK/sink.log" | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2)

# --- figures -----------------------------------------------------------------------------
# sent_at (ms) of each sent delivery, and whether it went to the limited domain.
psql -tA -F' ' "$PG_URL" -c "SELECT d.sent_at, (s.email LIKE '%@qq.com')::int
    FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
    WHERE d.run_id = $RUN_ID AND d.status = 'sent' ORDER BY d.sent_at" >"$WORK/sent"
# The steady part: from 2 s after the first message to 1 s before the last one to another
# domain (after that only the limited domain is left, at its own rate).
read -r TOTAL WINDOW COMBINED OTHERS QQ_WINDOW QQ_SPAN PEAK < <(awk '
    { t[NR] = $1; q[NR] = $2; if (!$2) last_other = $1; if ($2) { if (!qf) qf = $1; ql = $1; nq++ } }
    END {
        from = t[1] + 2000; to = last_other - 1000; w = (to - from) / 1000
        for (i = 1; i <= NR; i++) if (t[i] >= from && t[i] < to) {
            all++; if (q[i]) qin++; else oin++
            b = int((t[i] - from) / 1000); sec[b]++
        }
        peak = 0; for (b in sec) if (b < int(w) && sec[b] > peak) peak = sec[b]
        printf "%d %.1f %.1f %.1f %.0f %.0f %d\n", NR, w, all / w, oin / w, qin / w * 60,
            (nq - 1) / ((ql - qf) / 60000), peak
    }' "$WORK/sent")

FAILED=0
verdict() { # condition for awk; sets FAILED when it does not hold
    if awk "BEGIN { exit !($1) }"; then V=ok; else V=MISSED; FAILED=1; fi
}
RATIO=$(awk -v a="$COMBINED" -v b="$RATE" 'BEGIN { printf "%.3f", a / b }')
SHARE_A=$(awk -v a="$SENT_A" -v b="$SENT_B" 'BEGIN { printf "%.1f", 100 * a / (a + b) }')
SHARE_B=$(awk -v a="$SENT_A" -v b="$SENT_B" 'BEGIN { printf "%.1f", 100 * b / (a + b) }')
LEFT=$(awk -v r="$RATE" -v m="$PER_MINUTE" 'BEGIN { printf "%.1f", r - m / 60 }')
echo
echo "== shared rates: 2 processes, rate $RATE/s, qq.com $PER_MINUTE/min, $SUBSCRIBERS subscribers ($LIMITED at qq.com), $(nproc) cores"
echo "   steady part: ${WINDOW} s (while every domain still had mail)"
verdict "$RATIO >= 0.9 && $RATIO <= 1.1"
printf '%-48s %9s msg/s  goal %s ±10 %% (ratio %s)  %s\n' "both processes together, steady part" "$COMBINED" "$RATE" "$RATIO" "$V"
verdict "$PEAK <= $RATE * 1.1"
printf '%-48s %9s msg    goal <= %s          %s\n' "busiest second of the steady part" "$PEAK" "$(awk -v r="$RATE" 'BEGIN { print r * 1.1 }')" "$V"
printf '%-48s %9s msg    %s %%\n' "sent by process a" "$SENT_A" "$SHARE_A"
printf '%-48s %9s msg    %s %%\n' "sent by process b" "$SENT_B" "$SHARE_B"
verdict "$QQ_SPAN <= $PER_MINUTE * 1.1 && $QQ_SPAN >= $PER_MINUTE * 0.8"
printf '%-48s %9s msg/min goal %s (0.8x..1.1x) %s\n' "qq.com, first to last of its messages" "$QQ_SPAN" "$PER_MINUTE" "$V"
verdict "$QQ_WINDOW <= $PER_MINUTE * 1.1"
printf '%-48s %9s msg/min goal <= %s    %s\n' "qq.com during the steady part" "$QQ_WINDOW" "$(awk -v m="$PER_MINUTE" 'BEGIN { print m * 1.1 }')" "$V"
verdict "$OTHERS >= $LEFT * 0.9"
printf '%-48s %9s msg/s  goal >= 0.9 x %s   %s\n' "other domains while qq.com is throttled" "$OTHERS" "$LEFT" "$V"
printf '%-48s %9s        (a %s, b %s)\n' "sends held back by the qq.com limit" "$((DEFERRED_A + DEFERRED_B))" "$DEFERRED_A" "$DEFERRED_B"
verdict "$TOTAL == $SUBSCRIBERS && $RECEIVED == $SUBSCRIBERS"
printf '%-48s %9s        goal %s (sink: %s)  %s\n' "deliveries sent" "$TOTAL" "$SUBSCRIBERS" "$RECEIVED" "$V"
exit "$FAILED"
