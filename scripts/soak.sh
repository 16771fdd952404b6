#!/usr/bin/env bash
# Soak: pushes N orders (default 1,000,000) through the pipeline at a steady rate while the group is disrupted,
# then drains and reconciles, and records each consumer's and the producer's memory once a second. Not part of
# scripts/test.sh: at the defaults it runs for about 4 minutes and loads the whole machine.
#
# The schedule (each step starts when the table holds that share of the orders, then waits for the group to settle:
# the expected number of members, every partition owned by exactly one of them):
#   start  topic of 3 partitions, 1 consumer, then the producer
#   10 %   scale to 3 consumers
#   25 %   raise the partitions to 6 (no restart)
#   40 %   scale to 5 consumers (5 members on 6 partitions: all work, one owns two)
#   55 %   SIGKILL consumer 2 (no commit, no goodbye: its partitions wait for the session timeout)
#   70 %   scale down to 2 (SIGTERM to the newest: they commit and leave)
#   end    the producer finishes; drain until committed = log-end offsets; reconcile
# Consumer 1 runs from the first order to the last, so its memory curve spans the whole soak.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ORDERS="${SOAK_ORDERS:-1000000}"
RATE="${SOAK_RATE:-5000}"
SETTLE_TIMEOUT="${SOAK_SETTLE_TIMEOUT:-90}"
DRAIN_TIMEOUT="${SOAK_DRAIN_TIMEOUT:-300}"
keep=""

# The disruptions: "PERCENT ACTION ARGUMENT MEMBERS_AFTER", in order.
SCHEDULE=(
  "10 scale 3 3"
  "25 partitions 6 3"
  "40 scale 5 5"
  "55 kill 2 4"
  "70 scale 2 2"
)
START_PARTITIONS=3

usage() {
  cat <<USAGE
Usage: scripts/soak.sh [--orders N] [--rate ORDERS_PER_S] [--drain-timeout S] [--settle-timeout S] [--keep]

Pushes N orders through a topic, group and database of its own on the local stack (scripts/stack.sh up first)
while scaling consumers up and down, raising partitions and SIGKILLing one consumer; then drains and checks:
rows + dead letters = acked orders, 0 duplicate rows, committed = log-end offsets, every partition owned by exactly
one member. Samples each consumer's and the producer's RSS every second. Exits non-zero when a check fails.

  --orders N          orders to produce (default $ORDERS; SOAK_ORDERS)
  --rate R            producer orders/s, 0 = as fast as the broker takes them (default $RATE; SOAK_RATE).
                      With 0 the producer ends within seconds and most steps land after the last row is
                      stored: the group settles slower than it drains a backlog (docs/soak.md).
  --settle-timeout S  how long each step may take to settle the group (default $SETTLE_TIMEOUT; SOAK_SETTLE_TIMEOUT)
  --drain-timeout S   how long the drain may take after the producer ends (default $DRAIN_TIMEOUT; SOAK_DRAIN_TIMEOUT)
  --keep              keep the topic, DLQ topic, group and database (default: deleted at the end)

Schedule: start with 1 consumer on $START_PARTITIONS partitions, then at a share of the orders stored:
$(for step in "${SCHEDULE[@]}"; do read -r pct action arg members <<<"$step"; printf '  %3s%%  %s %s (then %s members)\n' "$pct" "$action" "$arg" "$members"; done)
Writes results/soak-<UTC time>/: memory.csv (one row per process per second), summary.md, summary.json, and the
logs of the producer and every consumer. See docs/soak.md.
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --orders) ORDERS="${2:-}"; shift 2 || die "--orders needs a number" ;;
    --rate) RATE="${2:-}"; shift 2 || die "--rate needs a number" ;;
    --settle-timeout) SETTLE_TIMEOUT="${2:-}"; shift 2 || die "--settle-timeout needs seconds" ;;
    --drain-timeout) DRAIN_TIMEOUT="${2:-}"; shift 2 || die "--drain-timeout needs seconds" ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see scripts/soak.sh --help)" ;;
  esac
