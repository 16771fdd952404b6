//! The order event: what the producer sends and the consumer stores.
//!
//! On the wire an event is one JSON object with a `schema_version`. The first event of an order has status
//! `placed` and version 1; a status update (`confirmed`, then `delivered`) carries the same `order_id` and a higher
//! `version`, so the consumer can keep the newest version of each order whatever order events arrive in.
//! `customer_seq` counts the events of one customer, set by the producer, so per-customer ordering can be checked.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The wire format version this code writes and accepts.
pub const SCHEMA_VERSION: u32 = 1;
/// Largest total an order may have: `total_amount` is stored as `numeric(10,2)`.
pub const MAX_TOTAL: Decimal = Decimal::from_parts(99_999_999, 0, 0, false, 0);

/// One event in the life of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderEvent {
    pub schema_version: u32,
    pub order_id: Uuid,
    /// `CUST-` and five digits; also the Kafka key, so all events of a customer share a partition.
    pub customer_id: String,
    pub customer_name: String,
    pub restaurant: String,
    pub items: Vec<OrderItem>,
    /// Sum of the items' `quantity × unit_price`, two decimals.
    #[serde(with = "amount")]
    pub total_amount: Decimal,
    pub status: OrderStatus,
    /// When the order was placed (UTC); status updates keep it.
    pub created_at: DateTime<Utc>,
    /// Per-customer event counter set by the producer, starting at 1.
    pub customer_seq: u64,
    /// Version of this order: 1 when placed, one more for each status update.
    pub version: u32,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderItem {
    pub name: String,
    pub quantity: u32,
    #[serde(with = "amount")]
    pub unit_price: Decimal,
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Confirmed,
    Delivered,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Confirmed => "confirmed",
            Self::Delivered => "delivered",
        }
    }

    /// The status that follows this one, if any.
    pub fn next(self) -> Option<Self> {
        match self {
            Self::Placed => Some(Self::Confirmed),
            Self::Confirmed => Some(Self::Delivered),
            Self::Delivered => None,
        }
    }
}

/// Why an event is not a valid order. Each variant is one way an order can be wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidOrder {
    /// The event was written by a producer with another wire format.
    #[error("unsupported schema_version {found} (this consumer reads {SCHEMA_VERSION})")]
    UnsupportedSchema { found: u32 },
    /// `customer_id` is not `CUST-` followed by five digits.
    #[error("customer_id '{0}' is not of the form CUST-00001")]
    BadCustomerId(String),
    /// A text field is empty or only white space.
    #[error("{0} is empty")]
    EmptyField(&'static str),
    /// The order has no items.
    #[error("order has no items")]
    NoItems,
    /// An item has quantity 0.
    #[error("item '{0}' has quantity 0")]
    ZeroQuantity(String),
    /// An item's unit price is negative or has more than two decimals.
    #[error("item '{name}' has an invalid unit price {price}")]
    BadUnitPrice { name: String, price: Decimal },
    /// The total is negative, has more than two decimals or does not fit `numeric(10,2)`.
    #[error("total_amount {0} is negative, has more than two decimals or is too large")]
    BadTotal(Decimal),
    /// The total is not the sum of the items.
    #[error("total_amount {found} does not equal the items' sum {expected}")]
    TotalMismatch { expected: Decimal, found: Decimal },
    /// Version 0, or a version that does not match the status (placed is 1).
    #[error("version {version} is not valid for status {status}")]
    BadVersion { version: u32, status: &'static str },
    /// `customer_seq` is 0.
    #[error("customer_seq must start at 1")]
    BadSequence,
}

impl OrderEvent {
    /// Serializes to the JSON wire format.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing these plain fields to a Vec cannot fail: no map keys, no I/O, no custom error paths.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Sum of the items' `quantity × unit_price`.
    pub fn items_total(&self) -> Decimal {
        self.items.iter().map(|i| i.unit_price * Decimal::from(i.quantity)).sum()
    }

    /// Checks every rule an order must meet to be stored.
    ///
    /// # Errors
    /// The first rule the event breaks.
    pub fn validate(&self) -> Result<(), InvalidOrder> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(InvalidOrder::UnsupportedSchema { found: self.schema_version });
        }
        if !is_customer_id(&self.customer_id) {
            return Err(InvalidOrder::BadCustomerId(self.customer_id.clone()));
        }
        if self.customer_name.trim().is_empty() {
            return Err(InvalidOrder::EmptyField("customer_name"));
        }
        if self.restaurant.trim().is_empty() {
            return Err(InvalidOrder::EmptyField("restaurant"));
        }
        if self.items.is_empty() {
            return Err(InvalidOrder::NoItems);
        }
        for item in &self.items {
            if item.name.trim().is_empty() {
                return Err(InvalidOrder::EmptyField("item name"));
            }
            if item.quantity == 0 {
                return Err(InvalidOrder::ZeroQuantity(item.name.clone()));
            }
            if item.unit_price.is_sign_negative() || item.unit_price.round_dp(2) != item.unit_price {
                return Err(InvalidOrder::BadUnitPrice { name: item.name.clone(), price: item.unit_price });
            }
        }
        let total = self.total_amount;
        if total.is_sign_negative() || total.round_dp(2) != total || total > MAX_TOTAL {
            return Err(InvalidOrder::BadTotal(total));
        }
        let expected = self.items_total();
        if expected != total {
            return Err(InvalidOrder::TotalMismatch { expected, found: total });
        }
        if self.version == 0 || (self.status == OrderStatus::Placed) != (self.version == 1) {
            return Err(InvalidOrder::BadVersion { version: self.version, status: self.status.as_str() });
        }
        if self.customer_seq == 0 {
            return Err(InvalidOrder::BadSequence);
        }
        Ok(())
    }
}

