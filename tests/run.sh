#!/usr/bin/env bash
# The test command of the README: installs what the suite needs and is missing on this machine
# (Python feedparser for the feed-reader check; dkimpy and PyNaCl, the independent DKIM verifier;
# Dovecot, the real IMAP server of the bounce-mailbox tests; Chromium, ChromeDriver and a CJK font
# for the browser tests and their screenshots), then runs the whole suite. Extra arguments go to
# `cargo test` (a filter, `-- --nocapture`, ...).
#
# PostgreSQL variants run when TIDINGS_TEST_POSTGRES_URL is set; without it they are skipped.
# With it set and no arguments (the whole suite, as CI runs it), this script fails when no
# PostgreSQL variant ran at all. Tests that start `tidings serve` copy its log into their output
# (TIDINGS_TEST_ECHO, on unless set to something else), so a failing one shows its servers' logs.
# A developer and CI run exactly this, with nothing else set.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "tests/run.sh: need root (or sudo) to install: $*" >&2; return 1
  fi
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [[ -z "${TIDINGS_APT_UPDATED:-}" ]]; then
    as_root apt-get update -qq
    TIDINGS_APT_UPDATED=1
  fi
  as_root apt-get install -y -qq "$@" >/dev/null
}

if ! python3 -c 'import feedparser' 2>/dev/null; then
  echo "tests/run.sh: installing Python feedparser"
  python3 -m pip install --quiet --disable-pip-version-check feedparser 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages feedparser \
    || apt_install python3-feedparser
fi
if ! python3 -c 'import dkim, nacl' 2>/dev/null; then
  echo "tests/run.sh: installing Python dkimpy and pynacl (the independent DKIM verifier)"
  python3 -m pip install --quiet --disable-pip-version-check dkimpy pynacl 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages dkimpy pynacl \
    || apt_install python3-dkim python3-nacl
fi
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  echo "tests/run.sh: installing chromium and chromium-driver"
  apt_install chromium chromium-driver
fi
if [[ ! -x /usr/sbin/dovecot ]]; then
  echo "tests/run.sh: installing dovecot-imapd for the IMAP poller tests"
  apt_install dovecot-imapd
fi
if ! fc-list 2>/dev/null | grep -qi 'cjk\|wqy'; then
  echo "tests/run.sh: installing a CJK font for the screenshots"
  apt_install fonts-noto-cjk || apt_install fonts-wqy-microhei \
    || echo "tests/run.sh: no CJK font package; screenshots may show boxes" >&2
fi

export TIDINGS_TEST_ECHO=${TIDINGS_TEST_ECHO:-1}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The output goes to a file that is followed until cargo exits, not through a pipe: a server a
# broken test left running would hold a pipe open and keep this script waiting for ever.
status=0
# A test that hangs fails the run after an hour (TIDINGS_TEST_TIMEOUT seconds) with the log so
# far, instead of running into CI's own limit with nothing to show.
timeout --kill-after=30 "${TIDINGS_TEST_TIMEOUT:-3600}" cargo test "$@" >"$log" 2>&1 &
cargo_pid=$!
tail -n +1 -f --pid="$cargo_pid" "$log"
wait "$cargo_pid" || status=$?
bin="$PWD/target/debug/tidings"
if pgrep -f "^$bin " >/dev/null; then
  echo "tests/run.sh: tidings processes outlived the tests that started them; stopping them:" >&2
  pgrep -af "^$bin " >&2 || true
  pkill -KILL -f "^$bin " || true
  [[ "$status" -ne 0 ]] || status=1
fi
if [[ "$status" -eq 124 || "$status" -eq 137 ]]; then
  echo "tests/run.sh: the tests did not finish within ${TIDINGS_TEST_TIMEOUT:-3600} s" >&2
  exit "$status"
elif [[ "$status" -ne 0 ]]; then
  echo "tests/run.sh: cargo test failed (exit $status)" >&2
  exit "$status"
fi
if [[ -n "${TIDINGS_TEST_POSTGRES_URL:-}" && $# -eq 0 ]]; then
  pg_run=$(grep -cE '(::|_)postgres \.\.\. ok' "$log" || true)
  echo "tests/run.sh: PostgreSQL variants run: $pg_run"
  if [[ "$pg_run" -eq 0 ]]; then
    echo "tests/run.sh: no PostgreSQL variant ran: the suite proved nothing about PostgreSQL" >&2
    exit 1
  fi
fi
