//! A Kafka message becomes an order, or a poison message with the reason it can never be stored.

use serde_json::error::Category;
use shared::order::{InvalidOrder, OrderEvent};

/// Why a message can never be stored. The names are stable: they are the `dlq.error.kind` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoisonKind {
    /// Larger than `MAX_MESSAGE_BYTES`.
    TooLarge,
    /// No key, or an empty one: orders are keyed by customer id.
    MissingKey,
    /// No value (a tombstone) or an empty one.
    EmptyPayload,
    /// The value is not UTF-8.
    NotUtf8,
    /// The value is not JSON.
    NotJson,
    /// JSON, but not an object: an array, a string, a number.
    WrongShape,
    /// An object without a field an order needs.
    MissingField,
    /// An object with a field an order does not have.
    UnknownField,
    /// A field of the wrong type or an impossible value (text for a number, an unknown status, a bad date).
    WrongType,
    /// `customer_id` not of the form `CUST-00001`.
    InvalidCustomer,
    /// A negative or over-precise price or total, or a total that is not the items' sum.
    InvalidAmount,
    /// Any other broken rule (see [`shared::order::InvalidOrder`]): no items, empty names, bad version.
    InvalidOrder,
    /// The key is not the order's customer id.
    KeyMismatch,
    /// Postgres refused the row (a data or constraint error), even on its own.
    DbRejected,
}

impl PoisonKind {
    /// Every kind, for metrics that start each reason's series at 0.
    pub const ALL: [Self; 14] = [
        Self::TooLarge,
        Self::MissingKey,
        Self::EmptyPayload,
        Self::NotUtf8,
        Self::NotJson,
        Self::WrongShape,
        Self::MissingField,
        Self::UnknownField,
        Self::WrongType,
        Self::InvalidCustomer,
        Self::InvalidAmount,
        Self::InvalidOrder,
        Self::KeyMismatch,
        Self::DbRejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::MissingKey => "missing_key",
            Self::EmptyPayload => "empty_payload",
            Self::NotUtf8 => "not_utf8",
            Self::NotJson => "not_json",
            Self::WrongShape => "wrong_shape",
            Self::MissingField => "missing_field",
            Self::UnknownField => "unknown_field",
            Self::WrongType => "wrong_type",
            Self::InvalidCustomer => "invalid_customer",
            Self::InvalidAmount => "invalid_amount",
            Self::InvalidOrder => "invalid_order",
            Self::KeyMismatch => "key_mismatch",
            Self::DbRejected => "db_rejected",
        }
    }
}

/// A message that can never be stored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poison {
    pub kind: PoisonKind,
    pub reason: String,
}

impl Poison {
    pub fn new(kind: PoisonKind, reason: impl Into<String>) -> Self {
        Self { kind, reason: reason.into() }
    }
}

/// Decodes and validates one message.
///
/// # Errors
/// A [`Poison`] naming the first check the message fails.
pub fn decode(key: Option<&[u8]>, payload: Option<&[u8]>, max_bytes: usize) -> Result<OrderEvent, Poison> {
    let payload = payload.unwrap_or_default();
    if payload.len() > max_bytes {
        return Err(Poison::new(PoisonKind::TooLarge, format!("{} bytes, limit {max_bytes}", payload.len())));
    }
    let key = match key {
        Some(k) if !k.is_empty() => k,
        _ => return Err(Poison::new(PoisonKind::MissingKey, "message has no key; orders are keyed by customer_id")),
    };
    if payload.is_empty() {
        return Err(Poison::new(PoisonKind::EmptyPayload, "message has no value"));
    }
    let text = std::str::from_utf8(payload).map_err(|e| Poison::new(PoisonKind::NotUtf8, e.to_string()))?;
    let order: OrderEvent =
        serde_json::from_str(text).map_err(|e| Poison::new(json_error_kind(text, &e), e.to_string()))?;
    order.validate().map_err(|e| {
        let kind = match e {
            InvalidOrder::BadCustomerId(_) => PoisonKind::InvalidCustomer,
            InvalidOrder::BadUnitPrice { .. } | InvalidOrder::BadTotal(_) | InvalidOrder::TotalMismatch { .. } => {
                PoisonKind::InvalidAmount
            }
            _ => PoisonKind::InvalidOrder,
        };
        Poison::new(kind, e.to_string())
    })?;
    if key != order.customer_id.as_bytes() {
        return Err(Poison::new(
            PoisonKind::KeyMismatch,
            format!("key '{}' is not the order's customer_id '{}'", String::from_utf8_lossy(key), order.customer_id),
        ));
    }
    Ok(order)
}

