#!/usr/bin/env bash
# profile.sh PHASE BIN_DIR OUT_DIR CONS_TOPIC ORDERS STAMP
set -euo pipefail
phase=$1 bin=$2 out=$3 cons_topic=$4 orders=$5 stamp=$6
mkdir -p "$out" /tmp/hp/work-$phase
work=/tmp/hp/work-$phase
kt=(scripts/kafka.sh kafka-topics --bootstrap-server 127.0.0.1:9092)
pg=postgres://kafka_user:kafka_pass@127.0.0.1:5432
db="prof_${phase}_${stamp,,}"
group="prof-$phase-$stamp-final"
dlq="prof-dlq-$phase-$stamp"
prod_topic="prof-prod-$phase-$stamp"

echo "+ ${kt[*]} --create --topic $dlq --partitions 1 --replication-factor 1"
"${kt[@]}" --create --topic "$dlq" --partitions 1 --replication-factor 1
echo "+ psql $pg/postgres -c CREATE DATABASE $db"
psql -q "$pg/postgres" -c "CREATE DATABASE $db"

# Consumer: one consumer storing the pre-filled topic, profiled.
echo "+ KAFKA_TOPIC=$cons_topic DLQ_TOPIC=$dlq CONSUMER_GROUP=$group DATABASE_URL=$pg/$db perf record -F 499 -g -o $work/cons.perf $bin/order-consumer"
KAFKA_TOPIC=$cons_topic DLQ_TOPIC=$dlq CONSUMER_GROUP=$group DATABASE_URL=$pg/$db \
  perf record -F 499 -g -o "$work/cons.perf" "$bin/order-consumer" >"$work/consumer.log" 2>&1 &
perf_pid=$!
deadline=$((SECONDS + 600))
count=0
until [[ $count -ge $orders ]]; do
  [[ $SECONDS -lt $deadline ]] || { echo "timeout: $count rows" >&2; break; }
  sleep 0.5
  count=$(psql -qtA "$pg/$db" -c "SELECT count(*) FROM orders" 2>/dev/null || echo 0)
done
cons_pid=$(pgrep -P "$perf_pid" -x order-consumer)
kill -TERM "$cons_pid"
wait "$perf_pid" || true
psql -qtA "$pg/$db" -F ' ' -c "SELECT count(*) AS rows, round(extract(epoch FROM max(processed_at) - min(processed_at))::numeric, 3) AS first_to_last_s, round(count(*) / extract(epoch FROM max(processed_at) - min(processed_at))::numeric) AS rows_per_s FROM orders" \
  | awk '{print "rows " $1 ", first to last row " $2 " s, " $3 " rows/s (one consumer, under perf record -F 499 -g)"}' > "$out/consumer-throughput.txt"
cat "$out/consumer-throughput.txt"
psql -q "$pg/postgres" -c "DROP DATABASE $db"
perf report -i "$work/cons.perf" --no-children --sort symbol --stdio >"$work/cons-symbols.txt" 2>/dev/null
head -60 "$work/cons-symbols.txt" >"$out/consumer-symbols.txt"

"${kt[@]}" --delete --topic "$dlq"
