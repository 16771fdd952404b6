#!/usr/bin/env bash
# Entry point of the PostgreSQL stand-in: on an empty data directory, initdb with POSTGRES_USER and
# POSTGRES_PASSWORD, create POSTGRES_DB, run /docker-entrypoint-initdb.d/* once; then run the server.
set -euo pipefail

if [[ "$(id -u)" == 0 ]]; then
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export POSTGRES_USER POSTGRES_DB

if [[ "${1:-}" == postgres && ! -s "$PGDATA/PG_VERSION" ]]; then
  if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
    echo "error: database is uninitialized and POSTGRES_PASSWORD is not set" >&2
    exit 1
  fi
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  # A server on the socket only, for the set-up; nothing outside the container can reach it meanwhile.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
  psql=(psql -X -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password)
  if [[ "$POSTGRES_DB" != postgres ]]; then
    "${psql[@]}" --dbname postgres -v db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) echo "running $f"; if [[ -x "$f" ]]; then "$f"; else # shellcheck disable=SC1090
              . "$f"; fi ;;
      *.sql) echo "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *) if [[ -e "$f" ]]; then echo "ignoring $f"; fi ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo "PostgreSQL init process complete; ready for start up."
fi
exec "$@"
