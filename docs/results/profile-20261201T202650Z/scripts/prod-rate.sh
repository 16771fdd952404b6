#!/usr/bin/env bash
# prod-rate.sh OUT STAMP: 3 alternating runs each of the producer before and after, 1,000,000 orders at --rate 0.
set -euo pipefail
out=$1 stamp=$2
kt=(scripts/kafka.sh kafka-topics --bootstrap-server 127.0.0.1:9092)
topic="prof-rate-$stamp"
"${kt[@]}" --create --topic "$topic" --partitions 3 --replication-factor 1
: >"$out/producer-rates.txt"
for run in 1 2 3; do
  for phase in before after; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    /tmp/hp/bin-$phase/order-producer --topic "$topic" --count 1000000 --rate 0 --seed 3 \
      --summary-file "/tmp/hp/rate-$phase-$run.json" >/dev/null 2>&1
    rate=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['rate'])" "/tmp/hp/rate-$phase-$run.json")
    echo "run $run $phase: $rate records/s (load average before the run $load)" | tee -a "$out/producer-rates.txt"
  done
done
"${kt[@]}" --delete --topic "$topic"
