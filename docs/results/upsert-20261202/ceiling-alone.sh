#!/usr/bin/env bash
# Does the ceiling run move with autovacuum of the run before? Each round: 500,000 rows inserted into a database of
# their own (as a consumer run leaves one), then the ceiling run either right away (now) or once no autovacuum
# worker runs (quiet); the number of autovacuum workers at the ceiling's start is printed.
set -euo pipefail
source "$ROOT_DIR/scripts/lib/common.sh"
id="ceil$(date -u +%s)"
ceiling_db="${id}_ceiling"
psql_app -qc "CREATE DATABASE $ceiling_db"
cols="order_id uuid PRIMARY KEY, customer_id text NOT NULL, customer_name text NOT NULL, restaurant text NOT NULL, items jsonb NOT NULL, total_amount numeric(10,2) NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL, customer_seq bigint NOT NULL, version integer NOT NULL, kafka_partition integer NOT NULL, kafka_offset bigint NOT NULL, produced_at timestamptz, processed_by text NOT NULL, processed_at timestamptz NOT NULL DEFAULT clock_timestamp()"
fill="SELECT gen_random_uuid(), 'customer-' || (i % 100), 'Name ' || i, 'Restaurant ' || (i % 37), jsonb_build_array(jsonb_build_object('name', 'dish', 'quantity', 2, 'unit_price', 12.5)), 25.00, 'placed', now(), i, 1, i % 3, i, now(), 'x', now() FROM generate_series(1, 500000) i"
psql_db "$ceiling_db" -qc "CREATE TABLE orders ($cols); CREATE INDEX ON orders (customer_id); CREATE TABLE staging AS SELECT * FROM orders WITH NO DATA; INSERT INTO staging $fill"
workers() { psql_app -tAc "SELECT COUNT(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"; }
for r in 1 2 3 4 5 6; do
  for mode in now quiet; do
    other="${id}_${mode}_$r"
    psql_app -qc "CREATE DATABASE $other"
    psql_db "$other" -qc "CREATE TABLE orders ($cols); CREATE INDEX ON orders (customer_id); INSERT INTO orders $fill"
    if [[ $mode == quiet ]]; then sleep 2; for i in $(seq 1 120); do (($(workers) == 0)) && break; sleep 1; done; fi
    psql_db "$ceiling_db" -qc "TRUNCATE orders"; psql_app -qc CHECKPOINT
    w=$(workers); s=$(date +%s%N)
    psql_db "$ceiling_db" -qc "INSERT INTO orders SELECT * FROM staging ON CONFLICT (order_id) DO UPDATE SET version = EXCLUDED.version WHERE orders.version < EXCLUDED.version"
    e=$(date +%s%N)
    echo "$mode round=$r autovacuum_workers_at_start=$w ceiling_rows_per_s=$(( 500000 * 1000000000 / (e - s) ))"
  done
done
for d in $(psql_app -tAc "SELECT datname FROM pg_database WHERE datname LIKE '${id}_%'"); do drop_database "$d" >/dev/null 2>&1 || true; done
