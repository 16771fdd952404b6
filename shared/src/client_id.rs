//! Client ids of the form `{base}-{hostname}-{uuid8}`.
//!
//! A unique client id is not what makes group assignment work (the broker gives each member its own member id), but
//! it is what lets a person tell consumers apart in `kafka-consumer-groups --describe`, in logs and in the
//! `processed_by` column.

use uuid::Uuid;

/// Builds `{base}-{hostname}-{uuid8}`: the host tells where the process runs, the eight hex digits tell apart two
/// processes on one host (or two replicas of one container image).
pub fn client_id(base: &str) -> String {
    compose(base, &host(), &Uuid::new_v4())
}

/// This host's name, with characters Kafka ids should not carry replaced by `_` (`unknown-host` if unreadable).
pub fn host() -> String {
    let host = hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "unknown-host".to_owned());
    sanitize(&host)
}

fn sanitize(host: &str) -> String {
    host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' { c } else { '_' }).collect()
}

fn compose(base: &str, host: &str, id: &Uuid) -> String {
    let uuid8 = &id.simple().to_string()[..8];
    format!("{base}-{}-{uuid8}", sanitize(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_base_host_and_eight_hex_digits() {
        let id =
            compose("order-consumer", "worker-7", &Uuid::parse_str("0123abcd-0000-4000-8000-000000000000").unwrap());
        assert_eq!(id, "order-consumer-worker-7-0123abcd");
    }

    #[test]
    fn host_characters_that_kafka_tools_would_mangle_are_replaced() {
        let id = compose("c", "my host/1", &Uuid::nil());
        assert_eq!(id, "c-my_host_1-00000000");
    }

    #[test]
    fn two_processes_on_one_host_get_different_ids() {
        let a = client_id("order-consumer");
        let b = client_id("order-consumer");
        assert_ne!(a, b);
        assert!(a.starts_with("order-consumer-"));
        let suffix = a.rsplit('-').next().unwrap();
        assert_eq!(suffix.len(), 8);
        assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
