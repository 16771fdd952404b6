#!/usr/bin/env bash
# Measures the pipeline on this machine: the producer's rate for N orders, then the consumer group's end-to-end
# rate for the same N orders with 1, 2, 3 … consumers on a topic of 3 partitions, each run on an empty table of
# its own and in a group of its own. Prints a table and writes results/bench-<time>.json.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ORDERS="${ORDERS:-100000}"
BENCH_PARTITIONS="${BENCH_PARTITIONS:-3}"
CONSUMER_COUNTS="${CONSUMER_COUNTS:-1 3}"
BATCH_SIZE="${BATCH_SIZE:-500}"
PROCESSING_DELAY_MS="${PROCESSING_DELAY_MS:-0}"
TIMEOUT_S="${TIMEOUT_S:-600}"

usage() {
  cat <<USAGE
Usage: scripts/bench.sh [--orders N] [--consumers "1 3"] [--partitions N] [--batch-size N] [--delay-ms N]

Produces N orders (default $ORDERS) to a fresh topic of $BENCH_PARTITIONS partitions with the release producer as
fast as the broker takes them, then for each consumer count starts that many consumers in a fresh group on a fresh
database and times them until every order is stored. Needs the local stack (scripts/stack.sh up).
Reports: producer orders/s; per consumer count, the wall time from start to the last row (group join included)
and the stored rate between the first and the last row. Results: results/bench-<time>.json
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --orders) ORDERS="${2:-}"; shift 2 || die "--orders needs a number" ;;
    --consumers) CONSUMER_COUNTS="${2:-}"; shift 2 || die "--consumers needs a list like \"1 3\"" ;;
    --partitions) BENCH_PARTITIONS="${2:-}"; shift 2 || die "--partitions needs a number" ;;
    --batch-size) BATCH_SIZE="${2:-}"; shift 2 || die "--batch-size needs a number" ;;
    --delay-ms) PROCESSING_DELAY_MS="${2:-}"; shift 2 || die "--delay-ms needs a number" ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see scripts/bench.sh --help)" ;;
  esac
done
require_int --orders "$ORDERS" 1
require_int --partitions "$BENCH_PARTITIONS" 1
require_int --batch-size "$BATCH_SIZE" 1
require_int --delay-ms "$PROCESSING_DELAY_MS" 0
for c in $CONSUMER_COUNTS; do require_int --consumers "$c" 1; done

cd "$ROOT_DIR"
"$ROOT_DIR/scripts/kafka.sh" kafka-topics --bootstrap-server "$KAFKA_BOOTSTRAP" --list >/dev/null 2>&1 ||
  die "Kafka is not running at $KAFKA_BOOTSTRAP: start the local stack with scripts/stack.sh up"
psql_app -tAc "SELECT 1" >/dev/null 2>&1 || die "PostgreSQL is not reachable: start the local stack with scripts/stack.sh up"

run cargo build --release --locked -p order-producer -p order-consumer
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
run_id="$(date -u +%s)"
topic="bench-orders-$run_id"
out_dir="$ROOT_DIR/results"
work="$LOCAL_DIR/bench/$run_id"
mkdir -p "$out_dir" "$work"

run "$ROOT_DIR/scripts/kafka.sh" kafka-topics --bootstrap-server "$KAFKA_BOOTSTRAP" --create --topic "$topic" \
  --partitions "$BENCH_PARTITIONS" --replication-factor 1
run "$ROOT_DIR/scripts/kafka.sh" kafka-topics --bootstrap-server "$KAFKA_BOOTSTRAP" --create --topic "$topic-dlq" \
  --partitions 1 --replication-factor 1

log "producing $ORDERS orders as fast as the broker takes them"
run "$ROOT_DIR/target/release/order-producer" --topic "$topic" --count "$ORDERS" --rate 0 --seed 1 \
  --progress-interval 60s 2>&1 | tee "$work/producer.log" | grep --line-buffered "producer_summary" || true
