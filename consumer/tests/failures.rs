//! What happens when a consumer dies, is stopped, or meets messages it can never store.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{RawRecord, Scenario, TIMEOUT, eventually};
use order_consumer::dead_letter::headers;
use shared::order::OrderEvent;

fn good_order(customer: u32, seq: u64) -> OrderEvent {
    let mut generator = order_producer::generator::OrderGenerator::new(1, Some(seq), false);
    let (_, mut order) = generator.next_event();
    order.customer_id = shared::order::customer_id(customer);
    order.customer_seq = seq;
    order
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_a_new_consumer_loses_nothing_and_duplicates_nothing() {
    let s = Scenario::new("sigkill", 3).await;
    let mut a = s.start_consumer("a", &[]);
    let mut b = s.start_consumer("b", &[]);
    s.wait_for_assignment(2, |m| m.iter().all(|x| !x.partitions.is_empty())).await;

    let producer = s.produce_in_background(3_000, 600.0, 3);
    eventually("some rows stored", TIMEOUT, || async {
        let n = s.rows().await.count;
        if n >= 500 { Ok(()) } else { Err(format!("{n} rows")) }
    })
    .await;
    a.kill().await;
    let mut c = s.start_consumer("c", &[]);

    let acked = producer.await.expect("producer task").acked;
    let rows = s.wait_for_rows(acked as i64, TIMEOUT).await;
    assert_eq!(rows.distinct, rows.count, "0 duplicate rows after the kill");
    s.wait_committed_equals_log_end(TIMEOUT).await;

    for p in [&b, &c] {
        p.terminate();
    }
    assert_eq!(b.wait_exit(TIMEOUT).await, Some(0));
    assert_eq!(c.wait_exit(TIMEOUT).await, Some(0));
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_at_once_and_the_partitions_move_without_waiting_for_the_session_timeout() {
    let s = Scenario::new("sigterm", 2).await;
    // A long session timeout: if the leaver did not leave the group cleanly, the move would take 45 s.
    let env = [("SESSION_TIMEOUT_MS", "45000")];
    let mut leaver = s.start_consumer("leaver", &env);
    let stayer = s.start_consumer("stayer", &env);
    let members = s.wait_for_assignment(2, |m| m.iter().all(|x| x.partitions.len() == 1)).await;
    let stayer_id = stayer.client_id().await;
    assert!(members.iter().any(|m| m.client_id == stayer_id));

    let producer = s.produce_in_background(2_000, 400.0, 6);
    eventually("rows from both consumers", TIMEOUT, || async {
        let r = s.rows().await;
        if r.consumers == 2 { Ok(()) } else { Err(format!("{r:?}")) }
    })
    .await;

    let stopped_at = Instant::now();
    leaver.terminate();
    assert_eq!(leaver.wait_exit(Duration::from_secs(15)).await, Some(0), "SIGTERM exits 0");
    let members = s.wait_for_assignment(1, |m| m[0].partitions == [0, 1]).await;
    assert_eq!(members[0].client_id, stayer_id);
    assert!(stopped_at.elapsed() < Duration::from_secs(20), "partitions moved in {:?}", stopped_at.elapsed());
    assert!(leaver.log().contains("left the group"));

    let acked = producer.await.expect("producer task").acked;
    let rows = s.wait_for_rows(acked as i64, TIMEOUT).await;
    assert_eq!(rows.distinct, rows.count);
    s.wait_committed_equals_log_end(TIMEOUT).await;
    stayer.terminate();
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_poison_message_goes_to_the_dead_letter_topic_with_its_headers() {
    let s = Scenario::new("poison", 1).await;
    let consumer = s.start_consumer("p", &[("BATCH_SIZE", "50")]);
    let consumer_id = consumer.client_id().await;

    let key = |n: u32| Some(shared::order::customer_id(n).into_bytes());
    let json = |o: &OrderEvent| Some(o.to_json());
    let edit = |n: u32, f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = serde_json::to_value(good_order(n, 1)).unwrap();
        f(&mut v);
        Some(serde_json::to_vec(&v).unwrap())
    };
    let mut negative = good_order(5, 1);
    negative.items[0].unit_price = -negative.items[0].unit_price;
    negative.total_amount = negative.items_total();
    let mut mismatched = good_order(6, 1);
    mismatched.total_amount += rust_decimal::Decimal::ONE;
    let mut bad_customer = good_order(7, 1);
    bad_customer.customer_id = "CUSTOMER-7".into();
    let mut oversized = good_order(8, 1);
    oversized.customer_name = "x".repeat(100_000);
    let mut nul_byte = good_order(9, 1);
    nul_byte.customer_name = "Nul\u{0}Name".into();

    let poison: Vec<(&str, RawRecord)> = vec![
        ("not_utf8", (key(1), Some(vec![0xff, 0xfe, 0xfd]))),
        ("not_json", (key(1), Some(b"this is not json".to_vec()))),
        ("wrong_shape", (key(1), Some(b"[1, 2, 3]".to_vec()))),
        ("wrong_shape", (key(2), edit(2, &|v| drop(v.as_object_mut().unwrap().remove("items"))))),
        ("wrong_shape", (key(3), edit(3, &|v| v["items"][0]["quantity"] = "two".into()))),
        ("invalid_order", (key(5), json(&negative))),
        ("invalid_order", (key(6), json(&mismatched))),
        ("invalid_order", (Some(b"CUSTOMER-7".to_vec()), json(&bad_customer))),
        ("missing_key", (Some(Vec::new()), json(&good_order(10, 1)))),
        ("missing_key", (None, json(&good_order(11, 1)))),
        ("too_large", (key(8), json(&oversized))),
        ("db_rejected", (key(9), json(&nul_byte))),
        ("key_mismatch", (key(12), json(&good_order(13, 1)))),
        ("empty_payload", (key(14), None)),
    ];
    let good_before = s.produce_orders(300, 10).await.acked;
    let records: Vec<RawRecord> = poison.iter().map(|(_, record)| record.clone()).collect();
    s.produce_raw(&records).await;
    let good_after = s.produce_orders(300, 11).await.acked;
    let produced = good_before + good_after + poison.len() as u64;

    let rows = s.wait_for_rows((good_before + good_after) as i64, TIMEOUT).await;
    assert_eq!(rows.distinct, rows.count);
    s.wait_committed_equals_log_end(TIMEOUT).await;
    let dead = s.dead_letters();
    assert_eq!(rows.count as u64 + dead.len() as u64, produced, "rows + dead letters = produced");

    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    for (kind, _) in &poison {
        *expected.entry(kind).or_default() += 1;
    }
    let mut found: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &dead {
        *found.entry(d.headers[headers::ERROR_KIND].as_str()).or_default() += 1;
        assert_eq!(d.headers[headers::ORIGINAL_TOPIC], s.topic);
        assert_eq!(d.headers[headers::ORIGINAL_PARTITION], "0");
        assert!(d.headers[headers::ORIGINAL_OFFSET].parse::<i64>().unwrap() >= good_before as i64);
        assert!(!d.headers[headers::ERROR_MESSAGE].is_empty());
        assert_eq!(d.headers[headers::CONSUMER_ID], consumer_id);
    }
    let found: BTreeMap<&str, usize> = found
        .into_iter()
        .map(|(k, v)| (expected.keys().find(|e| **e == k).copied().unwrap_or("unexpected"), v))
        .collect();
    assert_eq!(found, expected, "each poison message dead-lettered once, under its own kind");
    let not_utf8 = dead.iter().find(|d| d.headers[headers::ERROR_KIND] == "not_utf8").unwrap();
    assert_eq!(not_utf8.payload.as_deref(), Some(&[0xff, 0xfe, 0xfd][..]), "the original bytes are kept");
    consumer.terminate();
    s.cleanup().await;
}
