#!/usr/bin/env bash
# Admin console response times at scale (issue 12): 1,000,000 subscribers, 100,000 articles
# and a run of 1,000,000 deliveries on PostgreSQL, one release `tidings serve`, an admin
# logged in through the real login form. Each page is requested 50 times (after 3 warm-up
# requests) by curl, one at a time, and p50 / p95 / max are printed. The reference row is
# `GET /healthz` (no database, no template) through the same client: what the client and
# the HTTP stack cost by themselves.
#
#   bash benches/console.sh                       # 1M subscribers, 100k articles
#   SUBSCRIBERS=100000 ARTICLES=20000 bash benches/console.sh
#   KEEP=1 bash benches/console.sh                # keep the database for another look
#
# Goal: every console page p95 < 100 ms. Exits non-zero when a page misses it.
set -euo pipefail
cd "$(dirname "$0")/.."

SUBSCRIBERS=${SUBSCRIBERS:-1000000}
ARTICLES=${ARTICLES:-100000}
REQUESTS=${REQUESTS:-50}
PORT=${PORT:-18480}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://root@127.0.0.1:5432/test}
DB_NAME=${DB_NAME:-tidings_console_bench}
PG_URL="${PG_ADMIN_URL%/*}/$DB_NAME"
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d /tmp/tidings-consolebench.XXXXXX)
SERVER_PID=""

cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    if [[ -z "${KEEP:-}" ]]; then
        psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB_NAME" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

command -v psql >/dev/null || { echo "psql is needed (PostgreSQL client)"; exit 1; }
pg_isready -h 127.0.0.1 -p 5432 -q || { echo "PostgreSQL is not answering on 127.0.0.1:5432"; exit 1; }

echo "== building (release)"
cargo build --release --quiet
BIN=target/release/tidings

echo "== database $DB_NAME"
psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB_NAME" >/dev/null
psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $DB_NAME" >/dev/null

cat >"$WORK/tidings.toml" <<EOF
[site]
title = "青海省总工会"
base_url = "$BASE"
[server]
bind = "127.0.0.1:$PORT"
[database]
url = "$PG_URL"
[mail]
transport = "file"
from = "青海省总工会 <news@example.org>"
[[sections]]
slug = "news"
title = "工会要闻"
[[sections]]
slug = "notices"
title = "通知公告"
[[sections]]
slug = "grassroots"
title = "基层动态"
[[schedules]]
slug = "daily"
name = "每日摘要"
cron = "0 8 * * *"
timezone = "Asia/Shanghai"
[[schedules]]
slug = "weekly"
name = "每周精选"
cron = "0 9 * * 1"
timezone = "Asia/Shanghai"
EOF
# Outbox and content directories of the default config live under the work directory.
export TIDINGS_CONFIG="$WORK/tidings.toml"
(cd "$WORK" && "$OLDPWD/$BIN" migrate) >/dev/null

echo "== filling: $SUBSCRIBERS subscribers, $ARTICLES articles, a run of $SUBSCRIBERS deliveries"
T0=$(date +%s.%N)
psql -q -v ON_ERROR_STOP=1 "$PG_URL" <<EOF
-- 180 days back from now, in ms.
\set now_ms '(extract(epoch from now()) * 1000)::bigint'
-- migrate makes the tables; sections and schedules are seeded by serve, so here too.
INSERT INTO sections (slug, title, position, created_at, updated_at)
VALUES ('news', '工会要闻', 0, :now_ms, :now_ms), ('notices', '通知公告', 1, :now_ms, :now_ms),
       ('grassroots', '基层动态', 2, :now_ms, :now_ms)
ON CONFLICT DO NOTHING;
INSERT INTO schedules (slug, name, cron, timezone, created_at, updated_at)
VALUES ('daily', '每日摘要', '0 8 * * *', 'Asia/Shanghai', :now_ms, :now_ms),
       ('weekly', '每周精选', '0 9 * * 1', 'Asia/Shanghai', :now_ms, :now_ms)
ON CONFLICT DO NOTHING;
INSERT INTO articles (id, section, title, url, content_html, summary, author, tags,
                      published_at, visible_at, content_hash, source, created_at, modified_at)
