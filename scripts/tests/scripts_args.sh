#!/usr/bin/env bash
# Argument handling and error messages of the scaling scripts. Needs the local stack (scripts/test.sh starts it):
# the "decrease refused" case asks the real broker.
set -euo pipefail
# shellcheck source=scripts/tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dead_kafka=(env KAFKA_BOOTSTRAP=127.0.0.1:1)
dead_pg=(env PGPORT=1)

expect_fail "partitions: no command" "Usage: scripts/partitions.sh" scripts/partitions.sh
expect_fail "partitions: set without N" "set needs the new partition count" scripts/partitions.sh set
expect_fail "partitions: N not a number" "partition count must be a whole number" scripts/partitions.sh set three
expect_fail "partitions: N zero" "partition count must be at least 1" scripts/partitions.sh set 0
expect_fail "partitions: bad stack" "--stack must be 'local' or 'compose'" scripts/partitions.sh --stack docker describe
expect_fail "partitions: Kafka down" "Kafka is not running at 127.0.0.1:1" "${dead_kafka[@]}" scripts/partitions.sh describe
topic="script-test-$RANDOM$RANDOM"
scripts/kafka.sh kafka-topics --bootstrap-server 127.0.0.1:9092 --create --topic "$topic" --partitions 2 \
  --replication-factor 1 >/dev/null
expect_fail "partitions: decrease refused" "refusing to go from 2 to 1 partitions: Kafka cannot remove partitions" \
  scripts/partitions.sh --topic "$topic" set 1
expect_ok "partitions: same count is a no-op" "already has 2 partitions" scripts/partitions.sh --topic "$topic" set 2
expect_ok "partitions: increase warns that keys move" "about 66% of customers change partition" \
  scripts/partitions.sh --topic "$topic" set 3
expect_fail "partitions: missing topic" "does not exist" scripts/partitions.sh --topic "no-such-$topic" set 2

expect_fail "scale: no argument" "Usage: lab scale" scripts/scale.sh
expect_fail "scale: N not a number" "consumer count must be a whole number" scripts/scale.sh many
expect_fail "scale: kill without id" "kill needs a client id or pid" scripts/scale.sh kill
expect_fail "scale: kill unknown" "no running local consumer" scripts/scale.sh kill nobody-00000000
expect_fail "scale: Kafka down" "Kafka is not running at 127.0.0.1:1" "${dead_kafka[@]}" scripts/scale.sh 1

expect_fail "group: Kafka down" "Kafka is not running at 127.0.0.1:1" "${dead_kafka[@]}" scripts/group.sh
expect_fail "group: unknown argument" "unknown argument 'now'" scripts/group.sh now
expect_fail "watch: Postgres down" "PostgreSQL is not reachable at 127.0.0.1:1" "${dead_pg[@]}" scripts/watch.sh --once
expect_fail "watch: zero interval" "--interval must be at least 1" scripts/watch.sh --interval 0
# A database of its own: first without the table, then with the migrations applied as the consumer applies them.
watch_db="script_test_$RANDOM$RANDOM"
PGPASSWORD=kafka_pass psql -X -q -h 127.0.0.1 -U kafka_user -d food_orders -c "CREATE DATABASE $watch_db"
expect_fail "watch: no table yet" "table 'orders' does not exist yet" env POSTGRES_DB="$watch_db" scripts/watch.sh --once
PGPASSWORD=kafka_pass psql -X -q -h 127.0.0.1 -U kafka_user -d "$watch_db" -f migrations/*_create_orders.sql
expect_ok "watch: once" "rows_per_s" env POSTGRES_DB="$watch_db" scripts/watch.sh --once
PGPASSWORD=kafka_pass psql -X -q -h 127.0.0.1 -U kafka_user -d food_orders -c "DROP DATABASE $watch_db"

# The tools' own options are the lab's (lab/src/*/ test them); scripts/lab.sh checks the stack before it builds.
expect_fail "lab: Kafka down" "Kafka is not running at 127.0.0.1:1" "${dead_kafka[@]}" scripts/lab.sh experiment --short
expect_fail "lab: unknown tool" "unknown tool 'benchmark'" scripts/lab.sh benchmark
expect_ok "lab: a tool's help" "--short" scripts/lab.sh experiment --help
expect_fail "lab: bench, Kafka down" "Kafka is not running at 127.0.0.1:1" "${dead_kafka[@]}" scripts/lab.sh bench --small
expect_fail "lab: soak, Postgres down" "PostgreSQL is not reachable at 127.0.0.1:1" "${dead_pg[@]}" scripts/lab.sh soak
expect_fail "demo: consumers not a number" "--consumers must be a whole number" scripts/demo.sh --consumers x

finish
