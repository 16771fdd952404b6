//! Offsets stored in Postgres (`OFFSET_STORE=postgres`): a member newly assigned a partition starts at the offset
//! stored for it, not at the group's committed offset in Kafka, with both group protocols: classic with
//! cooperative-sticky (the default) and KIP-848 (`GROUP_PROTOCOL=consumer`), and when KIP-848 moves partitions
//! under load, where the broker's own view of the KIP-848 group shows both members owning partitions. The hard-bounce
//! comparison of the two stores is in `bounces.rs`.

mod common;

use common::{Scenario, TIMEOUT};

/// Half of each partition's orders marked done in Postgres before any consumer ran (Kafka has no committed offset,
/// so without the stored ones `auto.offset.reset=earliest` would read everything): the consumer stores exactly the
/// other half, then commits the log end to Kafka and stores it in Postgres.
async fn a_new_member_starts_at_the_stored_offsets(name: &str, protocol: &str) {
    let s = Scenario::new(name, 2).await;
    let acked = s.produce_orders(400, 51).await.acked;
    sqlx::migrate!("../migrations").run(&s.pool).await.expect("migrate the scenario's database");
    let end = s.log_end_offsets();
    let stored: Vec<i64> = end.iter().map(|e| e / 2).collect();
    for (partition, offset) in stored.iter().enumerate() {
        sqlx::query(
            "INSERT INTO consumer_offsets (group_id, topic, kafka_partition, next_offset, updated_by)
             VALUES ($1, $2, $3, $4, 'test')",
        )
        .bind(&s.group)
        .bind(&s.topic)
        .bind(partition as i32)
        .bind(offset)
        .execute(&s.pool)
        .await
        .expect("store an offset");
    }

    let mut consumer = s.start_consumer("pg", &[("OFFSET_STORE", "postgres"), ("GROUP_PROTOCOL", protocol)]);
    let expected: i64 = end.iter().zip(&stored).map(|(e, st)| e - st).sum();
    assert!(expected > 0 && expected < acked as i64);
    s.wait_committed_equals_log_end(TIMEOUT).await;
    let rows = s.wait_for_rows(expected, TIMEOUT).await;
    assert_eq!(rows.distinct, rows.count);
    for (partition, offset) in stored.iter().enumerate() {
        let below: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE kafka_partition = $1 AND kafka_offset < $2")
                .bind(partition as i32)
                .bind(offset)
                .fetch_one(&s.pool)
                .await
                .expect("rows below the stored offset");
        assert_eq!(below, 0, "partition {partition}: nothing read below its stored offset {offset}");
    }
    assert_eq!(s.stored_offsets().await, end, "the stored offsets moved to the log end");
    consumer.wait_for_log("start_offsets_read", TIMEOUT).await;
    consumer.terminate();
    assert_eq!(consumer.wait_exit(TIMEOUT).await, Some(0), "{}", consumer.log_path.display());
    assert_eq!(consumer.exit_stat("already_stored"), Some(0));
    assert_eq!(consumer.exit_stat("skipped_below_stored"), Some(0));
    assert_eq!(s.rows().await.count, expected, "nothing more after the drain");
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_cooperative_sticky_a_new_member_starts_at_the_stored_offsets() {
    a_new_member_starts_at_the_stored_offsets("pg-start-classic", "classic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_kip_848_a_new_member_starts_at_the_stored_offsets() {
    a_new_member_starts_at_the_stored_offsets("pg-start-kip848", "consumer").await;
}

/// The window a crash leaves, made wide on purpose: every batch is in Postgres but the group's Kafka commits are
/// lost (rewound to 0, as a SIGKILL right after the transaction and before the commit would leave the last batch's).
/// A member with `OFFSET_STORE=postgres` starts at the stored offsets, processes nothing again and brings the Kafka
/// commits back to the log end; a member with `OFFSET_STORE=kafka` processes every order again (the upsert absorbs
/// them: no row changes). The hard bounces of `bounces.rs` show the same on real kills, where the window is narrow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_lost_kafka_commit_only_the_kafka_store_processes_orders_again() {
    let s = Scenario::new("lost-commit", 2).await;
    let acked = s.produce_orders(300, 52).await.acked;
    let postgres = [("OFFSET_STORE", "postgres")];
    let mut first = s.start_consumer("first", &postgres);
    let end = s.wait_committed_equals_log_end(TIMEOUT).await;
    let rows = s.rows().await;
    first.terminate();
    assert_eq!(first.wait_exit(TIMEOUT).await, Some(0));
    assert_eq!(s.stored_offsets().await, end);
    let lost = vec![0; end.len()];

    s.set_committed_offsets(&lost);
    let mut pg = s.start_consumer("pg", &postgres);
    let committed = s.wait_committed_equals_log_end(TIMEOUT).await;
    assert_eq!(committed, end, "the Kafka commits caught up with the stored offsets");
    pg.terminate();
    assert_eq!(pg.wait_exit(TIMEOUT).await, Some(0));
    assert_eq!(pg.exit_stat("consumed"), Some(0), "{}", pg.log_path.display());
    assert_eq!(pg.exit_stat("already_stored"), Some(0));

    s.set_committed_offsets(&lost);
    let mut kafka = s.start_consumer("kafka", &[("OFFSET_STORE", "kafka")]);
    s.wait_committed_equals_log_end(TIMEOUT).await;
    kafka.terminate();
    assert_eq!(kafka.wait_exit(TIMEOUT).await, Some(0));
    assert_eq!(kafka.exit_stat("consumed"), Some(acked), "{}", kafka.log_path.display());
    let again = kafka.exit_stat("already_stored").expect("exit line");
    eprintln!("after a lost commit: postgres processed 0 orders again, kafka {again} (of {acked} messages)");
    assert!(again > 0, "{}", kafka.log_path.display());
    assert_eq!(kafka.exit_stat("stored"), Some(0), "the upsert absorbed every one");
    assert_eq!(s.rows().await, rows, "no row changed");
    s.cleanup().await;
}

/// KIP-848 moving partitions under load: a second member joins while orders flow, the broker moves partitions
/// to it, the first member writes what it holds (rows and stored offsets) before they leave, and the second starts
/// at the stored offsets. Every order is stored once and no member processes one twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_kip_848_partitions_moving_under_load_start_at_the_stored_offsets() {
    let s = Scenario::new("pg-move-kip848", 4).await;
    let env = [("OFFSET_STORE", "postgres"), ("GROUP_PROTOCOL", "consumer")];
    let mut first = s.start_consumer("first", &env);
    first.wait_for_log("partitions_assigned", TIMEOUT).await;
    let producer = s.produce_in_background(3_000, 300.0, 53);
    common::eventually("the first member stores rows", TIMEOUT, || async {
        let rows = s.rows().await;
        if rows.count > 0 { Ok(()) } else { Err(format!("{rows:?}")) }
    })
    .await;
    let mut second = s.start_consumer("second", &env);
    let second_id = second.client_id().await;
    // The coordinator's view: both members own partitions, each of the four once, one of them the second.
    let members = s
        .wait_for_assignment(2, |m| {
            m.iter().all(|x| !x.partitions.is_empty()) && m.iter().map(|x| x.partitions.len()).sum::<usize>() == 4
        })
        .await;
    assert!(members.iter().any(|m| m.client_id == second_id), "{members:?}");
    common::eventually("the second member stores rows", TIMEOUT, || async {
        let writers = s.writers_per_partition().await;
        if writers.values().flatten().any(|w| *w == second_id) { Ok(()) } else { Err(format!("{writers:?}")) }
    })
    .await;
    let acked = producer.await.expect("producer task").acked;
    let rows = s.wait_for_rows(acked as i64, TIMEOUT).await;
    assert_eq!(rows.distinct, rows.count);
    let end = s.wait_committed_equals_log_end(TIMEOUT).await;
    common::eventually("stored offsets = log end", TIMEOUT, || async {
        let stored = s.stored_offsets().await;
        if stored == end { Ok(()) } else { Err(format!("stored {stored:?}, log end {end:?}")) }
    })
    .await;
    let moved = second.log().lines().any(|l| l.contains("event=\"start_offsets_read\"") && !l.contains("stored={}"));
    assert!(moved, "the second member started a partition at a stored offset: {}", second.log_path.display());
    for c in [&first, &second] {
        c.terminate();
    }
    for c in [&mut first, &mut second] {
        assert_eq!(c.wait_exit(TIMEOUT).await, Some(0), "{}", c.log_path.display());
        assert_eq!(c.exit_stat("already_stored"), Some(0), "{}", c.log_path.display());
        assert_eq!(c.exit_stat("skipped_below_stored"), Some(0), "{}", c.log_path.display());
    }
    s.cleanup().await;
}
