//! Mock orders from the `fake` crate for a fixed pool of customers.
//!
//! With a seed, the customers, restaurants, items, amounts and order ids are the same run after run; only
//! `created_at` follows the clock. With status updates on, about one event in three advances an order already sent
//! (placed → confirmed → delivered) instead of placing a new one.
//!
//! Generation is on the producer's hot path (with the JSON writing, most of its main thread), so it is kept cheap:
//! `fake` only names the customers and restaurants once, up front; the random numbers come from [`SmallRng`], a
//! fast non-cryptographic generator that is still reproducible per seed (mock orders need no unpredictability);
//! and [`OrderGenerator::next_event_ref`] rewrites one event in place, reusing its strings and items, so a new order
//! costs no allocation once the first few have been made.

use std::collections::VecDeque;

use chrono::Utc;
use fake::Fake;
use fake::faker::name::en::{LastName, Name};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use shared::order::{OrderEvent, OrderItem, OrderStatus, SCHEMA_VERSION, customer_id};

const DISHES: &[&str] = &[
    "Margherita Pizza",
    "Pepperoni Pizza",
    "Pad Thai",
    "Green Curry",
    "Chicken Burrito",
    "Beef Tacos",
    "Ramen",
    "Gyoza",
    "Caesar Salad",
    "Falafel Wrap",
    "Cheeseburger",
    "Fries",
    "Sushi Platter",
    "Miso Soup",
    "Pho",
    "Butter Chicken",
    "Garlic Naan",
    "Poke Bowl",
    "Lasagne",
    "Tiramisu",
    "Lemonade",
    "Iced Tea",
];
const KITCHENS: &[&str] =
    &["Pizzeria", "Noodle Bar", "Taqueria", "Curry House", "Sushi", "Burger Joint", "Kitchen", "Deli"];
/// How many sent orders are remembered for status updates.
const OPEN_ORDERS: usize = 1_000;

struct Customer {
    id: String,
    name: String,
    /// Events sent for this customer so far.
    seq: u64,
}

/// Whether an event places a new order or updates one already sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    NewOrder,
    StatusUpdate,
}

/// Produces order events; one per call to [`OrderGenerator::next_event`].
pub struct OrderGenerator {
    rng: SmallRng,
    customers: Vec<Customer>,
    restaurants: Vec<String>,
    open: VecDeque<OrderEvent>,
    status_updates: bool,
    /// The event last generated, rewritten in place by the next one so that its buffers are reused.
    current: OrderEvent,
}

impl OrderGenerator {
    /// A generator for `customers` customers (CUST-00001 …), reproducible when `seed` is given.
    pub fn new(customers: u32, seed: Option<u64>, status_updates: bool) -> Self {
        let mut rng = match seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        let customers = (1..=customers.max(1))
            .map(|n| Customer { id: customer_id(n), name: Name().fake_with_rng(&mut rng), seq: 0 })
            .collect();
        let restaurants = (0..20)
            .map(|_| {
                let owner: String = LastName().fake_with_rng(&mut rng);
                format!("{owner}'s {}", KITCHENS[rng.random_range(0..KITCHENS.len())])
            })
            .collect();
        let current = OrderEvent {
            schema_version: SCHEMA_VERSION,
            order_id: uuid::Uuid::nil(),
            customer_id: String::new(),
            customer_name: String::new(),
            restaurant: String::new(),
            items: Vec::new(),
            total_amount: Decimal::ZERO,
            status: OrderStatus::Placed,
            created_at: Utc::now(),
            customer_seq: 0,
            version: 1,
        };
        Self { rng, customers, restaurants, open: VecDeque::new(), status_updates, current }
    }

    /// The next event: usually a new order, sometimes (with status updates on) the next status of an earlier one.
    pub fn next_event(&mut self) -> (EventKind, OrderEvent) {
        let (kind, event) = self.next_event_ref();
        (kind, event.clone())
    }

    /// As [`OrderGenerator::next_event`], without the copy: the event is valid until the next call, which rewrites
    /// it in place. The same seed gives the same events through either method.
    pub fn next_event_ref(&mut self) -> (EventKind, &OrderEvent) {
        if self.status_updates && !self.open.is_empty() && self.rng.random_ratio(1, 3) {
            if let Some(update) = self.advance_open_order() {
                self.current = update;
                return (EventKind::StatusUpdate, &self.current);
            }
        }
        self.new_order();
        if self.status_updates {
            if self.open.len() == OPEN_ORDERS {
                self.open.pop_front();
            }
            self.open.push_back(self.current.clone());
        }
        (EventKind::NewOrder, &self.current)
    }

