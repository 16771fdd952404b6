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
/// Room for a typical event's JSON (a few hundred bytes), so that [`OrderEvent::to_json`] rarely grows its buffer.
const JSON_CAPACITY: usize = 512;

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
        let mut json = Vec::with_capacity(JSON_CAPACITY);
        self.write_json(&mut json);
        json
    }

    /// Serializes to the JSON wire format into `buf`, replacing its contents: a sender that reuses one buffer
    /// allocates nothing per event once the buffer has grown to the largest event.
    pub fn write_json(&self, buf: &mut Vec<u8>) {
        buf.clear();
        // Serializing these plain fields to a Vec cannot fail: no map keys, no I/O, and the amounts' digits are
        // valid JSON by construction. Should it ever fail, the buffer is left empty, which consumers dead-letter.
        if serde_json::to_writer(&mut *buf, self).is_err() {
            buf.clear();
        }
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

/// Money amounts travel as JSON numbers (`12.40`), never as strings, and are held as exact decimals.
///
/// Both directions work on the number's text and never on an `f64`, which cannot hold most cents exactly and whose
/// conversion was the consumer's largest single cost: reading parses the digits as written (serde_json's raw value)
/// straight into a [`Decimal`], so an amount with more digits than a decimal holds is refused instead of rounded;
/// writing prints the decimal's own digits, scale included (`12.40`). Reading borrows the raw text, so an order is
/// deserialized from JSON text (`serde_json::from_slice` or `from_str`): `from_value` and `from_reader` cannot lend
/// it and fail.
mod amount {
    use rust_decimal::Decimal;
    use serde::de::{Error as _, Unexpected};
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::value::RawValue;

    /// Room for any decimal: a sign, 29 digits, a point and the zeros of `0.000…` before 28 decimals.
    const TEXT_LEN: usize = 64;

    pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; TEXT_LEN];
        let text = write_digits(value, &mut buf);
        // Borrowing the digits as a raw value checks them as JSON and makes serde_json write them as they are.
        let raw: &RawValue = serde_json::from_str(text).map_err(S::Error::custom)?;
        raw.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        let raw = <&'de RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        let unexpected = match text.as_bytes().first() {
            Some(b'-' | b'0'..=b'9') => None,
            Some(b'"') => Some(Unexpected::Other("string")),
            Some(b't') => Some(Unexpected::Bool(true)),
            Some(b'f') => Some(Unexpected::Bool(false)),
            Some(b'[') => Some(Unexpected::Seq),
            Some(b'{') => Some(Unexpected::Map),
            _ => Some(Unexpected::Other("null")),
        };
        if let Some(unexpected) = unexpected {
            return Err(D::Error::invalid_type(unexpected, &"a JSON number"));
        }
        let parsed =
            if text.contains(['e', 'E']) { Decimal::from_scientific(text) } else { Decimal::from_str_exact(text) };
        parsed.map_err(|e| D::Error::custom(format_args!("amount {text} does not fit a decimal exactly: {e}")))
    }

    /// Writes `value`'s digits into `buf`: its mantissa, with a point `scale` digits from the right.
    fn write_digits<'b>(value: &Decimal, buf: &'b mut [u8; TEXT_LEN]) -> &'b str {
        const TEN_POW_19: u128 = 10_000_000_000_000_000_000;
        let mantissa = value.mantissa();
        let scale = value.scale() as usize;
        // The digits, least significant first, computed in u64 (a mantissa has at most 96 bits, so two u64 halves
        // of 19 digits hold it): u128 division is a library call, several times slower, and amounts fit a u64.
        let abs = mantissa.unsigned_abs();
        let (mut high, mut low) = match u64::try_from(abs) {
            Ok(low) => (0, low),
            Err(_) => (u64::try_from(abs / TEN_POW_19).unwrap_or(u64::MAX), (abs % TEN_POW_19) as u64),
        };
        let mut digits = [0u8; TEXT_LEN / 2];
        let mut n = 0;
        loop {
            digits[n] = (low % 10) as u8;
            low /= 10;
            n += 1;
            let done = if high == 0 { low == 0 } else { n == 19 };
            if done {
                break;
            }
        }
        while high > 0 {
            digits[n] = (high % 10) as u8;
            high /= 10;
            n += 1;
        }
        // At least one digit before the point: 0.05, not .05.
        n = n.max(scale + 1);
        let mut len = 0;
        if mantissa < 0 {
            buf[0] = b'-';
            len = 1;
        }
        for i in (0..n).rev() {
            buf[len] = b'0' + digits[i];
            len += 1;
            if i == scale && scale > 0 {
                buf[len] = b'.';
                len += 1;
            }
        }
        // Only ASCII digits, '.' and '-' were written.
        std::str::from_utf8(&buf[..len]).unwrap_or("0")
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

    /// Orders are read from JSON text, as the consumer reads them.
    fn parse(v: &serde_json::Value) -> Result<OrderEvent, serde_json::Error> {
        serde_json::from_slice(&serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn unknown_fields_and_wrong_types_do_not_parse() {
        let mut v: serde_json::Value = serde_json::from_slice(&order().to_json()).unwrap();
        assert_eq!(parse(&v).unwrap(), order());
        v["total_amount"] = "30.79".into();
        let err = parse(&v).unwrap_err().to_string();
        assert!(err.starts_with("invalid type: string, expected a JSON number"), "{err}");
        v["total_amount"] = 30.79.into();
        v["extra"] = 1.into();
        assert!(parse(&v).is_err());
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Amount {
        #[serde(with = "amount")]
        a: Decimal,
    }

    fn read_amount(text: &str) -> Result<Decimal, String> {
        serde_json::from_str::<Amount>(&format!("{{\"a\":{text}}}")).map(|x| x.a).map_err(|e| e.to_string())
    }

    fn write_amount(a: Decimal) -> String {
        serde_json::to_string(&Amount { a }).unwrap()
    }

    #[test]
    fn amounts_are_read_from_their_digits_exactly() {
        assert_eq!(read_amount("0.1"), Ok(dec!(0.1)));
        assert_eq!(read_amount("12.40").map(|d| d.to_string()), Ok("12.40".to_owned()));
        assert_eq!(read_amount("-25.0"), Ok(dec!(-25)));
        assert_eq!(read_amount("7"), Ok(dec!(7)));
        assert_eq!(read_amount("1.5e2"), Ok(dec!(150)));
        assert_eq!(read_amount("99999999.99"), Ok(dec!(99999999.99)));
        // An f64 would round this to 12.4 and let it pass as a price of two decimals.
        assert_eq!(read_amount("12.4000000000000001"), Ok(dec!(12.4000000000000001)));
    }

    #[test]
    fn amounts_out_of_range_or_not_numbers_are_errors() {
        for text in ["1e40", "123456789012345678901234567890", "-79228162514264337593543950336"] {
            let err = read_amount(text).expect_err(text);
            assert!(err.contains(&format!("amount {text} does not fit a decimal exactly")), "{err}");
        }
        for (text, found) in [("\"12.40\"", "string"), ("true", "boolean"), ("null", "null"), ("[1]", "sequence")] {
            let err = read_amount(text).expect_err(text);
            assert!(err.starts_with(&format!("invalid type: {found}")), "{text}: {err}");
        }
    }

    #[test]
    fn an_over_precise_price_is_an_invalid_order_not_a_rounded_one() {
        let json = String::from_utf8(order().to_json()).unwrap().replace("12.40", "12.4000000000000001");
        let o: OrderEvent = serde_json::from_str(&json).unwrap();
        assert!(matches!(o.validate(), Err(InvalidOrder::BadUnitPrice { .. })));
    }

    #[test]
    fn amounts_are_written_with_the_decimals_own_digits() {
        assert_eq!(write_amount(dec!(12.40)), r#"{"a":12.40}"#);
        assert_eq!(write_amount(dec!(30.79)), r#"{"a":30.79}"#);
        assert_eq!(write_amount(dec!(-0.05)), r#"{"a":-0.05}"#);
        assert_eq!(write_amount(dec!(0)), r#"{"a":0}"#);
        assert_eq!(write_amount(dec!(0.00)), r#"{"a":0.00}"#);
        assert_eq!(write_amount(dec!(120)), r#"{"a":120}"#);
        assert_eq!(write_amount(Decimal::MAX), format!(r#"{{"a":{}}}"#, Decimal::MAX));
        assert_eq!(write_amount(Decimal::MIN), format!(r#"{{"a":{}}}"#, Decimal::MIN));
        let twenty_digits = Decimal::from_i128_with_scale(i128::from(u64::MAX), 2);
        assert_eq!(write_amount(twenty_digits), r#"{"a":184467440737095516.15}"#);
        let past_u64 = Decimal::from_i128_with_scale(i128::from(u64::MAX) + 1, 0);
        assert_eq!(write_amount(past_u64), r#"{"a":18446744073709551616}"#);
        let tiny = Decimal::new(1, 28);
        assert_eq!(write_amount(tiny), format!(r#"{{"a":{tiny}}}"#));
        for a in [dec!(12.40), Decimal::MAX, tiny, dec!(-3.5), twenty_digits, past_u64, dec!(100000000000000000000.5)] {
            let back: Amount = serde_json::from_str(&write_amount(a)).unwrap();
            assert_eq!(back.a.to_string(), a.to_string(), "the digits and the scale survive the wire");
        }
    }

    #[test]
    fn write_json_reuses_the_buffer() {
        let mut buf = b"left over".to_vec();
        order().write_json(&mut buf);
        assert_eq!(buf, order().to_json());
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
