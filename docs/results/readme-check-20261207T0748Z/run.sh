#!/usr/bin/env bash
# The README's no-Docker quickstart and the walkthrough, as written, on a fresh clone.
set -euo pipefail
rm -rf /tmp/rc && git clone -q /work/main /tmp/rc && cd /tmp/rc
echo "== commit $(git rev-parse --short HEAD)"
echo "== README: scripts/demo.sh"; time scripts/demo.sh
echo "== walkthrough"
scripts/stack.sh reset
scripts/stack.sh up --partitions 1
cargo build --release --locked -p order-producer -p order-consumer -p lab
export PGPASSWORD=kafka_pass
scripts/scale.sh 3
target/release/order-producer --rate 100 --summary-file producer-summary.json > producer.log 2>&1 &
sleep 15
scripts/group.sh
psql -h 127.0.0.1 -U kafka_user -d food_orders -c "SELECT processed_by, kafka_partition, COUNT(*) FROM orders GROUP BY 1, 2 ORDER BY 1, 2;"
scripts/partitions.sh set 3
sleep 20
psql -h 127.0.0.1 -U kafka_user -d food_orders -c "SELECT processed_by, kafka_partition, COUNT(*) FROM orders WHERE processed_at > now() - interval '10 seconds' GROUP BY 1, 2 ORDER BY 1, 2;"
scripts/scale.sh 5
sleep 15
out=$(scripts/group.sh); echo "$out"
owner=$(echo "$out" | awk '/food-orders:[0-9]/ && $1=="order-processors" {print $4; exit}')
echo "== killing owner $owner"
scripts/scale.sh kill "$owner"
sleep 20
psql -h 127.0.0.1 -U kafka_user -d food_orders -c "SELECT processed_by, kafka_partition, COUNT(*) FROM orders WHERE processed_at > now() - interval '5 seconds' GROUP BY 1, 2 ORDER BY 1, 2;"
psql -h 127.0.0.1 -U kafka_user -d food_orders -c "SELECT COUNT(*) FROM orders;"; sleep 5
psql -h 127.0.0.1 -U kafka_user -d food_orders -c "SELECT COUNT(*) FROM orders;"
kill -INT %1; wait %1 || true
cat producer-summary.json
sleep 10
scripts/group.sh
psql -h 127.0.0.1 -U kafka_user -d food_orders -c "SELECT COUNT(*) AS rows, COUNT(DISTINCT order_id) AS distinct_orders FROM orders;"
scripts/scale.sh 0
echo "== README: lab serve prints its URL"
timeout 20 scripts/lab.sh serve > serve.log 2>&1 || true; grep -m1 "http://127.0.0.1:8080/?token=" serve.log
echo "== README: scripts/lab.sh experiment --short"; time scripts/lab.sh experiment --short
scripts/stack.sh down
echo "== done"
