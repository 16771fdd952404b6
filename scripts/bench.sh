#!/usr/bin/env bash
# Benchmarks the pipeline against its ceilings, in one run on one machine (the local stack), and writes
# docs/benchmarks.md and results/bench-<time>/bench.json with every figure and the machine it ran on.
# Measures: (1) the Postgres ceiling, (2) the consumer group end to end with 1, 2, 3 consumers (and 1 with its offsets
# stored in Postgres, OFFSET_STORE=postgres), (3) scaling with simulated work, (4) our producer against kafka-producer-perf-test, (5) latency at a steady rate, (6) peak memory,
# (7) growth with N, (8) the knobs: batch size, linger, compression.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ORDERS=500000
GROWTH="100000 500000 1000000"
LATENCY_RATE=1000
LATENCY_SECONDS=30
LATENCY_RUNS=10
HIGH_RATE=10000
HIGH_RATE_SECONDS=15
EFF_ORDERS=3000
EFF_DELAY_MS=5
WIDE_CUSTOMERS=1000
BATCH_SIZES="100 500 1000 5000"
LINGERS="0 5 50"
COMPRESSIONS="none lz4 zstd"
KNOB_ORDERS=200000
KNOB_LATENCY_SECONDS=15
PRODUCER_RUNS=3
METRICS_COST_RUNS=4
# The figures held against the ceiling are ratios of pairs, a ceiling run right before each consumer run, and their
# median counts: 3 consumers on the even topic this many times, 1 consumer in its default runs (the group run and the
# metrics-on runs). Scaling efficiency is the median of this many sets of 1, 2, 3 consumers.
TARGET_RUNS=3
DOC="$ROOT_DIR/docs/benchmarks.md"
small=""
group_only=""
latency_only=""

usage() {
  cat <<USAGE
Usage: scripts/bench.sh [--small] [--group-only | --latency-only] [--orders N] [--doc PATH]

Runs every measurement on the local stack (scripts/stack.sh up first; nothing else should load the machine) and
writes $DOC and results/bench-<time>/bench.json.
  --orders N   orders for the producer, ceiling and group runs (default $ORDERS)
  --small      a quick version with small N that checks the script works; writes results/ only, not the doc
  --group-only only the producer and the consumer group with 1, 2, 3 consumers (results/ only, not the doc)
  --latency-only only the latency runs: $LATENCY_RUNS at $LATENCY_RATE orders/s and one at $HIGH_RATE (results/ only)
  --doc PATH   where to write the Markdown report
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --orders) ORDERS="${2:-}"; shift 2 || die "--orders needs a number" ;;
    --small) small=1; shift ;;
    --group-only) group_only=1; shift ;;
    --latency-only) latency_only=1; shift ;;
    --doc) DOC="${2:-}"; shift 2 || die "--doc needs a path" ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see scripts/bench.sh --help)" ;;
  esac
done
require_int --orders "$ORDERS" 1
if [[ -n "$small" ]]; then
  ORDERS=$((ORDERS < 5000 ? ORDERS : 5000))
  GROWTH="2000 5000 10000"
  LATENCY_SECONDS=5
  LATENCY_RUNS=2
  HIGH_RATE_SECONDS=2
  EFF_ORDERS=300
  BATCH_SIZES="100 1000"
  LINGERS="0 5"
  COMPRESSIONS="none lz4"
  KNOB_ORDERS=5000
  KNOB_LATENCY_SECONDS=4
  PRODUCER_RUNS=1
  METRICS_COST_RUNS=1
  TARGET_RUNS=1
fi

cd "$ROOT_DIR"
require_kafka
require_postgres
[[ -x /usr/bin/time ]] || install_packages time
run cargo build --release --locked -p order-producer -p order-consumer -p scaling-experiment --bin order-producer \
  --bin order-consumer --bin measure

id="$(date -u +%s)"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$ROOT_DIR/results/bench-$stamp"
work="$out/work"
mkdir -p "$work"
RESULTS="$out/results.txt"
: >"$RESULTS"
PRODUCER="$ROOT_DIR/target/release/order-producer"
CONSUMER="$ROOT_DIR/target/release/order-consumer"
MEASURE="$ROOT_DIR/target/release/measure"

