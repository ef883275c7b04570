#!/usr/bin/env bash
# Digest throughput (issue 5): tidings against Postfix's smtp-source, both sending to
# Postfix's smtp-sink over the same number of reused SMTP connections, in one run.
#
#   benches/digests.sh                 # 100,000 subscribers, 4 connections
#   SUBSCRIBERS=20000 CONCURRENCY=8 SINK_PORT=2626 benches/digests.sh
#
# Goals: tidings >= 0.8x smtp-source end to end (issue 10; issue 5 asked 0.5x) with every delivery recorded; planning
# 100k deliveries < 2 s; peak RSS < 200 MB. Exits non-zero when a goal is missed.
set -euo pipefail
cd "$(dirname "$0")/.."

SUBSCRIBERS=${SUBSCRIBERS:-100000}
CONCURRENCY=${CONCURRENCY:-4}
SINK_PORT=${SINK_PORT:-2525}
SINK="127.0.0.1:${SINK_PORT}"
WORK=$(mktemp -d /tmp/tidings-digestbench.XXXXXX)
SINK_PID=""

cleanup() {
    if [[ -n "$SINK_PID" ]]; then kill "$SINK_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- tools -------------------------------------------------------------------------------
if ! command -v smtp-sink >/dev/null || ! command -v smtp-source >/dev/null; then
    echo "== installing postfix (for smtp-sink and smtp-source; the daemon is not started)"
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix >/dev/null
fi
export PATH="$PATH:/usr/sbin"

echo "== building (release)"
cargo bench --bench digests --no-run 2>"$WORK/build.log" || { cat "$WORK/build.log"; exit 1; }
DRIVER=$(sed -n 's/.*Executable .*(\(.*digests-[0-9a-f]*\))$/\1/p' "$WORK/build.log" | tail -1)
[[ -x "$DRIVER" ]] || { echo "driver not found in:"; cat "$WORK/build.log"; exit 1; }

# smtp-sink prints "sess=.. quit=.. mesg=N" counters (-c); root must name a user to drop to.
start_sink() {
    local user=()
    if [[ $(id -u) -eq 0 ]]; then user=(-u nobody); fi
    smtp-sink -c "${user[@]}" "$SINK" 1000 >"$WORK/sink.log" 2>&1 &
    SINK_PID=$!
    for _ in $(seq 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/${SINK_PORT}") 2>/dev/null; then return; fi
        sleep 0.1
    done
    echo "smtp-sink did not start on $SINK"; cat "$WORK/sink.log"; exit 1
}
stop_sink() {
    sleep 0.2
    kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true
    SINK_PID=""
    # The last "mesg=" counter (the readiness probe of start_sink sends no message).
    tr '\r' '\n' <"$WORK/sink.log" | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2
}
field() { grep -o "^$1=[0-9.]*" "$2" | cut -d= -f2; }

# --- data --------------------------------------------------------------------------------
echo "== preparing $SUBSCRIBERS subscribers over 3 sections and 20 articles (SQLite)"
DB="$WORK/tidings.db"
"$DRIVER" prepare "$DB" "$SUBSCRIBERS" | tee "$WORK/prepare.out"
SIZE=$(field digest_bytes "$WORK/prepare.out")

# --- smtp-source -------------------------------------------------------------------------
echo "== smtp-source: $SUBSCRIBERS messages of $SIZE bytes over $CONCURRENCY reused connections"
start_sink
T0=$(date +%s.%N)
smtp-source -s "$CONCURRENCY" -d -m "$SUBSCRIBERS" -l "$SIZE" \
    -f news@example.org -t reader@example.org "$SINK"
T1=$(date +%s.%N)
SOURCE_GOT=$(stop_sink)
SOURCE_RATE=$(awk -v n="$SUBSCRIBERS" -v a="$T0" -v b="$T1" 'BEGIN { printf "%.0f", n / (b - a) }')
echo "smtp-source: $SOURCE_GOT messages received by the sink, $SOURCE_RATE messages/s"

# --- tidings -----------------------------------------------------------------------------
echo "== tidings: one run of the daily schedule to $SUBSCRIBERS subscribers, mail.concurrency = $CONCURRENCY"
start_sink
"$DRIVER" run "$DB" "$SINK" "$CONCURRENCY" | tee "$WORK/run.out"
TIDINGS_GOT=$(stop_sink)
TIDINGS_RATE=$(field messages_per_second "$WORK/run.out")
PLANNING=$(field planning_seconds "$WORK/run.out")
RSS=$(field peak_rss_mb "$WORK/run.out")
RATIO=$(awk -v a="$TIDINGS_RATE" -v b="$SOURCE_RATE" 'BEGIN { printf "%.2f", a / b }')

# --- figures -----------------------------------------------------------------------------
FAILED=0
verdict() { # condition for awk; sets FAILED when it does not hold
    if awk "BEGIN { exit !($1) }"; then V=ok; else V=MISSED; FAILED=1; fi
}
echo
echo "== digests benchmark: $SUBSCRIBERS subscribers, $SIZE-byte mails, $CONCURRENCY connections, $(nproc) cores"
printf '%-42s %9s msg/s\n' "smtp-source" "$SOURCE_RATE"
printf '%-42s %9s msg/s\n' "tidings (plan, render, send, record)" "$TIDINGS_RATE"
verdict "$RATIO >= 0.8"
printf '%-42s %9s       goal >= 0.8   %s\n' "ratio tidings / smtp-source" "$RATIO" "$V"
verdict "$PLANNING < 2"
printf '%-42s %9s s     goal < 2 s    %s\n' "planning $SUBSCRIBERS deliveries" "$PLANNING" "$V"
verdict "$RSS < 200"
printf '%-42s %9s MB    goal < 200 MB %s\n' "peak RSS of the tidings process (VmHWM)" "$RSS" "$V"
verdict "$TIDINGS_GOT == $SUBSCRIBERS"
printf '%-42s %9s       goal %s  %s\n' "mails received by smtp-sink from tidings" "$TIDINGS_GOT" "$SUBSCRIBERS" "$V"
exit "$FAILED"
