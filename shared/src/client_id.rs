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

/// A client id `{base}-{hostname}-{uuid8}` read back: the host and the eight hex digits after a known base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub host: &'a str,
    pub uuid8: &'a str,
}

/// Reads `id` as `{base}-{hostname}-{uuid8}` for this `base` (a base and a host may both hold `-`, so the base
/// must be known); `None` when it is not one.
pub fn parse<'a>(id: &'a str, base: &str) -> Option<Parsed<'a>> {
    let (rest, uuid8) = id.strip_prefix(base)?.strip_prefix('-')?.rsplit_once('-')?;
    let hex = uuid8.len() == 8 && uuid8.chars().all(|c| c.is_ascii_hexdigit());
    (hex && !rest.is_empty()).then_some(Parsed { host: rest, uuid8 })
}

/// The eight hex digits that end a client id (what tells two consumers on one host apart), or the whole id when it
/// does not end so.
pub fn uuid8(id: &str) -> &str {
    match id.rsplit_once('-') {
        Some((_, tail)) if tail.len() == 8 && tail.chars().all(|c| c.is_ascii_hexdigit()) => tail,
        _ => id,
    }
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
    fn an_id_reads_back_as_its_host_and_uuid8() {
        let id = client_id("order-consumer");
        let parsed = parse(&id, "order-consumer").unwrap();
        assert_eq!(parsed.host, host());
        assert_eq!(uuid8(&id), parsed.uuid8);
        let p = parse("order-consumer-worker-7-0123abcd", "order-consumer").unwrap();
        assert_eq!((p.host, p.uuid8), ("worker-7", "0123abcd"));
        assert_eq!(parse("order-consumer-worker-7-0123abcd", "other"), None);
        assert_eq!(parse("order-consumer-0123abcd", "order-consumer"), None);
        assert_eq!(parse("order-consumer-h-0123abcz", "order-consumer"), None);
        assert_eq!(uuid8("not-an-id"), "not-an-id");
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
