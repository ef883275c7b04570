#!/usr/bin/env bash
# `tidings import DIR` on PostgreSQL (issue 15, goal >= 20,000 rows/s), against two references
# measured in the same run:
# - psql `\copy` of the files' text (id, section, title, body) into a bare table: what
#   PostgreSQL takes to take in that much text;
# - psql `\copy` of the very rows the first import stored (rendered HTML, summary and all) into
#   the `articles` table of a second tidings database (its keys, indexes, triggers and TOAST):
#   what PostgreSQL alone takes to store those articles, the floor for any importer of them.
#
#   bash benches/import_articles.sh                 # 200,000 articles
#   N=20000 bash benches/import_articles.sh
#   BIN=/tmp/tidings bash benches/import_articles.sh   # a binary built before (no build)
#   PG_ADMIN_URL=postgres://root@127.0.0.1:5432/test bash benches/import_articles.sh
#
# It makes its own database (dropped at exit), writes N article files in the directory-source
# layout (four sections; bodies are real text from /work/shared/fixtures or content/, cut and
# rotated differently for each file), builds and runs the release binary three times: a first
# import (every article created), a second one after a tenth of the files were edited
# (updated; the rest unchanged, recognised by their digest without being parsed again) and a
# third with nothing changed. The importer's own log says how its time split between
# preparing files (reading, Markdown, sanitising, on every core) and storing them.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/common.sh
source benches/common.sh   # bench_postgres_cpu_seconds

N=${N:-200000}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://root@127.0.0.1:5432/test}
DB_NAME=${DB_NAME:-tidings_import_bench}
PG_URL="${PG_ADMIN_URL%/*}/$DB_NAME"
FIXTURES=${FIXTURES:-/work/shared/fixtures/articles}
[[ -d "$FIXTURES" ]] || FIXTURES=content
WORK=$(mktemp -d /tmp/tidings-importbench.XXXXXX)

