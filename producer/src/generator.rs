//! Mock orders from the `fake` crate for a fixed pool of customers.
//!
//! With a seed, the customers, restaurants, items, amounts and order ids are the same run after run; only
//! `created_at` follows the clock. With status updates on, about one event in three advances an order already sent
//! (placed → confirmed → delivered) instead of placing a new one.

use std::collections::VecDeque;

use chrono::Utc;
use fake::Fake;
use fake::faker::name::en::{LastName, Name};
use rand::rngs::StdRng;
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
    rng: StdRng,
    customers: Vec<Customer>,
    restaurants: Vec<String>,
    open: VecDeque<OrderEvent>,
    status_updates: bool,
}

impl OrderGenerator {
    /// A generator for `customers` customers (CUST-00001 …), reproducible when `seed` is given.
    pub fn new(customers: u32, seed: Option<u64>, status_updates: bool) -> Self {
        let mut rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
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
        Self { rng, customers, restaurants, open: VecDeque::new(), status_updates }
    }

    /// The next event: usually a new order, sometimes (with status updates on) the next status of an earlier one.
    pub fn next_event(&mut self) -> (EventKind, OrderEvent) {
        if self.status_updates && !self.open.is_empty() && self.rng.random_ratio(1, 3) {
            if let Some(update) = self.advance_open_order() {
                return (EventKind::StatusUpdate, update);
            }
        }
        let order = self.new_order();
        if self.status_updates {
            if self.open.len() == OPEN_ORDERS {
                self.open.pop_front();
            }
            self.open.push_back(order.clone());
        }
        (EventKind::NewOrder, order)
    }

    fn new_order(&mut self) -> OrderEvent {
        let rng = &mut self.rng;
        let items: Vec<OrderItem> = (0..rng.random_range(1..=4))
            .map(|_| OrderItem {
                name: DISHES[rng.random_range(0..DISHES.len())].to_owned(),
                quantity: rng.random_range(1..=3),
                unit_price: Decimal::new(rng.random_range(299..=2_499), 2),
            })
            .collect();
        let restaurant = self.restaurants[rng.random_range(0..self.restaurants.len())].clone();
        let order_id = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
        let customer_index = rng.random_range(0..self.customers.len());
        let customer = &mut self.customers[customer_index];
        customer.seq += 1;
        let mut order = OrderEvent {
            schema_version: SCHEMA_VERSION,
            order_id,
            customer_id: customer.id.clone(),
            customer_name: customer.name.clone(),
            restaurant,
            items,
            total_amount: Decimal::ZERO,
            status: OrderStatus::Placed,
            created_at: Utc::now(),
            customer_seq: customer.seq,
            version: 1,
        };
        order.total_amount = order.items_total();
        order
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
