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
expect_fail "stack: two brokers" "--brokers (BROKERS) must be 1 or 3, got '2'" scripts/stack.sh up --brokers 2
expect_fail "stack: --node without the cluster" "--node needs the cluster" scripts/stack.sh kafka-stop --node 2
expect_fail "stack: node 4 of 3" "--node must be 1 to 3, got 4" scripts/stack.sh kafka-kill --brokers 3 --node 1,4
expect_fail "stack: --node with up" "--node goes with kafka-stop, kafka-start or kafka-kill" scripts/stack.sh up --brokers 3 --node 1
expect_fail "stack: kill without a node" "kafka-kill needs --node N" scripts/stack.sh kafka-kill --brokers 3
expect_ok "stack: help"  "Usage: scripts/stack.sh" scripts/stack.sh --help
expect_fail "kafka: unknown tool" "unknown Kafka tool 'kafka-nope'" scripts/kafka.sh kafka-nope
expect_fail "kafka: no tool" "Usage: scripts/kafka.sh" scripts/kafka.sh
expect_ok "kafka: help" "kafka-consumer-groups" scripts/kafka.sh --help

finish
