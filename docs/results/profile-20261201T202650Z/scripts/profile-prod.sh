#!/usr/bin/env bash
# profile-prod.sh PHASE BIN_DIR OUT_DIR STAMP
set -euo pipefail
phase=$1 bin=$2 out=$3 stamp=$4
work=/tmp/hp/work-$phase
mkdir -p "$out" "$work"
kt=(scripts/kafka.sh kafka-topics --bootstrap-server 127.0.0.1:9092)
prod_topic="prof-prod-$phase-$stamp"
"${kt[@]}" --create --topic "$prod_topic" --partitions 3 --replication-factor 1
echo "+ perf record -F 999 -g -o $work/prod.perf $bin/order-producer --topic $prod_topic --count 1000000 --rate 0 --seed 3"
perf record -F 999 -g -o "$work/prod.perf" "$bin/order-producer" --topic "$prod_topic" --count 1000000 --rate 0 --seed 3 \
  --summary-file "$out/producer-summary-under-perf.json" >"$work/producer.log" 2>&1
perf report -i "$work/prod.perf" --no-children --sort comm --stdio >"$work/prod-threads.txt" 2>/dev/null
perf report -i "$work/prod.perf" --no-children --comm order-producer --sort symbol --stdio >"$work/prod-main-symbols.txt" 2>/dev/null
"${kt[@]}" --delete --topic "$prod_topic"
