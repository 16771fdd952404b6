#!/usr/bin/env bash
# one.sh NAME BIN [VAR=V...]: one consumer stores the 500,000-order topic $TOPIC into a fresh database; prints rows/s
# (first to last row), peak RSS and the consumer's PROBE line when it has one.
set -euo pipefail
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
target/release/measure wait-stored --database-url "$url" --topic "$TOPIC" --group "$group" --expected 500000 --timeout 10m >/dev/null
hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status")
cpu=$(awk '{ print ($14 + $15) / 100 }' "/proc/$pid/stat")
kill -TERM "$pid"; wait "$pid" || true
rate=$("${P[@]}" -d "$db" -tAc "SELECT ROUND(COUNT(*) / EXTRACT(EPOCH FROM MAX(processed_at) - MIN(processed_at)))::bigint FROM orders")
echo "variant=$name rows_per_s=$rate peak_rss_kib=$hwm cpu_s=$cpu $(grep -h PROBE "/tmp/t12/$group.log" || true)"
"${P[@]}" -d food_orders -c "DROP DATABASE $db"