done
require_int --orders "$ORDERS" 1
require_int --rate "$RATE" 0
require_int --settle-timeout "$SETTLE_TIMEOUT" 1
require_int --drain-timeout "$DRAIN_TIMEOUT" 1

cd "$ROOT_DIR"
require_kafka
require_postgres
run cargo build --release --locked -p order-producer -p order-consumer -p scaling-experiment --bin measure

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
id="${stamp,,}"
out="$ROOT_DIR/results/soak-$stamp"
mkdir -p "$out"
RESULTS="$out/results.txt"
: >"$RESULTS"
MEMORY_CSV="$out/memory.csv"
PRODUCER_LOG="$out/producer.log"
PRODUCER_SUMMARY="$out/producer-summary.json"
# scripts/scale.sh keeps its pid files and logs under $LOCAL_DIR/consumers: pointing LOCAL_DIR at the results
# folder gives the soak consumers of its own, apart from any started by hand.
CONSUMERS_DIR="$out/consumers"
SCALE=(env LOCAL_DIR="$out" "$ROOT_DIR/scripts/scale.sh")

# The consumers started by scripts/scale.sh and the producer inherit these.
export KAFKA_BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP"
export KAFKA_TOPIC="soak-$id"
export DLQ_TOPIC="soak-$id-dlq"
export CONSUMER_GROUP="soak-$id"
soak_db="soak_$id"
DATABASE_URL="$(database_url "$soak_db")"
export DATABASE_URL
export RUST_LOG="${RUST_LOG:-info}"

# Planned production time, and a deadline for each wait derived from it (with --rate 0 the producer takes seconds).
planned_s=$((RATE > 0 ? (ORDERS + RATE - 1) / RATE : 60))
step_timeout=$((planned_s + 120))

log "soak $stamp: $ORDERS orders at ${RATE} orders/s (0 = as fast as possible), planned production ${planned_s}s"
log "topic $KAFKA_TOPIC, DLQ $DLQ_TOPIC, group $CONSUMER_GROUP, database $soak_db; results in $out"
record_machine
record run.time "$stamp"
record run.orders "$ORDERS"
record run.rate "$RATE"
record run.start_partitions "$START_PARTITIONS"
record run.topic "$KAFKA_TOPIC"
record run.group "$CONSUMER_GROUP"
record run.database "$soak_db"

