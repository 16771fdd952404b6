//! Security scenarios: the database password read from a file, and the consumer working as orders_app, a role
//! that may read and write `orders` and `consumer_offsets` and nothing else, while the owner runs the migrations
//! (docs/security.md).

mod common;

use common::{Scenario, TIMEOUT};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

/// `postgres://user:password@host/db` → (`postgres://user@host/db`, `password`), for a URL with a password.
fn split_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("URL with a scheme");
    let (credentials, host) = rest.rsplit_once('@').expect("URL with credentials");
    let (user, password) = credentials.split_once(':').expect("URL with a password");
    (format!("{scheme}://{user}@{host}"), password.to_owned())
}

/// The scenario's database as orders_app.
fn app_url(s: &Scenario) -> String {
    let (owner_url, _) = split_password(&s.database_url);
    let host_and_db = owner_url.rsplit_once('@').expect("URL with a user").1;
    format!("postgres://orders_app:{}@{host_and_db}", common::app_password())
}

/// Runs `sql` and returns the SQLSTATE it failed with (`None` when it succeeded).
async fn sqlstate_of(pool: &PgPool, sql: &str) -> Option<String> {
    match sqlx::query(sql).execute(pool).await {
        Ok(_) => None,
        Err(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
        Err(e) => panic!("{sql}: not a database error: {e}"),
    }
}

/// Waits (at most 20 s) until orders_app's sessions in the scenario's database are gone: the owner may not end
/// them, so dropping the database with FORCE would fail. Closed with `pool::close`, they end at once; the wait
/// covers the moment a server process takes to exit after its client closed. (`PgPool::close` alone could leave
/// a session open until the pool was dropped: see `order_consumer::pool::close`.) Cleanup only: a session that
/// outlives the wait leaves the database behind.
async fn wait_app_sessions_gone(s: &Scenario) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND usename = 'orders_app'")
                .bind(&s.database)
                .fetch_one(&s.pool)
                .await
                .unwrap_or(0);
        if n == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    eprintln!("note: an orders_app session outlived the wait; database {} may be left behind", s.database);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_with_its_password_only_in_a_file_stores_orders() {
    let s = Scenario::new("password-file", 1).await;
    let (url_without_password, password) = split_password(&s.database_url);
    // As Docker mounts a secret: the password and a trailing newline, in a file only its reader can open.
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-db-password", s.topic));
    std::fs::write(&file, format!("{password}\n")).expect("write password file");
    let summary = s.produce_orders(200, 41).await;

    let mut consumer = s.start_consumer(
        "pwfile",
        &[("DATABASE_URL", &url_without_password), ("DATABASE_PASSWORD_FILE", file.to_str().expect("utf-8"))],
    );
    let rows = s.wait_for_rows(summary.acked_new_orders as i64, TIMEOUT).await;
    assert_eq!(rows.distinct, rows.count);
    s.wait_committed_equals_log_end(TIMEOUT).await;
    consumer.terminate();
    assert_eq!(consumer.wait_exit(TIMEOUT).await, Some(0));
    assert!(!consumer.log().contains(&password), "the password never reaches the log: {}", consumer.log_path.display());
    let _ = std::fs::remove_file(file);
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_role_stores_orders_but_cannot_change_the_schema_or_delete() {
    let s = Scenario::new("app-role", 2).await;
    let summary = s.produce_orders(300, 42).await;

    // Works as orders_app; the owner (the scenario's kafka_user URL) runs the migrations, and its grant.
    let app = app_url(&s);
    // With offsets stored in Postgres, so the role reads and writes consumer_offsets too.
    let mut consumer = s.start_consumer(
        "app",
        &[("DATABASE_URL", &app), ("MIGRATION_DATABASE_URL", &s.database_url), ("OFFSET_STORE", "postgres")],
    );
    let rows = s.wait_for_rows(summary.acked_new_orders as i64, TIMEOUT).await;
    assert_eq!(rows.distinct, rows.count);
    s.wait_committed_equals_log_end(TIMEOUT).await;
    consumer.terminate();
    assert_eq!(consumer.wait_exit(TIMEOUT).await, Some(0));
    assert!(!consumer.log().contains(&common::app_password()), "no password in the log");

    let owner: String = sqlx::query("SELECT tableowner::text FROM pg_tables WHERE tablename = 'orders'")
        .fetch_one(&s.pool)
        .await
        .expect("owner of orders")
        .get(0);
    assert_ne!(owner, "orders_app", "the migration role, not orders_app, created the table");

    let as_app = PgPoolOptions::new().max_connections(1).connect(&app).await.expect("connect as orders_app");
    let privileges: (bool, bool, bool, bool, bool) = sqlx::query_as(
        "SELECT has_table_privilege('orders', 'SELECT'), has_table_privilege('orders', 'INSERT'),
                has_table_privilege('orders', 'UPDATE'), has_table_privilege('orders', 'DELETE'),
                has_table_privilege('orders', 'TRUNCATE')",
    )
    .fetch_one(&as_app)
    .await
    .expect("privileges");
    assert_eq!(privileges, (true, true, true, false, false), "SELECT, INSERT, UPDATE and nothing else");
    let privileges: (bool, bool, bool, bool, bool) = sqlx::query_as(
        "SELECT has_table_privilege('consumer_offsets', 'SELECT'), has_table_privilege('consumer_offsets', 'INSERT'),
                has_table_privilege('consumer_offsets', 'UPDATE'), has_table_privilege('consumer_offsets', 'DELETE'),
                has_table_privilege('consumer_offsets', 'TRUNCATE')",
    )
    .fetch_one(&as_app)
    .await
    .expect("privileges on consumer_offsets");
    assert_eq!(privileges, (true, true, true, false, false), "consumer_offsets: SELECT, INSERT, UPDATE only");
    assert_eq!(s.stored_offsets().await, s.log_end_offsets(), "orders_app stored the offsets");
    for sql in [
        "DROP TABLE orders",
        "CREATE TABLE not_allowed (id int)",
        "DELETE FROM orders",
        "TRUNCATE orders",
        "DELETE FROM consumer_offsets",
        "TRUNCATE consumer_offsets",
        "ALTER TABLE orders ADD COLUMN not_allowed int",
        "SELECT * FROM _sqlx_migrations",
    ] {
        assert_eq!(sqlstate_of(&as_app, sql).await.as_deref(), Some("42501"), "{sql}: permission denied");
    }
    order_consumer::pool::close(&as_app).await;
    assert_eq!(s.rows().await.count, rows.count, "every row is still there");
    wait_app_sessions_gone(&s).await;
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_role_without_its_grant_stops_at_start_with_one_clear_line() {
    let s = Scenario::new("no-grant", 1).await;
    let app = app_url(&s);
    // First start migrates (and grants); then the owner takes the grant back, as on a server where the role
    // was created after the migrations ran.
    let mut first = s.start_consumer("first", &[("DATABASE_URL", &app), ("MIGRATION_DATABASE_URL", &s.database_url)]);
    first.wait_for_log("consumer_started", TIMEOUT).await;
    first.terminate();
    assert_eq!(first.wait_exit(TIMEOUT).await, Some(0));
    sqlx::query("REVOKE ALL ON orders FROM orders_app").execute(&s.pool).await.expect("revoke");

    let mut second = s.start_consumer("second", &[("DATABASE_URL", &app), ("MIGRATION_DATABASE_URL", &s.database_url)]);
    assert_eq!(second.wait_exit(TIMEOUT).await, Some(1), "{}", second.log_path.display());
    let log = second.log();
    let errors: Vec<&str> = log.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{log}");
    assert!(errors[0].contains("database user 'orders_app' lacks SELECT, INSERT or UPDATE on table orders"), "{log}");
    wait_app_sessions_gone(&s).await;
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sasl_ssl_configuration_is_accepted_and_no_secret_reaches_even_the_trace_log() {
    // The docs/security.md example, against the local PLAINTEXT broker: librdkafka accepts the configuration
    // (SASL_SSL, SCRAM-SHA-512, a CA file, the password from a file), then cannot talk TLS to this broker.
    let s = Scenario::new("sasl-ssl", 1).await;
    let (url_without_password, db_password) = split_password(&s.database_url);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (db_file, sasl_file) = (dir.join(format!("{}-db", s.topic)), dir.join(format!("{}-sasl", s.topic)));
    std::fs::write(&db_file, format!("{db_password}\n")).expect("db password file");
    std::fs::write(&sasl_file, "sasl-s3cret-not-for-logs\n").expect("sasl password file");
    let mut consumer = s.start_consumer(
        "sasl",
        &[
            (
                "KAFKA_PROPERTIES",
                "security.protocol=SASL_SSL,sasl.mechanism=SCRAM-SHA-512,sasl.username=orders-consumer,\
                 ssl.ca.location=/etc/ssl/certs/ca-certificates.crt,debug=conf",
            ),
            ("KAFKA_SASL_PASSWORD_FILE", sasl_file.to_str().expect("utf-8")),
            ("DATABASE_URL", &url_without_password),
            ("DATABASE_PASSWORD_FILE", db_file.to_str().expect("utf-8")),
            ("CONNECT_TIMEOUT", "3s"),
            ("RUST_LOG", "trace"),
        ],
    );
    assert_eq!(consumer.wait_exit(TIMEOUT).await, Some(1));
    let log = consumer.log();
    let errors: Vec<&str> = log.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{}", consumer.log_path.display());
    assert!(errors[0].contains("cannot reach Kafka at"), "{}", errors[0]);
    assert!(log.contains("sasl.password = [redacted]"), "librdkafka saw the password: {}", consumer.log_path.display());
    assert!(!log.contains("sasl-s3cret-not-for-logs") && !log.contains(&db_password), "no secret in the log");
    let _ = (std::fs::remove_file(db_file), std::fs::remove_file(sasl_file));
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_only_applies_the_migrations_as_the_owner_and_exits_without_joining() {
    let s = Scenario::new("migrate-only", 1).await;
    let app = app_url(&s);
    let env = [("DATABASE_URL", app.as_str()), ("MIGRATION_DATABASE_URL", &s.database_url), ("MIGRATE_ONLY", "true")];
    let mut job = s.start_consumer("migrate-job", &env);
    assert_eq!(job.wait_exit(TIMEOUT).await, Some(0), "{}", job.log());
    let owner: String = sqlx::query_scalar("SELECT tableowner::text FROM pg_tables WHERE tablename = 'orders'")
        .fetch_one(&s.pool)
        .await
        .expect("the orders table exists");
    let (owner_url, _) = split_password(&s.database_url);
    let owner_name = owner_url.split("://").nth(1).and_then(|r| r.split('@').next()).expect("a user");
    assert_eq!(owner, owner_name, "created by the migration role");
    assert!(job.log().contains("event=\"migrated\""), "{}", job.log());
    assert!(s.group_members().unwrap_or_default().is_empty(), "it never joined the group");
    wait_app_sessions_gone(&s).await;
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_skip_migrations_the_consumer_needs_no_owner_and_stores_orders_after_the_migration_job() {
    let s = Scenario::new("skip-migrations", 1).await;
    let app = app_url(&s);
    // Before the job: the table does not exist, and the consumer says what to do instead of migrating.
    let mut early = s.start_consumer("too-early", &[("DATABASE_URL", &app), ("SKIP_MIGRATIONS", "true")]);
    assert_eq!(early.wait_exit(TIMEOUT).await, Some(1));
    assert!(early.log().contains("the migrations have not run"), "{}", early.log());
    // The job, as the owner; then the consumer as orders_app alone.
    let job_env =
        [("DATABASE_URL", app.as_str()), ("MIGRATION_DATABASE_URL", &s.database_url), ("MIGRATE_ONLY", "true")];
    let mut job = s.start_consumer("migrate-job", &job_env);
    assert_eq!(job.wait_exit(TIMEOUT).await, Some(0), "{}", job.log());
    let mut consumer = s.start_consumer("app-only", &[("DATABASE_URL", &app), ("SKIP_MIGRATIONS", "true")]);
    let acked = s.produce_orders(200, 17).await.acked;
    let done = s.reconcile(acked, 1).await;
    assert_eq!(done.rows as u64, acked);
    consumer.terminate();
    assert_eq!(consumer.wait_exit(TIMEOUT).await, Some(0));
    wait_app_sessions_gone(&s).await;
    s.cleanup().await;
}
