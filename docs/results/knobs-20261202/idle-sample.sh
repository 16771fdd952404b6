#!/usr/bin/env bash
# What one consumer's Postgres connections are doing while it stores TOPIC's 500,000 orders: pg_stat_activity
# sampled every 20 ms from another session, each sample timed, then only the samples between the first and the
# last stored row counted. Run from the project root on the local stack with TOPIC=<a topic of 500,000 orders>.
set -euo pipefail
export PGPASSWORD=kafka_pass
P=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U kafka_user)
db="idle_$(date +%s)"
url="postgres://kafka_user:kafka_pass@127.0.0.1:5432/$db"
"${P[@]}" -d food_orders -c "CREATE DATABASE $db"
for _ in $(seq 1 600); do
  echo "SELECT clock_timestamp() || '|' || pid || '|' || coalesce(state, '-') || '|' || coalesce(wait_event_type, '-') || '|' || coalesce(wait_event, '-') FROM pg_stat_activity WHERE datname = '$db' AND backend_type = 'client backend'; SELECT pg_sleep(0.02);"
done >"/tmp/$db.sql"
env KAFKA_TOPIC="$TOPIC" DLQ_TOPIC="$TOPIC-dlq" CONSUMER_GROUP="$db" DATABASE_URL="$url" RUST_LOG=warn \
  target/release/order-consumer >"/tmp/$db.log" 2>&1 &
pid=$!
"${P[@]}" -d food_orders -tA -f "/tmp/$db.sql" >"/tmp/$db.out" &
sampler=$!
target/release/measure wait-stored --database-url "$url" --topic "$TOPIC" --group "$db" --expected 500000 --timeout 5m
kill -TERM "$pid"; wait "$pid" || true
kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
IFS='|' read -r first last < <("${P[@]}" -d "$db" -tA -F '|' -c "SELECT MIN(processed_at), MAX(processed_at) FROM orders" | tr ' ' 'T')
echo "rows stored from $first to $last"
# The connections that wrote at least once in the window (the third serves readiness and start-up reads).
awk -F'|' -v a="$first" -v b="$last" '{ t = $1; gsub(" ", "T", t) } t >= a && t <= b { n[$2 " " $3 "|" $4 "|" $5]++; if ($3 == "active") w[$2] = 1 }
  END { for (k in n) { split(k, p, " "); if (p[1] in w) print n[k], k } }' "/tmp/$db.out" | sort -k2,2 -k1,1nr
"${P[@]}" -d food_orders -c "DROP DATABASE $db"