SELECT 'a' || n,
       (ARRAY['news', 'notices', 'grassroots'])[1 + n % 3],
       '第' || n || '期 工会要闻：基层工会换届选举工作稳步推进',
       '$BASE/articles/a' || n,
       '<p>全省各级工会认真学习贯彻会议精神，第' || n || '期。</p>',
       '全省各级工会认真学习贯彻会议精神。',
       '宣传部',
       '["工会"]',
       :now_ms - n::bigint * 600000, :now_ms - n::bigint * 600000,
       md5(n::text), 'api', :now_ms, :now_ms
FROM generate_series(1, $ARTICLES) AS n;

INSERT INTO subscribers (email, status, all_sections, schedule, locale, created_at,
                         confirmed_at, unsubscribed_at, bounced_at, source)
SELECT 'member' || n || '@' || (ARRAY['qq.com', '163.com', 'example.org', 'gmail.com'])[1 + n % 4],
       CASE WHEN n % 20 = 0 THEN 'pending' WHEN n % 20 = 1 THEN 'unsubscribed'
            WHEN n % 50 = 2 THEN 'bounced' ELSE 'active' END,
       n % 3 <> 0,
       CASE WHEN n % 5 = 0 THEN 'weekly' ELSE 'daily' END,
       CASE WHEN n % 5 = 1 THEN 'en' ELSE 'zh-CN' END,
       :now_ms - (n % 180)::bigint * 86400000 - (n % 86400)::bigint * 1000,
       CASE WHEN n % 20 = 0 THEN NULL ELSE :now_ms - (n % 180)::bigint * 86400000 END,
       CASE WHEN n % 20 = 1 THEN :now_ms - (n % 90)::bigint * 86400000 END,
       CASE WHEN n % 50 = 2 AND n % 20 <> 1 AND n % 20 <> 0 THEN :now_ms - (n % 60)::bigint * 86400000 END,
       CASE WHEN n % 7 = 0 THEN 'import' ELSE 'form' END
FROM generate_series(1, $SUBSCRIBERS) AS n;

INSERT INTO subscriber_sections (subscriber_id, section)
SELECT id, (ARRAY['news', 'notices', 'grassroots'])[1 + id % 3]
FROM subscribers WHERE NOT all_sections;

INSERT INTO runs (schedule, fire_at, status, created_at, planned_at, finished_at)
SELECT 'daily', :now_ms - d::bigint * 86400000, 'done',
       :now_ms - d::bigint * 86400000, :now_ms - d::bigint * 86400000,
       :now_ms - d::bigint * 86400000 + 600000
FROM generate_series(1, 30) AS d;

-- The newest run: every subscriber a delivery, a few hundred failed with an SMTP reply.
INSERT INTO deliveries (run_id, subscriber_id, status, attempts, next_attempt_at, last_error,
                        message_id, sent_at, last_attempt_at)
SELECT (SELECT max(id) FROM runs), s.id,
       CASE WHEN s.id % 2000 = 7 THEN 'failed' ELSE 'sent' END, 1, 0,
       CASE WHEN s.id % 2000 = 7 THEN '550 5.1.1 <' || s.email || '>: Recipient address rejected' END,
       CASE WHEN s.id % 2000 = 7 THEN NULL ELSE '<' || s.id || '.bench@example.org>' END,
       :now_ms - 86400000, :now_ms - 86400000
FROM subscribers s;
ANALYZE;
EOF
T1=$(date +%s.%N)
echo "filled in $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.0f", b - a }') s"
RUN_ID=$(psql -tA "$PG_URL" -c "SELECT max(id) FROM runs")
PERSON_ID=$(psql -tA "$PG_URL" -c "SELECT id FROM subscribers WHERE email = 'member123457@163.com'")

echo "== serving"
(cd "$WORK" && exec "$OLDPWD/$BIN" serve) >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
    if curl -fs "$BASE/readyz" >/dev/null 2>&1; then break; fi
    sleep 0.2
done
curl -fs "$BASE/readyz" >/dev/null || { echo "the server did not start:"; tail -20 "$WORK/serve.log"; exit 1; }

