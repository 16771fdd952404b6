-- The consumer's working role, orders_app, may read and write orders and nothing more: no DELETE, no TRUNCATE, no
-- DDL, no other table. The upsert needs exactly these three: INSERT for new orders, UPDATE for newer versions, and
-- SELECT because ON CONFLICT … DO UPDATE … WHERE reads the stored row. The grant lives here so that it follows the
-- table into every database the migrations create it in (each test's own database too).
--
-- The role itself is made by the stacks (stack/postgres/orders-app.sql, run by scripts/stack.sh up and by the
-- compose postgres container): roles belong to the whole server, and creating one needs CREATEROLE, which the
-- owner that runs migrations should not have. On a server without the role there is nothing to grant; a role
-- created later needs the GRANT below run once by the owner (docs/security.md; the consumer refuses to start
-- without it).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orders_app') THEN
        GRANT SELECT, INSERT, UPDATE ON TABLE orders TO orders_app;
    END IF;
END
$$;
