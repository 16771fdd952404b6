#!/usr/bin/env bash
# Benchmarks the pipeline against its ceilings, in one run on one machine (the local stack), and writes
# docs/benchmarks.md and results/bench-<time>/bench.json with every figure and the machine it ran on. The runs
# and the report are `measure bench` (experiment/src/bench/); this checks the stack, builds the binaries and runs it.
#   scripts/bench.sh [--small] [--group-only | --latency-only] [--orders N] [--doc PATH]   (--help: every option)
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

run_measure bench "$@"
