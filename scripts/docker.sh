#!/usr/bin/env bash
# A Docker engine for the compose stack on a machine that has none, and the images a machine without a registry
# cannot pull, built locally (docs/containers.md):
#   local/debian:bookworm            debootstrap of Debian bookworm (stands in for debian:bookworm-slim)
#   local/rust:1.95-slim-bookworm    this machine's Rust 1.95 toolchain on it, crates of Cargo.lock seeded
#   local/kafka:4.1.1                Kafka's jars from Maven Central on Debian's Java 17 (apache/kafka's contract)
#   local/postgres:15                Debian's PostgreSQL 15 (postgres's contract)
#   local/prometheus:2.42            Debian's Prometheus (prom/prometheus's contract)
# Everything is cached in the engine's data root (.local/docker/data): a second `up` only starts the daemon.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ENGINE_DIR="${DOCKER_ENGINE_DIR:-$LOCAL_DIR/docker}"
# Sockets and runtime state: a short path, since a unix socket's path is limited to 108 bytes.
RUN_DIR="${DOCKER_RUN_DIR:-/run/food-orders-docker}"
SOCKET="$RUN_DIR/docker.sock"
PID_FILE="$RUN_DIR/dockerd.pid"
READY_TIMEOUT="${READY_TIMEOUT:-60}"
RUST_VERSION="$(sed -n 's/^ARG RUST_IMAGE=rust:\([0-9.]*\)-.*/\1/p' "$ROOT_DIR/Dockerfile")"
COMPOSE_V2_VERSION="${COMPOSE_V2_VERSION:-v2.40.3}"

BASE_IMAGE=local/debian:bookworm
RUST_IMAGE="local/rust:$RUST_VERSION-slim-bookworm"
KAFKA_IMAGE="local/kafka:$KAFKA_VERSION_PIN"
POSTGRES_IMAGE=local/postgres:15
PROMETHEUS_IMAGE=local/prometheus:2.42

usage() {
  cat <<USAGE
Usage: scripts/docker.sh COMMAND

Commands:
  up          install Debian's docker.io, docker-compose and debootstrap when missing (root), start a Docker
              engine of our own (data in $ENGINE_DIR, socket $SOCKET) and build the
              local images; uses an engine that already answers (DOCKER_HOST or the default socket) instead
  images      build the local images that are missing or out of date (base, rust, kafka, postgres, prometheus)
  compose-v2  build Compose v2 ($COMPOSE_V2_VERSION) from the Go module proxy as a CLI plugin ($ENGINE_DIR/config)
  env         print the variables that point docker, docker-compose and docker-compose.yml at this engine and
              these images: eval "\$(scripts/docker.sh env)"
  status      whether the engine answers, and which local images exist
  down        stop the engine started by 'up' (by its pid) and unmount what it left; images stay cached

The engine listens only on its unix socket; containers reach only each other and the ports they publish on
127.0.0.1. Builds use the host's network (BUILD_NETWORK=host) for Debian's mirror.
USAGE
}

# ------------------------------------------------------------------------------------------------------ engine

engine_answers() { docker info >/dev/null 2>&1; }