    /// Rewrites `self.current` as a new order, reusing its strings and items.
    fn new_order(&mut self) {
        let rng = &mut self.rng;
        let order = &mut self.current;
        let count = rng.random_range(1..=4);
        order.items.truncate(count);
        for i in 0..count {
            let name = DISHES[rng.random_range(0..DISHES.len())];
            let quantity = rng.random_range(1..=3);
            let unit_price = Decimal::new(rng.random_range(299..=2_499), 2);
            match order.items.get_mut(i) {
                Some(item) => {
                    replace(&mut item.name, name);
                    item.quantity = quantity;
                    item.unit_price = unit_price;
                }
                None => order.items.push(OrderItem { name: name.to_owned(), quantity, unit_price }),
            }
        }
        replace(&mut order.restaurant, &self.restaurants[rng.random_range(0..self.restaurants.len())]);
        order.order_id = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
        let customer_index = rng.random_range(0..self.customers.len());
        let customer = &mut self.customers[customer_index];
        customer.seq += 1;
        replace(&mut order.customer_id, &customer.id);
        replace(&mut order.customer_name, &customer.name);
        order.schema_version = SCHEMA_VERSION;
        order.status = OrderStatus::Placed;
        order.created_at = Utc::now();
        order.customer_seq = customer.seq;
        order.version = 1;
        order.total_amount = order.items_total();
    }

    /// Moves the oldest open order to its next status; an order that reached `delivered` is forgotten.
    fn advance_open_order(&mut self) -> Option<OrderEvent> {
        let mut order = self.open.pop_front()?;
        order.status = order.status.next()?;
        order.version += 1;
        let customer = self.customers.iter_mut().find(|c| c.id == order.customer_id)?;
        customer.seq += 1;
        order.customer_seq = customer.seq;
        if order.status.next().is_some() {
            self.open.push_back(order.clone());
        }
        Some(order)
    }
}

/// Overwrites `target` with `value`, keeping `target`'s allocation when it is large enough.
fn replace(target: &mut String, value: &str) {
    target.clear();
    target.push_str(value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use uuid::Uuid;

    #[test]
    fn every_generated_order_is_valid() {
        let mut generator = OrderGenerator::new(100, Some(1), true);
        for _ in 0..5_000 {
            let (_, event) = generator.next_event();
            assert_eq!(event.validate(), Ok(()), "{event:?}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_orders() {
        let mut a = OrderGenerator::new(10, Some(7), false);
        let mut b = OrderGenerator::new(10, Some(7), false);
        for _ in 0..100 {
            let (_, x) = a.next_event();
            let (_, y) = b.next_event();
            assert_eq!(
                (x.order_id, &x.customer_id, &x.items, x.total_amount),
                (y.order_id, &y.customer_id, &y.items, y.total_amount)
            );
        }
    }

    #[test]
    fn events_rewritten_in_place_stay_valid_and_equal_their_copies() {
        let mut in_place = OrderGenerator::new(10, Some(5), true);
        let mut fresh = OrderGenerator::new(10, Some(5), true);
        for _ in 0..2_000 {
            let (kind_a, a) = in_place.next_event_ref();
            let (kind_b, b) = fresh.next_event();
            assert_eq!(kind_a, kind_b);
            assert_eq!(a.validate(), Ok(()), "{a:?}");
            assert_eq!(
                (a.order_id, &a.customer_id, &a.customer_name, &a.restaurant, &a.items, a.total_amount, a.version),
                (b.order_id, &b.customer_id, &b.customer_name, &b.restaurant, &b.items, b.total_amount, b.version)
            );
        }
    }

    #[test]
    fn customers_come_from_the_pool_and_their_sequence_counts_up_from_one() {
        let mut generator = OrderGenerator::new(5, Some(3), true);
        let mut last_seq: HashMap<String, u64> = HashMap::new();
        for _ in 0..1_000 {
            let (_, e) = generator.next_event();
            let n: u32 = e.customer_id["CUST-".len()..].parse().unwrap();
            assert!((1..=5).contains(&n));
            let prev = last_seq.insert(e.customer_id.clone(), e.customer_seq).unwrap_or(0);
            assert_eq!(e.customer_seq, prev + 1);
        }
    }

    #[test]
    fn status_updates_advance_versions_of_orders_already_sent() {
        let mut generator = OrderGenerator::new(20, Some(9), true);
        let mut latest: HashMap<Uuid, u32> = HashMap::new();
        let mut updates = 0;
        for _ in 0..3_000 {
            let (kind, e) = generator.next_event();
            match kind {
                EventKind::NewOrder => assert_eq!((e.version, e.status), (1, OrderStatus::Placed)),
                EventKind::StatusUpdate => {
                    updates += 1;
                    assert_eq!(latest[&e.order_id] + 1, e.version, "an update follows the version before it");
                }
            }
            latest.insert(e.order_id, e.version);
        }
        assert!(updates > 500, "only {updates} updates");
    }
}
