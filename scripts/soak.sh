#!/usr/bin/env bash
# Soak: pushes N orders (default 1,000,000) through the pipeline at a steady rate while the group is disrupted
# (scaled up and down, partitions raised, a consumer SIGKILLed), then drains and reconciles, and records each
# consumer's and the producer's memory once a second. The soak is `measure soak` (experiment/src/soak/); this checks
# the stack, builds the binaries and runs it. Not part of scripts/test.sh: at the defaults it runs for about 4
# minutes and loads the whole machine. See docs/soak.md.
#   scripts/soak.sh [--orders N] [--rate ORDERS_PER_S] [--settle-timeout 90s] [--drain-timeout 300s] [--keep]
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

run_measure soak "$@"