producer_rate="$(sed -n 's/.*producer_summary.* rate=\([0-9.]*\).*/\1/p' "$work/producer.log")"
acked="$(sed -n 's/.*producer_summary.* acked=\([0-9]*\).*/\1/p' "$work/producer.log")"
[[ "$acked" == "$ORDERS" ]] || die "producer acked '$acked' of $ORDERS orders (see $work/producer.log)"

# Queries one benchmark database (the table exists once the first consumer has migrated it).
psql_db() { psql -X -h "$PGHOST" -p "$PGPORT" -U "$POSTGRES_USER" -d "$1" -tAc "$2"; }
stored() { (($(psql_db "$db" "SELECT COUNT(*) FROM orders" 2>/dev/null || echo 0) >= ORDERS)); }

runs_json=""
printf '\n%-10s %-14s %-16s %-16s\n' consumers wall_s "wall orders/s" "stored orders/s" >"$work/table.txt"
for consumers in $CONSUMER_COUNTS; do
  db="bench_${run_id}_c${consumers}"
  run "${PSQL[@]}" -qc "CREATE DATABASE $db"
  db_url="$(database_url "$db")"
  pids=()
  start_ns="$(date +%s%N)"
  for i in $(seq 1 "$consumers"); do
    DATABASE_URL="$db_url" KAFKA_TOPIC="$topic" DLQ_TOPIC="$topic-dlq" CONSUMER_GROUP="bench-$run_id-c$consumers" \
      BATCH_SIZE="$BATCH_SIZE" PROCESSING_DELAY_MS="$PROCESSING_DELAY_MS" RUST_LOG=warn \
      "$ROOT_DIR/target/release/order-consumer" >"$work/c$consumers-$i.log" 2>&1 &
    pids+=($!)
  done
  log "$consumers consumer(s) started; waiting for $ORDERS rows in $db"
  wait_until "$TIMEOUT_S" "$ORDERS rows with $consumers consumer(s)" stored
  end_ns="$(date +%s%N)"
  kill -TERM "${pids[@]}"
  wait "${pids[@]}" || true
  wall_s="$(awk -v a="$start_ns" -v b="$end_ns" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')"
  stored_rate="$(psql_db "$db" "SELECT ROUND(COUNT(*) / EXTRACT(EPOCH FROM MAX(processed_at) - MIN(processed_at))) FROM orders")"
  wall_rate="$(awk -v n="$ORDERS" -v s="$wall_s" 'BEGIN { printf "%.0f", n / s }')"
  printf '%-10s %-14s %-16s %-16s\n' "$consumers" "$wall_s" "$wall_rate" "$stored_rate" >>"$work/table.txt"
  runs_json+="${runs_json:+,}{\"consumers\":$consumers,\"wall_seconds\":$wall_s,\"wall_orders_per_s\":$wall_rate,\"stored_orders_per_s\":$stored_rate}"
  run "${PSQL[@]}" -qc "DROP DATABASE $db WITH (FORCE)"
done

cat "$work/table.txt"
printf 'producer: %s orders/s (%s orders, acks=all, lz4, linger 5 ms)\n' "$producer_rate" "$ORDERS"
json="$out_dir/bench-$stamp.json"
cat >"$json" <<JSON
{
  "command": "scripts/bench.sh --orders $ORDERS --consumers \"$CONSUMER_COUNTS\" --partitions $BENCH_PARTITIONS --batch-size $BATCH_SIZE --delay-ms $PROCESSING_DELAY_MS",
  "time": "$stamp",
  "machine": {"cores": $(nproc), "memory_kib": $(awk '/MemTotal/ {print $2}' /proc/meminfo), "kernel": "$(uname -r)",
              "kafka": "$KAFKA_VERSION_PIN", "postgres": "$(psql_app -tAc 'SHOW server_version' | cut -d' ' -f1)"},
  "orders": $ORDERS, "partitions": $BENCH_PARTITIONS, "batch_size": $BATCH_SIZE, "processing_delay_ms": $PROCESSING_DELAY_MS,
  "producer_orders_per_s": $producer_rate,
  "consumer_runs": [$runs_json]
}
JSON
log "wrote $json"
