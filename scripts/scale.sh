#!/usr/bin/env bash
# Scales the consumer group: compose runs `docker compose up --scale order-consumer=N`; the local stack starts and
# stops order-consumer processes, tracked in .local/consumers/.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CONSUMERS_DIR="$LOCAL_DIR/consumers"

usage() {
  cat <<USAGE
Usage: scripts/scale.sh [--stack local|compose] N          run N consumers (start or stop the difference)
       scripts/scale.sh [--stack local|compose] status     list the running consumers
       scripts/scale.sh [--stack local|compose] count      print how many consumers run (the autoscaler reads it)
       scripts/scale.sh [--stack local|compose] kill ID    SIGKILL one consumer (its client id, or a local pid)

Local consumers inherit this shell's environment (KAFKA_TOPIC, CONSUMER_GROUP, DATABASE_URL, BATCH_SIZE,
PROCESSING_DELAY_MS, ...); logs and pid files: $CONSUMERS_DIR. Scaling down sends SIGTERM to the newest
consumers first and waits (up to 30 s) for each to commit and leave the group.
Stack: --stack or STACK (default local).
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --stack) STACK="${2:-}"; shift 2 || die "--stack needs local or compose" ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see scripts/scale.sh --help)" ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || { usage >&2; exit 2; }
check_stack

# Running local consumers, oldest first, as "number pid" lines; stale pid files are removed.
local_consumers() {
  local f n pid
  mkdir -p "$CONSUMERS_DIR"
  for f in "$CONSUMERS_DIR"/consumer-*.pid; do
    [[ -e "$f" ]] || continue
    n="${f##*/consumer-}"
    n="${n%.pid}"
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
      echo "$n $pid"
    else
      rm -f "$f"
      unregister_metrics_target order-consumer "consumer-$n"
    fi
  done | sort -n
}

# The client id consumer N logged at start. The one id a script reads from a log, and why: the broker's group view
# names members by client id but knows no process ids, so matching a client id taken from that view (as the
# experiment does before a SIGKILL) to a local process needs the process's own word.
client_id_of() {
  sed -n 's/.*client_id=\([^}: ]*\).*/\1/p' "$CONSUMERS_DIR/consumer-$1.log" 2>/dev/null | head -n 1
}

start_local() {
  local binary="$ROOT_DIR/target/release/order-consumer" n
  if [[ ! -x "$binary" ]]; then
    run cargo build --release --locked -p order-consumer --manifest-path "$ROOT_DIR/Cargo.toml"
  fi
  n=$(($(cat "$CONSUMERS_DIR/next" 2>/dev/null || echo 0) + 1))
  echo "$n" >"$CONSUMERS_DIR/next"
  rm -f "$CONSUMERS_DIR/consumer-$n.metrics-addr"
  # /metrics on a free port, written where Prometheus' discovery finds it (scripts/stack.sh up --monitoring); the
  # stack's brokers (all three on the cluster, BROKERS=3) unless KAFKA_BOOTSTRAP_SERVERS says otherwise.
  KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-$KAFKA_BOOTSTRAP}" \
    METRICS_ADDR=127.0.0.1:0 METRICS_ADDR_FILE="$CONSUMERS_DIR/consumer-$n.metrics-addr" \
    nohup "$binary" >"$CONSUMERS_DIR/consumer-$n.log" 2>&1 &
  echo $! >"$CONSUMERS_DIR/consumer-$n.pid"
  log "started consumer $n (pid $!, log $CONSUMERS_DIR/consumer-$n.log)"
  register_metrics_target order-consumer "consumer-$n" "$CONSUMERS_DIR/consumer-$n.metrics-addr"
}

stop_local() {
  log "stopping consumer $1 (pid $2): SIGTERM, it commits and leaves the group"
  stop_process "$2" "consumer $1"
  rm -f "$CONSUMERS_DIR/consumer-$1.pid"
  unregister_metrics_target order-consumer "consumer-$1"
}

scale_local() {
  local target="$1" running i
  mapfile -t running < <(local_consumers)
  if ((${#running[@]} < target)); then
    require_kafka
    for ((i = ${#running[@]}; i < target; i++)); do start_local; done
  else
    for ((i = ${#running[@]} - 1; i >= target; i--)); do
      # shellcheck disable=SC2086 # "number pid" splits into two arguments on purpose
      stop_local ${running[i]}
    done
  fi
  log "$target consumer(s) running"
}

case "$1" in
  status)
    if [[ "$STACK" == compose ]]; then
      run "${COMPOSE[@]}" ps order-consumer
    else
      while read -r n pid; do
        printf 'consumer-%s pid %s client_id %s\n' "$n" "$pid" "$(client_id_of "$n")"
      done < <(local_consumers)
    fi
    ;;
  count)
    if [[ "$STACK" == compose ]]; then
      mapfile -t ids < <("${COMPOSE[@]}" ps -q order-consumer)
      if ((${#ids[@]} == 0)); then
        echo 0
      else
        docker inspect -f '{{.State.Running}}' "${ids[@]}" | grep -c true || true
      fi
    else
      local_consumers | wc -l
    fi
    ;;
  kill)
    [[ $# -eq 2 ]] || die "kill needs a client id or pid"
    if [[ "$STACK" == compose ]]; then
      # A container's hostname is its short id, and the client id is order-consumer-{hostname}-{uuid8}.
      id="$2"
      host="${id#order-consumer-}"
      host="${host%-*}"
      run docker kill --signal KILL "$host"
    else
      found=""
      while read -r n pid; do
        if [[ "$2" == "$pid" || "$2" == "$(client_id_of "$n")" ]]; then
          log "SIGKILL consumer $n (pid $pid): no commit, no goodbye to the group"
          kill -KILL "$pid"
          rm -f "$CONSUMERS_DIR/consumer-$n.pid"
          found=1
        fi
      done < <(local_consumers)
      [[ -n "$found" ]] || die "no running local consumer with client id or pid '$2' (scripts/scale.sh status)"
    fi
    ;;
  *)
    target="$1"
    require_int "consumer count" "$target" 0
    if [[ "$STACK" == compose ]]; then
      run "${COMPOSE[@]}" up -d --no-recreate --scale order-consumer="$target" order-consumer
    else
      scale_local "$target"
    fi
    ;;
esac
