#!/usr/bin/env bash
# Starts and stops the local stack: a real Apache Kafka broker in KRaft mode (jars from Maven Central) and a
# PostgreSQL server (Debian's postgresql package), both on 127.0.0.1, with data and logs under .local/.
# Every command is idempotent: `up` on a running stack only makes sure the database and topics exist.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

KAFKA_DIR="$LOCAL_DIR/kafka"
PG_DIR="$LOCAL_DIR/postgres"
KAFKA_LIB="$ROOT_DIR/stack/kafka/lib"
KAFKA_HEAP="${KAFKA_HEAP:-512M}"
READY_TIMEOUT="${READY_TIMEOUT:-90}"
PARTITIONS="${PARTITIONS:-1}"
PARTITIONS_GIVEN=""
PROMETHEUS_DIR="$LOCAL_DIR/prometheus"
PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
MONITORING=""

usage() {
  cat <<USAGE
Usage: scripts/stack.sh COMMAND [--partitions N] [--monitoring]

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
  kafka-stop / kafka-start
           stop (controlled shutdown) or start the Kafka broker alone (fault tests: a broker restart)
  logs     print the paths of the log files

Options:
  --partitions N   partitions of '$ORDERS_TOPIC' when up creates it (default \$PARTITIONS or 1)
  --monitoring     up: start Prometheus too (PROMETHEUS_PORT, default 9090)

Environment (defaults match docker-compose.yml):
  KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP  PGPORT=$PGPORT  POSTGRES_DB=$POSTGRES_DB
  POSTGRES_USER=$POSTGRES_USER  POSTGRES_PASSWORD (default kafka_pass)  KAFKA_HEAP=$KAFKA_HEAP
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

kafka_pid() {
  local pid
  pid="$(cat "$KAFKA_DIR/kafka.pid" 2>/dev/null)" || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

kafka_ready() { "$ROOT_DIR/scripts/kafka.sh" kafka-topics --bootstrap-server "$KAFKA_BOOTSTRAP" --list; }

start_kafka() {
  require_java
  fetch_kafka
  if kafka_pid >/dev/null; then
    log "Kafka already running (pid $(kafka_pid))"
    return
  fi
  ! port_open 127.0.0.1 9092 || die "port 9092 is taken by another process; stop it (ss -ltnp | grep 9092) or run 'scripts/stack.sh down'"
  mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
  sed "s:^log.dirs=.*:log.dirs=$KAFKA_DIR/data:" "$ROOT_DIR/stack/kafka/server.properties" >"$KAFKA_DIR/server.properties"
  local java_opts=(-Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -Djava.awt.headless=true -Dkafka.logs.dir="$KAFKA_DIR/logs"
    -Dlog4j2.configurationFile="$ROOT_DIR/stack/kafka/log4j2.properties" -cp "$KAFKA_LIB/*")
  if [[ ! -f "$KAFKA_DIR/data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java "${java_opts[@]}" kafka.tools.StorageTool random-uuid)"
    log "formatting Kafka storage (KRaft, cluster id $cluster_id)"
    java "${java_opts[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$KAFKA_DIR/server.properties" >>"$KAFKA_DIR/logs/storage.log"
  fi
  log "starting Kafka $KAFKA_VERSION_PIN (KRaft, broker+controller) on $KAFKA_BOOTSTRAP, log: $KAFKA_DIR/logs/server.log"
  nohup java "${java_opts[@]}" kafka.Kafka "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/logs/stdout.log" 2>&1 &
  echo $! >"$KAFKA_DIR/kafka.pid"
  wait_until "$READY_TIMEOUT" "Kafka (see $KAFKA_DIR/logs/server.log)" port_open 127.0.0.1 9092
  wait_until "$READY_TIMEOUT" "Kafka (see $KAFKA_DIR/logs/server.log)" kafka_ready
  log "Kafka ready"
}

stop_kafka() {
  local pid
  if pid="$(kafka_pid)"; then
    log "stopping Kafka (pid $pid)"
    stop_process "$pid" Kafka
  fi
  rm -f "$KAFKA_DIR/kafka.pid"
}

create_topics() {
  local kt=("$ROOT_DIR/scripts/kafka.sh" kafka-topics --bootstrap-server "$KAFKA_BOOTSTRAP") existing have
  existing="$("${kt[@]}" --list)"
  if ! grep -qx "$ORDERS_TOPIC" <<<"$existing"; then
    run "${kt[@]}" --create --topic "$ORDERS_TOPIC" --partitions "$PARTITIONS" --replication-factor 1
  elif [[ -n "$PARTITIONS_GIVEN" ]]; then
    have="$("${kt[@]}" --describe --topic "$ORDERS_TOPIC" | sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' | head -n 1)"
    if [[ "$have" != "$PARTITIONS" ]]; then
      warn "'$ORDERS_TOPIC' already has $have partitions (asked for $PARTITIONS); change it with scripts/partitions.sh"
    fi
  fi
  if ! grep -qx "$DLQ_TOPIC" <<<"$existing"; then
    run "${kt[@]}" --create --topic "$DLQ_TOPIC" --partitions 1 --replication-factor 1 2>&1 | { grep -v "^WARNING: Due to limitations in metric names" || true; }
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
    stop_process "$pid" Prometheus
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
-- Lets scripts/bench.sh flush dirty pages before a latency run, so a checkpoint does not land in the middle of it.
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
    --monitoring) MONITORING=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see scripts/stack.sh --help)" ;;
  esac
done
require_int --partitions "$PARTITIONS" 1

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
  down)
    stop_prometheus
    stop_kafka
    stop_postgres
    ;;
  reset)
    stop_prometheus
    stop_kafka
    stop_postgres
    log "deleting $KAFKA_DIR, $PG_DIR and $PROMETHEUS_DIR"
    rm -rf "$KAFKA_DIR" "$PG_DIR" "$PROMETHEUS_DIR"
    ;;
  status)
    if pid="$(kafka_pid)"; then echo "kafka: running (pid $pid) on $KAFKA_BOOTSTRAP"; else echo "kafka: stopped"; fi
    if [[ -f "$PG_DIR/data/PG_VERSION" ]] && pg_running; then echo "postgres: running on $PGHOST:$PGPORT"; else echo "postgres: stopped"; fi
    if pid="$(prometheus_pid)"; then echo "prometheus: running (pid $pid) on 127.0.0.1:$PROMETHEUS_PORT"; else echo "prometheus: stopped"; fi
    ;;
  fetch) fetch_kafka ;;
  postgres-stop) stop_postgres ;;
  postgres-start) start_postgres ;;
  kafka-stop) stop_kafka ;;
  kafka-start) start_kafka ;;
  logs) printf '%s\n' "$KAFKA_DIR/logs/server.log" "$PG_DIR/logs/postgres.log" ;;
  -h | --help) usage ;;
  *) die "unknown command '$command' (see scripts/stack.sh --help)" ;;
esac
