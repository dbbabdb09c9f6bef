//! Committing and fetching offsets through the coordinator: a commit is
//! checked against its group's generation and membership, appended to
//! `__consumer_offsets`, and enters the offset table (and so becomes
//! visible to OffsetFetch) when the log acknowledges it, before the
//! OffsetCommit is answered.

use sluice_protocol::kafka_protocol::ResponseError;
use sluice_types::Timestamp;
use tracing::{debug, error};

use super::coordinator::{Create, GroupCoordinator, Inner, NoGroup};
use super::log::LogRecord;
use super::offsets::{CommittedOffset, PartitionOffset};
use super::record::{encode_offset_value, RecordKey};
use super::requests::OffsetCommit;

/// The committed offsets asked for by an OffsetFetch: per topic, per
/// partition, the offset or `None` when there is none.
pub type FetchedOffsets = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;

impl GroupCoordinator {
    /// Commits offsets once `__consumer_offsets` has them on disk; one
    /// result per partition of `commit`, in order.
    ///
    /// Nothing here awaits before the append is queued, so commits reach
    /// the log in the order their requests were first polled.
    pub async fn commit_offsets(&self, commit: OffsetCommit) -> Vec<Result<(), ResponseError>> {
        let count = commit.partitions.len();
        // Kafka: a generation below zero may create the group (simple
        // commits); any other commit needs a group that exists.
        let create = if commit.generation_id < 0 {
            Create::IfMissing
        } else {
            Create::Never
        };
        let member = &commit.member;
        let accepted = self.inner.with_group(&commit.group_id, create, |group| {
            let checked = group.check_commit(
                &member.member_id,
                member.group_instance_id.as_deref(),
                commit.generation_id,
            );
            if checked.is_ok() {
                group.commits_in_flight += 1;
            }
            checked
        });
        let slot = match accepted {
            Ok((slot, Ok(()))) => slot,
            Ok((slot, Err(error))) => {
                self.inner.forget_if_idle(&slot);
                return vec![Err(error); count];
            }
            // Kafka: a generation for a group it does not know is stale.
            Err(NoGroup::Unknown) => return vec![Err(ResponseError::IllegalGeneration); count],
            Err(NoGroup::ShutDown) => return vec![Err(ResponseError::NotCoordinator); count],
        };
        let results = self.inner.append_offsets(&commit).await;
        slot.lock().commits_in_flight -= 1;
        self.inner.forget_if_idle(&slot);
        results
    }

    /// Committed offsets of `group_id`: of the partitions in `topics`, or
    /// of all its partitions when `topics` is `None`.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> FetchedOffsets {
        let table = self.inner.offsets.lock().expect("offsets lock poisoned");
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let offsets = partitions
                        .into_iter()
                        .map(|p| (p, table.get(group_id, &topic, p).cloned()))
                        .collect();
                    (topic, offsets)
                })
                .collect(),
            None => table
                .group(group_id)
                .into_iter()
                .flatten()
                .map(|(topic, partitions)| {
                    let offsets = partitions
                        .iter()
                        .map(|(&p, o)| (p, Some(o.clone())))
                        .collect();
                    (topic.clone(), offsets)
                })
                .collect(),
        }
    }

    /// A group's committed offsets, sorted by topic and partition (empty
    /// for an unknown group). A partition's lag is its high watermark
    /// minus the offset.
    pub fn committed_offsets(&self, group_id: &str) -> Vec<PartitionOffset> {
        self.inner
            .offsets
            .lock()
            .expect("offsets lock poisoned")
            .list(group_id)
    }
}

impl Inner {
    /// Appends `commit`'s offsets; they enter the offset table when the log
    /// acknowledges them. Metadata over the limit fails its partition only.
    async fn append_offsets(&self, commit: &OffsetCommit) -> Vec<Result<(), ResponseError>> {
        let mut results = vec![Ok(()); commit.partitions.len()];
        let mut records: Vec<LogRecord> = Vec::new();
        let mut accepted: Vec<(usize, String, i32, CommittedOffset)> = Vec::new();
        let commit_timestamp = Timestamp::now();
        for (index, partition) in commit.partitions.iter().enumerate() {
            if partition.metadata.len() > self.config.offset_metadata_bytes_max {
                results[index] = Err(ResponseError::OffsetMetadataTooLarge);
                continue;
            }
            let value = CommittedOffset {
                offset: partition.offset,
                leader_epoch: partition.leader_epoch,
                commit_timestamp,
                metadata: partition.metadata.clone(),
            };
            let key = RecordKey::Offset {
                group: commit.group_id.clone(),
                topic: partition.topic.clone(),
                partition: partition.partition,
            };
            records.push((key.encode(), Some(encode_offset_value(&value))));
            accepted.push((index, partition.topic.clone(), partition.partition, value));
        }
        if records.is_empty() {
            return results;
        }
        let indexes: Vec<usize> = accepted.iter().map(|(index, ..)| *index).collect();
        let offsets = self.offsets.clone();
        let group_id = commit.group_id.clone();
        let on_ack = move || {
            let mut table = offsets.lock().expect("offsets lock poisoned");
            for (_, topic, partition, value) in accepted {
                table.commit(&group_id, &topic, partition, value);
            }
        };
        match self.log.append(records, on_ack).await {
            Ok(()) => {
                debug!(group = %commit.group_id, partitions = indexes.len(), "offsets committed")
            }
            Err(error) => {
                error!(group = %commit.group_id, %error, "committing offsets failed");
                for index in indexes {
                    results[index] = Err(ResponseError::CoordinatorNotAvailable);
                }
            }
        }
        results
    }
}
