#!/usr/bin/env bash
# Shows the consumer group as Kafka sees it: members with their client ids and partitions, then committed offset,
# log-end offset and lag per partition. Both views come from Kafka's own kafka-consumer-groups tool.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
  cat <<USAGE
Usage: scripts/group.sh [--stack local|compose] [--group NAME]

Members (client id, host, partitions), then per partition: committed offset, log-end offset, lag.
Group: --group or CONSUMER_GROUP (default order-processors). Stack: --stack or STACK (default local).
USAGE
}

group="$CONSUMER_GROUP"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --stack) STACK="${2:-}"; shift 2 || die "--stack needs local or compose" ;;
    --group) group="${2:-}"; shift 2 || die "--group needs a name" ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see scripts/group.sh --help)" ;;
  esac
done
check_stack
require_kafka

echo "## members"
kafka_tool kafka-consumer-groups --describe --group "$group" --members --verbose
echo
echo "## offsets and lag"
kafka_tool kafka-consumer-groups --describe --group "$group" --offsets
