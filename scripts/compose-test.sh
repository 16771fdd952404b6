#!/usr/bin/env bash
# The compose test: the real docker-compose.yml on a real Docker engine, through the seed's scenario
# (experiment/src/compose.rs), with Compose v1 (Debian's docker-compose) and Compose v2 (the CLI plugin), then the
# scaling experiment in short mode on the compose stack. Engine, base image and stand-in images are built once and
# cached (scripts/docker.sh); the stack is taken down (down -v) and the engine stopped at the end, pass or fail.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# Host ports of this test's compose stack: beside the local stack's 9092 and 5432, never on them.
export KAFKA_HOST_PORT="${COMPOSE_TEST_KAFKA_PORT:-29092}"
export POSTGRES_HOST_PORT="${COMPOSE_TEST_POSTGRES_PORT:-25432}"
export PROMETHEUS_HOST_PORT="${COMPOSE_TEST_PROMETHEUS_PORT:-29090}"
export COMPOSE_PROJECT_NAME="${COMPOSE_TEST_PROJECT:-food-orders-compose-test}"
clis=(v2 v1)
experiment=1
autoscale=""
cluster=""
keep_engine=""

usage() {
  cat <<USAGE
Usage: scripts/compose-test.sh [--only v1|v2] [--skip-scenario] [--skip-experiment] [--with-autoscale] [--with-cluster] [--keep-engine]

Brings docker-compose.yml up as the README does (detached, on the stand-in images of scripts/docker.sh; the first
Compose builds the pipeline's image, the second starts from it) and
checks: 1 partition and 3 consumers (one owner, two idle); partitions raised to 3 under load (one each), and the
monitoring profile's Prometheus scraping the 3 consumers; 5 consumers
(two idle); docker kill of an owner (taken over within the session timeout + 5 s); docker-compose restart kafka
under load; scale to 1; producer stopped, drained and reconciled with the seed's own psql query; consumers run as
uid 10001 and exit 0 on stop. Then scripts/lab.sh experiment --stack compose --short; with --with-autoscale also
scripts/lab.sh autoscale-demo --stack compose --short (the autoscaler scaling order-consumer containers 1 → 3 and back;
not by default: a compose scale-up takes seconds per container, so its timing varies more than the tests allow).

--only v1|v2      run the scenario with one Compose only (default: both, v2 first)
--skip-scenario   skip the seed's scenario
--skip-experiment skip the scaling experiment on the compose stack
--with-autoscale  also the autoscaler's demonstration on the compose stack
--with-cluster    also the three-node cluster (docker-compose.cluster.yml): topics with 3 in-sync replicas, three
                  consumers owning the 3 partitions, a node killed (docker kill) and started under load, then
                  drained: rows = records in the topic, none twice, committed = log-end (docs/cluster.md)
--keep-engine     leave the Docker engine running afterwards (the stack is taken down anyway)

Host ports: Kafka 127.0.0.1:$KAFKA_HOST_PORT, Postgres 127.0.0.1:$POSTGRES_HOST_PORT, Prometheus
127.0.0.1:$PROMETHEUS_HOST_PORT (COMPOSE_TEST_KAFKA_PORT, COMPOSE_TEST_POSTGRES_PORT, COMPOSE_TEST_PROMETHEUS_PORT);
project $COMPOSE_PROJECT_NAME. Reports: results/compose-test-<time>/.
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --only)
      case "${2:-}" in v1 | v2) clis=("$2") ;; *) die "--only needs v1 or v2" ;; esac
      shift 2
      ;;
    --skip-scenario) clis=(); shift ;;
    --skip-experiment) experiment=""; shift ;;
    --with-autoscale) autoscale=1; shift ;;
    --with-cluster) cluster=1; shift ;;
    --keep-engine) keep_engine=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see scripts/compose-test.sh --help)" ;;
  esac
