#!/usr/bin/env bash
# CPU per stored order, Postgres and consumer, for two consumer builds, alternating; one consumer on a pre-filled
# 3-partition topic of ORDERS orders; the wait asks the broker (measure wait-stored), so Postgres does nothing else.
set -euo pipefail
source "$ROOT_DIR/scripts/lib/common.sh"
cd "$ROOT_DIR"
ORDERS=${ORDERS:-500000}; ROUNDS=${ROUNDS:-3}
id="cpu$(date -u +%s)"; topic="$id-main"
new_topic "$topic" 3; new_topic "$topic-dlq" 1
target/release/order-producer --topic "$topic" --count "$ORDERS" --rate 0 --seed 1 --progress-interval 60s >/dev/null 2>&1
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
for r in $(seq 1 "$ROUNDS"); do
  for variant in $VARIANTS; do
    label="${variant##*/}_$r"; database="${id}_${label//[^a-z0-9]/_}"
    psql_app -qc "CREATE DATABASE $database"; psql_app -qc CHECKPOINT
    pg0=$(ticks $(pgrep -x postgres)); t0=$(date +%s%N)
    env KAFKA_TOPIC="$topic" DLQ_TOPIC="$topic-dlq" CONSUMER_GROUP="$id-$label" DATABASE_URL="$(database_url "$database")" \
      "$variant" >/dev/null 2>&1 &
    cp=$!
    target/release/measure wait-stored --bootstrap-servers "$KAFKA_BOOTSTRAP" --database-url "$(database_url "$database")" \
      --topic "$topic" --group "$id-$label" --expected "$ORDERS" --timeout 10m >/dev/null
    c=$(ticks $cp); pg1=$(ticks $(pgrep -x postgres)); t1=$(date +%s%N)
    kill "$cp"; wait "$cp" || true
    rate=$(psql_db "$database" -tAc "SELECT ROUND(COUNT(*) / EXTRACT(EPOCH FROM MAX(processed_at) - MIN(processed_at)))::bigint FROM orders")
    awk -v l="$label" -v r="$rate" -v pg=$((pg1 - pg0)) -v c="$c" -v n="$ORDERS" -v w=$(( (t1 - t0) / 1000000 )) 'BEGIN { printf "%s rows_per_s=%s postgres_us_per_row=%.1f consumer_us_per_row=%.1f wall_ms=%s\n", l, r, pg * 1e4 / n, c * 1e4 / n, w }'
    drop_database "$database" >/dev/null 2>&1 || true
  done
done
