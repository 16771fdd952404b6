#!/usr/bin/env bash
# Usage: scripts/compose-test.sh [--only v1|v2] [--skip-scenario] [--skip-experiment] [--with-autoscale] [--with-cluster] [--keep-engine]
#
# The compose test: docker-compose.yml on a real Docker engine (scripts/docker.sh), `lab compose-scenario` with
# Compose v2 and v1, then `scripts/lab.sh experiment --stack compose --short`, each on a fresh stack; at the end,
# pass or fail, `down -v` and the engine stopped. What each checks: docs/containers.md.
#
#   --only v1|v2       the scenario with one Compose only (default: both, v2 first)
#   --skip-scenario    no scenario
#   --skip-experiment  no experiment
#   --with-autoscale   also scripts/lab.sh autoscale-demo --stack compose --short (docs/kubernetes.md)
#   --with-cluster     also lab compose-scenario --cluster, the three-node cluster (docs/cluster.md)
#   --keep-engine      leave the Docker engine running (the stack is taken down anyway)
#
# Host ports (127.0.0.1, beside the local stack's): COMPOSE_TEST_KAFKA_PORT 29092 (the cluster's other nodes +2, +4),
# COMPOSE_TEST_POSTGRES_PORT 25432, COMPOSE_TEST_PROMETHEUS_PORT 29090. Reports: results/compose-test-<time>/.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

export KAFKA_HOST_PORT="${COMPOSE_TEST_KAFKA_PORT:-29092}" POSTGRES_HOST_PORT="${COMPOSE_TEST_POSTGRES_PORT:-25432}"
export PROMETHEUS_HOST_PORT="${COMPOSE_TEST_PROMETHEUS_PORT:-29090}"
export COMPOSE_PROJECT_NAME="${COMPOSE_TEST_PROJECT:-food-orders-compose-test}"
clis=(v2 v1) experiment=1 autoscale="" cluster="" keep_engine=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --only) [[ "${2:-}" == v[12] ]] || die "--only needs v1 or v2"; clis=("$2"); shift ;;
    --skip-scenario) clis=() ;;
    --skip-experiment) experiment="" ;;
    --with-autoscale) autoscale=1 ;;
    --with-cluster) cluster=1 ;;
    --keep-engine) keep_engine=1 ;;
    -h | --help) sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$1' (see scripts/compose-test.sh --help)" ;;
  esac
  shift
done
require_int COMPOSE_TEST_KAFKA_PORT "$KAFKA_HOST_PORT" 1
require_int COMPOSE_TEST_POSTGRES_PORT "$POSTGRES_HOST_PORT" 1

# Refuse before anything starts.
for port in "$KAFKA_HOST_PORT" "$POSTGRES_HOST_PORT" "$PROMETHEUS_HOST_PORT" \
  ${cluster:+$((KAFKA_HOST_PORT + 2)) $((KAFKA_HOST_PORT + 4))}; do
  ! port_open 127.0.0.1 "$port" ||
    die "port $port is taken on 127.0.0.1 (ss -ltnp | grep $port); stop what holds it, or set COMPOSE_TEST_KAFKA_PORT / COMPOSE_TEST_POSTGRES_PORT"
done
# The stack as the lab's tools reach it from the host: in their environment, never on a command line.
export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_HOST_PORT"
export DATABASE_URL="postgres://$POSTGRES_USER:$POSTGRES_PASSWORD@127.0.0.1:$POSTGRES_HOST_PORT/$POSTGRES_DB"

cd "$ROOT_DIR"
results="$ROOT_DIR/results/compose-test-$(date -u +%Y%m%dT%H%M%SZ)"
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  ! docker info >/dev/null 2>&1 || (compose_cmd && "${COMPOSE[@]}" -f docker-compose.cluster.yml --profile monitoring \
    down -v --remove-orphans >/dev/null 2>&1) || true
  [[ -n "$keep_engine" ]] || scripts/docker.sh down || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run scripts/docker.sh up
eval "$(scripts/docker.sh env)"
for image in "$KAFKA_IMAGE" "$POSTGRES_IMAGE" "$PROMETHEUS_IMAGE" "$RUST_IMAGE" "$RUNTIME_IMAGE"; do
  docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing from the engine: build it with scripts/docker.sh images"
done
[[ " ${clis[*]} " != *" v2 "* ]] || run scripts/docker.sh compose-v2
run cargo build --release --locked -p lab -p order-producer -p order-consumer -p order-autoscaler

# The first run builds the image (`up --build`, as the README); the later ones start from it (v1's and v2's builders
# share no cache).
build=()
for version in "${clis[@]}"; do
  if [[ "$version" == v1 ]]; then export COMPOSE_CLI=docker-compose; else export COMPOSE_CLI="docker compose"; fi
  log "the scenario with COMPOSE_CLI=$COMPOSE_CLI${build[*]:+ (the image built by the first run)}"
  run target/release/lab compose-scenario --results "$results/scenario-$version" "${build[@]}"
  build=(--no-build)
done

# on_fresh_stack PARTITIONS COMMAND...: runs COMMAND on Kafka, Postgres and the topics alone, made from nothing: the
# stack the lab's tools want on --stack compose (and check).
STACK=compose
check_stack
on_fresh_stack() {
  run "${COMPOSE[@]}" down -v --remove-orphans
  TOPIC_PARTITIONS="$1" run "${COMPOSE[@]}" up -d kafka postgres kafka-init
  wait_until 120 "the compose stack's topics" kafka_tool kafka-topics --describe --topic "$DLQ_TOPIC"
  run "${@:2}"
}
[[ -z "$experiment" ]] || on_fresh_stack 1 scripts/lab.sh experiment --stack compose --short --results "$results/experiment"
[[ -z "$autoscale" ]] || on_fresh_stack 3 scripts/lab.sh autoscale-demo --stack compose --short --results "$results/autoscale"
[[ -z "$cluster" ]] || run target/release/lab compose-scenario --cluster --results "$results/cluster" "${build[@]}"
log "compose test passed; reports in $results"
