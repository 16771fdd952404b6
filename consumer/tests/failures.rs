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

    let mut no_name = good_order(15, 1);
    no_name.restaurant = " ".into();

    let poison: Vec<(&str, RawRecord)> = vec![
        ("not_utf8", (key(1), Some(vec![0xff, 0xfe, 0xfd]))),
        ("not_json", (key(1), Some(b"this is not json".to_vec()))),
        ("wrong_shape", (key(1), Some(b"[1, 2, 3]".to_vec()))),
        ("missing_field", (key(2), edit(2, &|v| drop(v.as_object_mut().unwrap().remove("items"))))),
        ("unknown_field", (key(2), edit(2, &|v| v["coupon"] = "FREE".into()))),
        ("wrong_type", (key(3), edit(3, &|v| v["items"][0]["quantity"] = "two".into()))),
        ("invalid_amount", (key(5), json(&negative))),
        ("invalid_amount", (key(6), json(&mismatched))),
        ("invalid_customer", (Some(b"CUSTOMER-7".to_vec()), json(&bad_customer))),
        ("invalid_order", (key(15), json(&no_name))),
        ("missing_key", (Some(Vec::new()), json(&good_order(10, 1)))),
        ("missing_key", (None, json(&good_order(11, 1)))),
        ("too_large", (key(8), json(&oversized))),
        ("db_rejected", (key(9), json(&nul_byte))),
        ("key_mismatch", (key(12), json(&good_order(13, 1)))),
        ("empty_payload", (key(14), None)),
    ];
    let kinds: std::collections::BTreeSet<&str> = poison.iter().map(|(kind, _)| *kind).collect();
    assert!(kinds.len() >= 10, "at least ten kinds of poison: {kinds:?}");
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
    // An order keeps no copy of its key; when Postgres rejects it, the key comes back from its customer id.
    let rejected = dead.iter().find(|d| d.headers[headers::ERROR_KIND] == "db_rejected").unwrap();
    assert_eq!(rejected.key, key(9), "a rejected order's dead letter carries its key");
    assert_eq!(rejected.payload, json(&nul_byte), "and its payload, as produced");
    consumer.terminate();
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processing_slower_than_max_poll_interval_pauses_and_keeps_the_member_in_the_group() {
    let s = Scenario::new("slow", 1).await;
    // Each batch of 250 orders takes 250 × 40 ms = 10 s of work, longer than the 7 s max.poll.interval.ms: a
    // consumer that stopped polling while it works would be expelled and its partition given away.
    let consumer = s.start_consumer(
        "slow",
        &[
            ("PROCESSING_DELAY_MS", "40"),
            ("BATCH_SIZE", "250"),
            ("SESSION_TIMEOUT_MS", "6000"),
            ("KAFKA_PROPERTIES", "max.poll.interval.ms=7000"),
        ],
    );
    let id = consumer.client_id().await;
    s.wait_for_assignment(1, |m| m[0].partitions == [0]).await;
    let acked = s.produce_orders(750, 41).await.acked;

    let done = s.reconcile(acked, 1).await;
    assert_eq!(done.rows as u64, acked);
    assert_eq!(done.members[0].client_id, id, "still the same member");
    assert_eq!(consumer.count_in_log("event=\"partitions_assigned\""), 1, "assigned once: never left the group");
    assert_eq!(consumer.count_in_log("partitions_lost"), 0);
    // librdkafka's words when it expels a silent member: "Application maximum poll interval (7000ms) exceeded".
    assert_eq!(consumer.count_in_log("maximum poll interval"), 0, "the poll interval was never exceeded");
    consumer.terminate();
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_dead_letter_topic_stops_commits_at_the_poison_message_until_it_is_back() {
    let s = Scenario::new("dlq-down", 1).await;
    s.delete_dead_letter_topic().await;
    // librdkafka gives up on a topic missing from the metadata after topic.metadata.propagation.max.ms (30 s by
    // default); 2 s makes each failed try short. One write lane: with the default two, a batch is split by customer
    // and the lane without the poison message stores its rows while the poison's lane waits for the dead-letter
    // topic (per-customer order is what lanes keep), so "the batch is not written" holds per lane; whether the
    // later orders share the poison's batch depends on timing. With one lane the whole batch waits, every time.
    let consumer = s.start_consumer(
        "d",
        &[("KAFKA_PROPERTIES", "topic.metadata.propagation.max.ms=2000"), ("WRITE_CONCURRENCY", "1")],
    );
    s.wait_for_assignment(1, |m| m[0].partitions == [0]).await;

    let before = s.produce_orders(100, 51).await.acked as i64;
    s.wait_for_rows(before, TIMEOUT).await;
    s.produce_raw(&[(Some(b"CUST-00001".to_vec()), Some(b"not json".to_vec()))]).await;
    let after = s.produce_orders(100, 52).await.acked as i64;
    let poison_offset = before;

    eventually("the consumer retries the dead letter", TIMEOUT, || async {
        let n = consumer.count_in_log("dead-letter topic unavailable");
        if n >= 2 { Ok(()) } else { Err(format!("{n} failed tries")) }
    })
    .await;
    let committed = s.committed_offsets()[0];
    assert!(committed <= poison_offset, "committed {committed} must not pass the poison message at {poison_offset}");
    assert_eq!(s.rows().await.count, before, "the batch holding the poison message is not written either");

    s.create_dead_letter_topic().await;
    let done = s.reconcile((before + 1 + after) as u64, 1).await;
    assert_eq!((done.rows, done.dead_letters), (before + after, 1), "the poison message dead-lettered once");
    consumer.terminate();
    s.cleanup().await;
}
