#!/usr/bin/env bash
# Argument handling and error messages of the stack scripts (no services needed).
set -euo pipefail
# shellcheck source=scripts/tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

expect_fail "stack: no command" "Usage: scripts/stack.sh" scripts/stack.sh
expect_fail "stack: unknown command" "unknown command 'launch'" scripts/stack.sh launch
expect_fail "stack: zero partitions" "--partitions must be at least 1" scripts/stack.sh up --partitions 0
expect_fail "stack: partitions not a number" "--partitions must be a whole number" scripts/stack.sh up --partitions three
expect_fail "stack: unknown option" "unknown option '--fast'" scripts/stack.sh up --fast
expect_ok "stack: help" "Usage: scripts/stack.sh" scripts/stack.sh --help
expect_fail "kafka: unknown tool" "unknown Kafka tool 'kafka-nope'" scripts/kafka.sh kafka-nope
expect_fail "kafka: no tool" "Usage: scripts/kafka.sh" scripts/kafka.sh
expect_ok "kafka: help" "kafka-consumer-groups" scripts/kafka.sh --help

finish
