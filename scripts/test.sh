#!/usr/bin/env bash
# Runs every check and every test: starts the local stack (idempotent), then formatting, lints, shell checks,
# and the Rust test suites, whose integration tests run against the real Kafka broker and PostgreSQL.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

case "${1:-}" in
  -h | --help)
    cat <<USAGE
Usage: scripts/test.sh [CARGO TEST ARGS...]

Starts the local stack (scripts/stack.sh up), then runs:
  cargo fmt --check, cargo clippy -D warnings, cargo machete (unused dependencies), shellcheck on scripts/, the script tests (scripts/tests/),
  promtool's check of the Prometheus configuration and unit tests of the alert rules (stack/monitoring), the
  offline validation of the Kubernetes manifests (scripts/k8s-validate.sh),
  cargo test --workspace (unit tests, and integration tests against the real broker and database),
  the scaling experiment in short mode (scripts/experiment.sh --short), the autoscaler's demonstration in short
  mode (scripts/autoscale-demo.sh --short), the benchmark at small N
  (scripts/bench.sh --small), the rebalance benchmark's smoke run (scripts/rebalance-bench.sh --quick), and the
  compose test (scripts/compose-test.sh: docker-compose.yml on a real Docker engine, Compose v1 and v2; as root
  it installs and starts the engine itself, and stops it afterwards).
Extra arguments go to cargo test, e.g. scripts/test.sh --test failures
Test logs of every consumer process: target/test-logs/<topic>/<consumer>.log
USAGE
    exit 0
    ;;
esac

cd "$ROOT_DIR"
"$ROOT_DIR/scripts/stack.sh" up
run cargo fmt --all --check
run cargo clippy --workspace --all-targets --locked -- -D warnings
# Unused dependencies. cargo-machete reads the sources, so it cannot tell a [dependencies] entry used only by tests
# (a dev-dependency); each library's #![cfg_attr(not(test), warn(unused_crate_dependencies))] covers that case
# through clippy above.
CARGO_MACHETE_VERSION=0.9.2
[[ "$(cargo machete --version 2>/dev/null)" == "$CARGO_MACHETE_VERSION" ]] ||
  run cargo install --locked cargo-machete --version "$CARGO_MACHETE_VERSION"
run cargo machete
ensure_packages shellcheck:shellcheck
run shellcheck -x scripts/*.sh scripts/lib/*.sh scripts/tests/*.sh .ci/run stack/containers/kafka/run \
  stack/containers/kafka/kafka-tool stack/containers/postgres/docker-entrypoint.sh
for t in scripts/tests/*_args.sh; do
  run bash "$t"
done
# Prometheus (Debian's package): its configurations and the alert rules' unit tests; the Rust tests run it too.
ensure_packages prometheus:prometheus promtool:prometheus
run promtool check config stack/monitoring/prometheus.yml stack/monitoring/prometheus-compose.yml
run promtool test rules stack/monitoring/rules/alerts.test.yml
# The Kubernetes manifests, offline: schemas, the KEDA and Strimzi rules, kube-score (deploy/k8s, docs/kubernetes.md).
run "$ROOT_DIR/scripts/k8s-validate.sh"
run cargo test --workspace --locked "$@"
# The scaling experiment, short: fails on any broken expectation.
run "$ROOT_DIR/scripts/experiment.sh" --short
# The autoscaler shown working, short: 1 → 3 consumers on a burst, back to 1 after its window, nothing lost.
run "$ROOT_DIR/scripts/autoscale-demo.sh" --short
# The benchmark at small N, so it cannot rot (its figures are not meaningful at this size).
run "$ROOT_DIR/scripts/bench.sh" --small
# The rebalance benchmark, one configuration: fails when an order is lost or a configuration stops early.
run "$ROOT_DIR/scripts/rebalance-bench.sh" --quick
# The compose stack on a real Docker engine: the seed's scenario with Compose v1 and v2, then the experiment.
run "$ROOT_DIR/scripts/compose-test.sh"
