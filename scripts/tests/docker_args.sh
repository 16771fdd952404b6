#!/usr/bin/env bash
# Argument handling and refusals of the Docker scripts: each fails with one clear line and starts nothing.
set -euo pipefail
# shellcheck source=scripts/tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

expect_fail "docker: no command" "Usage: scripts/docker.sh" scripts/docker.sh
expect_fail "docker: unknown command" "unknown command 'start'" scripts/docker.sh start
expect_ok "docker: help" "compose-v2" scripts/docker.sh --help
expect_fail "compose test: unknown argument" "unknown argument '--fast'" scripts/compose-test.sh --fast
expect_fail "compose test: --only needs a version" "--only needs v1 or v2" scripts/compose-test.sh --only v3
expect_ok "compose test: help" "Usage: scripts/compose-test.sh" scripts/compose-test.sh --help

# A taken host port is refused before any engine or container starts.
port=$((40000 + RANDOM % 20000))
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$port" &
holder=$!
poll() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
for _ in $(seq 1 50); do poll && break; sleep 0.1; done
expect_fail "compose test: port taken" "port $port is taken" env COMPOSE_TEST_KAFKA_PORT="$port" scripts/compose-test.sh
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

# No engine answers and the user is not root: a clear refusal, nothing installed or started. Run as 'nobody' on a
# copy of the files the script reads, since the checkout may not be readable by other users.
copy="$(mktemp -d)"
mkdir -p "$copy/scripts/lib" "$copy/stack/kafka"
cp scripts/docker.sh scripts/stack.sh "$copy/scripts/"
cp scripts/lib/common.sh "$copy/scripts/lib/"
cp Dockerfile "$copy/"
cp stack/kafka/pom.xml "$copy/stack/kafka/"
chmod -R a+rX "$copy"
if [[ $EUID -eq 0 ]]; then
  expect_fail "docker: no engine, not root" "not root" runuser -u nobody -- env DOCKER_HOST=unix:///nonexistent/docker.sock \
    LOCAL_DIR="$copy/.local" "$copy/scripts/docker.sh" up
  [[ ! -e "$copy/.local" ]] || { echo "FAIL: docker: no engine, not root: left $copy/.local behind"; failures=$((failures + 1)); }
else
  expect_fail "docker: no engine, not root" "not root" env DOCKER_HOST=unix:///nonexistent/docker.sock \
    LOCAL_DIR="$copy/.local" "$copy/scripts/docker.sh" up
fi
rm -rf "$copy"

finish