cleanup() {
    psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" \
        -c "DROP DATABASE IF EXISTS ${DB_NAME}_rows WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

command -v psql >/dev/null || { echo "psql is needed (PostgreSQL client)"; exit 1; }
psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" -c "CREATE DATABASE $DB_NAME" >/dev/null

if [[ -z "${BIN:-}" ]]; then
    echo "building the release binary…"
    cargo build --release --quiet
    BIN=target/release/tidings
fi

echo "writing $N article files under $WORK/content…"
python3 - "$FIXTURES" "$WORK/content" "$WORK/reference.tsv" "$N" <<'PY'
import os, sys, pathlib
fixtures, out, tsv, n = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
paragraphs = []
for path in sorted(pathlib.Path(fixtures).rglob("*.md")):
    text = path.read_text(encoding="utf-8")
    body = text.split("+++", 2)[2] if text.startswith("+++") else text
    paragraphs += [p.strip() for p in body.split("\n\n") if p.strip()]
assert paragraphs, "no fixture text found"
sections = ["news", "notices", "grassroots", "about"]
for s in sections:
    (out / s).mkdir(parents=True, exist_ok=True)
def esc(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
with open(tsv, "w", encoding="utf-8") as ref:
    for i in range(n):
        section = sections[i % 4]
        k = i % len(paragraphs)
        # Four to eight paragraphs, starting at a different place for each file.
        body = "\n\n".join(paragraphs[(k + j) % len(paragraphs)] for j in range(4 + i % 5))
        title = f"{paragraphs[k][:24].strip()}（第{i}号）".replace('"', "“")
        day = 1 + i % 28
        front = (f'+++\ntitle = "{title}"\nurl = "https://www.example.org/{section}/a{i}.html"\n'
                 f'author = "张鹏"\ntags = ["工会", "第{i % 50}期"]\n'
                 f'published_at = "2025-02-{day:02d}T09:00:00+08:00"\n+++\n\n')
        (out / section / f"a{i:07d}.md").write_text(front + body + "\n", encoding="utf-8")
        ref.write(f"{section}/a{i:07d}\t{section}\t{esc(title)}\t{esc(body)}\n")
PY
du -sh "$WORK/content" | sed 's/^/content size: /'

CONFIG=tests/data/no-sources.toml
# "CPU: …" of a step that took $1 s of the client's CPU and $2 s of PostgreSQL's, for N rows,
# with the rate two cores would allow at that cost (the machine's ceiling for the step).
cpu_line() {
    awk -v c="$1" -v p="$2" -v n="$N" -v cores="$(nproc)" 'BEGIN {
        printf "  CPU: client %.1f s, PostgreSQL %.1f s = %.0f us per row; %d cores allow %.0f rows/s at that cost\n",
            c, p, (c + p) * 1e6 / n, cores, cores * n / (c + p) }'
}

run_import() { # $1: label
    local log="$WORK/import-$1.log" start end pg0 pg1 cpu
    pg0=$(bench_postgres_cpu_seconds)
    start=$(date +%s.%N)
    # bash's `time` gives the importer's own user and system time.
    cpu=$( { TIMEFORMAT='%U %S'; time TIDINGS_CONFIG=$CONFIG TIDINGS_DATABASE__URL=$PG_URL RUST_LOG=info \
        "$BIN" import "$WORK/content" >"$log" 2>&1; } 2>&1 ) || { cat "$log"; exit 1; }
    end=$(date +%s.%N)
    pg1=$(bench_postgres_cpu_seconds)
    grep -hE "^imported |^[0-9]+ unchanged files recognised" "$log"
    grep -h "import finished" "$log" | sed -E 's/.*import finished *//' | sed 's/^/  importer log: /'
    cpu_line "$(echo "$cpu" | awk '{ print $1 + $2 }')" "$(echo "$pg1 - $pg0" | bc -l)"
    echo "$end - $start" | bc -l
}

# Migrations first, outside the timing (as any deployment has run them before an import).
TIDINGS_CONFIG=$CONFIG TIDINGS_DATABASE__URL=$PG_URL "$BIN" migrate >/dev/null

echo "== tidings import, first run (all created)"
first=$(run_import first); echo "$first" | head -n -1
t1=$(echo "$first" | tail -n 1)
# The rows it stored, for the second reference (outside the timings).
psql -q "$PG_URL" -c "\\copy sections TO '$WORK/sections.copy'" -c "\\copy articles TO '$WORK/articles.copy'"

echo "== tidings import, second run (one file in ten edited: updated; the rest unchanged)"
python3 - "$WORK/content" <<'PY'
import pathlib, sys
for i, p in enumerate(sorted(pathlib.Path(sys.argv[1]).rglob("*.md"))):
    if i % 10 == 0:
        p.write_text(p.read_text(encoding="utf-8") + "\n（修订）\n", encoding="utf-8")
PY
second=$(run_import second); echo "$second" | head -n -1
t2=$(echo "$second" | tail -n 1)

echo "== tidings import, third run (nothing changed)"
third=$(run_import third); echo "$third" | head -n -1
t3=$(echo "$third" | tail -n 1)

echo "== reference: psql \\copy of the same rows into a bare table"
psql -q "$PG_URL" -c "CREATE TABLE copy_reference (id TEXT, section TEXT, title TEXT, body TEXT)"
start=$(date +%s.%N)
psql -q "$PG_URL" -c "\\copy copy_reference FROM '$WORK/reference.tsv'"
end=$(date +%s.%N)
tc=$(echo "$end - $start" | bc -l)

echo "== reference: psql \\copy of the stored rows into articles (a second tidings database)"
REF_URL="${PG_ADMIN_URL%/*}/${DB_NAME}_rows"
psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS ${DB_NAME}_rows WITH (FORCE)" -c "CREATE DATABASE ${DB_NAME}_rows" >/dev/null
TIDINGS_CONFIG=$CONFIG TIDINGS_DATABASE__URL=$REF_URL "$BIN" migrate >/dev/null
psql -q "$REF_URL" -c "TRUNCATE sections CASCADE" \
    -c "\\copy sections FROM '$WORK/sections.copy'" -c "CHECKPOINT"
pg0=$(bench_postgres_cpu_seconds)
start=$(date +%s.%N)
cpu=$( { TIMEFORMAT='%U %S'; time psql -q "$REF_URL" -c "\\copy articles FROM '$WORK/articles.copy'"; } 2>&1 )
end=$(date +%s.%N)
pg1=$(bench_postgres_cpu_seconds)
tr=$(echo "$end - $start" | bc -l)
cpu_line "$(echo "$cpu" | awk '{ print $1 + $2 }')" "$(echo "$pg1 - $pg0" | bc -l)"
psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS ${DB_NAME}_rows WITH (FORCE)" >/dev/null

rate() { echo "$N / $1" | bc -l | xargs printf "%.0f"; }
printf "\n%-40s %10s %12s %10s %10s\n" "N=$N" "seconds" "rows/s" "/ text" "/ rows"
row() { # label seconds
    printf "%-40s %10.2f %12s %10.2f %10.2f\n" "$1" "$2" "$(rate "$2")" "$(echo "$2 / $tc" | bc -l)" "$(echo "$2 / $tr" | bc -l)"
}
row "psql \\copy of the text (bare table)" "$tc"
row "psql \\copy of the stored rows" "$tr"
row "tidings import (created)" "$t1"
row "tidings import (10% updated)" "$t2"
row "tidings import (none changed)" "$t3"
