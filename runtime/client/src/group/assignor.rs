//! The "consumer" embedded protocol and the "range" assignor: what a member
//! tells the group it wants, and how the leader divides partitions.
//!
//! JoinGroup and SyncGroup carry opaque bytes; for consumer groups those
//! bytes are Kafka's `ConsumerProtocolSubscription` and
//! `ConsumerProtocolAssignment`, each preceded by an `int16` version. This
//! client writes version 0 (every Kafka client reads it) and reads any
//! version, decoding newer ones at the newest layout it knows, as Java's
//! `ConsumerProtocol` does.
//!
//! Range assignment is Java's `RangeAssignor`: per topic, members sorted by
//! id each get a contiguous range of partitions, the first
//! `partitions % members` one more than the rest. Java, librdkafka and
//! this client compute the same assignment, so they can share a group.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use sluice_protocol::kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use sluice_protocol::kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// The embedded protocol type of consumer groups.
pub const PROTOCOL_TYPE: &str = "consumer";
/// The one assignment strategy this client offers.
pub const RANGE: &str = "range";

/// Version this client writes.
const WRITE_VERSION: i16 = 0;
/// Newest layout `kafka-protocol` decodes.
const READ_VERSION_MAX: i16 = 3;

/// Why embedded protocol bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMetadata(pub String);

/// Encodes a subscription to `topics`.
pub fn encode_subscription(topics: &[String]) -> Bytes {
    let subscription = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|topic| StrBytes::from_string(topic.clone()))
            .collect(),
    );
    encode(&subscription)
}

/// The topics of a member's subscription.
///
/// # Errors
/// [`BadMetadata`] for bytes that are not a subscription.
pub fn decode_subscription(bytes: &Bytes) -> Result<Vec<String>, BadMetadata> {
    let subscription: ConsumerProtocolSubscription = decode(bytes)?;
    Ok(subscription.topics.iter().map(|t| t.to_string()).collect())
}

/// Encodes an assignment: topic → partitions.
pub fn encode_assignment(assigned: &BTreeMap<String, Vec<i32>>) -> Bytes {
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
        assigned
            .iter()
            .map(|(topic, partitions)| {
                AssignedPartitions::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(partitions.clone())
            })
            .collect(),
    );
    encode(&assignment)
}

/// The partitions of an assignment, by topic. Empty bytes (a member the
/// leader gave nothing, as some clients send it) are an empty assignment.
///
/// # Errors
/// [`BadMetadata`] for bytes that are not an assignment.
pub fn decode_assignment(bytes: &Bytes) -> Result<BTreeMap<String, Vec<i32>>, BadMetadata> {
    if bytes.is_empty() {
        return Ok(BTreeMap::new());
    }
    let assignment: ConsumerProtocolAssignment = decode(bytes)?;
    let mut assigned: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for topic in assignment.assigned_partitions {
        assigned
            .entry(topic.topic.0.to_string())
            .or_default()
            .extend(topic.partitions);
    }
    for partitions in assigned.values_mut() {
        partitions.sort_unstable();
        partitions.dedup();
    }
    Ok(assigned)
}

fn encode<M: Encodable>(message: &M) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(WRITE_VERSION);
    message
        .encode(&mut buf, WRITE_VERSION)
        .expect("version 0 encodes every field this client sets");
    buf.freeze()
}

fn decode<M: Decodable>(bytes: &Bytes) -> Result<M, BadMetadata> {
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Err(BadMetadata(format!(
            "{} bytes, too short for a version",
            buf.len()
        )));
    }
    let version = buf.get_i16();
    if version < 0 {
        return Err(BadMetadata(format!("negative version {version}")));
    }
    M::decode(&mut buf, version.min(READ_VERSION_MAX))
        .map_err(|error| BadMetadata(format!("version {version}: {error:#}")))
}