/// Sorts a JSON error: syntax errors are not JSON; data errors by serde's own wording of what was wrong.
fn json_error_kind(text: &str, error: &serde_json::Error) -> PoisonKind {
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => PoisonKind::NotJson,
        Category::Data if !text.trim_start().starts_with('{') => PoisonKind::WrongShape,
        Category::Data => {
            let message = error.to_string();
            if message.starts_with("missing field") {
                PoisonKind::MissingField
            } else if message.starts_with("unknown field") {
                PoisonKind::UnknownField
            } else {
                PoisonKind::WrongType
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"schema_version":1,"order_id":"6a0c8d4e-8a5f-4c3e-9d55-0b7b3c0f2a11","customer_id":"CUST-00007",
        "customer_name":"Grace Hopper","restaurant":"Noodle Bar","items":[{"name":"Ramen","quantity":2,"unit_price":12.5}],
        "total_amount":25.0,"status":"placed","created_at":"2026-11-25T10:00:00Z","customer_seq":1,"version":1}"#;

    fn kind(key: Option<&[u8]>, payload: &[u8]) -> PoisonKind {
        decode(key, Some(payload), 1024).expect_err("should be poison").kind
    }

    #[test]
    fn a_good_order_decodes() {
        let order = decode(Some(b"CUST-00007"), Some(GOOD.as_bytes()), 1024).unwrap();
        assert_eq!(order.customer_id, "CUST-00007");
    }

    #[test]
    fn every_kind_of_bad_message_is_named() {
        let key = Some(&b"CUST-00007"[..]);
        assert_eq!(decode(key, Some(GOOD.as_bytes()), 10).unwrap_err().kind, PoisonKind::TooLarge);
        assert_eq!(kind(None, GOOD.as_bytes()), PoisonKind::MissingKey);
        assert_eq!(kind(Some(b""), GOOD.as_bytes()), PoisonKind::MissingKey);
        assert_eq!(decode(key, None, 1024).unwrap_err().kind, PoisonKind::EmptyPayload);
        assert_eq!(kind(key, b"\xff\xfe{}"), PoisonKind::NotUtf8);
        assert_eq!(kind(key, b"hello"), PoisonKind::NotJson);
        assert_eq!(kind(key, b"{\"schema_version\":1"), PoisonKind::NotJson);
        assert_eq!(kind(key, b"[1,2,3]"), PoisonKind::WrongShape);
        assert_eq!(kind(key, b"\"an order\""), PoisonKind::WrongShape);
        assert_eq!(kind(key, GOOD.replace("\"customer_seq\":1,", "").as_bytes()), PoisonKind::MissingField);
        assert_eq!(
            kind(key, GOOD.replace("\"version\":1", "\"version\":1,\"x\":0").as_bytes()),
            PoisonKind::UnknownField
        );
        assert_eq!(kind(key, GOOD.replace("\"quantity\":2", "\"quantity\":\"2\"").as_bytes()), PoisonKind::WrongType);
        assert_eq!(kind(key, GOOD.replace("placed", "teleported").as_bytes()), PoisonKind::WrongType);
        assert_eq!(kind(key, GOOD.replace("25.0", "-25.0").as_bytes()), PoisonKind::InvalidAmount);
        assert_eq!(kind(key, GOOD.replace("25.0", "26.0").as_bytes()), PoisonKind::InvalidAmount);
        assert_eq!(kind(Some(b"C7"), GOOD.replace("CUST-00007", "C7").as_bytes()), PoisonKind::InvalidCustomer);
        assert_eq!(kind(key, GOOD.replace("Noodle Bar", " ").as_bytes()), PoisonKind::InvalidOrder);
        assert_eq!(kind(Some(b"CUST-00008"), GOOD.as_bytes()), PoisonKind::KeyMismatch);
    }

    #[test]
    fn amounts_that_are_no_decimal_are_poison() {
        let key = Some(&b"CUST-00007"[..]);
        for amount in ["1e40", "123456789012345678901234567890", "\"25.0\"", "null"] {
            let poison = decode(key, Some(GOOD.replace("25.0", amount).as_bytes()), 1024).expect_err(amount);
            assert_eq!(poison.kind, PoisonKind::WrongType, "{amount}: {}", poison.reason);
            assert!(poison.reason.contains("amount") || poison.reason.contains("JSON number"), "{}", poison.reason);
        }
        // Read exactly, 25.000000000000000001 is not the items' sum (an f64 would have rounded it to 25).
        assert_eq!(kind(key, GOOD.replace("25.0", "25.000000000000000001").as_bytes()), PoisonKind::InvalidAmount);
    }

    #[test]
    fn kind_names_are_stable_snake_case() {
        assert_eq!(PoisonKind::NotUtf8.as_str(), "not_utf8");
        assert_eq!(PoisonKind::DbRejected.as_str(), "db_rejected");
    }
}
