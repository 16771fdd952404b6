//! Our murmur2 partitioner against 7,049 vectors computed by Kafka's own Java producer code
//! (`stack/kafka/PartitionerVectors.java`, run by the second test, which checks the file is what it prints).

use harness::partitioner::{murmur2, partition_for_key};

#[test]
fn partition_for_key_agrees_with_kafkas_java_client_for_every_vector() {
    let csv = include_str!("data/partitioner_vectors.csv");
    let mut checked = 0;
    for line in csv.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let [key, hash, partitions, partition] = fields[..] else { panic!("bad vector line: {line}") };
        let partitions: u32 = partitions.parse().unwrap();
        assert_eq!(murmur2(key.as_bytes()), hash.parse::<i32>().unwrap(), "murmur2({key})");
        assert_eq!(
            partition_for_key(key.as_bytes(), partitions),
            partition.parse::<u32>().unwrap(),
            "{key} over {partitions}"
        );
        checked += 1;
    }
    assert!(checked >= 7000, "only {checked} vectors read");
}

/// The vectors are what Kafka's Java client computes today: `stack/kafka/PartitionerVectors.java`, run on the jars
/// `scripts/stack.sh fetch` put in `stack/kafka/lib/`, prints exactly the file.
#[test]
fn the_vectors_are_what_kafkas_java_client_prints() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = std::process::Command::new("java")
        .current_dir(&root)
        .args(["-cp", "stack/kafka/lib/*", "stack/kafka/PartitionerVectors.java"])
        .output()
        .expect("java runs (Java 17 or newer, as Kafka needs)");
    assert!(
        output.status.success(),
        "PartitionerVectors.java failed (Kafka's jars come from scripts/stack.sh fetch): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stdout == include_bytes!("data/partitioner_vectors.csv"),
        "harness/tests/data/partitioner_vectors.csv is not what Kafka's client prints; write it again with:\n  \
         java -cp 'stack/kafka/lib/*' stack/kafka/PartitionerVectors.java > harness/tests/data/partitioner_vectors.csv"
    );
}
