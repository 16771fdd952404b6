#!/usr/bin/env bash
# Runs the whole pipeline on this machine: starts the local stack (Kafka + PostgreSQL), builds the binaries,
# starts N consumers in group order-processors (scripts/scale.sh) and the producer at a set rate, shows their
# progress, then prints the group's assignment and lag (kafka-consumer-groups) and the table's figures (psql). It
# stops the stack's consumers at the end; the stack keeps running (scripts/stack.sh down stops it).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CONSUMERS="${CONSUMERS:-3}"
DEMO_PARTITIONS="${DEMO_PARTITIONS:-3}"
RATE="${PRODUCER_RATE:-200}"
DURATION="${DURATION:-30s}"
DEMO_DIR="$LOCAL_DIR/demo"

usage() {
  cat <<USAGE
Usage: scripts/demo.sh [--consumers N] [--partitions N] [--rate ORDERS_PER_S] [--duration 30s]

Starts the local stack, then $CONSUMERS consumers and the producer ($RATE orders/s for $DURATION) on a topic of
$DEMO_PARTITIONS partitions, and reports what happened. Logs: $LOCAL_DIR/consumers/ and $DEMO_DIR/
Defaults come from CONSUMERS, DEMO_PARTITIONS, PRODUCER_RATE and DURATION.
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --consumers) CONSUMERS="${2:-}"; shift 2 || die "--consumers needs a number" ;;
    --partitions) DEMO_PARTITIONS="${2:-}"; shift 2 || die "--partitions needs a number" ;;
    --rate) RATE="${2:-}"; shift 2 || die "--rate needs a number" ;;
    --duration) DURATION="${2:-}"; shift 2 || die "--duration needs a value like 30s" ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see scripts/demo.sh --help)" ;;
  esac
done
require_int --consumers "$CONSUMERS" 1
require_int --partitions "$DEMO_PARTITIONS" 1
require_int --rate "$RATE" 0

cd "$ROOT_DIR"
"$ROOT_DIR/scripts/stack.sh" up --partitions "$DEMO_PARTITIONS"
kt=("$ROOT_DIR/scripts/kafka.sh" kafka-topics --bootstrap-server "$KAFKA_BOOTSTRAP")
have="$("${kt[@]}" --describe --topic "$ORDERS_TOPIC" | sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' | head -n 1)"
if ((have < DEMO_PARTITIONS)); then
  run "${kt[@]}" --alter --topic "$ORDERS_TOPIC" --partitions "$DEMO_PARTITIONS"
fi

log "building order-producer, order-consumer and lab (release)"
run cargo build --release --locked -p order-producer -p order-consumer -p lab
lab=("$ROOT_DIR/target/release/lab")
mkdir -p "$DEMO_DIR"
started_at="$(psql_app -tAc "SELECT now()")"

trap '"$ROOT_DIR/scripts/scale.sh" 0' EXIT
RUST_LOG="${RUST_LOG:-info}" "$ROOT_DIR/scripts/scale.sh" "$CONSUMERS"
# Show each consumer's assignment, revocation and progress lines as they happen.
tail --pid=$$ -q -n 0 -F "$LOCAL_DIR"/consumers/consumer-*.log 2>/dev/null |
  grep --line-buffered -E "partitions_(assigned|revoked)|consumer_progress|ERROR|WARN" &
tail_pid=$!
trap 'kill "$tail_pid" 2>/dev/null || true; "$ROOT_DIR/scripts/scale.sh" 0' EXIT

# The group is ready before orders flow: min(consumers, partitions) members own partitions, as the coordinator says.
owners=$((CONSUMERS < DEMO_PARTITIONS ? CONSUMERS : DEMO_PARTITIONS))
run "${lab[@]}" measure owners --bootstrap-servers "$KAFKA_BOOTSTRAP" --group "$CONSUMER_GROUP" --at-least "$owners"

log "producing $RATE orders/s for $DURATION (log: $DEMO_DIR/producer.log)"
"$ROOT_DIR/target/release/order-producer" --rate "$RATE" --duration "$DURATION" 2>&1 | tee "$DEMO_DIR/producer.log"

log "waiting for the consumers to commit every order up to the log end (stored, or dead-lettered)"
DATABASE_URL="$(database_url)" run "${lab[@]}" measure wait-stored --bootstrap-servers "$KAFKA_BOOTSTRAP" \
  --topic "$ORDERS_TOPIC" --group "$CONSUMER_GROUP" --expected 0 --timeout 120s
kill "$tail_pid" 2>/dev/null || true

log "the group, as Kafka sees it (members, partitions, committed offsets, lag)"
run "$ROOT_DIR/scripts/kafka.sh" kafka-consumer-groups --bootstrap-server "$KAFKA_BOOTSTRAP" --describe --group "$CONSUMER_GROUP"
log "the table, as psql sees it"
run "${PSQL[@]}" -c "SELECT COUNT(*) AS orders, COUNT(DISTINCT order_id) AS distinct_orders, ROUND(AVG(total_amount), 2) AS avg_total, COUNT(DISTINCT customer_id) AS customers FROM orders;"
run "${PSQL[@]}" -c "SELECT processed_by, COUNT(*) AS orders, array_agg(DISTINCT kafka_partition ORDER BY kafka_partition) AS partitions FROM orders WHERE processed_at >= '$started_at' GROUP BY 1 ORDER BY 1;"
log "done: every order produced is committed (stored, or dead-lettered); the stack is still running (scripts/stack.sh down to stop it)"
