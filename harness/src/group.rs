//! The consumer group as the broker's group coordinator sees it: members, client ids and assigned partitions.
//! Used by the tests, the experiment, the benchmark and the soak to check assignments without trusting the
//! consumers' own logs. Classic groups only: a KIP-848 group (`GROUP_PROTOCOL=consumer`) is described by another
//! API (ConsumerGroupDescribe), which the Rust client does not expose; the rebalance benchmark reads such groups
//! from the rows.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

/// One member of a group and the partitions of one topic it owns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    pub client_id: String,
    pub partitions: Vec<i32>,
}

/// A group's state (`Stable`, `PreparingRebalance`, `Empty`, …) and members.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GroupView {
    pub state: String,
    pub members: Vec<Member>,
}

impl GroupView {
    /// Owner of `partition`, if a member owns it.
    pub fn owner_of(&self, partition: i32) -> Option<&Member> {
        self.members.iter().find(|m| m.partitions.contains(&partition))
    }

    /// Members that own at least one partition.
    pub fn owners(&self) -> usize {
        self.members.iter().filter(|m| !m.partitions.is_empty()).count()
    }
}

/// Describes `group` (classic protocol) through any client connected to the cluster.
///
/// # Errors
/// When the broker does not answer within `timeout`.
pub fn describe<C: rdkafka::consumer::ConsumerContext>(
    client: &BaseConsumer<C>,
    group: &str,
    topic: &str,
    timeout: Duration,
) -> Result<GroupView, KafkaError> {
    let list = client.fetch_group_list(Some(group), timeout)?;
    let Some(info) = list.groups().first() else {
        return Ok(GroupView { state: "Dead".into(), members: Vec::new() });
    };
    let mut members: Vec<Member> = info
        .members()
        .iter()
        .map(|m| Member {
            client_id: m.client_id().to_owned(),
            partitions: m.assignment().map(|a| parse_assignment(a, topic)).unwrap_or_default(),
        })
        .collect();
    members.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    Ok(GroupView { state: info.state().to_owned(), members })
}

/// Parses the classic consumer protocol's assignment (version, [topic, [partition]], user data) for one topic.
pub fn parse_assignment(bytes: &[u8], topic: &str) -> Vec<i32> {
    fn i16_at(b: &[u8], at: usize) -> Option<i16> {
        Some(i16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
    }
    fn i32_at(b: &[u8], at: usize) -> Option<i32> {
        Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    }
    let mut out = Vec::new();
    let mut at = 2;
    let Some(topics) = i32_at(bytes, at) else { return out };
    at += 4;
    for _ in 0..topics {
        let Some(len) = i16_at(bytes, at).and_then(|l| usize::try_from(l).ok()) else { break };
        at += 2;
        let matches = bytes.get(at..at + len).is_some_and(|name| name == topic.as_bytes());
        at += len;
        let Some(n) = i32_at(bytes, at) else { break };
        at += 4;
        for _ in 0..n {
            if let (Some(p), true) = (i32_at(bytes, at), matches) {
                out.push(p);
            }
            at += 4;
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut b = vec![0, 1];
        b.extend((topics.len() as i32).to_be_bytes());
        for (name, partitions) in topics {
            b.extend((name.len() as i16).to_be_bytes());
            b.extend(name.as_bytes());
            b.extend((partitions.len() as i32).to_be_bytes());
            for p in *partitions {
                b.extend(p.to_be_bytes());
            }
        }
        b.extend((-1i32).to_be_bytes());
        b
    }

    #[test]
    fn reads_the_partitions_of_the_asked_topic_only() {
        let bytes = assignment(&[("other", &[5]), ("food-orders", &[2, 0])]);
        assert_eq!(parse_assignment(&bytes, "food-orders"), vec![0, 2]);
        assert_eq!(parse_assignment(&bytes, "other"), vec![5]);
        assert!(parse_assignment(&bytes, "missing").is_empty());
        assert!(parse_assignment(&[0, 1, 0], "food-orders").is_empty(), "truncated input is not a panic");
    }
}
