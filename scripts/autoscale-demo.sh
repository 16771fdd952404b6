#!/usr/bin/env bash
# Shows order-autoscaler working on the local stack: one consumer holds a topic of 6 partitions; 12,000 orders with
# 5 ms of work each arrive at once; the autoscaler (KEDA's rule) takes the group up to 6 consumers and never beyond,
# the lag drains, and after the 60 s scale-down window the group is back to 1. Checks that nothing was lost and
# writes results/autoscale-<time>/report.md, report.json and timeline.svg; exits non-zero when a check fails.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
  cat <<USAGE
Usage: scripts/autoscale-demo.sh [--stack local|compose] [--short] [--partitions N] [--orders N] [--processing-delay-ms N]
                                 [--lag-threshold N] [--polling-interval 5s] [--scale-down-stabilization 60s]
                                 [--results DIR]

--short          3 partitions, 3,000 orders, polls every 2 s, a 15 s window (what the tests run)
--stack local    (default) the local stack (scripts/stack.sh up first), with a topic, group and database of its own
--stack compose  the compose stack's own topic, group and database, fresh, and order-consumer containers; start it
                 with: docker compose down -v && TOPIC_PARTITIONS=6 docker compose up -d kafka postgres kafka-init
                 (3 with --short), and point KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL at its host ports
The autoscaler's log and its decisions (from its /metrics) are in the report's folder. docs/kubernetes.md explains
the rule.
USAGE
}

passed_on_args "$@"
require_stack

cd "$ROOT_DIR"
run cargo build --release --locked -p order-producer -p order-consumer -p order-autoscaler -p scaling-experiment
exec "$ROOT_DIR/target/release/autoscale-demo" "$@"
