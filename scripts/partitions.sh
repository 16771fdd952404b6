#!/usr/bin/env bash
# Shows or raises the partition count of the orders topic, with Kafka's own kafka-topics tool.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
  cat <<USAGE
Usage: scripts/partitions.sh [--stack local|compose] [--topic NAME] describe
       scripts/partitions.sh [--stack local|compose] [--topic NAME] set N

describe   partitions, leaders and replicas of the topic (default topic: $ORDERS_TOPIC)
set N      raise the partition count to N. Kafka cannot lower it, so a smaller N is refused.
           Raising it moves keys: a customer whose key hashes to another partition under the new count sends
           its new orders there, so per-customer order is kept only within each partition era.
Stack: --stack or STACK (default local); BROKERS=3 for the local three-node cluster (describe then shows which
broker leads each partition, its replicas and the in-sync ones).
USAGE
}

topic="$ORDERS_TOPIC"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --stack) STACK="${2:-}"; shift 2 || die "--stack needs local or compose" ;;
    --topic) topic="${2:-}"; shift 2 || die "--topic needs a name" ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see scripts/partitions.sh --help)" ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || { usage >&2; exit 2; }
command="$1"
shift
check_stack

# Percentage of keys whose partition changes from N to M partitions: keys are spread uniformly by murmur2, and a
# key stays only where hash % N == hash % M, which repeats every lcm(N, M) hash values.
moved_percent() {
  local n="$1" m="$2" a="$1" b="$2" t r stay=0
  while ((b > 0)); do t=$((a % b)); a=$b; b=$t; done
  local lcm=$((n * m / a))
  for ((r = 0; r < lcm; r++)); do ((r % n == r % m)) && stay=$((stay + 1)); done
  echo $(((lcm - stay) * 100 / lcm))
}

partition_count() {
  kafka_tool kafka-topics --describe --topic "$topic" 2>/dev/null | sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' | head -n 1
}

case "$command" in
  describe)
    [[ $# -eq 0 ]] || die "describe takes no argument"
    require_kafka
    kafka_tool kafka-topics --describe --topic "$topic"
    ;;
  set)
    [[ $# -eq 1 ]] || die "set needs the new partition count, e.g. scripts/partitions.sh set 3"
    target="$1"
    require_int "partition count" "$target" 1
    require_kafka
    current="$(partition_count || true)"
    [[ -n "$current" ]] || die "topic '$topic' does not exist (scripts/stack.sh up creates it)"
    if ((target < current)); then
      die "refusing to go from $current to $target partitions: Kafka cannot remove partitions (their data and per-key order would be lost); create a new topic instead"
    elif ((target == current)); then
      log "'$topic' already has $current partitions; nothing to do"
    else
      warn "keys move: with $target partitions, a customer's new orders go to partition murmur2(key) % $target; about $(moved_percent "$current" "$target")% of customers change partition, and their order is kept only within each partition era"
      kafka_tool kafka-topics --alter --topic "$topic" --partitions "$target"
      log "'$topic' now has $target partitions; the producer uses them within ~10 s and the group rebalances onto them, no restart needed"
    fi
    ;;
  *) die "unknown command '$command' (see scripts/partitions.sh --help)" ;;
esac
