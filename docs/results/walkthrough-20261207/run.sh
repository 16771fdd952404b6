#!/usr/bin/env bash
# Runs docs/walkthrough.md's steps on the local stack, in order, keeping each command and its output.
set -uo pipefail
cd "$(dirname "$0")/../../.."
out="${1:-docs/results/walkthrough-$(date -u +%Y%m%d)}"
mkdir -p "$out"
export PGPASSWORD=kafka_pass
n=0
# step NAME COMMAND...: runs COMMAND through bash, its output (stdout and stderr) kept in NN-NAME.txt.
step() {
  local name="$1"
  shift
  n=$((n + 1))
  local file
  file="$out/$(printf '%02d' "$n")-$name.txt"
  {
    echo "\$ $*"
    timeout 120 bash -c "$*" 2>&1
    echo "# exit $?"
  } >"$file"
  cat "$file"
}
psql_q() { echo "psql -h 127.0.0.1 -U kafka_user -d food_orders -c \"$1\""; }

step stack-up "scripts/stack.sh up --partitions 1"
step build "cargo build --release --locked -p order-producer -p order-consumer -p lab 2>&1 | tail -1"
step scale-3 "scripts/scale.sh 3"
target/release/order-producer --rate 100 --summary-file "$out/producer-summary.json" >"$out/producer.log" 2>&1 &
producer=$!
echo "producer pid $producer" >"$out/producer.pid"
sleep 10
step group-1-partition "scripts/group.sh"
step rows-1-partition "$(psql_q "SELECT processed_by, kafka_partition, COUNT(*) FROM orders GROUP BY 1, 2 ORDER BY 1, 2;")"
step partitions-3 "scripts/partitions.sh set 3"
sleep 15
step group-3-partitions "scripts/group.sh"
step rows-last-10s "$(psql_q "SELECT processed_by, kafka_partition, COUNT(*) FROM orders WHERE processed_at > now() - interval '10 seconds' GROUP BY 1, 2 ORDER BY 1, 2;")"
step scale-5 "scripts/scale.sh 5"
sleep 10
step group-5-consumers "scripts/group.sh"
owner="$(scripts/group.sh 2>/dev/null | awk '/^## members/ {m=1; next} /^## offsets/ {m=0} m && $5 ~ /^[1-9]/ {print $4; exit}')"
step kill-owner "scripts/scale.sh kill $owner"
sleep 15
step group-after-kill "scripts/group.sh"
step rows-after-kill "$(psql_q "SELECT processed_by, kafka_partition, COUNT(*) FROM orders WHERE processed_at > now() - interval '5 seconds' GROUP BY 1, 2 ORDER BY 1, 2;")"
step count-1 "$(psql_q "SELECT COUNT(*) FROM orders;")"
sleep 5
step count-2 "$(psql_q "SELECT COUNT(*) FROM orders;")"
kill -INT "$producer"
wait "$producer"
echo "producer exit $?" >>"$out/producer.pid"
step producer-summary "cat $out/producer-summary.json"
sleep 5
step group-drained "scripts/group.sh"
step reconcile "$(psql_q "SELECT COUNT(*) AS rows, COUNT(DISTINCT order_id) AS distinct_orders FROM orders;")"
step scale-0 "scripts/scale.sh 0"