own_engine_pid() {
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

install_engine() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  ((${#missing[@]} > 0)) || return 0
  [[ $EUID -eq 0 ]] || die "missing: ${missing[*]}, and not root, so they cannot be installed here; install them (Debian: sudo apt-get install ${missing[*]}) or start a Docker engine and set DOCKER_HOST"
  # docker.io's install script would start the distribution's daemon; install_packages keeps it from starting, so
  # the only engine is the one this script starts and stops by pid.
  install_packages "${missing[@]}"
}

start_engine() {
  if own_engine_pid >/dev/null; then
    log "Docker engine already running (pid $(own_engine_pid), $SOCKET)"
    return
  fi
  [[ $EUID -eq 0 ]] || die "no Docker engine answers (docker info failed) and not root, so none can be started here: start Docker and set DOCKER_HOST, or run as root"
  mkdir -p "$ENGINE_DIR/data" "$ENGINE_DIR/logs" "$RUN_DIR"
  log "starting dockerd (data $ENGINE_DIR/data, socket $SOCKET, log $ENGINE_DIR/logs/dockerd.log)"
  # No default bridge and no iptables: compose's own networks still work (container DNS, published ports on
  # 127.0.0.1 through docker-proxy), and nothing is routed off the machine.
  # At a lower priority (nice 10, inherited by every container): scripts/test.sh builds images while tests run.
  nohup nice -n 10 dockerd --storage-driver=overlay2 --iptables=false --ip-masq=false --bridge=none \
    --data-root "$ENGINE_DIR/data" --exec-root "$RUN_DIR/exec" --pidfile "$PID_FILE" -H "unix://$SOCKET" \
    >"$ENGINE_DIR/logs/dockerd.log" 2>&1 &
  if ! poll_until "$READY_TIMEOUT" engine_answers; then
    local pid
    pid="$(own_engine_pid || true)"
    [[ -z "$pid" ]] || stop_processes dockerd "$pid"
    tail -n 5 "$ENGINE_DIR/logs/dockerd.log" >&2 || true
    die "dockerd did not answer within ${READY_TIMEOUT}s (log above: $ENGINE_DIR/logs/dockerd.log); nothing is left running"
  fi
  log "Docker engine ready (pid $(own_engine_pid))"
}

stop_engine() {
  local pid
  if pid="$(own_engine_pid)"; then
    log "stopping dockerd (pid $pid)"
    stop_processes dockerd "$pid"
  fi
  rm -f "$PID_FILE"
  # Mounts a killed daemon may leave behind (overlay layers, netns), deepest first.
  awk -v a="$ENGINE_DIR/data" -v b="$RUN_DIR" 'index($2, a) == 1 || index($2, b) == 1 { print $2 }' /proc/mounts |
    sort -r | while read -r mount; do umount -l "$mount" 2>/dev/null || warn "cannot unmount $mount"; done
  # Runtime state only (sockets, netns); the data root with the cached images stays.
  if ! grep -q " $RUN_DIR" /proc/mounts; then rm -rf "$RUN_DIR"; fi
}

# ------------------------------------------------------------------------------------------------------ images

# A short hash of what an image is built from; an image whose label matches is up to date.
inputs_hash() { cat "$@" | sha256sum | cut -c1-16; }

# image_current NAME HASH: whether image NAME exists with the label HASH (it says so when it does).
image_current() {
  [[ "$(docker image inspect -f '{{index .Config.Labels "org.food-orders.inputs"}}' "$1" 2>/dev/null)" == "$2" ]] || return 1
  log "$1 is up to date"
}

# build_image NAME HASH CONTEXT: docker build with the host's network, labelled with HASH; skipped when current.
build_image() {
  local name="$1" hash="$2" context="$3"
  image_current "$name" "$hash" && return
  log "building $name"
  run docker build --network host --build-arg BASE_IMAGE="$BASE_IMAGE" --label org.food-orders.inputs="$hash" \
    -t "$name" "$context" >"$ENGINE_DIR/logs/build-${name//[\/:]/-}.log" ||
    die "building $name failed (log: $ENGINE_DIR/logs/build-${name//[\/:]/-}.log)"
}

# The Debian mirror apt already uses on this machine.
debian_mirror() {
  local mirror
  mirror="$(sed -n 's/^URIs: *\(http[^ ]*debian\)\/* *$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)"
  [[ -n "$mirror" ]] || mirror="$(awk '$1 == "deb" && $2 ~ /debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)"
  echo "${mirror:-http://deb.debian.org/debian}"
}

build_base() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "$BASE_IMAGE is up to date"
    return
  fi
  local rootfs="$ENGINE_DIR/rootfs"
  rm -rf "$rootfs"
  log "building $BASE_IMAGE with debootstrap (about a minute)"
  run debootstrap --variant=minbase bookworm "$rootfs" "$(debian_mirror)" >"$ENGINE_DIR/logs/debootstrap.log" ||
    die "debootstrap failed (log: $ENGINE_DIR/logs/debootstrap.log)"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  # Every image's apt-get inherits these: a mirror connection that stalls fails after 30 s and is retried, instead
  # of holding an image build (and the test run around it) for as long as the connection stays open.
  printf '%s\n' 'Acquire::http::Timeout "30";' 'Acquire::https::Timeout "30";' 'Acquire::Retries "5";' \
    >"$rootfs/etc/apt/apt.conf.d/80-bounded-fetch"
  tar -C "$rootfs" -c . | run docker import --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

# The Rust toolchain the Dockerfile pins, as rustup installed it on this machine.
rust_toolchain_dir() {
  command -v rustup >/dev/null || die "rustup not found: the Rust stand-in image copies rustup's $RUST_VERSION toolchain"
  if ! rustup +"$RUST_VERSION" which rustc >/dev/null 2>&1; then
    run rustup toolchain install "$RUST_VERSION" --profile minimal >/dev/null
  fi
  dirname "$(dirname "$(rustup +"$RUST_VERSION" which rustc)")"
}

build_rust() {
  local toolchain context="$ENGINE_DIR/context/rust" hash
  toolchain="$(rust_toolchain_dir)"
  hash="$(inputs_hash "$ROOT_DIR/stack/containers/rust/Dockerfile" "$ROOT_DIR/Cargo.lock" <(echo "$toolchain"; "$toolchain/bin/rustc" --version))"
  # Checked before the context is assembled: copying the toolchain and fetching the crates is the slow part.
  image_current "$RUST_IMAGE" "$hash" && return
  rm -rf "$context"
  mkdir -p "$context/toolchain/bin" "$context/toolchain/lib/rustlib"
  cp "$ROOT_DIR/stack/containers/rust/Dockerfile" "$context/"
  cp "$toolchain/bin/rustc" "$toolchain/bin/cargo" "$context/toolchain/bin/"
  cp -a "$toolchain"/lib/*.so* "$context/toolchain/lib/"
  cp -a "$toolchain/lib/rustlib/x86_64-unknown-linux-gnu" "$context/toolchain/lib/rustlib/"
  log "fetching the crates of Cargo.lock on the host, to seed the image's CARGO_HOME"
  CARGO_HOME="$context/cargo" run cargo fetch --locked --manifest-path "$ROOT_DIR/Cargo.toml" >/dev/null
  rm -rf "$context/cargo/registry/src"
  build_image "$RUST_IMAGE" "$hash" "$context"
  rm -rf "$context"
}

build_kafka() {
  local context="$ENGINE_DIR/context/kafka" hash
  "$ROOT_DIR/scripts/stack.sh" fetch
  hash="$(inputs_hash "$ROOT_DIR"/stack/containers/kafka/* "$ROOT_DIR/stack/kafka/tools.txt" \
    "$ROOT_DIR/stack/kafka/tools-log4j2.properties" "$ROOT_DIR/stack/kafka/pom.xml")"
  image_current "$KAFKA_IMAGE" "$hash" && return
  rm -rf "$context"
  mkdir -p "$context"
  cp -r "$ROOT_DIR/stack/containers/kafka/." "$context/"
  cp "$ROOT_DIR/stack/kafka/tools.txt" "$ROOT_DIR/stack/kafka/tools-log4j2.properties" "$context/"
  cp -r "$ROOT_DIR/stack/kafka/lib" "$context/libs"
  build_image "$KAFKA_IMAGE" "$hash" "$context"
  rm -rf "$context"
}

build_postgres() {
  build_image "$POSTGRES_IMAGE" "$(inputs_hash "$ROOT_DIR"/stack/containers/postgres/*)" "$ROOT_DIR/stack/containers/postgres"
}

build_prometheus() {
  build_image "$PROMETHEUS_IMAGE" "$(inputs_hash "$ROOT_DIR"/stack/containers/prometheus/*)" "$ROOT_DIR/stack/containers/prometheus"
}

build_images() {
  mkdir -p "$ENGINE_DIR/logs"
  build_base
  build_rust
  build_kafka
  build_postgres
  build_prometheus
}

# Compose v2 as a CLI plugin, built from its module on the Go proxy (about 4 minutes the first time).
build_compose_v2() {
  local plugin="$ENGINE_DIR/config/cli-plugins/docker-compose" src="$ENGINE_DIR/compose-v2-src"
  if [[ -x "$plugin" ]] && "$plugin" version 2>/dev/null | grep -q "${COMPOSE_V2_VERSION#v}"; then
    log "Compose $COMPOSE_V2_VERSION is built ($plugin)"
    return
  fi
  command -v go >/dev/null || die "go not found: Compose v2 is built from the Go module proxy"
  log "building Compose $COMPOSE_V2_VERSION from the Go module proxy"
  # Built inside its own module, so that its go.mod (with exclude directives) applies.
  run go mod download -json "github.com/docker/compose/v2@$COMPOSE_V2_VERSION" >"$ENGINE_DIR/logs/compose-v2-download.json"
  rm -rf "$src"
  cp -r "$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' "$ENGINE_DIR/logs/compose-v2-download.json")" "$src"
  chmod -R u+w "$src"
  mkdir -p "$(dirname "$plugin")"
  (cd "$src" && CGO_ENABLED=0 run go build -trimpath -o "$plugin" \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_V2_VERSION" ./cmd)
  rm -rf "$src"
}

print_env() {
  if [[ -n "$(own_engine_pid || true)" ]]; then
    echo "export DOCKER_HOST=unix://$SOCKET"
  fi
  cat <<ENV
export DOCKER_CONFIG=$ENGINE_DIR/config
export KAFKA_IMAGE=$KAFKA_IMAGE
export POSTGRES_IMAGE=$POSTGRES_IMAGE
export PROMETHEUS_IMAGE=$PROMETHEUS_IMAGE
export RUST_IMAGE=$RUST_IMAGE
export RUNTIME_IMAGE=$BASE_IMAGE
export BUILD_NETWORK=host
ENV
}

# ------------------------------------------------------------------------------------------------------ main

command="${1:-}"
[[ -n "$command" ]] || { usage >&2; exit 2; }
[[ $# -eq 1 ]] || die "scripts/docker.sh takes one command (see --help)"
# Where the docker CLI finds the Compose v2 plugin built here.
export DOCKER_CONFIG="$ENGINE_DIR/config"
# Our own engine, when it runs, comes before any other.
if own_engine_pid >/dev/null; then export DOCKER_HOST="unix://$SOCKET"; fi

case "$command" in
  up)
    if ! engine_answers; then
      install_engine
      export DOCKER_HOST="unix://$SOCKET"
      start_engine
    else
      log "using the Docker engine that answers at ${DOCKER_HOST:-the default socket}"
      command -v debootstrap >/dev/null || install_packages debootstrap
    fi
    mkdir -p "$ENGINE_DIR/config"
    build_images
    ;;
  images) engine_answers || die "no Docker engine answers: run scripts/docker.sh up"; build_images ;;
  compose-v2) build_compose_v2 ;;
  env) print_env ;;
  status)
    if engine_answers; then echo "engine: answers at ${DOCKER_HOST:-the default socket}"; else echo "engine: not running"; fi
    for image in "$BASE_IMAGE" "$RUST_IMAGE" "$KAFKA_IMAGE" "$POSTGRES_IMAGE" "$PROMETHEUS_IMAGE"; do
      if docker image inspect "$image" >/dev/null 2>&1; then echo "image $image: built"; else echo "image $image: missing"; fi
    done
    ;;
  down) stop_engine ;;
  -h | --help) usage ;;
  *) die "unknown command '$command' (see scripts/docker.sh --help)" ;;
esac
