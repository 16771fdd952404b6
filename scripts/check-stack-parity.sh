#!/usr/bin/env bash
# Checks that docker-compose.yml is valid and agrees with the local stack: the same Kafka version as the jars,
# the same broker settings as stack/kafka/server.properties, the same topics, database, roles and defaults, and
# containers that do not run as root.
# Needs docker-compose (Debian's package validates the file with no Docker engine) and Python's yaml module.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

case "${1:-}" in
  -h | --help) echo "Usage: scripts/check-stack-parity.sh   (validates docker-compose.yml, compares it with the local stack)"; exit 0 ;;
  "") ;;
  *) die "unknown argument '$1' (see scripts/check-stack-parity.sh --help)" ;;
esac

cd "$ROOT_DIR"
if docker compose version >/dev/null 2>&1; then
  run docker compose -f docker-compose.yml config -q
  run docker compose -f docker-compose.yml -f docker-compose.secrets.yml config -q
else
  ensure_packages docker-compose:docker-compose
  run docker-compose -f docker-compose.yml config -q
  run docker-compose -f docker-compose.yml -f docker-compose.secrets.yml config -q
fi

python=""
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c 'import yaml' 2>/dev/null; then python="$candidate"; break; fi
done
[[ -n "$python" ]] || install_packages python3-yaml
python="${python:-/usr/bin/python3}"

pg_major=""
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  pg_major="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r | head -n 1 | cut -d/ -f5)"
fi

"$python" - "$KAFKA_VERSION_PIN" "$pg_major" "$ORDERS_TOPIC" "$DLQ_TOPIC" "$CONSUMER_GROUP" "$POSTGRES_DB" \
  "$POSTGRES_USER" "$POSTGRES_PASSWORD" "$POSTGRES_APP_PASSWORD" <<'PY'
import re, sys, yaml

kafka_version, pg_major, topic, dlq, group, db, user, password, app_password = sys.argv[1:10]
# Compare the documented defaults: ${VAR:-default} reads as its default, whatever a local .env says.
text = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), open("docker-compose.yml").read())
compose = yaml.safe_load(text)
services = compose["services"]
props = {}
for line in open("stack/kafka/server.properties"):
    line = line.strip()
    if line and not line.startswith("#"):
        k, v = line.split("=", 1)
        props[k] = v
failures = []
def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)

for name in ("kafka", "kafka-init"):
    image = services[name]["image"]
    check(image == f"apache/kafka:{kafka_version}", f"{name} image {image} is Kafka {kafka_version} (stack/kafka/pom.xml)")

env = {k: str(v) for k, v in services["kafka"]["environment"].items()}
# Addresses differ by design (container names versus 127.0.0.1); the data folder is each stack's own.
local_only = {"listeners", "advertised.listeners", "listener.security.protocol.map", "log.dirs", "controller.quorum.voters"}
for key, value in props.items():
    if key in local_only:
        continue
    env_key = "KAFKA_" + key.upper().replace(".", "_")
    check(env.get(env_key) == value, f"broker setting {key}={value} (compose {env_key}={env.get(env_key)})")
for env_key in env:
    if env_key in ("KAFKA_HEAP_OPTS", "KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                   "KAFKA_LOG_DIRS", "KAFKA_CONTROLLER_QUORUM_VOTERS"):
        continue
    key = env_key[len("KAFKA_"):].lower().replace("_", ".")
    check(key in props, f"compose {env_key} is also set in stack/kafka/server.properties")
check("controller.quorum.voters" in props and "KAFKA_CONTROLLER_QUORUM_VOTERS" in env, "both stacks use a static single-node KRaft quorum")

init = " ".join(services["kafka-init"]["command"])
check(re.search(rf"--topic {re.escape(topic)} --partitions 1 ", init) is not None, f"compose creates {topic} with 1 partition by default, as scripts/stack.sh up does")
check(re.search(rf"--topic {re.escape(dlq)} --partitions 1 ", init) is not None, f"compose creates {dlq} with 1 partition, as scripts/stack.sh up does")

pg = services["postgres"]
pg_env = pg["environment"]
check(pg_env["POSTGRES_DB"] == db and pg_env["POSTGRES_USER"] == user, f"database {db}, user {user}")
check(pg_env["POSTGRES_PASSWORD"] == password, "the default password matches the local stack's (set it in .env to change both)")
image_major = pg["image"].split(":")[1].split(".")[0].split("-")[0]
if pg_major:
    check(image_major == pg_major, f"postgres image {pg['image']} has the local server's major version {pg_major}")

consumer = {k: str(v) for k, v in services["order-consumer"]["environment"].items()}
check(consumer["KAFKA_TOPIC"] == topic and consumer["DLQ_TOPIC"] == dlq and consumer["CONSUMER_GROUP"] == group,
      f"consumers read {topic}, dead-letter to {dlq}, in group {group}")
check(consumer["DATABASE_URL"] == f"postgres://orders_app:{app_password}@postgres:5432/{db}",
      "consumers work as orders_app, with the local stack's default password (docs/security.md)")
check(consumer.get("MIGRATION_DATABASE_URL") == f"postgres://{user}:{password}@postgres:5432/{db}",
      f"consumers migrate as the owner {user}, in the same database")
check(str(pg_env.get("POSTGRES_APP_PASSWORD")) == app_password, "orders_app's default password matches the local stack's")
role_sql = "./stack/postgres/orders-app.sql:/docker-entrypoint-initdb.d/"
check(any(str(v).startswith(role_sql) for v in pg.get("volumes", [])),
      "compose creates orders_app from stack/postgres/orders-app.sql, the file scripts/stack.sh up runs")
check("stack/postgres/orders-app.sql" in open("scripts/stack.sh").read(), "scripts/stack.sh up runs stack/postgres/orders-app.sql")

# Non-root: the image's final USER is a numeric non-zero uid, and no service switches back to root.
final_stage = open("Dockerfile").read().split("\nFROM ")[-1]
users = re.findall(r"^USER\s+(\S+)", final_stage, re.M)
check(bool(users) and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0",
      f"the image runs as a numeric non-root user (Dockerfile USER {users[-1] if users else 'missing'})")
for name, service in services.items():
    check(str(service.get("user", "")).split(":")[0] not in ("0", "root") and not service.get("privileged", False),
          f"{name} is not set to run as root or privileged")
check("container_name" not in services["order-consumer"] and "ports" not in services["order-consumer"], "order-consumer scales: no container_name, no host port")
check(services["order-producer"]["environment"]["KAFKA_TOPIC"] == topic, f"the producer writes to {topic}")

print(f"stack parity: {len(failures)} difference(s)")
sys.exit(1 if failures else 0)
PY