/// Java's range assignment. `subscriptions` maps member id → topics;
/// `partitions` maps topic → partition count (topics missing from it are
/// skipped). Every member gets an entry, possibly empty.
pub fn range_assign(
    subscriptions: &BTreeMap<String, Vec<String>>,
    partitions: &BTreeMap<String, i32>,
) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
    let mut assignment: BTreeMap<String, BTreeMap<String, Vec<i32>>> = subscriptions
        .keys()
        .map(|member| (member.clone(), BTreeMap::new()))
        .collect();
    let mut members_by_topic: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (member, topics) in subscriptions {
        for topic in topics {
            members_by_topic.entry(topic).or_default().push(member);
        }
    }
    for (topic, mut members) in members_by_topic {
        let Some(&count) = partitions.get(topic) else {
            continue;
        };
        members.sort_unstable();
        members.dedup();
        let per_member = count / members.len() as i32;
        let with_extra = count % members.len() as i32;
        for (i, member) in members.iter().enumerate() {
            let i = i as i32;
            let start = per_member * i + i.min(with_extra);
            let length = per_member + i32::from(i < with_extra);
            if length == 0 {
                continue;
            }
            assignment
                .get_mut(*member)
                .expect("every subscriber has an entry")
                .insert(topic.to_owned(), (start..start + length).collect());
        }
    }
    assignment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(entries: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        entries
            .iter()
            .map(|(m, t)| (m.to_string(), t.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    #[test]
    fn range_matches_javas_examples() {
        // RangeAssignor's javadoc: two consumers, two topics of three
        // partitions each: C0 gets t0p0, t0p1, t1p0, t1p1; C1 gets t0p2, t1p2.
        let subscriptions = subs(&[("C0", &["t0", "t1"]), ("C1", &["t0", "t1"])]);
        let partitions = BTreeMap::from([("t0".to_string(), 3), ("t1".to_string(), 3)]);
        let assigned = range_assign(&subscriptions, &partitions);
        assert_eq!(assigned["C0"]["t0"], [0, 1]);
        assert_eq!(assigned["C0"]["t1"], [0, 1]);
        assert_eq!(assigned["C1"]["t0"], [2]);
        assert_eq!(assigned["C1"]["t1"], [2]);
    }

    #[test]
    fn four_partitions_split_two_and_two_and_extra_members_get_nothing() {
        let partitions = BTreeMap::from([("t".to_string(), 4)]);
        let two = range_assign(&subs(&[("b", &["t"]), ("a", &["t"])]), &partitions);
        assert_eq!(two["a"]["t"], [0, 1]);
        assert_eq!(two["b"]["t"], [2, 3]);
        let five = range_assign(
            &subs(&[
                ("a", &["t"]),
                ("b", &["t"]),
                ("c", &["t"]),
                ("d", &["t"]),
                ("e", &["t"]),
            ]),
            &partitions,
        );
        assert!(five["e"].is_empty(), "{five:?}");
        let total: usize = five
            .values()
            .map(|topics| topics.values().map(Vec::len).sum::<usize>())
            .sum();
        assert_eq!(total, 4);
        let unknown = range_assign(&subs(&[("a", &["gone"])]), &partitions);
        assert!(unknown["a"].is_empty());
    }

    #[test]
    fn subscription_and_assignment_round_trip() {
        let topics = vec!["orders".to_string(), "payments".to_string()];
        let bytes = encode_subscription(&topics);
        assert_eq!(&bytes[..2], &[0, 0], "version 0 first");
        assert_eq!(decode_subscription(&bytes).unwrap(), topics);
        let assigned = BTreeMap::from([("orders".to_string(), vec![0, 2])]);
        assert_eq!(
            decode_assignment(&encode_assignment(&assigned)).unwrap(),
            assigned
        );
        assert!(decode_assignment(&Bytes::new()).unwrap().is_empty());
        assert!(decode_subscription(&Bytes::from_static(&[0])).is_err());
        assert!(decode_subscription(&Bytes::from_static(&[0, 0, 0, 0, 0, 9])).is_err());
    }

    #[test]
    fn newer_versions_are_read_at_the_newest_known_layout() {
        // A v3 subscription as Java 3.x writes it: topics, user data,
        // owned partitions, generation, rack.
        let subscription = ConsumerProtocolSubscription::default()
            .with_topics(vec![StrBytes::from_static_str("t")])
            .with_generation_id(4);
        for version in [3i16, 7] {
            let mut buf = BytesMut::new();
            buf.put_i16(version);
            subscription.encode(&mut buf, 3).unwrap();
            assert_eq!(
                decode_subscription(&buf.freeze()).unwrap(),
                ["t"],
                "v{version}"
            );
        }
    }
}
