#!/usr/bin/env bash
# Feed benchmarks (issue 3). Prints every figure and the ratios; asserts nothing.
#
#   bash benches/feeds.sh            # all three
#   ROUNDS=3 DURATION=10s bash benches/feeds.sh serving
#   WRK_THREADS=2 bash benches/feeds.sh serving     # a client with two threads
#
# serving   nginx (Debian package, worker_processes auto) serving the identical bytes of a
#           50-item feed as a static file with its ETag, vs `tidings serve` (release build,
#           default runtime), `wrk -t1 -c64 -d10s` against each, alternating; 200s and 304s
#           (-t from WRK_THREADS, default 1; the ceiling is measured for one thread only).
#           Also: a bare axum handler, and the client's ceiling (wrk alone on one core against one
#           nginx worker alone on the other), with the CPU wrk and each server used.
# freshness PUT -> first GET of the feed showing the change, over 1,000 updates.
# scale     100,000 articles over 50 sections: cold build of every cache; one article changed.
set -euo pipefail
cd "$(dirname "$0")/.."

WHAT="${1:-all}"
ROUNDS="${ROUNDS:-2}"
DURATION="${DURATION:-10s}"
# The issue's client is one wrk thread (-t1); WRK_THREADS=2 shows the servers without that limit.
WRK_THREADS="${WRK_THREADS:-1}"
UPDATES="${UPDATES:-1000}"
TIDINGS_PORT="${TIDINGS_PORT:-18080}"
NGINX_PORT="${NGINX_PORT:-18081}"
PINNED_PORT="${PINNED_PORT:-18083}"
BARE_PORT="${BARE_PORT:-18082}"
TOKEN="bench-publisher-token-0123456789"
WORK="$(mktemp -d /tmp/tidings-bench.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  [ -f "$WORK/pinned.pid" ] && kill "$(cat "$WORK/pinned.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

need() {
  if ! command -v "$1" >/dev/null; then
    echo "installing $2"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "$2" >/dev/null
  fi
}

echo "== build (release)"
cargo build --release --quiet --bin tidings
BENCH_BIN="$(cargo bench --quiet --bench feeds --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json, sys; print([j["executable"] for j in map(json.loads, sys.stdin) if j.get("executable") and j["target"]["name"] == "feeds"][-1])')"
bench() { "$BENCH_BIN" "$@"; }

start_tidings() {
  cat >"$WORK/tidings.toml" <<EOF
[site]
base_url = "http://127.0.0.1:$TIDINGS_PORT"
[server]
bind = "127.0.0.1:$TIDINGS_PORT"
[database]
url = "sqlite://$WORK/tidings.db"
[auth]
publisher_token = "$TOKEN"
[mail]
transport = "log"
EOF
  ./target/release/tidings --config "$WORK/tidings.toml" serve >"$WORK/tidings.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$TIDINGS_PORT/healthz" >/dev/null && return; sleep 0.1; done
  echo "tidings did not start"; cat "$WORK/tidings.log"; exit 1
}

rps() { awk '/Requests\/sec/ {print $2}'; }
# CPU ticks (user + system, all threads) of the given processes.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
# load NAME URL SERVER_PIDS [wrk options]: runs wrk (after $PIN, e.g. `taskset -c 0`, if set);
# appends req/s to $WORK/NAME, wrk's CPU use (%) to NAME.cpu, the server's CPU use (%, all its
# processes) to NAME.srv, and wrk's CPU time per answer (µs) to NAME.us.
load() {
  local name="$1" url="$2" servers="$3"; shift 3
  local secs="${DURATION%s}" t0 t1 s0 s1
  ${PIN:-} wrk -t"$WRK_THREADS" -c64 -d"$DURATION" "$@" "$url" >"$WORK/wrk.out" &
  local pid=$!
  # CPU time over the middle of the run (all but the first and last second).
  sleep 1
  t0="$(ticks "$pid")"; s0="$(ticks $servers)"
  sleep $((secs - 2))
  t1="$(ticks "$pid")"; s1="$(ticks $servers)"
  wait "$pid"
  local r; r="$(rps <"$WORK/wrk.out")"
  echo "$r" >>"$WORK/$name"
  local hz w=$((secs - 2)); hz="$(getconf CLK_TCK)"
  awk -v a="$t0" -v b="$t1" -v hz="$hz" -v w="$w" 'BEGIN { printf "%.0f\n", (b - a) / hz / w * 100 }' >>"$WORK/$name.cpu"
  awk -v a="$s0" -v b="$s1" -v hz="$hz" -v w="$w" 'BEGIN { printf "%.0f\n", (b - a) / hz / w * 100 }' >>"$WORK/$name.srv"
  awk -v a="$t0" -v b="$t1" -v hz="$hz" -v w="$w" -v r="$r" 'BEGIN { printf "%.2f\n", (b - a) / hz / w / r * 1e6 }' >>"$WORK/$name.us"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mean() { awk '{ s += $1 } END { printf "%.0f", s / NR }'; }
mean2() { awk '{ s += $1 } END { printf "%.2f", s / NR }'; }

serving() {
  need nginx nginx
  need wrk wrk
  start_tidings
  local t_pid="${PIDS[-1]}"
  bench seed "http://127.0.0.1:$TIDINGS_PORT" "$TOKEN" 50
  sleep 0.5
  mkdir -p "$WORK/www/feeds"
  curl -fsS "http://127.0.0.1:$TIDINGS_PORT/feeds/news.rss" -o "$WORK/www/feeds/news.rss"
  chmod -R a+rX "$WORK/www"
  echo "feed: $(stat -c %s "$WORK/www/feeds/news.rss") bytes, $(grep -o '<item>' "$WORK/www/feeds/news.rss" | wc -l) items"
  # The Debian package's own nginx.conf (worker_processes auto, sendfile, access log, default
  # keep-alive), with the site below in place of sites-enabled and a private pid file.
  sed -e "s|^pid .*|pid $WORK/nginx.pid;|" \
      -e "s|include /etc/nginx/sites-enabled/\*;|include $WORK/site.conf;|" \
      /etc/nginx/nginx.conf >"$WORK/nginx.conf"
  cat >"$WORK/site.conf" <<EOF
server {
  listen 127.0.0.1:$NGINX_PORT;
  root $WORK/www;
  types { application/rss+xml rss; }
  location / { add_header Cache-Control "public, max-age=300"; }
}
EOF
  nginx -c "$WORK/nginx.conf" -p "$WORK"
  # The client's ceiling: one nginx worker pinned to the second core and wrk pinned to the
  # first, so that no server ever competes with the client for its core. What wrk takes then
  # is the most any server could get from it here.
  sed -e "s|^worker_processes .*|worker_processes 1; worker_cpu_affinity 10;|" \
      -e "s|^pid .*|pid $WORK/pinned.pid;|" -e "s|include $WORK/site.conf;|include $WORK/pinned.conf;|" \
      "$WORK/nginx.conf" >"$WORK/nginx-pinned.conf"
  sed -e "s|listen 127.0.0.1:$NGINX_PORT;|listen 127.0.0.1:$PINNED_PORT;|" "$WORK/site.conf" >"$WORK/pinned.conf"
  nginx -c "$WORK/nginx-pinned.conf" -p "$WORK"
  sleep 0.3
  local n_url="http://127.0.0.1:$NGINX_PORT/feeds/news.rss" t_url="http://127.0.0.1:$TIDINGS_PORT/feeds/news.rss"
  local b_url="http://127.0.0.1:$BARE_PORT/feeds/news.rss" p_url="http://127.0.0.1:$PINNED_PORT/feeds/news.rss"
  local n_etag t_etag
  n_etag="$(curl -fsSI "$n_url" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')"
  t_etag="$(curl -fsSI "$t_url" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')"
  "$BENCH_BIN" bare "$BARE_PORT" "$WORK/www/feeds/news.rss" "$t_etag" &
  PIDS+=($!)
  local b_pid=$! n_pids
  n_pids="$(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ')"
  local p_pids; p_pids="$(pgrep -P "$(cat "$WORK/pinned.pid")" | tr '\n' ' ')"
  sleep 0.5
  cmp <(curl -fsS "$n_url") <(curl -fsS "$t_url") && echo "identical bytes; ETags: nginx $n_etag, tidings $t_etag"
  for url in "$n_url|$n_etag" "$t_url|$t_etag" "$b_url|$t_etag"; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: ${url#*|}" "${url%|*}")" = 304 ]
  done

  for f in n200 t200 b200 c200 n304 t304 b304; do : >"$WORK/$f"; done
  for round in $(seq 1 "$ROUNDS"); do
    load n200 "$n_url" "$n_pids"
    load t200 "$t_url" "$t_pid"
    load b200 "$b_url" "$b_pid"
    if [ "$WRK_THREADS" = 1 ]; then PIN="taskset -c 0" load c200 "$p_url" "$p_pids"; fi
    load n304 "$n_url" "$n_pids" -H "If-None-Match: $n_etag"
    load t304 "$t_url" "$t_pid" -H "If-None-Match: $t_etag"
    load b304 "$b_url" "$b_pid" -H "If-None-Match: $t_etag"
    echo "round $round: 200: nginx $(tail -1 "$WORK/n200"), tidings $(tail -1 "$WORK/t200"), bare axum $(tail -1 "$WORK/b200"), client ceiling $(tail -1 "$WORK/c200") | 304: nginx $(tail -1 "$WORK/n304"), tidings $(tail -1 "$WORK/t304"), bare axum $(tail -1 "$WORK/b304") req/s"
    echo "         CPU, wrk / server (100% = one core; wrk has one thread): 200: nginx $(tail -1 "$WORK/n200.cpu")/$(tail -1 "$WORK/n200.srv")%, tidings $(tail -1 "$WORK/t200.cpu")/$(tail -1 "$WORK/t200.srv")%, bare axum $(tail -1 "$WORK/b200.cpu")/$(tail -1 "$WORK/b200.srv")% | 304: nginx $(tail -1 "$WORK/n304.cpu")/$(tail -1 "$WORK/n304.srv")%, tidings $(tail -1 "$WORK/t304.cpu")/$(tail -1 "$WORK/t304.srv")%, bare axum $(tail -1 "$WORK/b304.cpu")/$(tail -1 "$WORK/b304.srv")%"
  done
  local n2 t2 b2 n3 t3 b3
  n2="$(mean <"$WORK/n200")"; t2="$(mean <"$WORK/t200")"; b2="$(mean <"$WORK/b200")"
  n3="$(mean <"$WORK/n304")"; t3="$(mean <"$WORK/t304")"; b3="$(mean <"$WORK/b304")"
  echo "serving 200: nginx $n2 req/s, tidings $t2 req/s, ratio $(ratio "$t2" "$n2") (goal >= 1.2); bare axum $b2 req/s = $(ratio "$b2" "$n2") x nginx"
  echo "  wrk's own CPU during the 200 runs: nginx $(mean <"$WORK/n200.cpu")%, tidings $(mean <"$WORK/t200.cpu")%, bare axum $(mean <"$WORK/b200.cpu")% of one core (near 100%: the client sets the pace)"
  echo "  server CPU during the 200 runs: nginx $(mean <"$WORK/n200.srv")%, tidings $(mean <"$WORK/t200.srv")%, bare axum $(mean <"$WORK/b200.srv")%"
  if [ "$WRK_THREADS" = 1 ]; then
    local c2; c2="$(mean <"$WORK/c200")"
    echo "  the client's ceiling (wrk alone on core 0, one nginx worker alone on core 1): $c2 req/s = $(ratio "$c2" "$n2") x nginx as configured" \
      "(CPU: wrk $(mean <"$WORK/c200.cpu")%, the nginx worker $(mean <"$WORK/c200.srv")%);" \
      "tidings reached $(awk -v t="$t2" -v c="$c2" 'BEGIN { printf "%.0f", t / c * 100 }')% of it"
    local tu; tu="$(mean2 <"$WORK/t200.us")"
    echo "  wrk's CPU per 200 answer: nginx $(mean2 <"$WORK/n200.us") us, tidings $tu us, bare axum $(mean2 <"$WORK/b200.us") us;" \
      "one wrk thread can take at most ~$(awk -v u="$tu" 'BEGIN { printf "%.0f", 1e6 / u }') answers/s like tidings' = $(ratio "$(awk -v u="$tu" 'BEGIN { printf "%.0f", 1e6 / u }')" "$n2") x this run's nginx"
  fi
  echo "serving 304: nginx $n3 req/s, tidings $t3 req/s, ratio $(ratio "$t3" "$n3") (goal >= 1.0); bare axum $b3 req/s = $(ratio "$b3" "$n3") x nginx"
  kill "$(cat "$WORK/nginx.pid")" "$(cat "$WORK/pinned.pid")"; rm -f "$WORK/nginx.pid" "$WORK/pinned.pid"
}

freshness() {
  if ! curl -fs "http://127.0.0.1:$TIDINGS_PORT/healthz" >/dev/null 2>&1; then
    start_tidings
    bench seed "http://127.0.0.1:$TIDINGS_PORT" "$TOKEN" 50
  fi
  bench freshness "http://127.0.0.1:$TIDINGS_PORT" "$TOKEN" "$UPDATES"
}

scale() {
  bench scale 100000 50
}

case "$WHAT" in
  serving) echo "== serving"; serving ;;
  freshness) echo "== freshness"; freshness ;;
  scale) echo "== scale"; scale ;;
  all) echo "== serving"; serving; echo "== freshness"; freshness; echo "== scale"; scale ;;
  *) echo "usage: $0 [serving|freshness|scale|all]"; exit 2 ;;
esac
