#!/usr/bin/env bash
# Rebalance-downtime benchmark (not a test): for eager `range`, `cooperative-sticky` and the KIP-848 `consumer`
# protocol, each with and without static membership, measures the processing gap on the partitions a rebalance
# affects and the partitions moved, when a consumer joins, leaves (SIGTERM), restarts (SIGTERM + start with the
# same identity) and is killed (SIGKILL). Figures come from the stored rows, so every protocol is measured alike.
# See docs/rebalancing.md.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
  cat <<USAGE
Usage: scripts/rebalance-bench.sh [--quick] [--configs NAME,...] [--rate N] [--steady 5s] [--after 2s]
                                  [--settle-timeout 120s] [--session-timeout-ms N] [--results DIR] [--no-docs] [--keep]

--quick          smoke run: one configuration (coop unless --configs), 2 s steady windows, about 1 minute;
                 writes the results folder only
(no option)      full run: all six configurations (range, range-static, coop, coop-static, kip848, kip848-static),
                 about 10-15 minutes; rewrites docs/rebalancing.md (between its markers) and docs/rebalancing.json
--configs        run only these (the docs are rewritten only when all six run)
--rate           producer orders/s over the 6 partitions (default 600)
--keep           keep each configuration's database, topics and group

Local stack only (scripts/stack.sh up first). Each configuration gets its own topic, group and database
(rb<time>-<config>), removed at the end unless --keep. Raw results, consumer and producer logs:
results/rebalance-<UTC time>/. Exits non-zero when a configuration stops early or loses an order.
Environment: KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL (default: the local stack's).
USAGE
}

for arg in "$@"; do
  case "$arg" in -h | --help) usage; exit 0 ;; esac
done
STACK=local
require_stack

cd "$ROOT_DIR"
run cargo build --release --locked -p order-producer -p order-consumer -p scaling-experiment
export_stack_urls
run "$ROOT_DIR/target/release/rebalance-bench" "$@"