# ------------------------------------------------------------------------------------------------------- helpers
t0="$EPOCHREALTIME"
elapsed() { awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# Rows in the soak's table, or nothing while the database does not answer (another worker's fault test).
rows_now() { psql_db "$soak_db" -tAc "SELECT COUNT(*) FROM orders" 2>/dev/null; }

producer_running() { [[ -e "$out/producer.pid" ]] && kill -0 "$(cat "$out/producer.pid")" 2>/dev/null; }

consumer_pid() { cat "$CONSUMERS_DIR/consumer-$1.pid" 2>/dev/null; }

# The soak consumers scripts/scale.sh tracks (it removes the pid file of one it stops or kills).
running_consumers() {
  local f n=0
  for f in "$CONSUMERS_DIR"/consumer-*.pid; do
    [[ -e "$f" ]] && n=$((n + 1))
  done
  echo "$n"
}

# sample_memory SECONDS: once a second, one CSV row per live consumer and the producer, for at most SECONDS.
sample_memory() {
  local deadline=$((SECONDS + $1)) f label pid mem now at
  printf 'time_utc,elapsed_s,label,pid,rss_kib,peak_kib\n' >"$MEMORY_CSV"
  while ((SECONDS < deadline)); do
    printf -v now '%(%Y-%m-%dT%H:%M:%SZ)T' -1
    at="$(elapsed)"
    for f in "$CONSUMERS_DIR"/consumer-*.pid "$out/producer.pid"; do
      [[ -e "$f" ]] || continue
      label="${f##*/}"
      label="${label%.pid}"
      pid="$(cat "$f" 2>/dev/null)" || continue
      mem="$(process_memory_kib "$pid")" || continue
      printf '%s,%s,%s,%s,%s\n' "$now" "$at" "$label" "$pid" "${mem/ /,}" >>"$MEMORY_CSV"
    done
    sleep 1
  done
}

# The group as the coordinator sees it (kafka-consumer-groups --members --verbose, whose CURRENT-ASSIGNMENT column
# reads "topic:1,2"): the partitions every member owns, one per line, then a "members N" line with the count.
group_ownership() {
  "$ROOT_DIR/scripts/kafka.sh" kafka-consumer-groups --bootstrap-server "$KAFKA_BOOTSTRAP" --describe \
    --group "$CONSUMER_GROUP" --members --verbose 2>/dev/null |
    awk '$1 == "GROUP" { for (i = 1; i <= NF; i++) if ($i ~ /ASSIGNMENT$/ && !c) c = i; next }
         c && $1 == ENVIRON["CONSUMER_GROUP"] { n++; a = $c; if (a == "-") next
           sub(/^[^:]*:/, "", a); k = split(a, p, ","); for (i = 1; i <= k; i++) print p[i] }
         END { print "members " n + 0 }'
}

# Partition count of the soak topic, from its log-end offsets.
partition_count() { log_end_offsets "$KAFKA_TOPIC" | wc -l; }

# owned_once MEMBERS: whether the group has MEMBERS members and each partition of the topic is owned by exactly one.
owned_once() {
  local want="$1" view partitions
  view="$(group_ownership)" || return 1
  partitions="$(partition_count)" || return 1
  [[ "$(grep '^members ' <<<"$view")" == "members $want" ]] || return 1
  [[ "$(grep -v '^members ' <<<"$view" | sort -n | tr '\n' ' ')" == "$(seq -s ' ' 0 $((partitions - 1))) " ]]
}

# log_end_offsets TOPIC: "partition offset" lines (kafka-get-offsets, latest).
log_end_offsets() {
  "$ROOT_DIR/scripts/kafka.sh" kafka-get-offsets --bootstrap-server "$KAFKA_BOOTSTRAP" --topic "^$1\$" 2>/dev/null |
    awk -F: 'NF == 3 { print $2, $3 }' | sort -n
}

# committed_offsets: "partition offset" lines the group committed on the soak topic (kafka-consumer-groups).
committed_offsets() {
  "$ROOT_DIR/scripts/kafka.sh" kafka-consumer-groups --bootstrap-server "$KAFKA_BOOTSTRAP" --describe \
    --group "$CONSUMER_GROUP" --offsets 2>/dev/null |
    awk '$1 == ENVIRON["CONSUMER_GROUP"] && $2 == ENVIRON["KAFKA_TOPIC"] && $4 ~ /^[0-9]+$/ { print $3, $4 }' | sort -n
}

# drained: whether every partition's committed offset equals its log-end offset (an empty partition needs none).
drained() {
  local end committed
  end="$(log_end_offsets "$KAFKA_TOPIC")" && [[ -n "$end" ]] || return 1
  committed="$(committed_offsets)" || return 1
  [[ "$(grep -v ' 0$' <<<"$end")" == "$(grep -v ' 0$' <<<"$committed")" ]]
}

progress() {
  local rows consumers mem
  rows="$(rows_now)" || rows="?"
  consumers="$(running_consumers)"
  mem="$(tail -n 12 "$MEMORY_CSV" 2>/dev/null | awk -F, '$3 ~ /consumer/ && $5 > m { m = $5 } END { printf "%.1f", m / 1024 }')"
  log "t=$(elapsed)s rows=$rows of $ORDERS, consumers=$consumers, producer $(producer_running && echo running || echo finished), largest consumer RSS ${mem} MiB"
}

# wait_with_progress SECONDS COMMAND...: like poll_until (once a second), printing progress every 10 s.
wait_with_progress() {
  local deadline=$((SECONDS + $1)) next=$((SECONDS + 10))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    if ((SECONDS >= next)); then
      progress
      next=$((SECONDS + 10))
    fi
    sleep 1
  done
}
rows_at_least() { local rows; rows="$(rows_now)" && ((rows >= $1)); }
producer_done() { ! producer_running; }

failures=0
check() {
  local name="$1" ok="$2" detail="$3"
  record "check.$name" "$([[ "$ok" == 1 ]] && echo pass || echo FAIL)"
  record "detail.$name" "$detail"
  if [[ "$ok" == 1 ]]; then log "PASS $name: $detail"; else warn "FAIL $name: $detail"; failures=$((failures + 1)); fi
}

sampler_pid=""
# The script's own stdout and stderr: a signal may arrive while a check runs with its output sent to /dev/null
# (poll_until), and the cleanup it triggers should still be seen.
exec {script_stdout}>&1 {script_stderr}>&2
cleanup() {
  local status=$?
  trap - EXIT
  exec 1>&"$script_stdout" 2>&"$script_stderr"
  if [[ -e "$out/producer.pid" ]]; then
    stop_process "$(cat "$out/producer.pid")" "the producer"
    rm -f "$out/producer.pid"
  fi
  "${SCALE[@]}" 0 >/dev/null 2>&1 || warn "could not stop every soak consumer (see $CONSUMERS_DIR)"
  [[ -n "$sampler_pid" ]] && { kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; }
  if [[ -z "$keep" ]]; then
    log "deleting the soak's topics, group and database (--keep keeps them)"
    run "$ROOT_DIR/scripts/kafka.sh" kafka-consumer-groups --bootstrap-server "$KAFKA_BOOTSTRAP" --delete \
      --group "$CONSUMER_GROUP" >/dev/null || warn "group $CONSUMER_GROUP not deleted"
    run "$ROOT_DIR/scripts/kafka.sh" kafka-topics --bootstrap-server "$KAFKA_BOOTSTRAP" --delete \
      --topic "$KAFKA_TOPIC" || warn "topic $KAFKA_TOPIC not deleted"
    run "$ROOT_DIR/scripts/kafka.sh" kafka-topics --bootstrap-server "$KAFKA_BOOTSTRAP" --delete \
      --topic "$DLQ_TOPIC" || warn "topic $DLQ_TOPIC not deleted"
    run "${PSQL[@]}" -qc "DROP DATABASE IF EXISTS $soak_db WITH (FORCE)" || warn "database $soak_db not dropped"
  else
    log "kept: topics $KAFKA_TOPIC and $DLQ_TOPIC, group $CONSUMER_GROUP, database $soak_db"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------------------- start
log "creating the topic ($START_PARTITIONS partitions), the DLQ topic and the database"
run "$ROOT_DIR/scripts/kafka.sh" kafka-topics --bootstrap-server "$KAFKA_BOOTSTRAP" --create --topic "$KAFKA_TOPIC" \
  --partitions "$START_PARTITIONS" --replication-factor 1
new_topic "$DLQ_TOPIC" 1
run "${PSQL[@]}" -qc "CREATE DATABASE $soak_db"

# The sampler stops itself after the longest the soak can take; cleanup stops it sooner.
sample_memory $((step_timeout * ${#SCHEDULE[@]} + planned_s * 3 + DRAIN_TIMEOUT + SETTLE_TIMEOUT * 10)) &
sampler_pid=$!

run "${SCALE[@]}" 1
settle_start=$SECONDS
wait_until "$SETTLE_TIMEOUT" "consumer 1 owning all $START_PARTITIONS partitions" owned_once 1
record step0.action "start 1"
record step0.at_s "$(elapsed)"
record step0.rows 0
record step0.members 1
record step0.settle_s $((SECONDS - settle_start))

log "starting the producer: $ORDERS orders at $RATE/s (log: $PRODUCER_LOG)"
producer_cmd=("$ROOT_DIR/target/release/order-producer" --topic "$KAFKA_TOPIC" --count "$ORDERS" --rate "$RATE"
  --seed 1 --progress-interval 10s --summary-file "$PRODUCER_SUMMARY")
printf '$ %s\n' "${producer_cmd[*]}" >&2
"${producer_cmd[@]}" >"$PRODUCER_LOG" 2>&1 &
echo $! >"$out/producer.pid"
producer_pid=$!
record run.producer_start_s "$(elapsed)"

# ------------------------------------------------------------------------------------------------------- schedule
n=0
step_events=()
for step in "${SCHEDULE[@]}"; do
  n=$((n + 1))
  read -r pct action arg members <<<"$step"
  want=$((ORDERS * pct / 100))
  if ! wait_with_progress "$step_timeout" rows_at_least "$want"; then
    check "schedule_reached" 0 "step $n ($action $arg) waited ${step_timeout}s for $want rows; $(rows_now || echo '?') stored"
    break
  fi
  log "step $n at $pct% ($want rows): $action $arg"
  record "step$n.action" "$action $arg"
  record "step$n.at_s" "$(elapsed)"
  step_events+=(--event "step$n=$EPOCHREALTIME")
  record "step$n.rows" "$(rows_now || echo '')"
  record "step$n.members" "$members"
  case "$action" in
    scale) command_line=("${SCALE[@]}" "$arg") ;;
    partitions) command_line=("$ROOT_DIR/scripts/partitions.sh" --topic "$KAFKA_TOPIC" set "$arg") ;;
    kill) command_line=("${SCALE[@]}" kill "$(consumer_pid "$arg" || echo "consumer-$arg-not-running")") ;;
  esac
  # Other work may take the stack down for a few seconds: each step is idempotent, so it is retried, 5 times at most.
  for attempt in 1 2 3 4 5; do
    run "${command_line[@]}" && break
    if ((attempt == 5)); then
      check "step${n}_ran" 0 "'$action $arg' failed 5 times"
    else
      warn "'$action $arg' failed (attempt $attempt of 5); retrying in 5 s"
      sleep 5
    fi
  done
  record "step$n.attempts" "$attempt"
  settle_start=$SECONDS
  if poll_until "$SETTLE_TIMEOUT" owned_once "$members"; then
    record "step$n.settle_s" $((SECONDS - settle_start))
    log "settled after $((SECONDS - settle_start))s: $members members, every partition owned once"
  else
    record "step$n.settle_s" ""
    check "step${n}_settled" 0 "not $members members owning every partition once after ${SETTLE_TIMEOUT}s"
  fi
done

# ---------------------------------------------------------------------------------------------------- drain, check
log "waiting for the producer to finish (deadline $((planned_s * 2 + 120))s)"
if ! wait_with_progress $((planned_s * 2 + 120)) producer_done; then
  warn "the producer is still running after its deadline; stopping it (SIGTERM: it flushes and writes its summary)"
  stop_process "$producer_pid" "the producer"
fi
producer_status=0
wait "$producer_pid" || producer_status=$?
rm -f "$out/producer.pid"
record run.producer_end_s "$(elapsed)"
record producer.exit_status "$producer_status"
acked="$(producer_summary_field "$PRODUCER_SUMMARY" acked_new_orders)"
for field in sent acked acked_new_orders failed elapsed_s rate; do
  value="$(producer_summary_field "$PRODUCER_SUMMARY" "$field")"
  record "producer.$field" "$value"
done
log "producer done (exit $producer_status): $acked orders acknowledged, $(producer_summary_field "$PRODUCER_SUMMARY" failed) failed"

log "draining: waiting until the committed offsets reach the log-end offsets (deadline ${DRAIN_TIMEOUT}s)"
drain_start=$SECONDS
if wait_with_progress "$DRAIN_TIMEOUT" drained; then
  record run.drain_s $((SECONDS - drain_start))
else
  record run.drain_s ""
fi
record run.drained_at_s "$(elapsed)"
progress

# Each step's longest stall, measured from the rows as the experiment and the rebalance benchmark measure it.
if ((${#step_events[@]} > 0)); then
  log "measuring each step's longest stall (experiment/src/measure.rs)"
  "$ROOT_DIR/target/release/measure" stalls --database-url "$(database_url "$soak_db")" "${step_events[@]}" \
    --until "$EPOCHREALTIME" >>"$RESULTS" || warn "could not measure the stalls"
fi

log "reconciling: the group and the table after the drain"
run "$ROOT_DIR/scripts/group.sh" --group "$CONSUMER_GROUP" | tee "$out/group.txt" || warn "scripts/group.sh failed"

# Every figure of the reconciliation, read in one go (retried while the stack is briefly down).
figures() {
  local counts dlq
  end_offsets="$(log_end_offsets "$KAFKA_TOPIC")" && [[ -n "$end_offsets" ]] || return 1
  committed="$(committed_offsets)" || return 1
  counts="$(psql_db "$soak_db" -tA -F ' ' -c "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM orders")" || return 1
  read -r rows distinct <<<"$counts"
  dlq="$(log_end_offsets "$DLQ_TOPIC")" && [[ -n "$dlq" ]] || return 1
  dead_letters="$(awk '{ n += $2 } END { print n + 0 }' <<<"$dlq")"
}
poll_until 60 figures || die "could not read the offsets and the table for 60 s (is the stack up?)"
record result.acked "$acked"
record result.rows "$rows"
record result.distinct "$distinct"
record result.duplicates $((rows - distinct))
record result.dead_letters "$dead_letters"
record result.partitions "$(wc -l <<<"$end_offsets")"
record result.log_end "$(awk '{ print $2 }' <<<"$end_offsets" | paste -sd, -)"
record result.committed "$(awk '{ print $2 }' <<<"$committed" | paste -sd, -)"
members_left="$(running_consumers)"
# Not a failure: at a high rate and small N the producer can end before it sees the added partitions (it refreshes
# its metadata every few seconds), and then they carry no orders; the summary says so.
empty="$(awk '$2 == 0 { print $1 }' <<<"$end_offsets" | paste -sd, -)"
record result.empty_partitions "$empty"
[[ -z "$empty" ]] || warn "partitions $empty received no orders (the producer ended before it used them)"
check rows_plus_dead_letters_equal_acked "$((rows + dead_letters == acked ? 1 : 0))" \
  "$rows rows + $dead_letters dead letters vs $acked acked orders"
check no_duplicate_rows "$((rows == distinct ? 1 : 0))" "$rows rows, $distinct distinct order ids"
check committed_equals_log_end "$(poll_until 30 drained && echo 1 || echo 0)" \
  "committed [$(awk '{ print $1 ":" $2 }' <<<"$committed" | paste -sd' ' -)] vs log-end [$(awk '{ print $1 ":" $2 }' <<<"$end_offsets" | paste -sd' ' -)]"
check each_partition_owned_once "$(poll_until 30 owned_once "$members_left" && echo 1 || echo 0)" \
  "$members_left members: $(group_ownership | grep -v '^members ' | sort -n | paste -sd, -)"

log "stopping the consumers (SIGTERM)"
run "${SCALE[@]}" 0
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
record run.wall_s "$(elapsed)"
record run.failures "$failures"

# summary.json, summary.md and memory.svg (experiment/src/soak.rs); it fails when a check failed, after writing them.
run "$ROOT_DIR/target/release/measure" soak-report --results "$RESULTS" --memory "$MEMORY_CSV" --out "$out" ||
  ((failures > 0))
cat "$out/summary.md"
if ((failures > 0)); then
  die "$failures check(s) failed; see $out/summary.md"
fi
log "soak passed: $acked orders reconciled; $out/summary.md"
