#!/usr/bin/env bash
# Runs one of Apache Kafka's own command-line tools against the local stack, from the jars that
# `scripts/stack.sh up` fetched from Maven Central, exactly as Kafka's bin/*.sh scripts would.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
  cat <<USAGE
Usage: scripts/kafka.sh TOOL [ARGS...]

Runs Kafka's own CLI (version $KAFKA_VERSION_PIN) on this machine's Java, with no Kafka install and no Docker.
TOOL is the name of the script in Kafka's bin/ folder, with or without .sh:
  kafka-topics, kafka-consumer-groups, kafka-console-producer, kafka-console-consumer,
  kafka-producer-perf-test, kafka-consumer-perf-test, kafka-get-offsets, kafka-broker-api-versions,
  kafka-storage, kafka-metadata-quorum

Examples:
  scripts/kafka.sh kafka-topics --bootstrap-server $KAFKA_BOOTSTRAP --describe --topic $ORDERS_TOPIC
  scripts/kafka.sh kafka-consumer-groups --bootstrap-server $KAFKA_BOOTSTRAP --describe --group $CONSUMER_GROUP --members
USAGE
}

# main_class TOOL: the Java class behind one of Kafka's bin/*.sh tools (stack/kafka/tools.txt).
main_class() {
  awk -v tool="${1%.sh}" '$1 == tool { print $2; found = 1 } END { exit !found }' "$ROOT_DIR/stack/kafka/tools.txt"
}

[[ $# -ge 1 ]] || { usage >&2; exit 2; }
case "$1" in -h | --help) usage; exit 0 ;; esac

tool="$1"
shift
class="$(main_class "$tool")" || die "unknown Kafka tool '$tool' (see scripts/kafka.sh --help)"
lib="$ROOT_DIR/stack/kafka/lib"
compgen -G "$lib/kafka_2.13-*.jar" >/dev/null || die "Kafka jars are missing: run 'scripts/stack.sh fetch' (needs Maven)"
command -v java >/dev/null || die "java not found: install Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless)"

exec java -Xmx256M -XX:+UseSerialGC -Dlog4j2.configurationFile="$ROOT_DIR/stack/kafka/tools-log4j2.properties" \
  -cp "$lib/*" "$class" "$@"