done
require_int COMPOSE_TEST_KAFKA_PORT "$KAFKA_HOST_PORT" 1
require_int COMPOSE_TEST_POSTGRES_PORT "$POSTGRES_HOST_PORT" 1

# Refuse before anything starts.
for port in "$KAFKA_HOST_PORT" "$POSTGRES_HOST_PORT" "$PROMETHEUS_HOST_PORT"; do
  ! port_open 127.0.0.1 "$port" ||
    die "port $port is taken on 127.0.0.1 (ss -ltnp | grep $port); stop what holds it, or set COMPOSE_TEST_KAFKA_PORT / COMPOSE_TEST_POSTGRES_PORT"
done

cd "$ROOT_DIR"
results="$ROOT_DIR/results/compose-test-$(date -u +%Y%m%dT%H%M%SZ)"
docker_cli=("$ROOT_DIR/scripts/docker.sh")

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    local files=(-f "$ROOT_DIR/docker-compose.yml" -f "$ROOT_DIR/docker-compose.cluster.yml")
    docker compose "${files[@]}" --profile monitoring down -v --remove-orphans >/dev/null 2>&1 ||
      docker-compose "${files[@]}" --profile monitoring down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  [[ -n "$keep_engine" ]] || "${docker_cli[@]}" down || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run "${docker_cli[@]}" up
eval "$("${docker_cli[@]}" env)"
for image in "$KAFKA_IMAGE" "$POSTGRES_IMAGE" "$PROMETHEUS_IMAGE" "$RUST_IMAGE" "$RUNTIME_IMAGE"; do
  docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing from the engine: build it with scripts/docker.sh images"
done
if [[ " ${clis[*]} " == *" v2 "* ]]; then
  run "${docker_cli[@]}" compose-v2
fi
run cargo build --release --locked -p lab -p order-producer -p order-consumer -p order-autoscaler --manifest-path "$ROOT_DIR/Cargo.toml"

# The first Compose builds the image (as the README's `up --build` does); the second starts from that image: its
# builder would build the same Dockerfile again from nothing (v1's classic builder and v2's BuildKit share no cache).
build=()
for version in "${clis[@]}"; do
  log "the seed's scenario with Compose $version${build[*]:+ (the image built by the first run)}"
  if [[ "$version" == v1 ]]; then export COMPOSE_CLI=docker-compose; else export COMPOSE_CLI="docker compose"; fi
  run "$ROOT_DIR/target/release/lab" compose-scenario --bootstrap-servers "127.0.0.1:$KAFKA_HOST_PORT" \
    --results "$results/scenario-$version" "${build[@]}"
  build=(--no-build)
done

if [[ -n "$experiment" ]]; then
  log "the scaling experiment on the compose stack (${COMPOSE_CLI:-the default Compose})"
  STACK=compose
  check_stack
  run "${COMPOSE[@]}" down -v --remove-orphans
  run "${COMPOSE[@]}" up -d kafka postgres kafka-init
  wait_until 120 "the compose stack's topics" kafka_tool kafka-topics --describe --topic "$DLQ_TOPIC"
  KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_HOST_PORT" \
    DATABASE_URL="postgres://$POSTGRES_USER:$POSTGRES_PASSWORD@127.0.0.1:$POSTGRES_HOST_PORT/$POSTGRES_DB" \
    run "$ROOT_DIR/scripts/lab.sh" experiment --stack compose --short --results "$results/experiment"
fi

if [[ -n "$autoscale" ]]; then
  log "the autoscaler on the compose stack (${COMPOSE_CLI:-the default Compose}): a burst, 1 → 3 order-consumer containers and back"
  STACK=compose
  check_stack
  run "${COMPOSE[@]}" down -v --remove-orphans
  TOPIC_PARTITIONS=3 run "${COMPOSE[@]}" up -d kafka postgres kafka-init
  wait_until 120 "the compose stack's topics" kafka_tool kafka-topics --describe --topic "$DLQ_TOPIC"
  KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_HOST_PORT" \
    DATABASE_URL="postgres://$POSTGRES_USER:$POSTGRES_PASSWORD@127.0.0.1:$POSTGRES_HOST_PORT/$POSTGRES_DB" \
    run "$ROOT_DIR/scripts/lab.sh" autoscale-demo --stack compose --short --results "$results/autoscale"
