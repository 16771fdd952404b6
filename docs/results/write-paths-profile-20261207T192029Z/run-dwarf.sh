#!/usr/bin/env bash
# Profiles the backend of `scripts/lab.sh bench --write-paths` with DWARF call graphs (Debian's postgres has no
# symbols for its static functions; its .eh_frame still lets perf walk to named callers). Writes to $OUT: bench.log
# (the bench's lines, each after its Unix time), dwarf.data and dwarf.txt. On the local stack, as root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-/tmp/prof}"
mkdir -p "$OUT"
cd "$(git -C "$here" rev-parse --show-toplevel)"
(scripts/lab.sh bench --write-paths 2>&1 | python3 "$here/ts.py" > "$OUT/bench.log") &
pid=""
for _ in $(seq 1 300); do # at most a minute for the bench's connection to its database
  pid=$(PGPASSWORD=kafka_pass psql -h 127.0.0.1 -U kafka_user -d food_orders -Atc \
    "SELECT pid FROM pg_stat_activity WHERE datname LIKE 'bench_%_paths' AND backend_type = 'client backend' LIMIT 1" || true)
  [[ -n "$pid" ]] && break
  sleep 0.2
done
[[ -n "$pid" ]] || { echo "no backend of the write paths within a minute" >&2; exit 1; }
echo "backend $pid"
timeout 400 perf record -p "$pid" -F 199 --call-graph dwarf,8192 -k CLOCK_REALTIME -o "$OUT/dwarf.data" || true
wait
perf script -i "$OUT/dwarf.data" -F time,ip,sym,dso > "$OUT/dwarf.txt"
echo "now: cd $OUT && python3 $here/tree.py"
