#!/usr/bin/env bash
# Benchmarks the pipeline against its ceilings, in one run on one machine (the local stack), and writes
# docs/benchmarks.md and results/bench-<time>/bench.json with every figure and the machine it ran on. The runs
# and the report are `measure bench` (experiment/src/bench/); this checks the stack, builds the binaries and runs it.
#   scripts/bench.sh [--small] [--group-only | --latency-only] [--orders N] [--doc PATH]   (--help: every option)
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

cd "$ROOT_DIR"
if ! wants_help "$@"; then
  require_kafka
  require_postgres
fi
run cargo build --release --locked -p order-producer -p order-consumer -p scaling-experiment --bin order-producer \
  --bin order-consumer --bin measure
export_stack_urls
run "$ROOT_DIR/target/release/measure" bench "$@"
