//! Kafka's default partitioner for keyed records: `toPositive(murmur2(key)) % partitions`.
//!
//! The producer does not use this code to send: it sets librdkafka's `murmur2_random` partitioner, which computes the
//! same function. This copy lets scripts and tests predict where a customer's orders land, for example which
//! customers move to another partition when the partition count grows. Both are checked against vectors computed by
//! Kafka's own Java code (`harness/tests/data/partitioner_vectors.csv`).

/// The partition Kafka's Java client (and librdkafka's `murmur2_random`) picks for a non-empty key.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    (murmur2(key) & 0x7fff_ffff) as u32 % partitions
}

/// Kafka's `Utils.murmur2`, bit for bit (a 32-bit MurmurHash2 with Kafka's seed).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}
