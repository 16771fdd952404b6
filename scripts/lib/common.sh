#!/usr/bin/env bash
# Helpers shared by the project's scripts: logging, failing with one clear line, printing the real command before
# running it, and waiting on a condition with a deadline. Source it; it defines functions and settings only.

# Repository root, whatever the caller's working directory.
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export ROOT_DIR
# Git-ignored folder for everything the local stack downloads or writes.
LOCAL_DIR="${LOCAL_DIR:-$ROOT_DIR/.local}"
export LOCAL_DIR

# Settings shared by the local stack and the scripts; docker-compose.yml uses the same names and values.
KAFKA_VERSION_PIN="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT_DIR/stack/kafka/pom.xml")"
export KAFKA_VERSION_PIN
# The local stack's Kafka: one broker (default), or BROKERS=3, a three-node KRaft cluster (docs/cluster.md) whose
# topics have three replicas. use_brokers sets both for scripts that take --brokers.
BROKERS="${BROKERS:-1}"
# Given by the user, not inherited from a parent script's use_brokers (which exports the value it chose as
# KAFKA_BOOTSTRAP_DEFAULTED): a child asked for --brokers 3 must not keep its parent's single-broker default.
KAFKA_BOOTSTRAP_GIVEN="${KAFKA_BOOTSTRAP:+1}"
[[ "${KAFKA_BOOTSTRAP:-}" != "${KAFKA_BOOTSTRAP_DEFAULTED:-}" ]] || KAFKA_BOOTSTRAP_GIVEN=""
use_brokers() {
  case "$1" in 1 | 3) ;; *) die "--brokers (BROKERS) must be 1 or 3, got '$1'" ;; esac
  BROKERS="$1"
  REPLICATION_FACTOR="$1"
  if [[ -z "$KAFKA_BOOTSTRAP_GIVEN" ]]; then
    if ((BROKERS == 1)); then KAFKA_BOOTSTRAP=127.0.0.1:9092; else KAFKA_BOOTSTRAP=127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096; fi
    export KAFKA_BOOTSTRAP_DEFAULTED="$KAFKA_BOOTSTRAP"
  fi
  export BROKERS KAFKA_BOOTSTRAP REPLICATION_FACTOR
}
ORDERS_TOPIC="${ORDERS_TOPIC:-food-orders}"
DLQ_TOPIC="${DLQ_TOPIC:-food-orders.dlq}"
CONSUMER_GROUP="${CONSUMER_GROUP:-order-processors}"
PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
POSTGRES_DB="${POSTGRES_DB:-food_orders}"
POSTGRES_USER="${POSTGRES_USER:-kafka_user}"
POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-kafka_pass}"
# The consumer's least-privilege role, orders_app (its name is fixed: the grant migration names it); docs/security.md.
POSTGRES_APP_PASSWORD="${POSTGRES_APP_PASSWORD:-orders_app_pass}"
export KAFKA_BOOTSTRAP ORDERS_TOPIC DLQ_TOPIC CONSUMER_GROUP PGHOST PGPORT POSTGRES_DB POSTGRES_USER POSTGRES_PASSWORD
export POSTGRES_APP_PASSWORD

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
use_brokers "$BROKERS"

# Prints a command, quoted so it can be pasted into a shell, then runs it: users see the real Kafka or psql
# command behind each step.
run() {
  local arg line="$"
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then
      line+=" $arg"
    else
      line+=" '${arg//\'/\'\\\'\'}'"
    fi
  done
  printf '%s\n' "$line" >&2
  "$@"
}

# poll_until SECONDS COMMAND...: runs COMMAND every half second until it succeeds; returns 1 after SECONDS.
poll_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# wait_until SECONDS DESCRIPTION COMMAND...: like poll_until, but fails the script after SECONDS.
wait_until() {
  local seconds="$1" what="$2"
  shift 2
  poll_until "$seconds" "$@" || die "$what not ready after ${seconds}s"
}

