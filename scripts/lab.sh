#!/usr/bin/env bash
# The lab's one entry (lab/, docs/architecture.md): checks the stack a tool needs, builds the release binaries, and
# runs `target/release/lab TOOL ARGS...` with the stack's URLs in its environment (never on its command line).
#   scripts/lab.sh experiment --short        the scaling experiment (docs/experiment.md)
#   scripts/lab.sh bench --small             the benchmark (docs/performance.md)
#   scripts/lab.sh soak                      the soak (docs/soak.md)
#   scripts/lab.sh rebalance --quick         the rebalance benchmark (docs/rebalancing.md)
#   scripts/lab.sh autoscale-demo --short    order-autoscaler at work (docs/kubernetes.md)
#   scripts/lab.sh replication               replication's cost, on the cluster (docs/cluster.md)
#   scripts/lab.sh serve                     the scaling lab, a live page on 127.0.0.1:8080 (docs/lab.md)
#   scripts/lab.sh compose-test              the compose stack on a Docker engine of its own (docs/containers.md)
# `scripts/lab.sh --help` lists every tool, `scripts/lab.sh TOOL --help` its options (clap's, from the code).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[[ $# -gt 0 ]] || set -- --help
tool="$1"
STACK=local
for arg in "$@"; do
  case "$arg" in --stack=*) STACK="${arg#--stack=}" ;; esac
done
for ((i = 1; i < $#; i++)); do
  [[ "${!i}" != --stack ]] || { j=$((i + 1)); STACK="${!j}"; }
done
export STACK
binaries=(-p lab)
if ! wants_help "$@"; then
  case "$tool" in
    experiment | bench | soak | rebalance | serve) require_stack ;;
    autoscale-demo) require_stack; binaries+=(-p order-autoscaler) ;;
    compose-test) binaries+=(-p order-autoscaler) ;;
    replication) use_brokers 3; require_kafka ;;
    compose-scenario | measure | report) ;;
    *) die "unknown tool '$tool' (scripts/lab.sh --help lists them)" ;;
  esac
fi
cd "$ROOT_DIR"
run cargo build --release --locked -p order-producer -p order-consumer "${binaries[@]}"
[[ "$STACK" != local ]] || export_stack_urls
exec "$ROOT_DIR/target/release/lab" "$@"
