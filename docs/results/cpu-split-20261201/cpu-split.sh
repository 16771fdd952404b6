#!/usr/bin/env bash
# One consumer storing a pre-filled topic; CPU seconds of the consumer, the Postgres backends and the broker.
set -euo pipefail
source scripts/lib/common.sh
N=${N:-500000}; id=$(date +%s); t=cpu-$id; d=cpu_$id
P=target/release/order-producer; C=target/release/order-consumer
scripts/kafka.sh kafka-topics --bootstrap-server 127.0.0.1:9092 --create --topic $t --partitions 3 >/dev/null
scripts/kafka.sh kafka-topics --bootstrap-server 127.0.0.1:9092 --create --topic $t-dlq --partitions 1 >/dev/null
$P --topic $t --count $N --rate 0 --seed 1 >/dev/null 2>&1
psql_app -qc "CREATE DATABASE $d"; psql_app -qc CHECKPOINT
ticks() { awk '{print $14+$15}' /proc/$1/stat 2>/dev/null || echo 0; }
pgsum() { local s=0; for p in $(pgrep -u postgres); do s=$((s + $(ticks $p))); done; echo $s; }
kpid=$(pgrep -f kafka.Kafka); k0=$(ticks $kpid); pg0=$(pgsum); t0=$(date +%s.%N)
env KAFKA_TOPIC=$t DLQ_TOPIC=$t-dlq CONSUMER_GROUP=$t DATABASE_URL="$(database_url $d)" RUST_LOG=warn ${CENV:-} $C & cp=$!
stored() { (( $(psql_db $d -tAc "select count(*) from orders" 2>/dev/null || echo 0) >= N )); }
wait_until 600 rows stored
c1=$(ticks $cp); t1=$(date +%s.%N); k1=$(ticks $kpid); pg1=$(pgsum)
kill -TERM $cp; wait $cp || true
hz=$(getconf CLK_TCK)
echo "wall_s=$(echo "$t1 - $t0" | bc)"
printf "consumer_cpu_s=%.2f\n" "$(echo "scale=2; $c1 / $hz" | bc)"
printf "postgres_cpu_s=%.2f\n" "$(echo "scale=2; ($pg1 - $pg0) / $hz" | bc)"
printf "broker_cpu_s=%.2f\n" "$(echo "scale=2; ($k1 - $k0) / $hz" | bc)"
psql_db $d -tAc "select 'rows_per_s=' || round(count(*) / extract(epoch from max(processed_at) - min(processed_at)))::bigint from orders"
psql_app -qc "DROP DATABASE $d"