record_machine
record run.time "$stamp"
record run.small "${small:-0}"
record settings.latency_rate "$LATENCY_RATE"
record settings.eff_delay_ms "$EFF_DELAY_MS"
record settings.wide_customers "$WIDE_CUSTOMERS"
record settings.high_rate "$HIGH_RATE"

new_db() { psql_app -qc "CREATE DATABASE $1"; }
# The run before wrote up to millions of rows: flush them now rather than in a checkpoint in the middle of the next.
checkpoint() { psql_app -qc CHECKPOINT || warn "CHECKPOINT refused (needs pg_checkpoint); a run may include one"; }
db() { psql_db "$1" -tAc "$2"; }
rows_in() { db "$1" "SELECT COUNT(*) FROM orders" 2>/dev/null || echo 0; }

# produce LABEL TOPIC COUNT RATE [ARGS...]: runs the release producer; records its rate and peak RSS.
produce() {
  local label="$1" topic="$2" count="$3" rate="$4" summary figure
  shift 4
  summary="$work/$label-producer-summary.json"
  run /usr/bin/time -f '%M' -o "$work/$label-producer.rss" "$PRODUCER" --topic "$topic" --count "$count" \
    --rate "$rate" --seed 1 --progress-interval 60s --summary-file "$summary" "$@" >"$work/$label-producer.log" 2>&1
  figure="$(producer_summary_field "$summary" rate)"
  record "$label.producer_rate" "$figure"
  figure="$(producer_summary_field "$summary" acked)"
  record "$label.producer_acked" "$figure"
  record "$label.producer_rss_kib" "$(tail -n 1 "$work/$label-producer.rss")"
}

# start_consumers LABEL N TOPIC DATABASE [VAR=VALUE...]: starts N release consumers in group LABEL.
CONSUMER_PIDS=()
start_consumers() {
  local label="$1" n="$2" topic="$3" database="$4" i
  shift 4
  CONSUMER_PIDS=()
  new_topic "$topic-dlq" 1
  for i in $(seq 1 "$n"); do
    env KAFKA_TOPIC="$topic" DLQ_TOPIC="$topic-dlq" CONSUMER_GROUP="$label" DATABASE_URL="$(database_url "$database")" \
      RUST_LOG=info "$@" "$CONSUMER" >"$work/$label-consumer-$i.log" 2>&1 &
    CONSUMER_PIDS+=($!)
  done
}

# stop_consumers LABEL: records the largest peak RSS among the consumers and the CPU time they used together, then
# stops them (SIGTERM) and waits until every one has exited (SIGKILL after 30 s): their sessions close before the
# next run, and before the drop.
stop_consumers() {
  local label="$1" pid peak=0 hwm cpu=0 used
  for pid in "${CONSUMER_PIDS[@]}"; do
    hwm="$(process_memory_kib "$pid" | cut -d' ' -f2)" || hwm=0
    ((hwm > peak)) && peak="$hwm"
    used="$(process_cpu_seconds "$pid")" || used=0
    cpu="$(awk -v a="$cpu" -v b="$used" 'BEGIN { printf "%.2f", a + b }')"
  done
  record "$label.consumer_rss_kib" "$peak"
  record "$label.consumer_cpu_s" "$cpu"
  stop_processes "the consumers of $label" "${CONSUMER_PIDS[@]}"
  wait "${CONSUMER_PIDS[@]}" 2>/dev/null || true
}

# wait_stored LABEL TOPIC DATABASE EXPECTED TIMEOUT: until group LABEL has committed TOPIC to its end and stored
# EXPECTED rows, asking the broker, not the database, while the consumers write.
wait_stored() {
  "$MEASURE" wait-stored --bootstrap-servers "$KAFKA_BOOTSTRAP" --database-url "$(database_url "$3")" --topic "$2" \
    --group "$1" --expected "$4" --timeout "$5" >/dev/null
}

