//! The consumer group as the broker's group coordinator sees it: its protocol, state, members, client ids and
//! assigned partitions. Used by the tests, the experiment, the benchmark and the soak to check assignments without
//! trusting the consumers' own logs.
//!
//! One request for both protocols: librdkafka's `DescribeConsumerGroups` asks with ConsumerGroupDescribe (KIP-848
//! groups, `GROUP_PROTOCOL=consumer`) and falls back to the classic DescribeGroups when the group is a classic one or
//! unknown, decoding each member's assignment either way. The Rust client does not wrap that call, so this module
//! calls it through `rdkafka-sys`; the unsafe code stays here, behind [`describe`].

use std::ffi::{CStr, CString, c_char};
use std::ptr::NonNull;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka_sys as rdsys;

/// One member of a group and the partitions of one topic it owns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    pub client_id: String,
    pub partitions: Vec<i32>,
}

/// A group's protocol (`Classic` or `Consumer`, KIP-848), state (`Stable`, `PreparingRebalance`, `Reconciling`,
/// `Empty`, `Dead`, …) and members, sorted by client id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GroupView {
    pub protocol: String,
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
        owners(&self.members)
    }
}

/// How many of `members` own at least one partition (the compose scenario reads its members from Kafka's tool).
pub fn owners(members: &[Member]) -> usize {
    members.iter().filter(|m| !m.partitions.is_empty()).count()
}

/// Describes `group`, classic or KIP-848, through any client connected to the cluster; `partitions` are those of
/// `topic`. A group the coordinator does not know is `Dead` with no members, as Kafka's tools show it.
///
/// # Errors
/// When the broker does not answer within `timeout` or answers with an error.
pub fn describe<C: ConsumerContext>(
    client: &BaseConsumer<C>,
    group: &str,
    topic: &str,
    timeout: Duration,
) -> Result<GroupView, KafkaError> {
    let name = CString::new(group).map_err(|_| KafkaError::AdminOpCreation(format!("group id {group:?} has a NUL")))?;
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let rk = client.client().native_ptr();
    // SAFETY: `rk` is a live client for the whole call (borrowed from `client`); every object created here is
    // owned by a guard that destroys it once, and everything read from the result event is copied out before
    // the event guard drops.
    unsafe {
        let queue = Owned::new(rdsys::rd_kafka_queue_new(rk), rdsys::rd_kafka_queue_destroy)?;
        let options = Owned::new(
            rdsys::rd_kafka_AdminOptions_new(rk, rdsys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS),
            rdsys::rd_kafka_AdminOptions_destroy,
        )?;
        let mut errstr = [0 as c_char; 256];
        let set = rdsys::rd_kafka_AdminOptions_set_request_timeout(
            options.0.as_ptr(),
            timeout_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        if set != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(KafkaError::AdminOpCreation(text(errstr.as_ptr())));
        }
        let mut groups = [name.as_ptr()];
        rdsys::rd_kafka_DescribeConsumerGroups(rk, groups.as_mut_ptr(), 1, options.0.as_ptr(), queue.0.as_ptr());
        // The request's own timeout answers first; the extra second only guards against a lost reply.
        let event = Owned::new(
            rdsys::rd_kafka_queue_poll(queue.0.as_ptr(), timeout_ms.saturating_add(1000)),
            rdsys::rd_kafka_event_destroy,
        )
        .map_err(|_| KafkaError::AdminOp(RDKafkaErrorCode::OperationTimedOut))?;
        let err = rdsys::rd_kafka_event_error(event.0.as_ptr());
        if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(KafkaError::AdminOp(err.into()));
        }
        let result = rdsys::rd_kafka_event_DescribeConsumerGroups_result(event.0.as_ptr());
        if result.is_null() {
            return Err(KafkaError::AdminOpCreation("not a DescribeConsumerGroups result".into()));
        }
        let mut count = 0;
        let descriptions = rdsys::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut count);
        if count == 0 || descriptions.is_null() {
            return Err(KafkaError::AdminOpCreation(format!("no description of group {group}")));
        }
        read_description(*descriptions, topic)
    }
}

/// Copies one group's description out of librdkafka's memory.
///
/// # Safety
/// `description` must point to a description that lives for the whole call.
unsafe fn read_description(
    description: *const rdsys::rd_kafka_ConsumerGroupDescription_t,
    topic: &str,
) -> Result<GroupView, KafkaError> {
    unsafe {
        let protocol =
            text(rdsys::rd_kafka_consumer_group_type_name(rdsys::rd_kafka_ConsumerGroupDescription_type(description)));
        let error = rdsys::rd_kafka_ConsumerGroupDescription_error(description);
        if !error.is_null() {
            let code = rdsys::rd_kafka_error_code(error);
            if code == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND {
                return Ok(GroupView { protocol, state: "Dead".into(), members: Vec::new() });
            }
            return Err(KafkaError::AdminOp(code.into()));
        }
        let state = text(rdsys::rd_kafka_consumer_group_state_name(rdsys::rd_kafka_ConsumerGroupDescription_state(
            description,
        )));
        let mut members: Vec<Member> = (0..rdsys::rd_kafka_ConsumerGroupDescription_member_count(description))
            .map(|i| {
                let member = rdsys::rd_kafka_ConsumerGroupDescription_member(description, i);
                let assignment = rdsys::rd_kafka_MemberDescription_assignment(member);
                let list = if assignment.is_null() {
                    std::ptr::null()
                } else {
                    rdsys::rd_kafka_MemberAssignment_partitions(assignment)
                };
                Member {
                    client_id: text(rdsys::rd_kafka_MemberDescription_client_id(member)),
                    partitions: partitions_of(list, topic),
                }
            })
            .collect();
        members.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(GroupView { protocol, state, members })
    }
}

/// The sorted partitions of `topic` in a librdkafka partition list (none for a null list).
///
/// # Safety
/// `list` is null or points to a list that lives for the whole call.
unsafe fn partitions_of(list: *const rdsys::rd_kafka_topic_partition_list_t, topic: &str) -> Vec<i32> {
    let Some(list) = (unsafe { list.as_ref() }) else { return Vec::new() };
    let len = usize::try_from(list.cnt).unwrap_or(0);
    if list.elems.is_null() || len == 0 {
        return Vec::new();
    }
    // SAFETY: librdkafka keeps `cnt` initialised elements at `elems`.
    let elems = unsafe { std::slice::from_raw_parts(list.elems, len) };
    let mut out: Vec<i32> = elems
        .iter()
        .filter(|e| !e.topic.is_null() && unsafe { CStr::from_ptr(e.topic) }.to_bytes() == topic.as_bytes())
        .map(|e| e.partition)
        .collect();
    out.sort_unstable();
    out
}

/// A C string copied into a `String` (empty for null).
fn text(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: librdkafka's strings are NUL-terminated and outlive this copy.
    unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
}

/// A librdkafka object destroyed once when dropped.
struct Owned<T>(NonNull<T>, unsafe extern "C" fn(*mut T));

impl<T> Owned<T> {
    fn new(ptr: *mut T, destroy: unsafe extern "C" fn(*mut T)) -> Result<Self, KafkaError> {
        NonNull::new(ptr)
            .map(|p| Owned(p, destroy))
            .ok_or_else(|| KafkaError::AdminOpCreation("librdkafka returned no object".into()))
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from librdkafka's matching constructor and is destroyed only here.
        unsafe { (self.1)(self.0.as_ptr()) }
    }
}
