#!/usr/bin/env bash
# Ad-hoc throughput comparison (not part of the repo): ceiling, 1 consumer and 3 consumers (1,000 customers), old and new.
set -euo pipefail
source <repo>/scripts/lib/common.sh
cd "$ROOT_DIR"
ORDERS=${ORDERS:-500000}
id="$(date -u +%s)"
out=/tmp/tp-$id; work=$out/work; mkdir -p "$work"; RESULTS=$out/results.txt; : >"$RESULTS"
PRODUCER=$ROOT_DIR/target/release/order-producer
NEW=$ROOT_DIR/target/release/order-consumer
OLD=$ROOT_DIR/target/old-build/release/order-consumer
new_db() { psql_app -qc "CREATE DATABASE $1"; }
db() { psql_db "$1" -tAc "$2"; }
rows_in() { db "$1" "SELECT COUNT(*) FROM orders" 2>/dev/null || echo 0; }
produce() { local topic="$1" count="$2"; shift 2; "$PRODUCER" --topic "$topic" --count "$count" --rate 0 --seed 1 --progress-interval 60s "$@" >"$work/$topic-producer.log" 2>&1; }
group_run() {
  local label="$1" bin="$2" n="$3" topic="$4" expected="$5" database pids=() i
  shift 5
  database="tp_${id}_${label}"
  new_db "$database"
  new_topic "$topic-dlq" 1
  for i in $(seq 1 "$n"); do
    env KAFKA_TOPIC="$topic" DLQ_TOPIC="$topic-dlq" CONSUMER_GROUP="tp-$id-$label" DATABASE_URL="$(database_url "$database")" RUST_LOG=info "$@" "$bin" >"$work/$label-$i.log" 2>&1 &
    pids+=($!)
  done
  stored() { (($(rows_in "$database") >= expected)); }
  wait_until 600 "$expected rows ($label)" stored
  kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
  record "$label.rows_per_s" "$(db "$database" "SELECT ROUND(COUNT(*) / EXTRACT(EPOCH FROM MAX(processed_at) - MIN(processed_at)))::bigint FROM orders")"
  LAST_DB=$database
}
main="tp-$id-main"
new_topic "$main" 3; produce "$main" "$ORDERS"
ceiling() {
  db "$LAST_DB" "CREATE TABLE IF NOT EXISTS staging AS SELECT * FROM orders; TRUNCATE orders;"
  start="$(date +%s%N)"
  db "$LAST_DB" "INSERT INTO orders SELECT * FROM staging ON CONFLICT (order_id) DO UPDATE SET
  customer_id = EXCLUDED.customer_id, customer_name = EXCLUDED.customer_name, restaurant = EXCLUDED.restaurant,
  items = EXCLUDED.items, total_amount = EXCLUDED.total_amount, status = EXCLUDED.status, created_at = EXCLUDED.created_at,
  customer_seq = EXCLUDED.customer_seq, version = EXCLUDED.version, kafka_partition = EXCLUDED.kafka_partition,
  kafka_offset = EXCLUDED.kafka_offset, produced_at = EXCLUDED.produced_at, processed_by = EXCLUDED.processed_by,
  processed_at = clock_timestamp() WHERE orders.version < EXCLUDED.version" >/dev/null
  end="$(date +%s%N)"
  record "ceiling_$1.rows_per_s" "$(awk -v n="$ORDERS" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / ((b - a) / 1e9) }')"
}
for r in 1 2 3; do
  for w in ${LANES:-1 2 3}; do group_run "w${w}_$r" "$NEW" 1 "$main" "$ORDERS" WRITE_CONCURRENCY=$w ${EXTRA:-}; done
  ceiling "$r"
done
for d in $(psql_app -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'tp_${id}_%'"); do drop_database "$d" || true; done
cat "$RESULTS"