# group_run LABEL CONSUMERS TOPIC EXPECTED [VAR=VALUE...]: consumers on a fresh table until EXPECTED rows; records
# wall time from start, the rate between the first and the last row, and the sum of each consumer's own rate.
group_run() {
  local label="$1" n="$2" topic="$3" expected="$4" database start end
  shift 4
  database="bench_${id}_${label//[^a-z0-9]/_}"
  new_db "$database"
  checkpoint
  start="$(date +%s%N)"
  start_consumers "$label" "$n" "$topic" "$database" "$@"
  wait_stored "$label" "$topic" "$database" "$expected" 30m
  end="$(date +%s%N)"
  stop_consumers "$label"
  record "$label.wall_s" "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')"
  record "$label.rows_per_s" "$(db "$database" "SELECT ROUND(COUNT(*) / EXTRACT(EPOCH FROM MAX(processed_at) - MIN(processed_at)))::bigint FROM orders")"
  record "$label.busy_rows_per_s" "$(db "$database" "SELECT ROUND(SUM(n / NULLIF(s, 0)))::bigint FROM (SELECT COUNT(*) n, EXTRACT(EPOCH FROM MAX(processed_at) - MIN(processed_at)) s FROM orders GROUP BY processed_by) t")"
  record "$label.largest_partition_share" "$(db "$database" "SELECT ROUND(MAX(n)::numeric / SUM(n), 3) FROM (SELECT COUNT(*) n FROM orders GROUP BY kafka_partition) t")"
  LAST_DB="$database"
}

