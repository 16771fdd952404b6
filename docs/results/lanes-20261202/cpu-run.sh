#!/usr/bin/env bash
# one consumer run on the trial topic, CPU seconds per process group
set -euo pipefail
source <repo>/scripts/lib/common.sh
cd "$ROOT_DIR"
topic=$(ls -td /tmp/tp-* | head -1 | sed 's#/tmp/tp-#tp-#')-main
label=${LABEL:-cpu}; id=$(date +%s); database="cpu_${id}"
psql_app -qc "CREATE DATABASE $database"
new_topic "$topic-dlq" 1
cpu() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0))); done; echo $t; }
pg_pids() { pgrep -f "postgres" | tr '\n' ' '; }
java_pid=$(pgrep -f kafka.Kafka | head -1)
env KAFKA_TOPIC="$topic" DLQ_TOPIC="$topic-dlq" CONSUMER_GROUP="cpu-$id" DATABASE_URL="$(database_url "$database")" RUST_LOG=info $EXTRA target/release/order-consumer >/tmp/trial/cpu-consumer.log 2>&1 &
cp=$!
sleep 1
pg0=$(cpu $(pg_pids)); j0=$(cpu $java_pid); t0=$(date +%s%N)
stored() { (($(psql_db "$database" -tAc "SELECT COUNT(*) FROM orders") >= 500000)); }
wait_until 600 "rows" stored
hwm=$(awk "/VmHWM/{print \$2}" /proc/$cp/status); pg1=$(cpu $(pg_pids)); j1=$(cpu $java_pid); c1=$(cpu $cp); t1=$(date +%s%N)
kill $cp; wait $cp || true
echo "label=$label wall_s=$(( (t1-t0)/1000000 ))ms consumer_ticks=$c1 postgres_ticks=$((pg1-pg0)) java_ticks=$((j1-j0)) hwm_kib=$hwm"
psql_db "$database" -tAc "SELECT ROUND(COUNT(*) / EXTRACT(EPOCH FROM MAX(processed_at) - MIN(processed_at)))::bigint FROM orders"
drop_database "$database"
