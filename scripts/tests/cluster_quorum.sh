#!/usr/bin/env bash
# A cluster whose KRaft quorum cannot form fails with one line naming the missing nodes: node 1 of the three is
# started alone (it cannot form a quorum of 3 by itself), with a short READY_TIMEOUT. Needs the cluster's ports
# free (no Kafka running); crashes node 1 afterwards (it never became a broker).
set -euo pipefail
# shellcheck source=scripts/tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

answer="$(READY_TIMEOUT=15 scripts/stack.sh kafka-start --brokers 3 --node 1 2>&1)" && status=0 || status=$?
said() { [[ "$answer" == *"$1"* ]]; }
expect_ok "cluster: node 1 alone does not start (exit $status)" "" test "$status" -ne 0
expect_ok "cluster: the quorum is named" "" said "the KRaft quorum of 3 nodes did not form within 15s (a majority, 2, must run)"
expect_ok "cluster: node 2 is named missing" "" said "node 2 is not running"
expect_ok "cluster: node 3 is named missing" "" said "node 3 is not running"
((failures == 0)) || echo "its output: $answer"
scripts/stack.sh kafka-kill --brokers 3 --node 1 >/dev/null 2>&1

finish
