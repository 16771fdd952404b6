//! Bad configuration: each case exits non-zero with one clear `error:` line saying what is wrong, never a panic,
//! a backtrace or a password. Runs the real binary against the local stack.

use std::process::Command;

const SECRET: &str = "s3cret-not-for-logs";

struct Outcome {
    code: Option<i32>,
    stderr: String,
}

fn consumer(env: &[(&str, &str)]) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_order-consumer"));
    cmd.env("CONNECT_TIMEOUT", "3s").env("RUST_LOG", "warn").env_remove("KAFKA_PROPERTIES");
    for inherited in [
        "DATABASE_PASSWORD_FILE",
        "MIGRATION_DATABASE_URL",
        "MIGRATION_DATABASE_PASSWORD_FILE",
        "KAFKA_SASL_PASSWORD_FILE",
    ] {
        cmd.env_remove(inherited);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run order-consumer");
    Outcome { code: out.status.code(), stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

fn assert_clear_failure(o: &Outcome, expected: &str) {
    assert!(matches!(o.code, Some(c) if c != 0), "exits non-zero: {:?}\n{}", o.code, o.stderr);
    let errors: Vec<&str> = o.stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error line:\n{}", o.stderr);
    assert!(errors[0].contains(expected), "the error line says '{expected}': {}", errors[0]);
    assert!(!o.stderr.contains("panicked") && !o.stderr.contains("backtrace"), "no panic:\n{}", o.stderr);
    assert!(!o.stderr.contains(SECRET), "the password never appears:\n{}", o.stderr);
}

/// A file under target/ holding `content`, as a Docker secret would be mounted.
fn secret_file(name: &str, content: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("{name}-{}", std::process::id()));
    std::fs::write(&path, content).expect("write secret file");
    path
}

#[test]
fn unreachable_broker() {
    let o = consumer(&[("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")]);
    assert_clear_failure(&o, "cannot reach Kafka at 127.0.0.1:1");
}

#[test]
fn unreachable_database() {
    let o = consumer(&[("DATABASE_URL", &format!("postgres://kafka_user:{SECRET}@127.0.0.1:1/food_orders"))]);
    assert_clear_failure(&o, "cannot reach Postgres at postgres://kafka_user:***@127.0.0.1:1/food_orders");
}

#[test]
fn wrong_database_password() {
    let o = consumer(&[("DATABASE_URL", &format!("postgres://kafka_user:{SECRET}@127.0.0.1:5432/food_orders"))]);
    assert_clear_failure(&o, "password authentication failed");
}

#[test]
fn missing_database_password_file() {
    let o = consumer(&[("DATABASE_PASSWORD_FILE", "/no/such/dir/db-password")]);
    assert_eq!(o.code, Some(2), "a usage error, before anything starts: {}", o.stderr);
    assert_clear_failure(&o, "cannot read /no/such/dir/db-password: No such file or directory");
}

#[test]
fn wrong_password_in_the_password_file() {
    let file = secret_file("wrong-db-password", &format!("{SECRET}\n"));
    let o = consumer(&[
        ("DATABASE_URL", "postgres://kafka_user@127.0.0.1:5432/food_orders"),
        ("DATABASE_PASSWORD_FILE", file.to_str().expect("utf-8 path")),
    ]);
    assert_clear_failure(&o, "password authentication failed");
    let _ = std::fs::remove_file(file);
}

#[test]
fn missing_kafka_sasl_password_file() {
    let o = consumer(&[("KAFKA_SASL_PASSWORD_FILE", "/no/such/dir/sasl-password")]);
    assert_clear_failure(&o, "cannot read /no/such/dir/sasl-password");
}

#[test]
fn least_privilege_role_without_a_migration_role() {
    // orders_app (scripts/stack.sh up) may not create tables: the migrations need the owner. Nothing changes.
    let password = std::env::var("POSTGRES_APP_PASSWORD").unwrap_or_else(|_| "orders_app_pass".into());
    let o = consumer(&[("DATABASE_URL", &format!("postgres://orders_app:{password}@127.0.0.1:5432/food_orders"))]);
    assert_clear_failure(&o, "run the migrations as the owner with MIGRATION_DATABASE_URL");
}

#[test]
fn malformed_database_url() {
    let o = consumer(&[("DATABASE_URL", "not a url")]);
    assert_clear_failure(&o, "DATABASE_URL is not a valid Postgres URL");
}

#[test]
fn zero_batch_size() {
    let o = consumer(&[("BATCH_SIZE", "0")]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains("--batch-size") && !o.stderr.contains("panicked"), "{}", o.stderr);
}

#[test]
fn unknown_librdkafka_property() {
    let o = consumer(&[("KAFKA_PROPERTIES", "no.such.property=1")]);
    assert_clear_failure(&o, "No such configuration property: \"no.such.property\"");
}

#[test]
fn protected_property() {
    let o = consumer(&[("KAFKA_PROPERTIES", "enable.auto.commit=true")]);
    assert_clear_failure(&o, "'enable.auto.commit' is set by the pipeline itself and cannot be overridden");
}

#[test]
fn missing_topic() {
    let o = consumer(&[("KAFKA_TOPIC", "no-such-topic-for-this-test")]);
    assert_clear_failure(&o, "topic 'no-such-topic-for-this-test' does not exist");
}

#[test]
fn help_never_prints_secrets_from_the_environment() {
    // clap shows each variable's current value in --help unless told not to: a URL or property with a password
    // would be printed by anyone asking for help on a configured host.
    let out = Command::new(env!("CARGO_BIN_EXE_order-consumer"))
        .arg("--help")
        .env("DATABASE_URL", format!("postgres://u:{SECRET}@h/db"))
        .env("MIGRATION_DATABASE_URL", format!("postgres://o:{SECRET}@h/db"))
        .env("KAFKA_PROPERTIES", format!("sasl.password={SECRET}"))
        .output()
        .expect("run order-consumer --help");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && help.contains("--database-password-file"), "{help}");
    assert!(!help.contains(SECRET), "no secret in --help:\n{help}");
}
