#!/usr/bin/env bash
# Watches the table grow: rows per second overall, per consumer and per partition, refreshed every few seconds,
# straight from psql; or, with --metrics, the consumers' own metrics through Prometheus (rows/s per consumer, lag
# per partition, partitions per consumer).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

INTERVAL="${INTERVAL:-2}"
ITERATIONS="${ITERATIONS:-1800}"
PROMETHEUS_URL="${PROMETHEUS_URL:-http://127.0.0.1:${PROMETHEUS_PORT:-9090}}"
metrics=""

usage() {
  cat <<USAGE
Usage: scripts/watch.sh [--stack local|compose] [--metrics] [--interval SECONDS] [--iterations N | --once]

Every --interval seconds (default $INTERVAL), for at most --iterations refreshes (default $ITERATIONS; Ctrl-C stops
earlier): total rows, and rows stored during the last interval per consumer and per partition, as rows/s.
Stack: --stack or STACK (default local).

--metrics   read the consumers' metrics through Prometheus instead ($PROMETHEUS_URL, PROMETHEUS_URL; started by
            scripts/stack.sh up --monitoring or the compose profile monitoring): rows/s per consumer over the last
            30 s, lag per partition, partitions per consumer.
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --stack) STACK="${2:-}"; shift 2 || die "--stack needs local or compose" ;;
    --interval) INTERVAL="${2:-}"; shift 2 || die "--interval needs seconds" ;;
    --iterations) ITERATIONS="${2:-}"; shift 2 || die "--iterations needs a number" ;;
    --once) ITERATIONS=1; shift ;;
    --metrics) metrics=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see scripts/watch.sh --help)" ;;
  esac
done
require_int --interval "$INTERVAL" 1
require_int --iterations "$ITERATIONS" 1
check_stack

if [[ -n "$metrics" ]]; then
  ensure_packages promtool:prometheus curl:curl
  curl -sf "$PROMETHEUS_URL/-/ready" >/dev/null ||
    die "no Prometheus answers at $PROMETHEUS_URL: start it with scripts/stack.sh up --monitoring (or the compose profile monitoring), or set PROMETHEUS_URL"
  by_consumer='* on (instance) group_left (client_id) order_consumer_info'
  queries=(
    "rows/s per consumer|sum by (client_id) (rate(order_consumer_rows_stored_total[30s]) $by_consumer)"
    "lag per partition|sum by (topic, partition) (kafka_consumergroup_lag)"
    "partitions per consumer|sum by (client_id) (order_consumer_assigned_partitions $by_consumer)"
  )
  for ((i = 1; i <= ITERATIONS; i++)); do
    ((ITERATIONS == 1)) || printf '\n--- %s (every %ss, Ctrl-C to stop)\n' "$(date +%T)" "$INTERVAL"
    for q in "${queries[@]}"; do
      printf '%s:\n' "${q%%|*}"
      promtool query instant "$PROMETHEUS_URL" "${q#*|}" | sed 's/ @\[.*//; s/^/  /'
    done
    ((i == ITERATIONS)) || sleep "$INTERVAL"
  done
  exit 0
fi

require_postgres
require_orders_table

query="
SELECT 'total' AS scope, '' AS name, COUNT(*) AS rows,
       ROUND(COUNT(*) FILTER (WHERE processed_at > now() - interval '$INTERVAL seconds') / $INTERVAL.0, 1) AS rows_per_s
  FROM orders
UNION ALL
SELECT 'consumer', processed_by, COUNT(*), ROUND(COUNT(*) FILTER (WHERE processed_at > now() - interval '$INTERVAL seconds') / $INTERVAL.0, 1)
  FROM orders GROUP BY processed_by HAVING MAX(processed_at) > now() - interval '10 minutes'
UNION ALL
SELECT 'partition', kafka_partition::text, COUNT(*), ROUND(COUNT(*) FILTER (WHERE processed_at > now() - interval '$INTERVAL seconds') / $INTERVAL.0, 1)
  FROM orders GROUP BY kafka_partition
ORDER BY 1 DESC, 2;"

for ((i = 1; i <= ITERATIONS; i++)); do
  ((ITERATIONS == 1)) || printf '\n--- %s (every %ss, Ctrl-C to stop)\n' "$(date +%T)" "$INTERVAL"
  if ((i == 1)); then
    sql -c "$query"
  else
    sql -c "$query" 2>/dev/null
  fi
  ((i == ITERATIONS)) || sleep "$INTERVAL"
done
