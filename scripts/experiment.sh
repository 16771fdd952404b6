#!/usr/bin/env bash
# Runs the whole scaling experiment and reports what it measured; exits non-zero when an expectation fails.
# The phases (the producer runs at a set rate throughout):
#   1. 1 partition, 3 consumers: one owns it and stores everything, two are idle.
#   2. partitions raised to 3 with no restart: the producer uses them within 15 s; each consumer then owns one.
#   3. scale to 5 consumers: still 3 owners, 2 idle.
#   4. SIGKILL one owner: its partition is taken over within the session timeout plus 5 s.
#   5. scale down to 1: one consumer owns all 3 partitions.
#   6. stop the producer, drain, reconcile: rows + dead letters = acked, 0 duplicates, committed = log-end,
#      per-customer order within each partition; customers that moved partition are counted.
# Then, unless --skip-efficiency, throughput with 1, 2, 3 consumers when each order costs PROCESSING_DELAY_MS.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
  cat <<USAGE
Usage: scripts/experiment.sh [--stack local|compose] [--short] [--rate N] [--phase 20s] [--session-timeout-ms N]
                             [--efficiency-delay-ms N] [--efficiency-orders N] [--skip-efficiency] [--results DIR]

--short        6 s phases at 100 orders/s and a small efficiency run (what CI runs)
--stack local  (default) uses a fresh topic, group and database on the local stack (scripts/stack.sh up first);
               BROKERS=3 runs it on the three-node cluster (scripts/stack.sh up --brokers 3): topics with 3
               replicas, and the report names each partition's leader
--stack compose uses the compose stack's own topic, group and database; start it fresh first:
               docker compose down -v && docker compose up -d kafka postgres kafka-init
Writes results/experiment-<time>/report.md, report.json and timeline.svg.
USAGE
}

passed_on_args "$@"
require_stack

cd "$ROOT_DIR"
# On the cluster (BROKERS=3) the clients get all three brokers, and topics three replicas (REPLICATION_FACTOR).
[[ "$STACK" != local ]] || export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-$KAFKA_BOOTSTRAP}"
run cargo build --release --locked -p order-producer -p order-consumer -p scaling-experiment
exec "$ROOT_DIR/target/release/scaling-experiment" "$@"