# stop_processes WHAT PID...: SIGTERM to all at once, then waits up to STOP_TIMEOUT (30) s for every one to exit, then SIGKILLs
# those left. A child of this shell keeps its exit status for the caller's `wait`.
stop_processes() {
  local what="$1" timeout="${STOP_TIMEOUT:-30}" pid left
  local deadline=$((SECONDS + timeout))
  shift
  kill -TERM "$@" 2>/dev/null || true
  while true; do
    left=()
    for pid in "$@"; do
      ! kill -0 "$pid" 2>/dev/null || left+=("$pid")
    done
    ((${#left[@]} > 0)) || break
    if ((SECONDS >= deadline)); then
      warn "$what did not exit within $timeout s; killing pid ${left[*]}"
      kill -KILL "${left[@]}" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
}

# port_open HOST PORT: whether something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# require_int NAME VALUE [MIN]: fails unless VALUE is a whole number >= MIN (default 0).
require_int() {
  local name="$1" value="$2" min="${3:-0}"
  [[ "$value" =~ ^[0-9]+$ ]] || die "$name must be a whole number, got '$value'"
  ((value >= min)) || die "$name must be at least $min, got $value"
}

database_url() {
  printf 'postgres://%s:%s@%s:%s/%s' "$POSTGRES_USER" "$POSTGRES_PASSWORD" "$PGHOST" "$PGPORT" "${1:-$POSTGRES_DB}"
}

# install_packages PACKAGE...: installs Debian packages when running as root with apt-get (printing the
# command), otherwise fails saying what to install.
install_packages() {
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing $* (Debian packages)"
    if [[ -z "${APT_UPDATED:-}" ]]; then
      run apt-get update -qq >/dev/null
      APT_UPDATED=1
    fi
    # Packages with a daemon (docker.io, prometheus) start the distribution's service on install; a policy-rc.d
    # that says 101 stops that, so the only daemons are those the scripts start and stop by pid. A policy the
    # machine already has is put back after.
    local policy=/usr/sbin/policy-rc.d saved=/usr/sbin/policy-rc.d.food-orders-saved status=0
    [[ ! -e "$policy" ]] || mv "$policy" "$saved"
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    DEBIAN_FRONTEND=noninteractive run apt-get install -y -qq --no-install-recommends "$@" >/dev/null || status=$?
    rm -f "$policy"
    [[ ! -e "$saved" ]] || mv "$saved" "$policy"
    return "$status"
  else
    die "missing: $*; install them (Debian: sudo apt-get install $*)"
  fi
}

# wants_help ARGS...: whether -h or --help is among a script's arguments (a wrapper then skips its stack checks and
# lets the binary print its usage).
wants_help() {
  local arg
  for arg in "$@"; do
    case "$arg" in -h | --help) return 0 ;; esac
  done
  return 1
}

# export_stack_urls: the broker and the database, as a binary that takes them from KAFKA_BOOTSTRAP_SERVERS and
# DATABASE_URL reads them (the local stack's, unless set): in the environment, so the password stays off the
# printed command line.
export_stack_urls() {
  export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-$KAFKA_BOOTSTRAP}"
  export DATABASE_URL="${DATABASE_URL:-$(database_url "$POSTGRES_DB")}"
}

# ensure_packages CMD:PACKAGE...: installs the package of each command missing from PATH.
ensure_packages() {
  local missing=() spec
  for spec in "$@"; do
    command -v "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
  done
  ((${#missing[@]} == 0)) || install_packages "${missing[@]}"
}

# psql as the application user against the pipeline's database. The password travels in PGPASSWORD (exported
# here), never on the command line, so the printed commands can be pasted as they are.
export PGPASSWORD="$POSTGRES_PASSWORD"
PSQL=(psql -X -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U "$POSTGRES_USER" -d "$POSTGRES_DB")
psql_app() {
  "${PSQL[@]}" "$@"
}

# ------------------------------------------------------------------------------------------ which stack to talk to
# STACK=local (default): the processes and servers of scripts/stack.sh. STACK=compose: the containers of
# docker-compose.yml, reached with `docker compose exec` (or docker-compose). Scripts take --stack too.
STACK="${STACK:-local}"

# The compose command: COMPOSE_CLI when set ('docker compose' or 'docker-compose'), else `docker compose` when the
# plugin is there, else `docker-compose` (harness/src/compose.rs chooses the same way).
compose_cmd() {
  if [[ -n "${COMPOSE_CLI:-}" ]]; then
    read -r -a COMPOSE <<<"$COMPOSE_CLI"
    COMPOSE+=(-f "$ROOT_DIR/docker-compose.yml")
  elif docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose -f "$ROOT_DIR/docker-compose.yml")
  elif command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose -f "$ROOT_DIR/docker-compose.yml")
  else
    die "neither 'docker compose' nor 'docker-compose' found; use --stack local"
  fi
}

# Parses --stack VALUE from the front of a script's arguments is up to each script; this checks the value.
check_stack() {
  case "$STACK" in
    local) ;;
    compose) compose_cmd ;;
    *) die "--stack must be 'local' or 'compose', got '$STACK'" ;;
  esac
}

