#!/usr/bin/env bash
# Feed benchmarks (issues 3 and 11). Prints every figure and the ratios; asserts nothing.
#
#   bash benches/feeds.sh            # all three
#   ROUNDS=3 DURATION=10s bash benches/feeds.sh serving
#   WRK_THREADS=2 bash benches/feeds.sh serving     # a client with two threads
#
# serving   nginx (Debian package, its own nginx.conf: worker_processes auto, access log)
#           serving the identical bytes of a 50-item feed as a static file with its ETag, once
#           with `sendfile on` and once with `sendfile off`, vs `tidings serve` (release build,
#           the full HTTP stack), `wrk -c64 -d10s --latency` against each, 200s and 304s, in
#           rounds that alternate which server goes first. For each: requests/s, the server's
#           CPU time per answer (user + system time of its processes from /proc/PID/stat, over
#           the whole wrk run, divided by the answers wrk counted) and wrk's p99 latency; then
#           tidings / nginx. Goals (issue 11): CPU per answer <= 1.0x nginx's, p99 <= 2x.
# freshness PUT -> first GET of the feed showing the change, over 1,000 updates.
# scale     100,000 articles over 50 sections: cold build of every cache; one article changed.
set -euo pipefail
cd "$(dirname "$0")/.."

WHAT="${1:-all}"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10s}"
# The issue's client is one wrk thread (-t1); WRK_THREADS=2 shows the servers without that limit.
WRK_THREADS="${WRK_THREADS:-1}"
UPDATES="${UPDATES:-1000}"
TIDINGS_PORT="${TIDINGS_PORT:-18080}"
NGINX_PORT="${NGINX_PORT:-18081}"
NGINX_NOSENDFILE_PORT="${NGINX_NOSENDFILE_PORT:-18082}"
TOKEN="bench-publisher-token-0123456789"
WORK="$(mktemp -d /tmp/tidings-bench.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
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

