//! Bad configuration of the producer: one clear `error:` line and a non-zero exit, never a panic.

use std::process::Command;

fn producer(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_order-producer"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("KAFKA_PROPERTIES")
        .output()
        .expect("run order-producer");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn assert_one_error_line(code: Option<i32>, stderr: &str, expected: &str) {
    assert!(matches!(code, Some(c) if c != 0), "exits non-zero: {code:?}\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error line:\n{stderr}");
    assert!(errors[0].contains(expected), "the error line says '{expected}': {}", errors[0]);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn negative_rate() {
    let (code, stderr) = producer(&["--rate", "-5", "--count", "1"]);
    assert_eq!(code, Some(2));
    assert_one_error_line(code, &stderr, "rate must be 0 (as fast as possible) or a positive number of orders/s");
}

#[test]
fn unreachable_broker() {
    let (code, stderr) = producer(&["--bootstrap-servers", "127.0.0.1:1", "--connect-timeout", "2s", "--count", "1"]);
    assert_one_error_line(code, &stderr, "cannot reach Kafka at 127.0.0.1:1");
}

#[test]
fn missing_topic() {
    let (code, stderr) = producer(&["--topic", "no-such-topic-for-this-test", "--count", "1"]);
    assert_one_error_line(code, &stderr, "topic 'no-such-topic-for-this-test' does not exist");
}

#[test]
fn unknown_librdkafka_property() {
    let (code, stderr) = producer(&["--kafka-property", "no.such.property=1", "--count", "1"]);
    assert_one_error_line(code, &stderr, "No such configuration property");
}
