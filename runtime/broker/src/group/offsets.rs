//! Committed offsets in memory: group → topic → partition → offset.
//!
//! This table is a cache of `__consumer_offsets` (see `log.rs`): it is
//! rebuilt from the log when the coordinator opens, and afterwards changed
//! only by the callback that acknowledges an append to that log, in log
//! order. So it always equals what a replay of the log would give, and an
//! OffsetFetch never sees a commit before it is durable. It does no I/O
//! and knows nothing about groups' members.

use std::collections::{BTreeMap, HashMap};

use sluice_types::Timestamp;

/// One partition's committed position, as a consumer group committed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset the group will consume (Kafka's convention).
    pub offset: i64,
    /// The leader epoch of the record before `offset`, or -1 if the
    /// client did not say.
    pub leader_epoch: i32,
    /// When the coordinator accepted the commit.
    pub commit_timestamp: Timestamp,
    /// The client's free-form string; empty when it sent none.
    pub metadata: String,
}

/// A group's committed offset of one partition, for callers listing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    pub committed: CommittedOffset,
}

type TopicOffsets = BTreeMap<String, BTreeMap<i32, CommittedOffset>>;

/// Every group's committed offsets. No empty inner maps are kept, so a
/// group is in the table exactly when it has at least one offset.
#[derive(Debug, Default)]
pub(crate) struct OffsetTable {
    groups: HashMap<String, TopicOffsets>,
}

impl OffsetTable {
    /// Records `value` as the committed offset; a later commit replaces it.
    pub fn commit(&mut self, group: &str, topic: &str, partition: i32, value: CommittedOffset) {
        self.groups
            .entry(group.to_string())
            .or_default()
            .entry(topic.to_string())
            .or_default()
            .insert(partition, value);
    }

    /// Forgets one committed offset (a tombstone in the log).
    pub fn delete(&mut self, group: &str, topic: &str, partition: i32) {
        let Some(topics) = self.groups.get_mut(group) else {
            return;
        };
        if let Some(partitions) = topics.get_mut(topic) {
            partitions.remove(&partition);
            if partitions.is_empty() {
                topics.remove(topic);
            }
        }
        if topics.is_empty() {
            self.groups.remove(group);
        }
    }

    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<&CommittedOffset> {
        self.groups.get(group)?.get(topic)?.get(&partition)
    }

    /// Every committed offset of `group`, by topic and partition.
    pub fn group(&self, group: &str) -> Option<&TopicOffsets> {
        self.groups.get(group)
    }

    pub fn has_group(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    /// The groups that have at least one committed offset.
    pub fn group_ids(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    /// `group`'s committed offsets as a sorted list.
    pub fn list(&self, group: &str) -> Vec<PartitionOffset> {
        let Some(topics) = self.groups.get(group) else {
            return Vec::new();
        };
        topics
            .iter()
            .flat_map(|(topic, partitions)| {
                partitions
                    .iter()
                    .map(|(&partition, committed)| PartitionOffset {
                        topic: topic.clone(),
                        partition,
                        committed: committed.clone(),
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: i64) -> CommittedOffset {
        CommittedOffset {
            offset,
            leader_epoch: -1,
            commit_timestamp: Timestamp(0),
            metadata: String::new(),
        }
    }

    #[test]
    fn later_commits_replace_and_deletes_leave_no_empty_groups() {
        let mut table = OffsetTable::default();
        table.commit("g", "orders", 0, at(5));
        table.commit("g", "orders", 0, at(9));
        table.commit("g", "orders", 1, at(2));
        assert_eq!(table.get("g", "orders", 0), Some(&at(9)));
        assert_eq!(table.list("g").len(), 2);
        table.delete("g", "orders", 0);
        assert!(table.has_group("g"));
        table.delete("g", "orders", 1);
        assert!(!table.has_group("g"), "a group without offsets is gone");
        assert_eq!(table.group_ids().count(), 0);
        table.delete("absent", "orders", 0);
    }
}
