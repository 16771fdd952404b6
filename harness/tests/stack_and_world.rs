//! The harness against the real broker and Postgres (`scripts/stack.sh up`, or `KAFKA_BOOTSTRAP_SERVERS` and a
//! `DATABASE_URL` whose role may create databases): databases and topics set up and removed, and offsets and the
//! group read back as a user would check them.

use std::path::Path;
use std::time::{Duration, Instant};

use harness::stack::Stack;
use harness::world::World;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use shared::database::Database;

async fn stack() -> Stack {
    let bootstrap = std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| shared::DEFAULT_BOOTSTRAP.into());
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| shared::DEFAULT_DATABASE_URL.into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Stack::connect(&root, &bootstrap, Database::new(url)).await.expect("the local stack (scripts/stack.sh up)")
}

/// Retries `look` every 200 ms until it succeeds, for up to 30 s: on a broker that has just started, the group
/// coordinator (and `__consumer_offsets`) comes up with the first group request, answering `NotCoordinator` until
/// then.
async fn eventually<T>(what: &str, mut look: impl FnMut() -> anyhow::Result<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match look() {
            Ok(value) => return value,
            Err(error) if Instant::now() >= deadline => panic!("{what}: {error:#}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::test]
async fn a_database_in_use_is_not_dropped_until_its_sessions_close() {
    let stack = stack().await;
    let name = format!("harness_drop_{}", std::process::id());
    let pool = stack.create_database(&name).await.expect("create");
    sqlx::query("SELECT 1").execute(&pool).await.expect("a session on the database");

    let error = format!("{:#}", stack.drop_database(&name, Duration::from_secs(1)).await.unwrap_err());
    assert!(error.contains(&format!("database {name} not dropped after 1s")), "{error}");
    assert!(error.contains("using it now: kafka_user client backend (pid "), "it names who holds it: {error}");

    pool.close().await;
    stack.drop_database(&name, Duration::from_secs(30)).await.expect("dropped once the session closed");
    assert!(stack.databases_like(&name).await.expect("list").is_empty());
}

#[tokio::test]
async fn offsets_and_the_group_read_back_as_committed() {
    let stack = stack().await;
    let topic = format!("harness-world-{}", std::process::id());
    stack.create_topic(&topic, 2).await.expect("create the topic");
    stack.create_topic(&topic, 2).await.expect("creating a topic that exists changes nothing");

    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", &stack.bootstrap).create().expect("producer");
    for partition in [0, 0, 0, 1] {
        let record = FutureRecord::<(), str>::to(&topic).payload("x").partition(partition);
        producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| e).expect("send");
    }

    let group = format!("{topic}-group");
    let world = World::new(&stack.bootstrap, &topic, "", &group, stack.database.url.expose()).expect("world");
    assert_eq!(world.partition_count().expect("partitions"), 2);
    assert_eq!(world.log_end(&topic, 2).expect("log end"), [3, 1]);
    assert_eq!(eventually("committed", || world.committed(2)).await, [-1, -1], "nothing committed yet");

    // The group commits as a member that stopped would have left it: partition 0 one short of its end.
    let member: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &stack.bootstrap)
        .set("group.id", &group)
        .create()
        .expect("committer");
    let mut offsets = TopicPartitionList::new();
    offsets.add_partition_offset(&topic, 0, Offset::Offset(2)).expect("offset");
    offsets.add_partition_offset(&topic, 1, Offset::Offset(1)).expect("offset");
    eventually("commit", || Ok(member.commit(&offsets, CommitMode::Sync)?)).await;
    assert_eq!(eventually("committed", || world.committed(2)).await, [2, 1]);

    let view = eventually("group", || world.group()).await;
    assert!(view.members.is_empty(), "offsets but no member: {view:?}");
    assert_eq!(view.state, "Empty", "{view:?}");

    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &stack.bootstrap).create().expect("admin");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    admin.delete_groups(&[&group], &options).await.expect("delete the group");
    admin.delete_topics(&[&topic], &options).await.expect("delete the topic");
}

/// The group view of both protocols: a classic member and a KIP-848 member (`group.protocol=consumer`), each alone in
/// its group, are seen with their client ids owning every partition, and a group nobody joined is `Dead`.
#[tokio::test]
async fn the_group_view_reads_classic_and_kip848_groups() {
    let stack = stack().await;
    let topic = format!("harness-groups-{}", std::process::id());
    stack.create_topic(&topic, 3).await.expect("create the topic");

    for (protocol, expected) in [("classic", "Classic"), ("consumer", "Consumer")] {
        let group = format!("{topic}-{protocol}");
        let client_id = format!("harness-member-{protocol}");
        let member: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &stack.bootstrap)
            .set("group.id", &group)
            .set("group.protocol", protocol)
            .set("client.id", &client_id)
            .create()
            .expect("member");
        member.subscribe(&[&topic]).expect("subscribe");
        let world = World::new(&stack.bootstrap, &topic, "", &group, stack.database.url.expose()).expect("world");

        // The member joins only while it polls; look at the group between polls, for up to 60 s.
        let deadline = Instant::now() + Duration::from_secs(60);
        let view = loop {
            let _ = member.poll(Duration::from_millis(100));
            match world.group() {
                Ok(view) if view.state == "Stable" && view.owners() == 1 => break view,
                other if Instant::now() >= deadline => {
                    panic!("{protocol} group never stable with one owner: {other:?}")
                }
                _ => {}
            }
        };
        assert_eq!(view.protocol, expected, "{view:?}");
        assert_eq!(view.members.len(), 1, "{view:?}");
        assert_eq!(view.members[0].client_id, client_id, "{view:?}");
        assert_eq!(view.members[0].partitions, [0, 1, 2], "{view:?}");
        drop(member);
    }

    let nobody = World::new(&stack.bootstrap, &topic, "", &format!("{topic}-nobody"), stack.database.url.expose())
        .expect("world");
    let view = eventually("group", || nobody.group()).await;
    assert_eq!((view.state.as_str(), view.members.len()), ("Dead", 0), "{view:?}");

    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &stack.bootstrap).create().expect("admin");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    admin.delete_topics(&[&topic], &options).await.expect("delete the topic");
}
