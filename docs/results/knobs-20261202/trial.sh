#!/usr/bin/env bash
# One consumer storing the same 500,000 pre-filled orders under consumer knobs, each run paired with a ceiling run
# right before it (the bench's measure), the variants alternating round after round. Run from the project root on
# the local stack with TOPIC=<a topic of 500,000 orders, 3 partitions> and VARIANTS="name:VAR=V;VAR=V ...";
# a variant's BIN=path runs another build of order-consumer.
set -euo pipefail
export PGPASSWORD=kafka_pass
P=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U kafka_user)
id="knob$(date +%s)"
url() { echo "postgres://kafka_user:kafka_pass@127.0.0.1:5432/$1"; }
ms() { date +%s%N; }
consume() { # consume DB GROUP [VAR=V...]: one consumer until the topic is stored; prints rows/s first to last row
  local db="$1" group="$2" pid bin=target/release/order-consumer vars=()
  shift 2
  for v in "$@"; do if [[ "$v" == BIN=* ]]; then bin="${v#BIN=}"; else vars+=("$v"); fi; done
  "${P[@]}" -d food_orders -c "CREATE DATABASE $db"
  "${P[@]}" -d food_orders -c CHECKPOINT
  env KAFKA_TOPIC="$TOPIC" DLQ_TOPIC="$TOPIC-dlq" CONSUMER_GROUP="$group" DATABASE_URL="$(url "$db")" RUST_LOG=warn \
    "${vars[@]}" "$bin" >"/tmp/$group.log" 2>&1 &
  pid=$!
  target/release/measure wait-stored --database-url "$(url "$db")" --topic "$TOPIC" --group "$group" \
    --expected 500000 --timeout 10m >/dev/null
  awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status" >"/tmp/$group.hwm"
  kill -TERM "$pid"; wait "$pid" || true
  "${P[@]}" -d "$db" -tAc "SELECT ROUND(COUNT(*) / EXTRACT(EPOCH FROM MAX(processed_at) - MIN(processed_at)))::bigint FROM orders"
}
consume "${id}_stage" "${id}-stage" >/dev/null
"${P[@]}" -d "${id}_stage" -c "CREATE TABLE staging AS SELECT * FROM orders"
ceiling() {
  "${P[@]}" -d "${id}_stage" -c "TRUNCATE orders"
  "${P[@]}" -d food_orders -c CHECKPOINT
  local a b
  a=$(ms)
  "${P[@]}" -d "${id}_stage" -c "INSERT INTO orders SELECT * FROM staging ON CONFLICT (order_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, customer_name = EXCLUDED.customer_name, restaurant = EXCLUDED.restaurant,
    items = EXCLUDED.items, total_amount = EXCLUDED.total_amount, status = EXCLUDED.status, created_at = EXCLUDED.created_at,
    customer_seq = EXCLUDED.customer_seq, version = EXCLUDED.version, kafka_partition = EXCLUDED.kafka_partition,
    kafka_offset = EXCLUDED.kafka_offset, produced_at = EXCLUDED.produced_at, processed_by = EXCLUDED.processed_by,
    processed_at = clock_timestamp() WHERE orders.version < EXCLUDED.version"
  b=$(ms)
  echo $((500000 * 1000000000 / (b - a)))
}
for round in 1 2 3; do
  for v in $VARIANTS; do
    name="${v%%:*}"; spec="${v#*:}"
    c=$(ceiling)
    IFS=";" read -r -a env_vars <<<"$spec"
    r=$(consume "${id}_${name}_${round}" "${id}-${name}-${round}" "${env_vars[@]}")
    echo "round=$round variant=$name vars=$spec ceiling=$c rows_per_s=$r ratio=$(awk -v a="$r" -v b="$c" 'BEGIN { printf "%.3f", a / b }') peak_rss_kib=$(cat "/tmp/${id}-${name}-${round}.hwm")"
    "${P[@]}" -d food_orders -c "DROP DATABASE ${id}_${name}_${round}"
  done
done
"${P[@]}" -d food_orders -c "DROP DATABASE ${id}_stage"