/// Money amounts travel as JSON numbers (`12.4`), never as strings, and are held as exact decimals.
mod amount {
    use rust_decimal::Decimal;
    use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.to_f64().unwrap_or(f64::NAN))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        let number = f64::deserialize(deserializer)?;
        Decimal::from_f64(number).ok_or_else(|| D::Error::custom(format!("amount {number} is out of range")))
    }
}

/// `CUST-` followed by exactly five digits.
pub fn is_customer_id(s: &str) -> bool {
    s.strip_prefix("CUST-").is_some_and(|digits| digits.len() == 5 && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// The customer id for a 1-based customer number: `CUST-00001`.
pub fn customer_id(n: u32) -> String {
    format!("CUST-{n:05}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn order() -> OrderEvent {
        OrderEvent {
            schema_version: SCHEMA_VERSION,
            order_id: Uuid::nil(),
            customer_id: "CUST-00042".into(),
            customer_name: "Ada Lovelace".into(),
            restaurant: "Noodle Bar".into(),
            items: vec![
                OrderItem { name: "Ramen".into(), quantity: 2, unit_price: dec!(12.40) },
                OrderItem { name: "Gyoza".into(), quantity: 1, unit_price: dec!(5.99) },
            ],
            total_amount: dec!(30.79),
            status: OrderStatus::Placed,
            created_at: DateTime::from_timestamp(1_764_000_000, 0).unwrap(),
            customer_seq: 1,
            version: 1,
        }
    }

    #[test]
    fn a_well_formed_order_is_valid_and_survives_the_wire() {
        let o = order();
        assert_eq!(o.validate(), Ok(()));
        let back: OrderEvent = serde_json::from_slice(&o.to_json()).unwrap();
        assert_eq!(back, o);
        assert_eq!(back.total_amount.to_string(), "30.79");
    }

    #[test]
    fn the_wire_format_is_plain_json_with_numbers_and_snake_case_status() {
        let v: serde_json::Value = serde_json::from_slice(&order().to_json()).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["total_amount"], 30.79);
        assert_eq!(v["status"], "placed");
        assert_eq!(v["items"][0]["unit_price"], 12.4);
    }

    #[test]
    fn each_broken_rule_has_its_own_error() {
        type Case = (fn(&mut OrderEvent), fn(&InvalidOrder) -> bool);
        let cases: Vec<Case> = vec![
            (|o| o.schema_version = 2, |e| matches!(e, InvalidOrder::UnsupportedSchema { found: 2 })),
            (|o| o.customer_id = "C-1".into(), |e| matches!(e, InvalidOrder::BadCustomerId(_))),
            (|o| o.customer_name = " ".into(), |e| matches!(e, InvalidOrder::EmptyField("customer_name"))),
            (|o| o.restaurant = String::new(), |e| matches!(e, InvalidOrder::EmptyField("restaurant"))),
            (|o| o.items.clear(), |e| matches!(e, InvalidOrder::NoItems)),
            (|o| o.items[0].quantity = 0, |e| matches!(e, InvalidOrder::ZeroQuantity(_))),
            (|o| o.items[1].unit_price = dec!(-5.99), |e| matches!(e, InvalidOrder::BadUnitPrice { .. })),
            (|o| o.total_amount = dec!(-30.79), |e| matches!(e, InvalidOrder::BadTotal(_))),
            (|o| o.total_amount = dec!(30.789), |e| matches!(e, InvalidOrder::BadTotal(_))),
            (|o| o.total_amount = dec!(31.00), |e| matches!(e, InvalidOrder::TotalMismatch { .. })),
            (|o| o.version = 2, |e| matches!(e, InvalidOrder::BadVersion { .. })),
            (|o| o.customer_seq = 0, |e| matches!(e, InvalidOrder::BadSequence)),
        ];
        for (i, (break_it, expected)) in cases.into_iter().enumerate() {
            let mut o = order();
            break_it(&mut o);
            let err = o.validate().expect_err("broken order must be invalid");
            assert!(expected(&err), "case {i}: unexpected error {err:?}");
        }
    }

    #[test]
    fn a_status_update_has_a_higher_version() {
        let mut o = order();
        o.status = OrderStatus::Confirmed;
        o.version = 2;
        assert_eq!(o.validate(), Ok(()));
        assert_eq!(OrderStatus::Confirmed.next(), Some(OrderStatus::Delivered));
        assert_eq!(OrderStatus::Delivered.next(), None);
    }

    #[test]
    fn unknown_fields_and_wrong_types_do_not_parse() {
        let mut v: serde_json::Value = serde_json::from_slice(&order().to_json()).unwrap();
        v["total_amount"] = "30.79".into();
        assert!(serde_json::from_value::<OrderEvent>(v.clone()).is_err());
        v["total_amount"] = 30.79.into();
        v["extra"] = 1.into();
        assert!(serde_json::from_value::<OrderEvent>(v).is_err());
    }

    #[test]
    fn customer_ids_are_cust_and_five_digits() {
        assert_eq!(customer_id(1), "CUST-00001");
        assert!(is_customer_id("CUST-99999"));
        assert!(!is_customer_id("CUST-1234"));
        assert!(!is_customer_id("cust-00001"));
        assert!(!is_customer_id("CUST-0000a"));
    }
}
