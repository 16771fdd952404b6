#!/usr/bin/env bash
# The cluster's figures (docs/cluster.md), not a test: on the three-node cluster, the broker fault suite with its
# measurements (failover time, the longest gap between stored rows, the produce → row p99 during each fault), then
# the producer's throughput with 1 and with 3 replicas in the same run (replication-cost).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
  cat <<USAGE
Usage: scripts/cluster-bench.sh [--results DIR] [REPLICATION-COST OPTIONS...]

Needs the cluster: scripts/stack.sh up --brokers 3. Runs
  cargo test -p order-consumer --test cluster -- --ignored --test-threads 1   (figures in DIR/faults/<test>.json)
  target/release/replication-cost --results DIR/replication [--orders N] [--rounds N]
Results: DIR (default results/cluster-<UTC time>/).
USAGE
}

results="$ROOT_DIR/results/cluster-$(date -u +%Y%m%dT%H%M%SZ)"
rest=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --results) results="${2:-}"; shift 2 || die "--results needs a folder" ;;
    *) rest+=("$1"); shift ;;
  esac
done
use_brokers 3
require_kafka
require_postgres

cd "$ROOT_DIR"
run cargo build --release --locked -p order-producer -p scaling-experiment
KAFKA_BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP" CLUSTER_REPORT_DIR="$results/faults" \
  run cargo test --locked -p order-consumer --test cluster -- --ignored --test-threads 1
KAFKA_BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP" \
  run "$ROOT_DIR/target/release/replication-cost" --results "$results/replication" "${rest[@]}"
log "cluster figures in $results"