# CPU ticks (user + system, all threads) of the given processes.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
# wrk's p99 latency in ms, from its --latency table ("99%  1.23ms").
p99() {
  awk '$1 == "99%" { v = $2; u = $2; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
    f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1; printf "%.2f\n", v * f }'
}
# load NAME URL "SERVER_PIDS" [wrk options]: one wrk run; appends to $WORK/NAME the line
# "req/s  server-CPU-us-per-answer  p99-ms".
load() {
  local name="$1" url="$2" servers="$3"; shift 3
  local s0 s1 hz answers
  hz="$(getconf CLK_TCK)"
  # shellcheck disable=SC2086
  s0="$(ticks $servers)"
  wrk -t"$WRK_THREADS" -c64 -d"$DURATION" --latency "$@" "$url" >"$WORK/wrk.out"
  # shellcheck disable=SC2086
  s1="$(ticks $servers)"
  if grep -q "Non-2xx or 3xx" "$WORK/wrk.out"; then echo "$name: error answers"; cat "$WORK/wrk.out"; exit 1; fi
  answers="$(awk '/requests in/ { print $1 }' "$WORK/wrk.out")"
  printf "%s %s %s\n" \
    "$(awk '/Requests\/sec/ { print $2 }' "$WORK/wrk.out")" \
    "$(awk -v a="$s0" -v b="$s1" -v hz="$hz" -v n="$answers" 'BEGIN { printf "%.2f", (b - a) / hz / n * 1e6 }')" \
    "$(p99 <"$WORK/wrk.out")" >>"$WORK/$name"
}
# col FILE N: the mean of column N of FILE.
col() { awk -v c="$2" '{ s += $c } END { printf "%.2f", s / NR }' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

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
  # The Debian package's own nginx.conf (worker_processes auto, sendfile on, access log,
  # default keep-alive), with the two sites below in place of sites-enabled, a private pid
  # file and the access log under $WORK. The sites differ only in `sendfile`.
  sed -e "s|^pid .*|pid $WORK/nginx.pid;|" \
      -e "s|include /etc/nginx/sites-enabled/\*;|include $WORK/site.conf;|" \
      -e "s|access_log .*;|access_log $WORK/access.log;|" \
      /etc/nginx/nginx.conf >"$WORK/nginx.conf"
  : >"$WORK/site.conf"
  local port sendfile
  for port_sendfile in "$NGINX_PORT on" "$NGINX_NOSENDFILE_PORT off"; do
    read -r port sendfile <<<"$port_sendfile"
    cat >>"$WORK/site.conf" <<EOF
server {
  listen 127.0.0.1:$port;
  sendfile $sendfile;
  root $WORK/www;
  types { application/rss+xml rss; }
  location / { add_header Cache-Control "public, max-age=300"; }
}
EOF
  done
  nginx -c "$WORK/nginx.conf" -p "$WORK"
  sleep 0.3
  local n_url="http://127.0.0.1:$NGINX_PORT/feeds/news.rss"
  local o_url="http://127.0.0.1:$NGINX_NOSENDFILE_PORT/feeds/news.rss"
  local t_url="http://127.0.0.1:$TIDINGS_PORT/feeds/news.rss"
  local n_etag t_etag n_pids
  n_etag="$(curl -fsSI "$n_url" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')"
  t_etag="$(curl -fsSI "$t_url" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')"
  n_pids="$(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ')"
  cmp <(curl -fsS "$n_url") <(curl -fsS "$t_url")
  cmp <(curl -fsS "$o_url") <(curl -fsS "$t_url")
  echo "identical bytes; ETags: nginx $n_etag, tidings $t_etag; nginx workers: $n_pids; tidings: $t_pid"
  for url in "$n_url|$n_etag" "$o_url|$n_etag" "$t_url|$t_etag"; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: ${url#*|}" "${url%|*}")" = 304 ]
  done

  # n: nginx sendfile on, o: nginx sendfile off, t: tidings; then the status.
  local runs=(n200 o200 t200 n304 o304 t304)
  for f in "${runs[@]}"; do : >"$WORK/$f"; done
  nginx_runs() {
    if [ "$1" = 304 ]; then
      load n304 "$n_url" "$n_pids" -H "If-None-Match: $n_etag"
      load o304 "$o_url" "$n_pids" -H "If-None-Match: $n_etag"
    else
      load n200 "$n_url" "$n_pids"
      load o200 "$o_url" "$n_pids"
    fi
  }
  tidings_run() {
    if [ "$1" = 304 ]; then load t304 "$t_url" "$t_pid" -H "If-None-Match: $t_etag"; else load t200 "$t_url" "$t_pid"; fi
  }
  for round in $(seq 1 "$ROUNDS"); do
    # Odd rounds start with nginx, even ones with tidings.
    for status in 200 304; do
      if [ $((round % 2)) = 1 ]; then nginx_runs "$status"; tidings_run "$status"
      else tidings_run "$status"; nginx_runs "$status"; fi
    done
    echo "round $round (req/s, server CPU us per answer, p99 ms):" \
      "$(for f in "${runs[@]}"; do printf "%s: %s | " "$f" "$(tail -1 "$WORK/$f")"; done)"
  done

  echo
  echo "serving /feeds/news.rss: wrk -t$WRK_THREADS -c64 -d$DURATION, mean of $ROUNDS rounds, $(nproc) cores shared by wrk and the server"
  printf "%-6s %-30s %10s %15s %9s\n" status server "req/s" "CPU us/answer" "p99 ms"
  for status in 200 304; do
    local t="$WORK/t$status"
    printf "%-6s %-30s %10.0f %15s %9s\n" "$status" "nginx sendfile on" "$(col "$WORK/n$status" 1)" "$(col "$WORK/n$status" 2)" "$(col "$WORK/n$status" 3)"
    printf "%-6s %-30s %10.0f %15s %9s\n" "$status" "nginx sendfile off" "$(col "$WORK/o$status" 1)" "$(col "$WORK/o$status" 2)" "$(col "$WORK/o$status" 3)"
    printf "%-6s %-30s %10.0f %15s %9s\n" "$status" "tidings" "$(col "$t" 1)" "$(col "$t" 2)" "$(col "$t" 3)"
    for ref in "n|nginx sendfile on" "o|nginx sendfile off"; do
      local r="$WORK/${ref%%|*}$status"
      printf "%-6s %-30s %10s %15s %9s\n" "$status" "tidings / ${ref#*|}" \
        "$(ratio "$(col "$t" 1)" "$(col "$r" 1)")" "$(ratio "$(col "$t" 2)" "$(col "$r" 2)")" "$(ratio "$(col "$t" 3)" "$(col "$r" 3)")"
    done
  done
  echo "goals (issue 11): tidings CPU per answer <= 1.0x nginx's and p99 <= 2x nginx's, for 200s and 304s"
  kill "$(cat "$WORK/nginx.pid")"; rm -f "$WORK/nginx.pid"
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