# latency_run LABEL SECONDS RATE [PRODUCER ARGS...] [-- VAR=VALUE...]: 3 consumers on 3 partitions, the producer
# at RATE orders/s for SECONDS; records p50/p95/p99 of processed_at - produced_at and peak RSS.
latency_run() {
  local label="$1" seconds="$2" rate="$3" topic database
  shift 3
  local producer_args=() consumer_env=()
  while [[ $# -gt 0 && "$1" != -- ]]; do producer_args+=("$1"); shift; done
  [[ "${1:-}" == -- ]] && shift
  consumer_env=("$@")
  topic="bench-$id-$label"
  database="bench_${id}_${label//[^a-z0-9]/_}"
  new_topic "$topic" 3
  new_db "$database"
  checkpoint
  start_consumers "$label" 3 "$topic" "$database" "${consumer_env[@]}"
  wait_until 60 "consumers of $label owning partitions" owners_at_least 3 "$label"
  produce "$label" "$topic" "$((rate * seconds))" "$rate" "${producer_args[@]}"
  wait_stored "$label" "$topic" "$database" "$((rate * seconds))" 120s
  stop_consumers "$label"
  local q="percentile_cont(%s) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM processed_at - produced_at) * 1000)"
  local sql
  # shellcheck disable=SC2059 # the format string is ours
  sql="SELECT ROUND($(printf "$q" 0.5)::numeric, 1) || ' ' || ROUND($(printf "$q" 0.95)::numeric, 1) || ' ' || ROUND($(printf "$q" 0.99)::numeric, 1) || ' ' || ROUND(MAX(EXTRACT(EPOCH FROM processed_at - produced_at) * 1000)::numeric, 1) FROM orders"
  read -r p50 p95 p99 pmax < <(db "$database" "$sql")
  record "$label.p50_ms" "$p50"
  record "$label.p95_ms" "$p95"
  record "$label.p99_ms" "$p99"
  record "$label.max_ms" "$pmax"
}

# Every consumer has exited; what may still be in these databases is autovacuum, which a plain DROP ends itself.
drop_bench_databases() {
  local d
  for d in $(psql_app -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'bench_${id}_%'"); do
    drop_database "$d" || true # it said why and who still uses it; the report is written all the same
  done
}

latency_runs() {
  local i
  log "(5)(6) latency and memory at a steady $LATENCY_RATE orders/s for ${LATENCY_SECONDS}s, 3 consumers, $LATENCY_RUNS runs in a row"
  latency_run latency "$LATENCY_SECONDS" "$LATENCY_RATE"
  for i in $(seq 2 "$LATENCY_RUNS"); do
    latency_run "latency$i" "$LATENCY_SECONDS" "$LATENCY_RATE"
  done
  record latency.runs "$LATENCY_RUNS"
  log "(5) latency at $HIGH_RATE orders/s for ${HIGH_RATE_SECONDS}s, 3 consumers"
  latency_run highrate "$HIGH_RATE_SECONDS" "$HIGH_RATE"
}
if [[ -n "$latency_only" ]]; then
  latency_runs
  grep -E '^(latency|highrate)[0-9]*\.' "$RESULTS" | tee "$out/latency-only.txt"
  drop_bench_databases
  exit 0
fi

# Producer figures swing by a third between runs on two shared cores: each producer runs PRODUCER_RUNS times,
# alternating with the other, and the median counts (every run is recorded).
value_of() { sed -n "s/^$1=//p" "$RESULTS" | tail -n 1; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
main="bench-$id-main"
ours=() theirs=() peaks=()
for i in $(seq 1 "$PRODUCER_RUNS"); do
  log "(4) producer, run $i of $PRODUCER_RUNS: $ORDERS orders, as fast as the broker takes them"
  topic="$main"
  ((i == 1)) || topic="bench-$id-prod$i"
  new_topic "$topic" 3
  produce "producer$i" "$topic" "$ORDERS" 0
  ours+=("$(value_of "producer$i.producer_rate")")
  peaks+=("$(value_of "producer$i.producer_rss_kib")")
  if ((i == 1)); then
    record producer.record_bytes "$("$ROOT_DIR/scripts/kafka.sh" kafka-console-consumer \
      --bootstrap-server "$KAFKA_BOOTSTRAP" --topic "$main" --from-beginning --max-messages 10000 --timeout-ms 30000 2>/dev/null |
      tee "$work/payloads.txt" | awk '{ n++; b += length($0) } END { printf "%d", b / n }')"
  fi
  log "(4) kafka-producer-perf-test, run $i of $PRODUCER_RUNS: the same records, acks, compression, linger and batch size"
  new_topic "bench-$id-perf$i" 3
  run "$ROOT_DIR/scripts/kafka.sh" kafka-producer-perf-test --topic "bench-$id-perf$i" --num-records "$ORDERS" \
    --throughput -1 --payload-file "$work/payloads.txt" --producer-props bootstrap.servers="$KAFKA_BOOTSTRAP" acks=all \
    compression.type=lz4 linger.ms=5 batch.size=1000000 enable.idempotence=true 2>&1 | tee "$work/perf-test$i.log" | tail -n 1
  theirs+=("$(tail -n 1 "$work/perf-test$i.log" | sed -n 's/.* records sent, \([0-9.]*\) records\/sec.*/\1/p')")
  record "perftest$i.rate" "${theirs[-1]}"
done
record producer.producer_rate "$(median "${ours[@]}")"
record producer.producer_acked "$(value_of producer1.producer_acked)"
record producer.producer_rss_kib "$(printf '%s\n' "${peaks[@]}" | sort -g | tail -n 1)"
record producer.runs "$PRODUCER_RUNS"
record perftest.rate "$(median "${theirs[@]}")"

log "(1) Postgres ceiling: the rows of $ORDERS orders, stored once by 1 consumer, then staged"
group_run staging 1 "$main" "$ORDERS"
ceiling_db="$LAST_DB"
db "$ceiling_db" "CREATE TABLE staging AS SELECT * FROM orders"
# ceiling_run LABEL: empties the table, then upserts the staged rows into it in one statement, the consumer's upsert
# done by the server itself; records the rows per second as LABEL.ceiling_rows_per_s.
ceilings=()
ceiling_run() {
  local start end
  db "$ceiling_db" "TRUNCATE orders"
  checkpoint
  start="$(date +%s%N)"
  db "$ceiling_db" "INSERT INTO orders SELECT * FROM staging ON CONFLICT (order_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, customer_name = EXCLUDED.customer_name, restaurant = EXCLUDED.restaurant,
    items = EXCLUDED.items, total_amount = EXCLUDED.total_amount, status = EXCLUDED.status, created_at = EXCLUDED.created_at,
    customer_seq = EXCLUDED.customer_seq, version = EXCLUDED.version, kafka_partition = EXCLUDED.kafka_partition,
    kafka_offset = EXCLUDED.kafka_offset, produced_at = EXCLUDED.produced_at, processed_by = EXCLUDED.processed_by,
    processed_at = clock_timestamp() WHERE orders.version < EXCLUDED.version" >/dev/null
  end="$(date +%s%N)"
  ceilings+=("$(awk -v n="$ORDERS" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / ((b - a) / 1e9) }')")
  record "$1.ceiling_rows_per_s" "${ceilings[-1]}"
}
# paired_run LABEL CONSUMERS TOPIC EXPECTED [VAR=VALUE...]: the ceiling, then group_run right after it; records the
# run's rate over that ceiling as LABEL.to_ceiling. The machine's speed drifts by a third within minutes, so a ratio
# of two runs minutes apart says more about the drift than about the consumer.
paired_run() {
  ceiling_run "$1"
  group_run "$@"
  record "$1.to_ceiling" "$(awk -v a="$(value_of "$1.rows_per_s")" -v b="$(value_of "$1.ceiling_rows_per_s")" \
    'BEGIN { printf "%.4f", a / b }')"
}

log "(2) consumer group end to end: $ORDERS orders on 3 partitions, 1, 2 and 3 consumers"
paired_run group1 1 "$main" "$ORDERS"
# Right after the default run of 1 consumer, so that the cost of storing offsets in Postgres (a second statement in
# each batch's transaction) is measured under the same conditions.
log "(2) 1 consumer with OFFSET_STORE=postgres"
group_run pgoffsets1 1 "$main" "$ORDERS" OFFSET_STORE=postgres
for c in 2 3; do
  group_run "group$c" "$c" "$main" "$ORDERS"
done
# The cost of metrics: 1 consumer with METRICS_ADDR=off (nothing served, nothing counted) and with its default
# metrics, on the same topic, in the order off-on, on-off, off-on … so that a drift across the runs (the first runs
# of a series are often slower) favours neither; the medians count (every run is recorded). Throughput is bound by
# Postgres, so the consumer's own CPU time for the same orders is the finer measure of what the metrics cost.
log "(2) the cost of metrics: 1 consumer, METRICS_ADDR=off and default, $METRICS_COST_RUNS runs each, alternating"
off=() on=() off_cpu=() on_cpu=() on_ratios=()
metrics_cost_run() {
  if [[ "$1" == off ]]; then
    paired_run "metricsoff$2" 1 "$main" "$ORDERS" METRICS_ADDR=off
    off+=("$(value_of "metricsoff$2.rows_per_s")")
    off_cpu+=("$(value_of "metricsoff$2.consumer_cpu_s")")
  else
    paired_run "metricson$2" 1 "$main" "$ORDERS"
    on+=("$(value_of "metricson$2.rows_per_s")")
    on_ratios+=("$(value_of "metricson$2.to_ceiling")")
    on_cpu+=("$(value_of "metricson$2.consumer_cpu_s")")
  fi
}
for i in $(seq 1 "$METRICS_COST_RUNS"); do
  if ((i % 2 == 1)); then
    metrics_cost_run off "$i"
    metrics_cost_run on "$i"
  else
    metrics_cost_run on "$i"
    metrics_cost_run off "$i"
  fi
done
record metrics_cost.runs "$METRICS_COST_RUNS"
record metrics_cost.off_rows_per_s "$(median "${off[@]}")"
record metrics_cost.on_rows_per_s "$(median "${on[@]}")"
record metrics_cost.on_to_off "$(awk -v a="$(median "${on[@]}")" -v b="$(median "${off[@]}")" 'BEGIN { printf "%.3f", a / b }')"
record metrics_cost.off_cpu_s "$(median "${off_cpu[@]}")"
record metrics_cost.on_cpu_s "$(median "${on_cpu[@]}")"
record metrics_cost.cpu_on_to_off "$(awk -v a="$(median "${on_cpu[@]}")" -v b="$(median "${off_cpu[@]}")" 'BEGIN { printf "%.3f", a / b }')"
log "(2) the same with keys spread wider: $ORDERS orders of $WIDE_CUSTOMERS customers, 3 consumers"
wide="bench-$id-wide"
new_topic "$wide" 3
produce wide "$wide" "$ORDERS" 0 --customers "$WIDE_CUSTOMERS"
paired_run "wide3" 3 "$wide" "$ORDERS"
wides=("$(value_of wide3.rows_per_s)")
wide_ratios=("$(value_of wide3.to_ceiling)")
for i in $(seq 2 "$TARGET_RUNS"); do
  log "(2) 3 consumers, $WIDE_CUSTOMERS customers, run $i of $TARGET_RUNS"
  paired_run "widerun$i" 3 "$wide" "$ORDERS"
  wides+=("$(value_of "widerun$i.rows_per_s")")
  wide_ratios+=("$(value_of "widerun$i.to_ceiling")")
done
record wide3.median_rows_per_s "$(median "${wides[@]}")"
record wide3.median_to_ceiling "$(median "${wide_ratios[@]}")"
record wide3.runs "$TARGET_RUNS"
ones=("$(value_of group1.rows_per_s)" "${on[@]}")
record one.median_rows_per_s "$(median "${ones[@]}")"
ones=("$(value_of group1.to_ceiling)" "${on_ratios[@]}")
record one.median_to_ceiling "$(median "${ones[@]}")"
record one.runs "${#ones[@]}"
record ceiling.rows "$(rows_in "$ceiling_db")"
record ceiling.rows_per_s "$(median "${ceilings[@]}")"
record ceiling.runs "${#ceilings[@]}"

if [[ -n "$group_only" ]]; then
  log "group only: producer and consumer group figures"
  grep -E '^(producer|perftest|group|wide|widerun|one|pgoffsets|metrics_?[a-z]*)[0-9]*\.' "$RESULTS" | tee "$out/group-only.txt"
  exit 0
fi


log "(3) scaling with ${EFF_DELAY_MS} ms of simulated work per order: $EFF_ORDERS orders, 1, 2, 3 consumers"
eff="bench-$id-eff"
new_topic "$eff" 3
produce eff "$eff" "$EFF_ORDERS" 0 --customers "$WIDE_CUSTOMERS"
for i in $(seq 1 "$TARGET_RUNS"); do
  for c in 1 2 3; do
    label="eff$c"
    ((i == 1)) || label="eff${c}run$i"
    group_run "$label" "$c" "$eff" "$EFF_ORDERS" PROCESSING_DELAY_MS="$EFF_DELAY_MS" BATCH_SIZE=20
  done
done
record eff.runs "$TARGET_RUNS"


latency_runs

log "(7) growth: 3 consumers, N = $GROWTH"
for n in $GROWTH; do
  topic="bench-$id-grow$n"
  new_topic "$topic" 3
  produce "grow$n" "$topic" "$n" 0
  group_run "grow$n" 3 "$topic" "$n"
done

log "(8) knobs: consumer batch size ($BATCH_SIZES)"
knob="bench-$id-knob"
new_topic "$knob" 3
produce knob "$knob" "$KNOB_ORDERS" 0
for b in $BATCH_SIZES; do
  group_run "batch$b" 1 "$knob" "$KNOB_ORDERS" BATCH_SIZE="$b"
  latency_run "batchlat$b" "$KNOB_LATENCY_SECONDS" "$LATENCY_RATE" -- BATCH_SIZE="$b"
done
log "(8) knobs: producer compression ($COMPRESSIONS) and linger ($LINGERS)"
for c in $COMPRESSIONS; do
  topic="bench-$id-comp-$c"
  new_topic "$topic" 3
  produce "comp$c" "$topic" "$KNOB_ORDERS" 0 --compression "$c"
  record "comp$c.log_bytes" "$(cat "$LOCAL_DIR/kafka/data/$topic"-*/*.log | wc -c)"
done
for l in $LINGERS; do
  topic="bench-$id-linger$l"
  new_topic "$topic" 3
  produce "linger$l" "$topic" "$KNOB_ORDERS" 0 --linger-ms "$l"
  latency_run "lingerlat$l" "$KNOB_LATENCY_SECONDS" "$LATENCY_RATE" --linger-ms "$l"
done

drop_bench_databases

args=(--results "$RESULTS" --json "$out/bench.json")
[[ -n "$small" ]] || args+=(--doc "$DOC")
run "$MEASURE" bench-report "${args[@]}"
