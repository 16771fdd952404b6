-- The consumer's working role: it logs in and nothing else; the migrations grant it SELECT, INSERT and UPDATE on
-- orders and consumer_offsets (migrations/20261125000002_grant_orders_app.sql and
-- 20261125000003_create_consumer_offsets.sql). The same file serves both stacks:
--   scripts/stack.sh up        runs it as the superuser on every `up` (idempotent)
--   docker-compose.yml         mounts it into /docker-entrypoint-initdb.d (first start of an empty volume only)
-- The password comes from the environment (POSTGRES_APP_PASSWORD), read by psql itself (\getenv, psql 15+) and
-- quoted by psql (:'app_pw'), so it is never spliced into SQL text, nor on a command line.
\set ON_ERROR_STOP on
\getenv app_pw POSTGRES_APP_PASSWORD
\if :{?app_pw}
\else
  DO $$ BEGIN RAISE EXCEPTION 'POSTGRES_APP_PASSWORD is not set: it is the password of role orders_app'; END $$;
\endif
SELECT 'CREATE ROLE orders_app' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orders_app') \gexec
ALTER ROLE orders_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT
    PASSWORD :'app_pw';
