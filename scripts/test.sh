#!/usr/bin/env bash
# Runs every check and every test: starts the local stack (idempotent), then formatting, lints, shell checks,
# and the Rust test suites, whose integration tests run against the real Kafka broker and PostgreSQL.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

case "${1:-}" in
  -h | --help)
    cat <<USAGE
Usage: scripts/test.sh [CARGO TEST ARGS...]   (e.g. scripts/test.sh --test failures)

Starts the local stack, then runs every check and test listed in this file (docs/testing.md says what
each proves).
Consumer test logs: target/test-logs/.
USAGE
    exit 0
    ;;
esac

# timed COMMAND...: run, then say how long the step took (the whole run must stay within CI's hour).
timed() {
  local started=$SECONDS
  run "$@"
  log "$((SECONDS - started)) s: ${*##*/}"
}

cd "$ROOT_DIR"
"$ROOT_DIR/scripts/stack.sh" up
run cargo fmt --all --check
timed cargo clippy --workspace --all-targets --locked -- -D warnings
# Unused dependencies. cargo-machete reads the sources, so it cannot tell a [dependencies] entry used only by tests
# (a dev-dependency); each library's #![cfg_attr(not(test), warn(unused_crate_dependencies))] covers that case
# through clippy above.
CARGO_MACHETE_VERSION=0.9.2
[[ "$(cargo machete --version 2>/dev/null)" == "$CARGO_MACHETE_VERSION" ]] ||
  run cargo install --locked cargo-machete --version "$CARGO_MACHETE_VERSION"
run cargo machete
# What the checks and the lab page's browser test need (Debian's packages; the compose test installs Docker itself).
ensure_packages shellcheck:shellcheck chromium:chromium chromedriver:chromium-driver
run shellcheck -x scripts/*.sh scripts/lib/*.sh .ci/run stack/containers/kafka/run \
  stack/containers/kafka/kafka-tool stack/containers/postgres/docker-entrypoint.sh
# Prometheus (Debian's package): its configurations and the alert rules' unit tests; the Rust tests run it too.
ensure_packages prometheus:prometheus promtool:prometheus
run promtool check config stack/monitoring/prometheus.yml stack/monitoring/prometheus-compose.yml
run promtool test rules stack/monitoring/rules/alerts.test.yml
# The Kubernetes manifests, offline: schemas, the KEDA and Strimzi rules, kube-score (deploy/k8s, docs/kubernetes.md).
timed "$ROOT_DIR/scripts/k8s-validate.sh"
# The release binaries the tools run, and the lab's page tests start (harness::repo: target/release/), built once
# before any test needs them.
timed cargo build --release --locked -p order-producer -p order-consumer -p order-autoscaler -p lab
timed cargo test --workspace --locked --no-run "$@"
# The compose test's engine, stand-in images and pipeline image are made in the background while the tests run
# (mostly waiting on the broker and Postgres; the engine runs at nice 10); the compose test at the end finds them
# built. The engine is stopped by the compose test, or here when the run ends before it.
log "lab compose-test --build-only, in the background (log: $LOCAL_DIR/compose-build.log)"
"$ROOT_DIR/scripts/lab.sh" compose-test --build-only >"$LOCAL_DIR/compose-build.log" 2>&1 &
compose_build=$!
trap '[[ -z "$compose_build" ]] || { kill "$compose_build"; wait "$compose_build"; } 2>/dev/null || true
  "$ROOT_DIR/scripts/docker.sh" down >/dev/null 2>&1 || true' EXIT
timed cargo test --workspace --locked "$@"
# The scaling experiment, short: fails on any broken expectation.
timed "$ROOT_DIR/scripts/lab.sh" experiment --short
# The autoscaler shown working, short: 1 → 3 consumers on a burst, back to 1 after its window, nothing lost.
timed "$ROOT_DIR/scripts/lab.sh" autoscale-demo --short
# The benchmark at small N, so it cannot rot (its figures are not meaningful at this size).
timed "$ROOT_DIR/scripts/lab.sh" bench --small
# The rebalance benchmark, one configuration: fails when an order is lost or a configuration stops early.
timed "$ROOT_DIR/scripts/lab.sh" rebalance --quick
# The three-node cluster, on the single broker's ports: the broker fault suite and the NotEnoughReplicas test
# (ignored in the single-broker run above) run on it, then the single broker is back. A quorum that cannot form is
# named first (harness/tests/scripts.rs, ignored in the run above; --workspace, not -p harness, so that it reuses that
# run's build: one package alone resolves its dependencies' features apart and rebuilds them).
timed "$ROOT_DIR/scripts/stack.sh" kafka-stop
timed cargo test --workspace --locked --test scripts -- \
  --ignored --exact a_kraft_quorum_that_cannot_form_names_the_missing_nodes
timed "$ROOT_DIR/scripts/stack.sh" up --brokers 3
KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096 \
  timed cargo test --workspace --locked --test cluster --test not_enough_replicas -- --ignored
timed "$ROOT_DIR/scripts/stack.sh" kafka-stop --brokers 3
timed "$ROOT_DIR/scripts/stack.sh" kafka-start
# The compose stack on a real Docker engine: the seed's scenario with Compose v1 and v2, then the experiment.
wait "$compose_build" || warn "the compose test's build failed in the background ($LOCAL_DIR/compose-build.log); it tries again"
compose_build=""
timed "$ROOT_DIR/scripts/lab.sh" compose-test
