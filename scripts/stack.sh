#!/usr/bin/env bash
# Starts and stops the local stack: a real Apache Kafka broker in KRaft mode (jars from Maven Central) and a
# PostgreSQL server (Debian's postgresql package), both on 127.0.0.1, with data and logs under .local/.
# Every command is idempotent: `up` on a running stack only makes sure the database and topics exist.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

KAFKA_DIR="$LOCAL_DIR/kafka"
CLUSTER_DIR="$LOCAL_DIR/kafka-cluster"
PG_DIR="$LOCAL_DIR/postgres"
KAFKA_LIB="$ROOT_DIR/stack/kafka/lib"
KAFKA_HEAP="${KAFKA_HEAP:-}"
READY_TIMEOUT="${READY_TIMEOUT:-90}"
PARTITIONS="${PARTITIONS:-1}"
PARTITIONS_GIVEN=""
PROMETHEUS_DIR="$LOCAL_DIR/prometheus"
# Prometheus' file-based discovery (stack/monitoring/prometheus.yml): one target file per running consumer, written
# by lab scale (harness/src/consumers/fleet.rs).
PROMETHEUS_TARGETS="$PROMETHEUS_DIR/targets"
PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
MONITORING=""
NODE=""

usage() {
  cat <<USAGE
Usage: scripts/stack.sh COMMAND [--brokers 1|3] [--node N] [--partitions N] [--monitoring]

Commands:
  up       fetch what is missing, start Kafka $KAFKA_VERSION_PIN and PostgreSQL, create database and topics;
           with --monitoring also Prometheus on 127.0.0.1:$PROMETHEUS_PORT (Debian's package), which scrapes every
           consumer scripts/scale.sh starts and evaluates stack/monitoring/rules/alerts.yml
  down     stop everything (data is kept)
  reset    stop both and delete their data
  status   say what is running
  fetch    download the Kafka jars with Maven into stack/kafka/lib
  postgres-stop / postgres-start
           stop or start PostgreSQL alone (fault tests: the database goes away while Kafka stays)
  kafka-stop / kafka-start [--node N]
           stop (controlled shutdown) or start the Kafka broker alone, or one node of the cluster (fault tests: a
           broker restart)
  kafka-kill --node N
           SIGKILL one node of the cluster (a crash: no controlled shutdown); kafka-start --node N brings it back,
           and rebuilds it from its peers when its data directory was deleted
  logs     print the paths of the log files

Options:
  --brokers 1|3    one broker (default), or a three-node KRaft cluster (each node broker and controller; topics with
                   3 replicas and min.insync.replicas=2; clients on 127.0.0.1:9092,9094,9096; docs/cluster.md).
                   Same as BROKERS=3; every command and script takes BROKERS=3 to talk to the cluster
  --node N[,M]     kafka-stop, kafka-start, kafka-kill: only these nodes (1..3) of the cluster, all at once
  --partitions N   partitions of '$ORDERS_TOPIC' when up creates it (default \$PARTITIONS or 1)
  --monitoring     up: start Prometheus too (PROMETHEUS_PORT, default 9090)

Environment (defaults match docker-compose.yml):
  KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP  PGPORT=$PGPORT  POSTGRES_DB=$POSTGRES_DB
  POSTGRES_USER=$POSTGRES_USER  POSTGRES_PASSWORD (default kafka_pass)  KAFKA_HEAP (default 512M per broker,
  384M per node of the cluster)
  POSTGRES_APP_PASSWORD (default orders_app_pass: the consumer's least-privilege role orders_app)
  READY_TIMEOUT=$READY_TIMEOUT (seconds to wait for each service)
USAGE
}

# ---------------------------------------------------------------------------------------------------------- Kafka

fetch_kafka() {
  if compgen -G "$KAFKA_LIB/kafka_2.13-$KAFKA_VERSION_PIN.jar" >/dev/null; then
    return
  fi
  command -v mvn >/dev/null || die "Maven (mvn) not found: it fetches Kafka's jars from Maven Central (Debian: apt-get install maven)"
  log "fetching Apache Kafka $KAFKA_VERSION_PIN jars from Maven Central"
  rm -rf "$KAFKA_LIB"
  run mvn -q -B -f "$ROOT_DIR/stack/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIB" -DincludeScope=runtime
}

require_java() {
  command -v java >/dev/null || die "java not found: Kafka needs Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless)"
  local major
  major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  [[ "${major%%.*}" -ge 17 ]] || die "Kafka $KAFKA_VERSION_PIN needs Java 17 or newer, found $major"
}

# The nodes of the stack's Kafka: "1" for the single broker, "1 2 3" for the cluster. Node n's client port is
# 9090+2n and its controller port 9091+2n, so the single broker and the cluster's node 1 share 9092/9093.
kafka_nodes() { seq 1 "$BROKERS"; }
node_dir() { if ((BROKERS == 1)); then echo "$KAFKA_DIR"; else echo "$CLUSTER_DIR/node-$1"; fi; }
broker_port() { echo $((9090 + 2 * $1)); }
controller_port() { echo $((9091 + 2 * $1)); }

# kafka_pid [N]: the pid of node N (default 1) of the current layout, when it runs.
kafka_pid() {
  local pid
  pid="$(cat "$(node_dir "${1:-1}")/kafka.pid" 2>/dev/null)" || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Whether the other layout (the cluster when BROKERS=1, the single broker when BROKERS=3) has a process running.
other_layout_running() {
  local BROKERS=$((BROKERS == 1 ? 3 : 1)) n
  for n in $(kafka_nodes); do
    ! kafka_pid "$n" >/dev/null || return 0
  done
  return 1
}

# Whether the brokers answer a client (each try bounded: a tool waits up to a minute for a broker by itself).
kafka_ready() { timeout 20 "$ROOT_DIR/scripts/kafka.sh" kafka-topics --bootstrap-server "$KAFKA_BOOTSTRAP" --list; }
ports_open() {
  local n
  for n in "$@"; do
    port_open 127.0.0.1 "$(broker_port "$n")" || return 1
  done
}

# The number of brokers registered with the cluster's active controller, as a client sees them.
registered_brokers() {
  timeout 20 "$ROOT_DIR/scripts/kafka.sh" kafka-broker-api-versions --bootstrap-server "$KAFKA_BOOTSTRAP" 2>/dev/null |
    grep -c '^127\.0\.0\.1:[0-9]* (id: [0-9]* rack'
}
cluster_formed() { [[ "$(registered_brokers)" == "$BROKERS" ]]; }

# Writes node N's server.properties: the single broker's file, or the cluster's template filled in for node N.
node_properties() {
  local n="$1" dir
  dir="$(node_dir "$n")"
  if ((BROKERS == 1)); then
    sed "s:^log.dirs=.*:log.dirs=$dir/data:" "$ROOT_DIR/stack/kafka/server.properties"
  else
    sed -e "s:@NODE@:$n:" -e "s:@BROKER_PORT@:$(broker_port "$n"):" -e "s:@CONTROLLER_PORT@:$(controller_port "$n"):" \
      -e "s:@LOG_DIRS@:$dir/data:" "$ROOT_DIR/stack/kafka/cluster.properties"
  fi >"$dir/server.properties"
}

kafka_java_opts() {
  java_opts=(-Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -Djava.awt.headless=true -Dkafka.logs.dir="$1/logs"
    -Dlog4j2.configurationFile="$ROOT_DIR/stack/kafka/log4j2.properties" -cp "$KAFKA_LIB/*")
}

# The cluster id every node is formatted with: one per stack, kept beside its data (a node rebuilt after losing its
# disk must join the same cluster).
cluster_id() {
  local file
  if ((BROKERS == 1)); then file="$KAFKA_DIR/cluster-id"; else file="$CLUSTER_DIR/cluster-id"; fi
  if [[ ! -s "$file" ]]; then
    local java_opts
    kafka_java_opts "$(dirname "$file")"
    mkdir -p "$(dirname "$file")"
    java "${java_opts[@]}" kafka.tools.StorageTool random-uuid >"$file"
  fi
  cat "$file"
}

# start_kafka_node N: formats node N's storage when it has none (a first start, or a lost disk), then starts it
# in the background. Does not wait.
start_kafka_node() {
  local n="$1" dir port java_opts
  dir="$(node_dir "$n")"
  port="$(broker_port "$n")"
  if kafka_pid "$n" >/dev/null; then
    log "Kafka node $n already running (pid $(kafka_pid "$n"))"
    return
  fi
  ! port_open 127.0.0.1 "$port" || die "port $port is taken by another process; stop it (ss -ltnp | grep $port) or run 'scripts/stack.sh down'"
  mkdir -p "$dir/data" "$dir/logs"
  node_properties "$n"
  kafka_java_opts "$dir"
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    local id
    id="$(cluster_id)"
    log "formatting Kafka node $n's storage (KRaft, cluster id $id)"
    java "${java_opts[@]}" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" >>"$dir/logs/storage.log"
  fi
  log "starting Kafka $KAFKA_VERSION_PIN node $n (KRaft, broker+controller) on 127.0.0.1:$port, log: $dir/logs/server.log"
  nohup java "${java_opts[@]}" kafka.Kafka "$dir/server.properties" >"$dir/logs/stdout.log" 2>&1 &
  echo $! >"$dir/kafka.pid"
}

# Fails naming what is missing when Kafka did not become ready: a node that is not running, or, all running, a
# quorum that did not form.
kafka_not_ready() {
  local n missing=() dir
  for n in $(kafka_nodes); do
    dir="$(node_dir "$n")"
    if ! kafka_pid "$n" >/dev/null; then
      missing+=("node $n is not running (see $dir/logs/server.log)")
    elif ! port_open 127.0.0.1 "$(broker_port "$n")"; then
      missing+=("node $n (pid $(kafka_pid "$n")) does not listen on 127.0.0.1:$(broker_port "$n") (see $dir/logs/server.log)")
    fi
  done
  if ((BROKERS == 1)); then
    die "Kafka not ready after ${READY_TIMEOUT}s: ${missing[*]:-it does not answer (see $KAFKA_DIR/logs/server.log)}"
  fi
  local reasons
  reasons="$(printf '%s; ' "${missing[@]}")"
  die "the KRaft quorum of $BROKERS nodes did not form within ${READY_TIMEOUT}s (a majority, $((BROKERS / 2 + 1)), must run): ${reasons:-all run, but only $(registered_brokers) brokers registered; }see scripts/kafka.sh kafka-metadata-quorum --bootstrap-server $KAFKA_BOOTSTRAP describe --status"
}

# start_kafka [N]: starts every node (or only node N), then waits until the cluster has all its brokers.
start_kafka() {
  require_java
  fetch_kafka
  if other_layout_running; then
    if ((BROKERS == 1)); then
      die "the 3-broker cluster is running on these ports: use BROKERS=3 (or --brokers 3), or stop it with 'scripts/stack.sh down'"
    fi
    die "the single-broker Kafka is running on these ports: stop it first with 'scripts/stack.sh down'"
  fi
  local n nodes
  read -r -a nodes <<<"${1:-$(kafka_nodes | xargs)}"
  for n in "${nodes[@]}"; do
    start_kafka_node "$n"
  done
  poll_until "$READY_TIMEOUT" ports_open "${nodes[@]}" || kafka_not_ready
  if ((BROKERS == 1)); then
    poll_until "$READY_TIMEOUT" kafka_ready || kafka_not_ready
  else
    # Every broker registered with the active controller: the quorum formed and the cluster answers.
    poll_until "$READY_TIMEOUT" cluster_formed || kafka_not_ready
  fi
  log "Kafka ready ($BROKERS broker(s): $KAFKA_BOOTSTRAP)"
}

all_gone() {
  local pid
  for pid in "$@"; do
    ! kill -0 "$pid" 2>/dev/null || return 1
  done
}

# stop_kafka [N] [SIGNAL]: stops every node (or node N): TERM is a controlled shutdown, KILL a crash.
stop_kafka() {
  local n pids=() signal="${2:-TERM}"
  for n in ${1:-$(kafka_nodes)}; do
    if pid="$(kafka_pid "$n")"; then
      pids+=("$pid")
    fi
  done
  if ((${#pids[@]} > 0)); then
    if [[ "$signal" == KILL ]]; then
      log "killing Kafka (SIGKILL, pid ${pids[*]})"
      kill -KILL "${pids[@]}" 2>/dev/null || true
      poll_until 10 all_gone "${pids[@]}" || warn "Kafka pid ${pids[*]} still there 10 s after SIGKILL"
    else
      log "stopping Kafka (pid ${pids[*]})"
      if ((BROKERS > 1 && ${#pids[@]} == BROKERS)); then
        # The whole cluster: the last node's controlled shutdown waits for a quorum that has left with the others,
        # so it gets 10 s before SIGKILL (its next start recovers its logs; nothing acknowledged is lost).
        STOP_TIMEOUT=10 stop_processes Kafka "${pids[@]}"
      else
        stop_processes Kafka "${pids[@]}"
      fi
    fi
  fi
  for n in ${1:-$(kafka_nodes)}; do
    if ! kafka_pid "$n" >/dev/null; then rm -f "$(node_dir "$n")/kafka.pid"; fi
  done
}

create_topics() {
  local kt=("$ROOT_DIR/scripts/kafka.sh" kafka-topics --bootstrap-server "$KAFKA_BOOTSTRAP") existing have
  existing="$("${kt[@]}" --list)"
  if ! grep -qx "$ORDERS_TOPIC" <<<"$existing"; then
    run "${kt[@]}" --create --topic "$ORDERS_TOPIC" --partitions "$PARTITIONS" --replication-factor "$REPLICATION_FACTOR"
  elif [[ -n "$PARTITIONS_GIVEN" ]]; then
    have="$("${kt[@]}" --describe --topic "$ORDERS_TOPIC" | sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' | head -n 1)"
    if [[ "$have" != "$PARTITIONS" ]]; then
      warn "'$ORDERS_TOPIC' already has $have partitions (asked for $PARTITIONS); change it with scripts/partitions.sh"
    fi
  fi
  if ! grep -qx "$DLQ_TOPIC" <<<"$existing"; then
    run "${kt[@]}" --create --topic "$DLQ_TOPIC" --partitions 1 --replication-factor "$REPLICATION_FACTOR" 2>&1 | { grep -v "^WARNING: Due to limitations in metric names" || true; }
  fi
}

# ----------------------------------------------------------------------------------------------------- Prometheus

prometheus_pid() {
  local pid
  pid="$(cat "$PROMETHEUS_DIR/prometheus.pid" 2>/dev/null)" || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

prometheus_ready() { curl -sf "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"; }

start_prometheus() {
  ensure_packages prometheus:prometheus curl:curl
  if prometheus_pid >/dev/null; then
    log "Prometheus already running (pid $(prometheus_pid))"
    return
  fi
  ! port_open 127.0.0.1 "$PROMETHEUS_PORT" || die "port $PROMETHEUS_PORT is taken by another process; stop it (ss -ltnp | grep $PROMETHEUS_PORT) or set PROMETHEUS_PORT"
  # The repo's configuration and rules, beside the target files the scripts write (file-based discovery).
  mkdir -p "$PROMETHEUS_DIR/data" "$PROMETHEUS_TARGETS"
  cp "$ROOT_DIR/stack/monitoring/prometheus.yml" "$PROMETHEUS_DIR/prometheus.yml"
  rm -rf "$PROMETHEUS_DIR/rules"
  cp -r "$ROOT_DIR/stack/monitoring/rules" "$PROMETHEUS_DIR/rules"
  log "starting Prometheus on 127.0.0.1:$PROMETHEUS_PORT, log: $PROMETHEUS_DIR/prometheus.log"
  nohup prometheus --config.file="$PROMETHEUS_DIR/prometheus.yml" --storage.tsdb.path="$PROMETHEUS_DIR/data" \
    --storage.tsdb.retention.time=2d --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
    >"$PROMETHEUS_DIR/prometheus.log" 2>&1 &
  echo $! >"$PROMETHEUS_DIR/prometheus.pid"
  wait_until "$READY_TIMEOUT" "Prometheus (see $PROMETHEUS_DIR/prometheus.log)" prometheus_ready
  log "Prometheus ready: http://127.0.0.1:$PROMETHEUS_PORT/graph (lag: kafka_consumergroup_lag)"
}

stop_prometheus() {
  local pid
  if pid="$(prometheus_pid)"; then
    log "stopping Prometheus (pid $pid)"
    stop_processes Prometheus "$pid"
  fi
  rm -f "$PROMETHEUS_DIR/prometheus.pid"
}

# ----------------------------------------------------------------------------------------------------- PostgreSQL

pg_bin() {
  local dir
  if command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/initdb" ]]; then
    pg_config --bindir
    return
  fi
  dir="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r | head -n 1)"
  [[ -x "$dir/initdb" ]] && { echo "$dir"; return; }
  die "PostgreSQL server not found: install Debian's postgresql package (apt-get install postgresql)"
}

# PostgreSQL refuses to run as root: as root, run its programs as the 'postgres' user the package creates.
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_running() { as_pg "$(pg_bin)/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; }

psql_admin() { as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR/run" -p "$PGPORT" -U postgres "$@"; }

start_postgres() {
  local bin
  bin="$(pg_bin)"
  mkdir -p "$PG_DIR/run" "$PG_DIR/logs"
  if [[ $EUID -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "user 'postgres' not found: it comes with Debian's postgresql package"
    chown postgres:postgres "$PG_DIR" "$PG_DIR/run" "$PG_DIR/logs"
  fi
  if [[ ! -f "$PG_DIR/data/PG_VERSION" ]]; then
    log "initialising PostgreSQL data directory $PG_DIR/data"
    as_pg "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$PG_DIR/logs/initdb.log"
  fi
  if pg_running; then
    log "PostgreSQL already running"
  else
    ! port_open "$PGHOST" "$PGPORT" || die "port $PGPORT is taken by another process; stop it (ss -ltnp | grep $PGPORT) or set PGPORT"
    log "starting PostgreSQL on $PGHOST:$PGPORT, log: $PG_DIR/logs/postgres.log"
    as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/logs/postgres.log" -w -t "$READY_TIMEOUT" start \
      -o "-c listen_addresses=$PGHOST -p $PGPORT -k $PG_DIR/run -c max_connections=200 -c fsync=on" >/dev/null
  fi
  wait_until "$READY_TIMEOUT" PostgreSQL as_pg "$bin/pg_isready" -h "$PGHOST" -p "$PGPORT"
  create_database
  log "PostgreSQL ready on $PGHOST:$PGPORT, database $POSTGRES_DB, owner $POSTGRES_USER, consumer role orders_app"
}

create_database() {
  # The password travels as a psql variable (:'pw'), quoted by psql itself, never spliced into SQL text.
  psql_admin -d postgres -v user="$POSTGRES_USER" -v pw="$POSTGRES_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" PASSWORD :'pw';
-- Lets lab bench (harness/src/stack.rs) flush dirty pages before a latency run, so a checkpoint does not land in the middle of it.
GRANT pg_checkpoint TO :"user";
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
  # The consumer's least-privilege role, from the same file docker-compose.yml mounts (password from the environment).
  psql_admin -d postgres <"$ROOT_DIR/stack/postgres/orders-app.sql"
}

stop_postgres() {
  [[ -f "$PG_DIR/data/PG_VERSION" ]] || return 0
  if pg_running; then
    log "stopping PostgreSQL"
    as_pg "$(pg_bin)/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null
  fi
}

# --------------------------------------------------------------------------------------------------------- main

command="${1:-}"
[[ -n "$command" ]] || { usage >&2; exit 2; }
shift
while [[ $# -gt 0 ]]; do
  case "$1" in
    --partitions) PARTITIONS="${2:-}"; PARTITIONS_GIVEN=1; shift 2 || die "--partitions needs a number" ;;
    --brokers) use_brokers "${2:-}"; shift 2 || die "--brokers needs 1 or 3" ;;
    --node) NODE="${2:-}"; shift 2 || die "--node needs a node number" ;;
    --monitoring) MONITORING=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see scripts/stack.sh --help)" ;;
  esac
done
require_int --partitions "$PARTITIONS" 1
if ((BROKERS == 1)); then KAFKA_HEAP="${KAFKA_HEAP:-512M}"; else KAFKA_HEAP="${KAFKA_HEAP:-384M}"; fi
if [[ -n "$NODE" ]]; then
  case "$command" in kafka-stop | kafka-start | kafka-kill) ;; *) die "--node goes with kafka-stop, kafka-start or kafka-kill" ;; esac
  ((BROKERS > 1)) || die "--node needs the cluster: add --brokers 3 (or BROKERS=3)"
  NODE="${NODE//,/ }"
  for n in $NODE; do
    require_int --node "$n" 1
    ((n <= BROKERS)) || die "--node must be 1 to $BROKERS, got $n"
  done
fi

case "$command" in
  up)
    # PostgreSQL server, Java 17+ and Maven: installed from Debian's packages when missing and run as root.
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || install_packages postgresql
    ensure_packages java:openjdk-17-jre-headless mvn:maven
    start_postgres
    start_kafka
    create_topics
    [[ -z "$MONITORING" ]] || start_prometheus
    log "local stack up: Kafka $KAFKA_BOOTSTRAP, PostgreSQL $PGHOST:$PGPORT/$POSTGRES_DB${MONITORING:+, Prometheus 127.0.0.1:$PROMETHEUS_PORT}"
    ;;
  down | reset)
    stop_prometheus
    # Whichever layout runs: the single broker and the cluster's nodes.
    for layout in 1 3; do
      BROKERS="$layout"
      stop_kafka
    done
    stop_postgres
    if [[ "$command" == reset ]]; then
      log "deleting $KAFKA_DIR, $CLUSTER_DIR, $PG_DIR and $PROMETHEUS_DIR"
      rm -rf "$KAFKA_DIR" "$CLUSTER_DIR" "$PG_DIR" "$PROMETHEUS_DIR"
    fi
    ;;
  status)
    # The layout asked for; the other one instead when only it runs (the two share their ports).
    if other_layout_running && ! kafka_pid 1 >/dev/null; then
      if ((BROKERS == 1)); then use_brokers 3; else use_brokers 1; fi
    fi
    for n in $(kafka_nodes); do
      if pid="$(kafka_pid "$n")"; then
        echo "kafka$( ((BROKERS > 1)) && echo " node $n"): running (pid $pid) on 127.0.0.1:$(broker_port "$n")"
      else
        echo "kafka$( ((BROKERS > 1)) && echo " node $n"): stopped"
      fi
    done
    if [[ -f "$PG_DIR/data/PG_VERSION" ]] && pg_running; then echo "postgres: running on $PGHOST:$PGPORT"; else echo "postgres: stopped"; fi
    if pid="$(prometheus_pid)"; then echo "prometheus: running (pid $pid) on 127.0.0.1:$PROMETHEUS_PORT"; else echo "prometheus: stopped"; fi
    ;;
  fetch) fetch_kafka ;;
  postgres-stop) stop_postgres ;;
  postgres-start) start_postgres ;;
  kafka-stop) stop_kafka "$NODE" ;;
  kafka-kill)
    [[ -n "$NODE" ]] || die "kafka-kill needs --node N (and --brokers 3): it crashes one node of the cluster"
    stop_kafka "$NODE" KILL
    ;;
  kafka-start) start_kafka "$NODE" ;;
  logs)
    for n in $(kafka_nodes); do echo "$(node_dir "$n")/logs/server.log"; done
    echo "$PG_DIR/logs/postgres.log"
    ;;
  -h | --help) usage ;;
  *) die "unknown command '$command' (see scripts/stack.sh --help)" ;;
esac