fi
if [[ -n "$cluster" ]]; then
  log "the three-node cluster on the compose stack (docker-compose.cluster.yml, ${COMPOSE_CLI:-the default Compose})"
  STACK=compose
  check_stack
  COMPOSE+=(-f "$ROOT_DIR/docker-compose.cluster.yml")
  export KAFKA_2_HOST_PORT=$((KAFKA_HOST_PORT + 2)) KAFKA_3_HOST_PORT=$((KAFKA_HOST_PORT + 4))
  KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_HOST_PORT,127.0.0.1:$KAFKA_2_HOST_PORT,127.0.0.1:$KAFKA_3_HOST_PORT"
  run "${COMPOSE[@]}" down -v --remove-orphans
  TOPIC_PARTITIONS=3 PRODUCER_RATE=200 run "${COMPOSE[@]}" up -d --build --scale order-consumer=3
  # Every partition of both topics on 3 brokers, all in sync: "Isr: a,b,c" on each partition line.
  fully_replicated() {
    local out
    out="$("$ROOT_DIR/scripts/kafka.sh" kafka-topics --bootstrap-server "$KAFKA_BOOTSTRAP" --describe \
      --topic "$ORDERS_TOPIC" 2>/dev/null)" || return 1
    [[ "$(grep -c 'Isr: [0-9]*,[0-9]*,[0-9]*\s' <<<"$out")" == 3 ]]
  }
  rows_beyond() { (($(sql_quiet -tAc "SELECT COUNT(*) FROM orders" 2>/dev/null || echo 0) > $1)); }
  wait_until 240 "three replicas in sync on each of the 3 partitions" fully_replicated
  wait_until 240 "three consumers owning the 3 partitions" owners_at_least 3 "$CONSUMER_GROUP"
  wait_until 60 "orders stored" rows_beyond 0
  run "${COMPOSE[@]}" kill kafka-2
  rows="$(sql_quiet -tAc "SELECT COUNT(*) FROM orders")"
  wait_until 90 "orders stored with kafka-2 down" rows_beyond "$((rows + 1000))"
  run "${COMPOSE[@]}" start kafka-2
  wait_until 180 "kafka-2 back in sync" fully_replicated
  run "${COMPOSE[@]}" stop -t 60 order-producer
  drained() {
    local end
    end="$("$ROOT_DIR/scripts/kafka.sh" kafka-get-offsets --bootstrap-server "$KAFKA_BOOTSTRAP" --topic "^$ORDERS_TOPIC\$" \
      2>/dev/null | awk -F: '{ s += $3 } END { print s }')"
    [[ "$(sql_quiet -tAc "SELECT COUNT(*) || ' ' || COUNT(DISTINCT order_id) FROM orders")" == "$end $end" ]] &&
      owners_at_least 3 "$CONSUMER_GROUP" && ! "$ROOT_DIR/scripts/kafka.sh" kafka-consumer-groups \
      --bootstrap-server "$KAFKA_BOOTSTRAP" --describe --group "$CONSUMER_GROUP" 2>/dev/null |
      awk '$1 == "'"$CONSUMER_GROUP"'" && $6 != "0" { found = 1 } END { exit !found }'
  }
  wait_until 120 "rows = records in the topic, none twice, lag 0 on every partition" drained
  log "the cluster: $(sql_quiet -tAc "SELECT COUNT(*) FROM orders") orders stored once each through a node's crash"
  run "${COMPOSE[@]}" down -v --remove-orphans
fi
log "compose test passed; reports in $results"