echo "== an admin, logged in through the console's forms"
EMAIL=bench-admin@example.org
PASSWORD='湟水河畔 benchmark 2026'
LINK=$(cd "$WORK" && "$OLDPWD/$BIN" admin add "$EMAIL" --role admin | grep -o 'http[^ ]*' | head -1)
[[ -n "$LINK" ]] || { echo "tidings admin add printed no link"; exit 1; }
JAR="$WORK/cookies"
csrf_of() { grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//'; }
LINK_PATH="/${LINK#http*://*/}"
CSRF=$(curl -fs -c "$JAR" -b "$JAR" "$BASE$LINK_PATH" | csrf_of)
TOKEN=$(sed -n 's/.*[?&]token=\([^&]*\).*/\1/p' <<<"$LINK")
curl -fs -o /dev/null -c "$JAR" -b "$JAR" -H "Origin: $BASE" \
    --data-urlencode "csrf=$CSRF" --data-urlencode "token=$TOKEN" \
    --data-urlencode "password=$PASSWORD" --data-urlencode "repeat=$PASSWORD" \
    "$BASE/admin/password"
CSRF=$(curl -fs -c "$JAR" -b "$JAR" "$BASE/admin/login" | csrf_of)
curl -fs -o /dev/null -c "$JAR" -b "$JAR" -H "Origin: $BASE" \
    --data-urlencode "csrf=$CSRF" --data-urlencode "email=$EMAIL" \
    --data-urlencode "password=$PASSWORD" "$BASE/admin/login"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -b "$JAR" "$BASE/admin")
[[ "$STATUS" == 200 ]] || { echo "not logged in: GET /admin answered $STATUS"; tail -20 "$WORK/serve.log"; exit 1; }

# One page: 3 warm-up requests, then $REQUESTS timed ones; prints "name p50 p95 max" in ms and
# fails when an answer is not 200.
measure() {
    local name=$1 path=$2 code
    for _ in 1 2 3; do curl -s -o /dev/null -b "$JAR" "$BASE$path"; done
    : >"$WORK/times"
    for _ in $(seq "$REQUESTS"); do
        read -r code t < <(curl -s -o /dev/null -b "$JAR" -w '%{http_code} %{time_total}\n' "$BASE$path")
        if [[ "$code" != 200 ]]; then echo "$name: $path answered $code" >&2; return 1; fi
        echo "$t" >>"$WORK/times"
    done
    sort -n "$WORK/times" | awk -v name="$name" -v path="$path" -v raw="$WORK/raw" '
        { t[NR] = $1 * 1000 }
        END {
            p50 = t[int((NR + 1) * 0.50)]; p95 = t[int(NR * 0.95 + 0.999)];
            printf "%-22s %8.1f %8.1f %8.1f   %s\n", name, p50, p95, t[NR], path
            printf "%s\t%.1f\n", name, p95 >> raw
        }'
}

echo "== $REQUESTS requests per page, one at a time (ms)"
printf "%-22s %8s %8s %8s   %s\n" page p50 p95 max path
{
    measure "reference: /healthz" "/healthz"
    measure "dashboard" "/admin"
    measure "subscribers" "/admin/subscribers"
    measure "subscriber search" "/admin/subscribers?q=MEMBER12345"
    measure "subscriber filter" "/admin/subscribers?status=bounced&schedule=weekly"
    measure "subscriber page" "/admin/subscribers/$PERSON_ID"
    measure "articles" "/admin/articles"
    measure "article search" "/admin/articles?q=%E7%AC%AC99999%E6%9C%9F"
    measure "runs" "/admin/runs"
    measure "run page" "/admin/runs/$RUN_ID"
    measure "sections" "/admin/sections"
    measure "schedules" "/admin/schedules"
}

echo "== goal: p95 < 100 ms for every console page"
awk -F '\t' '$1 !~ /^reference/ && $2 + 0 >= 100 { print "MISSED: " $1 " p95 " $2 " ms"; bad = 1 }
     END { exit bad }' "$WORK/raw" && echo "every page met the goal"
