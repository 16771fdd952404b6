//! Our murmur2 partitioner against 7,049 vectors computed by Kafka's own Java producer code
//! (`scripts/gen-partitioner-vectors.sh`).

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