# kafka_tool TOOL ARGS...: runs one of Kafka's CLI tools against the chosen stack, printing the command.
kafka_tool() {
  local tool="$1"
  shift
  if [[ "$STACK" == compose ]]; then
    run "${COMPOSE[@]}" exec -T kafka "/opt/kafka/bin/$tool.sh" --bootstrap-server kafka:19092 "$@"
  else
    run "$ROOT_DIR/scripts/kafka.sh" "$tool" --bootstrap-server "$KAFKA_BOOTSTRAP" "$@"
  fi
}

# sql ARGS...: psql against the pipeline's database on the chosen stack, printing the command.
sql() {
  if [[ "$STACK" == compose ]]; then
    run "${COMPOSE[@]}" exec -T postgres psql -X -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" "$@"
  else
    run "${PSQL[@]}" "$@"
  fi
}

# Fails with one line saying what to do when the orders table does not exist yet.
require_orders_table() {
  [[ "$(sql -tAc "SELECT to_regclass('orders') IS NOT NULL" 2>/dev/null)" == t ]] ||
    die "table 'orders' does not exist yet in database $POSTGRES_DB: the first order-consumer creates it at start (scripts/scale.sh 1)"
}

# Fails with one line saying how to start the stack when its Kafka broker does not answer.
require_kafka() {
  if [[ "$STACK" == compose ]]; then
    "${COMPOSE[@]}" exec -T kafka /opt/kafka/bin/kafka-topics.sh --bootstrap-server kafka:19092 --list >/dev/null 2>&1 ||
      die "the compose stack's Kafka is not running: start it with 'docker compose up -d'"
  else
    port_open "${KAFKA_BOOTSTRAP%%:*}" "${KAFKA_BOOTSTRAP##*:}" ||
      die "Kafka is not running at $KAFKA_BOOTSTRAP: start the local stack with 'scripts/stack.sh up'"
  fi
}

# require_stack: the chosen stack (STACK, --stack) is a known one and its broker and database answer.
require_stack() {
  check_stack
  require_kafka
  require_postgres
}

# Fails with one line saying how to start the stack when its database does not answer.
require_postgres() {
  if [[ "$STACK" == compose ]]; then
    "${COMPOSE[@]}" exec -T postgres pg_isready -U "$POSTGRES_USER" -d "$POSTGRES_DB" >/dev/null 2>&1 ||
      die "the compose stack's Postgres is not running: start it with 'docker compose up -d'"
  else
    psql_app -tAc "SELECT 1" >/dev/null 2>&1 ||
      die "PostgreSQL is not reachable at $PGHOST:$PGPORT: start the local stack with 'scripts/stack.sh up'"
  fi
}
