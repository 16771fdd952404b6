#!/usr/bin/env bash
# ceiling.sh STAGE_DB: the Postgres ceiling as the benchmark measures it: the 500,000 staged orders upserted into an
# empty orders table in one statement on an open connection; prints orders/s.
set -euo pipefail
export PGPASSWORD=kafka_pass
P=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U kafka_user)
"${P[@]}" -d "$1" -c "TRUNCATE orders"
"${P[@]}" -d food_orders -c CHECKPOINT
"${P[@]}" -d "$1" -tA <<'SQL' | awk '/^Time:/ { printf "%d\n", 500000 / ($2 / 1000) }'
\timing on
INSERT INTO orders SELECT * FROM staging ON CONFLICT (order_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, customer_name = EXCLUDED.customer_name, restaurant = EXCLUDED.restaurant,
    items = EXCLUDED.items, total_amount = EXCLUDED.total_amount, status = EXCLUDED.status, created_at = EXCLUDED.created_at,
    customer_seq = EXCLUDED.customer_seq, version = EXCLUDED.version, kafka_partition = EXCLUDED.kafka_partition,
    kafka_offset = EXCLUDED.kafka_offset, produced_at = EXCLUDED.produced_at, processed_by = EXCLUDED.processed_by,
    processed_at = clock_timestamp() WHERE orders.version < EXCLUDED.version;
SQL
