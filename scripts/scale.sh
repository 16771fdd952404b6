#!/usr/bin/env bash
# Scales the consumer group: `lab scale` (harness/src/consumers/fleet.rs) is the implementation; this builds it once
# and gives it the stack's broker. Compose runs `docker compose up -d --no-recreate --scale order-consumer=N`; the
# local stack starts and stops order-consumer processes, tracked in .local/consumers/.
#   scripts/scale.sh [--stack local|compose] N | status | count | kill ID     (--help: what each does)
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

for binary in lab order-consumer; do
  [[ -x "$ROOT_DIR/target/release/$binary" ]] ||
    run cargo build --release --locked -p lab -p order-consumer --manifest-path "$ROOT_DIR/Cargo.toml" >&2
done
export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-$KAFKA_BOOTSTRAP}"
exec "$ROOT_DIR/target/release/lab" scale "$@"
