#!/usr/bin/env bash
# one.sh NAME BIN [VAR=V...]: one consumer stores the 500,000-order topic $TOPIC into a fresh database; prints rows/s
# (first to last row), peak RSS, CPU, the share of 100 ms samples with an autovacuum worker running, and the
# consumer's PROBE line when it has one. KEEP_DB=1 keeps the database afterwards (as the benchmark keeps its runs'
# databases until its end).
set -euo pipefail
mkdir -p /tmp/t12
export PGPASSWORD=kafka_pass
P=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U kafka_user)
name="$1"; bin="$2"; shift 2
db="t12_${name}_$(date +%s)"; group="t12-${name}-$(date +%s%N)"
url="postgres://kafka_user:kafka_pass@127.0.0.1:5432/$db"
"${P[@]}" -d food_orders -c "CREATE DATABASE $db"
"${P[@]}" -d food_orders -c CHECKPOINT
env KAFKA_TOPIC="$TOPIC" DLQ_TOPIC="$TOPIC-dlq" CONSUMER_GROUP="$group" DATABASE_URL="$url" RUST_LOG=warn "$@" \
  "$bin" >"/tmp/t12/$group.log" 2>&1 &
pid=$!
(for _ in $(seq 1 3000); do "${P[@]}" -d food_orders -tAc "SELECT COUNT(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"; sleep 0.1; done) >"/tmp/t12/$group.av" 2>/dev/null &
sampler=$!
target/release/measure wait-stored --database-url "$url" --topic "$TOPIC" --group "$group" --expected 500000 --timeout 10m >/dev/null
hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status")
cpu=$(awk '{ print ($14 + $15) / 100 }' "/proc/$pid/stat")
kill -TERM "$pid"; wait "$pid" || true
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
av=$(awk '{ n++; if ($1 > 0) a++ } END { printf "%d/%d", a, n }' "/tmp/t12/$group.av")
rate=$("${P[@]}" -d "$db" -tAc "SELECT ROUND(COUNT(*) / EXTRACT(EPOCH FROM MAX(processed_at) - MIN(processed_at)))::bigint FROM orders")
echo "variant=$name rows_per_s=$rate peak_rss_kib=$hwm cpu_s=$cpu autovacuum_samples=$av $(grep -h PROBE "/tmp/t12/$group.log" || true)"
[[ "${KEEP_DB:-}" == 1 ]] || "${P[@]}" -d food_orders -c "DROP DATABASE $db"
