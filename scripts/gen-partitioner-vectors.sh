#!/usr/bin/env bash
# Regenerates harness/tests/data/partitioner_vectors.csv with Kafka's own Java producer code, so the partitioner
# tests compare our producer against Kafka's client rather than against a copy of our own code.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

case "${1:-}" in
  -h | --help) echo "Usage: scripts/gen-partitioner-vectors.sh   (needs Java 17+ and 'scripts/stack.sh fetch')"; exit 0 ;;
esac
compgen -G "$ROOT_DIR/stack/kafka/lib/kafka-clients-*.jar" >/dev/null || die "run 'scripts/stack.sh fetch' first"
out="$ROOT_DIR/harness/tests/data/partitioner_vectors.csv"
run java -cp "$ROOT_DIR/stack/kafka/lib/*" "$ROOT_DIR/stack/kafka/PartitionerVectors.java" >"$out"
log "wrote $(($(wc -l <"$out") - 1)) vectors to $out"
